"""What the database guarantees: issued invoices are immutable, numbers are gapless under concurrent issuers,
re-runs are idempotent, and an issue killed half-way leaves nothing half-issued and no gap."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from billing.invoicing import issue_month, run_month
from billing.settlement import record_payment
from ducting.db import open_session
from tests.billing.conftest import FINANCE, invoice_of, lines_of

MARCH = date(2026, 3, 1)


@pytest.fixture()
def issued(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, "RS-T-AB", date(2026, 1, 1), None)
    run_month(session, month=MARCH, actor=FINANCE)
    issue_month(session, month=MARCH, actor=FINANCE, issued_on=date(2026, 4, 1))
    return invoice_of(session, op, MARCH)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE invoice SET subtotal_idr = 1, total_idr = 1 + ppn_idr WHERE id = :i",
        "UPDATE invoice SET number = 'BDL/2026/999999' WHERE id = :i",
        "UPDATE invoice SET status = 'draft', number = NULL WHERE id = :i",
        "DELETE FROM invoice WHERE id = :i",
        "UPDATE invoice_line SET amount_idr = 0 WHERE invoice_id = :i",
        "DELETE FROM invoice_line WHERE invoice_id = :i",
        "INSERT INTO invoice_line (invoice_id, line_no, kind, service_month, amount_idr, description)"
        " VALUES (:i, 99, 'minimum_charge', '2026-03-01', 5, 'sneaked in')",
    ],
)
def test_issued_invoice_and_its_lines_refuse_changes_in_the_database(session, issued, statement):
    with pytest.raises((IntegrityError, DBAPIError), match=r"immutable|cannot"), session.begin_nested():
        session.execute(text(statement), {"i": issued["id"]})


def test_issued_invoice_may_only_move_to_paid_with_its_payment(session, issued):
    record_payment(
        session,
        invoice_id=issued["id"],
        amount_idr=issued["total_idr"],
        paid_on=date(2026, 4, 20),
        reference="TRX-1",
        actor=FINANCE,
    )
    inv = invoice_of(session, issued["operator_id"], MARCH)
    assert (inv["status"], inv["paid_idr"]) == ("paid", issued["total_idr"])
    with pytest.raises(IntegrityError, match="cannot move"), session.begin_nested():
        session.execute(text("UPDATE invoice SET status = 'issued' WHERE id = :i"), {"i": issued["id"]})
    with pytest.raises(IntegrityError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE payment SET amount_idr = 1 WHERE invoice_id = :i"), {"i": issued["id"]})


def test_rerunning_an_issued_month_is_idempotent(session, people, issued):
    op = people.orgs["op_a"].id
    before = lines_of(session, op, MARCH)
    summary = run_month(session, month=MARCH, actor=FINANCE)
    assert (summary.invoices, summary.drafts, summary.issued) == (1, 0, 1)
    assert lines_of(session, op, MARCH) == before
    again = issue_month(session, month=MARCH, actor=FINANCE)
    assert again.issued == 1 and invoice_of(session, op, MARCH)["number"] == "BDL/2026/000001"


def test_database_refuses_a_second_rent_line_for_the_same_allocation_month(session, issued, people):
    line = lines_of(session, people.orgs["op_a"].id, MARCH)[0]
    session.execute(text("INSERT INTO invoice_run (month) VALUES ('2026-05-01')"))
    other = session.scalar(
        text("INSERT INTO invoice (month, operator_id) VALUES ('2026-05-01', :o) RETURNING id"),
        {"o": people.orgs["op_b"].id},
    )
    with pytest.raises(IntegrityError, match="uq_invoice_line_rent"), session.begin_nested():
        session.execute(
            text("""INSERT INTO invoice_line (invoice_id, line_no, kind, allocation_id, service_month,
                period_from, days_in_year, amount_idr, description)
                VALUES (:inv, 1, 'rent', :a, '2026-03-01', '2026-03-01', 365, 1, 'dup')"""),
            {"inv": other, "a": line["allocation_id"]},
        )


def test_run_refuses_days_without_a_tariff_and_writes_nothing(session, people, net):
    from billing.tariffs import TariffMissing

    net.lease(people.orgs["op_a"].id, "RS-T-AB", date(2026, 1, 1), None)
    session.execute(
        text(
            "UPDATE tariff SET effective = daterange(lower(effective), '2026-03-10') "
            "WHERE product = 'subduct_32_26' AND zone_class = 'residential'"
        )
    )
    with pytest.raises(TariffMissing) as err, session.begin_nested():
        run_month(session, month=MARCH, actor=FINANCE)
    (missing,) = err.value.errors
    assert missing.code == "tariff_missing" and missing.detail == {"segment": "RS-T-AB", "days": 22}
    assert missing.text("id") == "segmen RS-T-AB: 22 hari tanpa tarif" and "22 days" in missing.message
    assert session.scalar(text("SELECT count(*) FROM invoice WHERE month = :m"), {"m": MARCH}) == 0


# -- committed data, real parallel connections ------------------------------------------------------------------------
YEAR = 2031  # a year no other test issues in


@pytest.fixture()
def committed_drafts(engine, owner_engine):
    """Six operators with draft invoices for January and February 2031, committed; removed afterwards."""
    tag = uuid.uuid4().hex[:6].upper()
    with owner_engine.begin() as c:
        orgs = [
            c.scalar(
                text(
                    "INSERT INTO organisation (code, name, kind, npwp) VALUES (:c, :n, 'operator', "
                    "'012345678901234') RETURNING id"
                ),
                {"c": f"CC{tag}{i}", "n": f"Op {tag} {i}"},
            )
            for i in range(6)
        ]
        for m in (date(YEAR, 1, 1), date(YEAR, 2, 1)):
            c.execute(text("INSERT INTO invoice_run (month) VALUES (:m)"), {"m": m})
            for o in orgs:
                c.execute(
                    text(
                        "INSERT INTO invoice (month, operator_id, subtotal_idr, total_idr) VALUES (:m, :o, 1000, 1000)"
                    ),
                    {"m": m, "o": o},
                )
    yield orgs
    with owner_engine.begin() as c:
        c.execute(text("ALTER TABLE invoice DISABLE TRIGGER invoice_guard"))
        c.execute(text("DELETE FROM invoice WHERE operator_id = ANY(:o)"), {"o": orgs})
        c.execute(text("ALTER TABLE invoice ENABLE TRIGGER invoice_guard"))
        c.execute(text("DELETE FROM invoice_run WHERE extract(year FROM month) = :y"), {"y": YEAR})
        c.execute(text("DELETE FROM number_series WHERE year = :y"), {"y": YEAR})
        c.execute(text("DELETE FROM organisation WHERE id = ANY(:o)"), {"o": orgs})


def _numbers(engine) -> list[str]:
    with open_session(FINANCE, bind=engine) as c:  # row-level security: invoices need a role that reads them
        return list(
            c.scalars(
                text(
                    "SELECT number FROM invoice WHERE extract(year FROM month) = :y "
                    "AND number IS NOT NULL ORDER BY number"
                ),
                {"y": YEAR},
            )
        )


def _expected(n: int) -> list[str]:
    return [f"BDL/{YEAR}/{i:06d}" for i in range(1, n + 1)]


def test_two_issuers_at_once_get_gapless_distinct_numbers(engine, committed_drafts):
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def issue(month: date, fail: bool) -> None:
        with open_session(FINANCE, bind=engine) as s:
            try:
                barrier.wait()
                issue_month(s, month=month, actor=FINANCE, issued_on=date(YEAR, 3, 1))
                if fail:
                    raise RuntimeError("crash after numbering, before commit")
                s.commit()
            except RuntimeError:
                s.rollback()
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=issue, args=(date(YEAR, 1, 1), False)),
        threading.Thread(target=issue, args=(date(YEAR, 2, 1), True)),
        threading.Thread(target=issue, args=(date(YEAR, 2, 1), False)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert _numbers(engine) == _expected(12)  # 12 drafts, numbers 1..12, no gap from the rolled-back issuer


def test_issue_failing_at_any_statement_leaves_nothing_half_issued(engine, committed_drafts):
    rng = random.Random(4)
    for k in sorted(rng.sample(range(1, 9), 4)):
        with open_session(FINANCE, bind=engine) as s:
            calls = {"n": 0}
            real = s.execute

            def flaky(*args, **kwargs):
                calls["n"] += 1
                if calls["n"] == k:
                    raise RuntimeError(f"injected failure at statement {k}")
                return real(*args, **kwargs)

            s.execute = flaky  # type: ignore[method-assign]
            try:
                issue_month(s, month=date(YEAR, 1, 1), actor=FINANCE, issued_on=date(YEAR, 3, 1))
                s.commit()
            except RuntimeError:
                s.rollback()
        if _numbers(engine):  # the failure came after the last statement: everything committed at once
            assert _numbers(engine) == _expected(6)
            return
        with open_session(FINANCE, bind=engine) as c:
            assert (
                c.scalar(
                    text("SELECT count(*) FROM invoice WHERE extract(year FROM month) = :y AND status <> 'draft'"),
                    {"y": YEAR},
                )
                == 0
            )
    with open_session(FINANCE, bind=engine) as s:
        issue_month(s, month=date(YEAR, 1, 1), actor=FINANCE, issued_on=date(YEAR, 3, 1))
        s.commit()
    assert _numbers(engine) == _expected(6)


def test_issue_killed_mid_transaction_leaves_nothing_and_no_gap(engine, committed_drafts):
    url = engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(f"""
        import sys, time
        from datetime import date
        from sqlalchemy import create_engine
        from ducting.db import open_session
        from billing.invoicing import issue_month
        from tests.billing.conftest import FINANCE
        with open_session(FINANCE, bind=create_engine({url!r})) as s:
            issue_month(s, month=date({YEAR}, 1, 1), actor=FINANCE, issued_on=date({YEAR}, 3, 1))
            print("numbered", flush=True)
            time.sleep(60)
            s.commit()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "numbered"
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _numbers(engine) == []
    with open_session(FINANCE, bind=engine) as s:  # the killed backend's locks go with its connection
        issue_month(s, month=date(YEAR, 2, 1), actor=FINANCE, issued_on=date(YEAR, 3, 1))
        s.commit()
    assert _numbers(engine) == _expected(6)
