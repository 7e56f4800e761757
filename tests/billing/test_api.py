"""The billing API: roles, operator isolation on every endpoint, bad input, and the exports as finance sees them."""

from __future__ import annotations

import io
import subprocess
import zipfile
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from openpyxl import load_workbook

API = "/api/v1/billing"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts" / "billing"


@pytest.fixture()
def issued_run(client, people, net):
    net.lease(people.orgs["op_a"].id, "RS-T-AB", date(2026, 1, 1), None, bore=0, pks="PKS/001/2026")
    net.lease(people.orgs["op_a"].id, "RS-T-BC", date(2026, 3, 17), None, bore=2)
    net.lease(people.orgs["op_b"].id, "RS-T-AB", date(2025, 6, 1), date(2026, 3, 9), bore=1, status="terminated")
    people.session.flush()
    r = client.post(f"{API}/runs", json={"month": "2026-03"}, headers=people.headers("finance"))
    assert r.status_code == 200, r.text
    assert r.json()["drafts"] == 2
    r = client.post(f"{API}/runs/2026-03/issue", json={"issued_on": "2026-04-01"}, headers=people.headers("finance"))
    assert r.status_code == 200, r.text
    invoices = client.get(f"{API}/invoices?month=2026-03", headers=people.headers("finance")).json()
    return {i["operator_id"]: i for i in invoices}


def _problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.json()


def test_operator_sees_only_its_own_invoices_pdfs_statements_and_aging(client, people, issued_run):
    a, b = issued_run[people.orgs["op_a"].id], issued_run[people.orgs["op_b"].id]
    h = people.headers("op_a")
    assert [i["id"] for i in client.get(f"{API}/invoices", headers=h).json()] == [a["id"]]
    assert client.get(f"{API}/invoices/{a['id']}", headers=h).status_code == 200
    assert client.get(f"{API}/invoices/{a['id']}/pdf", headers=h).status_code == 200
    for path in (
        f"/invoices/{b['id']}",
        f"/invoices/{b['id']}/pdf",
        "/statements/2026-03?operator=TOPB",
        "/statements/2026-03/pdf?operator=TOPB",
        "/statements/2026-03/map.png?operator=TOPB",
    ):
        _problem(client.get(API + path, headers=h), 404, "not_found")
    own = client.get(f"{API}/statements/2026-03", headers=h).json()
    assert {ln["segment_code"] for ln in own["lines"]} == {"RS-T-AB", "RS-T-BC"}
    assert [row["operator"] for row in client.get(f"{API}/aging?as_of=2026-06-01", headers=h).json()] == ["TOPA"]


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/runs", {"month": "2026-03"}),
        ("post", "/runs/2026-03/issue", {}),
        ("get", "/runs/2026-03", None),
        ("get", "/runs/2026-03/invoices.csv", None),
        ("get", "/runs/2026-03/lines.csv", None),
        ("get", "/runs/2026-03/run.xlsx", None),
        ("get", "/runs/2026-03/efaktur.xml", None),
        ("get", "/runs/2026-03/invoices.zip", None),
        ("post", "/invoices/{b}/credit-notes", {"reason": "coba"}),
        ("post", "/invoices/{b}/payments", {"amount_idr": 1, "paid_on": "2026-04-02", "reference": "x"}),
        (
            "post",
            "/tariffs",
            {"product": "microduct", "zone_class": "cbd", "first_day": "2030-01-01", "price_idr_per_m_year": "1"},
        ),
        ("get", "/revenue?from=2026-01&to=2026-03", None),
        ("get", "/revenue.csv?from=2026-01&to=2026-03", None),
        ("get", "/revenue/chart.png?from=2026-01&to=2026-03", None),
    ],
)
def test_operators_and_planners_cannot_reach_finance_endpoints(client, people, issued_run, method, path, body):
    b = issued_run[people.orgs["op_b"].id]["id"]
    for who in ("op_a", "planner"):
        r = getattr(client, method)(
            API + path.format(b=b), headers=people.headers(who), **({"json": body} if body is not None else {})
        )
        _problem(r, 403, "forbidden")
    _problem(client.get(f"{API}/invoices"), 401, "unauthenticated")


def test_auditor_reads_but_cannot_write(client, people, issued_run):
    h = people.headers("auditor")
    assert client.get(f"{API}/runs/2026-03", headers=h).status_code == 200
    assert client.get(f"{API}/aging", headers=h).status_code == 200
    _problem(client.post(f"{API}/runs", json={"month": "2026-04"}, headers=h), 403, "forbidden")


def test_bad_input_is_a_problem_with_a_code_and_writes_nothing(client, people, issued_run):
    f = people.headers("finance")
    _problem(client.post(f"{API}/runs", json={"month": "2026-13"}, headers=f), 422, "invalid_input")
    inv = issued_run[people.orgs["op_a"].id]
    _problem(
        client.post(
            f"{API}/invoices/{inv['id']}/payments",
            json={"amount_idr": "999999999", "paid_on": "2026-04-02", "reference": "TRX"},
            headers=f,
        ),
        409,
        "overpayment",
    )
    _problem(
        client.post(f"{API}/invoices/{inv['id']}/credit-notes", json={"reason": "x", "line_ids": [-1]}, headers=f),
        422,
        "invalid_input",
    )
    _problem(client.post(f"{API}/runs/2026-07/issue", json={}, headers=f), 409, "nothing_to_issue")
    _problem(
        client.post(
            f"{API}/tariffs",
            json={
                "product": "microduct",
                "zone_class": "cbd",
                "first_day": "2026-01-01",
                "price_idr_per_m_year": "9000",
            },
            headers=f,
        ),
        409,
        "tariff_overlap",
    )
    assert client.get(f"{API}/invoices/{inv['id']}", headers=f).json()["paid_idr"] == "0"


