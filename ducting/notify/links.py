"""The links an event carries: relative URLs to the API resource (`api`), the operator's page (`page`) and the
BUMD's page (`staff_page`). The triggers of migration 0043 write the same shapes in SQL for the events they raise
(tests/notify/test_events.py compares them)."""

from __future__ import annotations


def request(request_id: int) -> dict[str, str]:
    return {"api": f"/api/v1/leasing/requests/{request_id}", "page": "/operator/sewa", "staff_page": "/kotak-masuk"}


def invoice(invoice_id: int) -> dict[str, str]:
    return {
        "api": f"/api/v1/billing/invoices/{invoice_id}",
        "pdf": f"/api/v1/billing/invoices/{invoice_id}/pdf",
        "page": "/operator/tagihan",
        "staff_page": "/keuangan",
    }


def dispute(dispute_id: int, invoice_id: int) -> dict[str, str]:
    # issue 13 names the dispute resource; until then the invoice is where a dispute is read
    return invoice(invoice_id) | {"dispute": f"/api/v1/billing/disputes/{dispute_id}"}


def letter(operator_id: int) -> dict[str, str]:
    return {
        "api": f"/api/v1/compliance/letters/{operator_id}.pdf",
        "page": "/operator/tagihan",
        "staff_page": "/kepatuhan",
    }


def migration_cases(operator_id: int) -> dict[str, str]:
    """The operator's cases (the list has no single-case resource)."""
    return {
        "api": f"/api/v1/compliance/migrations?operator_id={operator_id}",
        "page": "/operator/tagihan",
        "staff_page": "/kepatuhan",
    }