def test_void_through_credit_note_then_pay_and_age(client, people, issued_run):
    f = people.headers("finance")
    a, b = issued_run[people.orgs["op_a"].id], issued_run[people.orgs["op_b"].id]
    r = client.post(
        f"{API}/invoices/{b['id']}/credit-notes", json={"reason": "salah tagih", "issued_on": "2026-04-03"}, headers=f
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["number"] == "BDL-KN/2026/000001" and note["total_idr"] == "-" + b["total_idr"]
    assert client.get(f"{API}/invoices/{b['id']}", headers=f).json()["status"] == "void"
    r = client.post(
        f"{API}/invoices/{a['id']}/payments",
        json={"amount_idr": "1000", "paid_on": "2026-04-10", "reference": "TRX-77"},
        headers=f,
    )
    assert r.status_code == 201, r.text
    aging = {row["operator"]: row for row in client.get(f"{API}/aging?as_of=2026-06-15", headers=f).json()}
    # due 1 May (issued 1 April + 30 days); on 15 June it is 45 days late
    assert aging["TOPA"]["d31_60"] == str(int(a["total_idr"]) - 1000) and "TOPB" not in aging


def test_exports_open_as_finance_expects(client, people, issued_run):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    f = people.headers("finance")
    lines_csv = client.get(f"{API}/runs/2026-03/lines.csv", headers=f).content.decode("utf-8-sig").splitlines()
    assert lines_csv[0].startswith("invoice_number,operator_code,line_no") and len(lines_csv) == 4
    assert ",110411," in lines_csv[1] or any(",110411," in ln for ln in lines_csv)
    wb = load_workbook(io.BytesIO(client.get(f"{API}/runs/2026-03/run.xlsx", headers=f).content))
    ws = wb["Baris"]
    header = [c.value for c in ws[1]]
    amount = ws.cell(row=2, column=header.index("amount_idr") + 1)
    assert isinstance(amount.value, (int, float)) and amount.number_format.startswith('"Rp" #,##0')
    assert ws.cell(row=2, column=header.index("period_from") + 1).is_date
    xml = ET.fromstring(client.get(f"{API}/runs/2026-03/efaktur.xml", headers=f).content)
    assert xml.tag == "TaxInvoiceBulk" and len(xml.findall("./ListOfTaxInvoice/TaxInvoice")) == 2
    assert xml.find("./ListOfTaxInvoice/TaxInvoice/TrxCode").text == "04"
    zipped = zipfile.ZipFile(io.BytesIO(client.get(f"{API}/runs/2026-03/invoices.zip", headers=f).content))
    assert sorted(zipped.namelist()) == ["BDL-2026-000001.pdf", "BDL-2026-000002.pdf"]
    a = issued_run[people.orgs["op_a"].id]
    pdf = client.get(f"{API}/invoices/{a['id']}/pdf", headers=people.headers("op_a")).content
    (ARTIFACTS / "invoice.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(ARTIFACTS / "invoice.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for needle in (
        "TAGIHAN",
        "BDL/2026/000001",
        "NPWP",
        "0123456789012345",
        "Terbilang",
        "rupiah",
        "Jatuh tempo",
        "RS-T-AB",
        "Rp ",
    ):
        assert needle in text, needle
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(ARTIFACTS / "invoice.pdf"), str(ARTIFACTS / "invoice")],
        check=True,
    )
    statement = client.get(f"{API}/statements/2026-03/pdf", headers=people.headers("op_a")).content
    (ARTIFACTS / "statement.pdf").write_bytes(statement)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-singlefile", str(ARTIFACTS / "statement.pdf"), str(ARTIFACTS / "statement")],
        check=True,
    )
    assert (ARTIFACTS / "invoice.png").stat().st_size > 10_000


def test_revenue_reports_by_operator_kecamatan_product_with_projection(client, people, issued_run):
    f = people.headers("finance")
    body = client.get(f"{API}/revenue?from=2026-01&to=2026-12&by=product", headers=f).json()
    assert {r["product"] for r in body["revenue"]} == {"subduct_32_26", "microduct"}
    assert len(body["projection"]) == 12 and body["occupancy"]
    assert client.get(f"{API}/revenue?from=2026-01&to=2026-12&by=kecamatan", headers=f).status_code == 200
    _problem(client.get(f"{API}/revenue?from=2026-01&to=2026-12&by=colour", headers=f), 422, "invalid_input")
    png = client.get(f"{API}/revenue/chart.png?from=2026-01&to=2026-12", headers=f)
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    (ARTIFACTS / "revenue.png").write_bytes(png.content)
    svg = client.get(f"{API}/revenue/chart.svg?from=2026-01&to=2026-12", headers=f)
    assert b"<svg" in svg.content


def test_quote_provider_prices_a_route_for_leasing(session, net):
    from decimal import Decimal

    from billing.tariffs import quote_provider
    from ducting.leasing.quotes import QuoteLine
    from ducting.network.vocab import SizeClass, ZoneClass

    q = quote_provider(
        session,
        operator_id=1,
        first_day=date(2026, 3, 17),
        last_day=date(2027, 3, 16),
        lines=[QuoteLine(1, "RS-T-AB", ZoneClass.RESIDENTIAL, SizeClass.SUBDUCT_32_26, Decimal("100"), 1)],
    )
    assert q["available"] and q["annual_total_idr"] == "1300000"
    # first month 17..31 March: 53,425 (as the run bills it)
    assert q["first_month_idr"] == "53425" and q["manhole_entries"] == 2
    assert q["term_total_idr"] is not None and abs(int(q["term_total_idr"]) - 1300000) <= 13
