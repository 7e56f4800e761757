"""Gapless numbers (`ducting.numbering`): formats, a rollback gives numbers back, and real parallel issuers, some
of which roll back, leave no gap and no duplicate."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from psycopg.errors import LockNotAvailable
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ducting import numbering
from ducting.db import Actor, open_session

ISSUER = Actor.system("numbering test")


@pytest.fixture()
def series(owner_engine):
    """A series of its own (committed rows), removed afterwards."""
    s = numbering.Series(f"T{uuid.uuid4().hex[:10]}", "UJI")
    yield s
    with owner_engine.begin() as c:
        c.execute(text("DELETE FROM number_series WHERE series = :s"), {"s": s.key})


def _last(engine, s: numbering.Series, year: int) -> int | None:
    with engine.connect() as c:
        return c.scalar(
            text("SELECT last_value FROM number_series WHERE series = :s AND year = :y"), {"s": s.key, "y": year}
        )


def test_numbers_keep_the_formats_of_contracts_invoices_and_credit_notes():
    assert numbering.PKS.format(2026, 42) == "PKS/BDL/2026/000042"
    assert numbering.INVOICE.format(2026, 123) == "BDL/2026/000123"
    assert numbering.CREDIT_NOTE.format(2026, 7) == "BDL-KN/2026/000007"
    assert numbering.INVOICE.format(2026, 1234567) == "BDL/2026/1234567"  # wider, never cut
    assert set(numbering.SERIES) == {"PKS", "BDL", "BDL-KN"}  # one table, three keys that cannot collide


def test_numbers_run_on_within_a_year_and_start_again_each_year(session):
    s = numbering.Series(f"T{uuid.uuid4().hex[:10]}", "UJI")
    assert numbering.take_numbers(session, s, 2026, 3) == ["UJI/2026/000001", "UJI/2026/000002", "UJI/2026/000003"]
    assert numbering.take_one(session, s, 2026) == "UJI/2026/000004"
    assert numbering.take(session, s, 2027, 2) == [1, 2]
    assert numbering.take(session, s, 2026, 0) == [] and numbering.take(session, s, 2026) == [5]
    with pytest.raises(ValueError):
        numbering.take(session, s, 2026, -1)


def test_a_rolled_back_transaction_gives_its_numbers_back(engine, series):
    with open_session(ISSUER, bind=engine) as s:
        assert numbering.take(s, series, 2026, 2) == [1, 2]
        s.commit()
    with open_session(ISSUER, bind=engine) as s:
        assert numbering.take(s, series, 2026, 3) == [3, 4, 5]
        s.rollback()  # e.g. the invoice run failed after numbering
    with open_session(ISSUER, bind=engine) as s:
        assert numbering.take(s, series, 2026, 1) == [3]
        s.commit()
    assert _last(engine, series, 2026) == 3


def test_a_savepoint_rolled_back_gives_its_numbers_back(session):
    s = numbering.Series(f"T{uuid.uuid4().hex[:10]}", "UJI")
    numbering.take(session, s, 2026, 1)
    nested = session.begin_nested()
    assert numbering.take(session, s, 2026, 2) == [2, 3]
    nested.rollback()
    assert numbering.take(session, s, 2026, 1) == [2]


def test_a_second_issuer_waits_for_the_first_to_finish(engine, series):
    with open_session(ISSUER, bind=engine) as first:
        numbering.take(first, series, 2026, 1)
        first.commit()
        numbering.take(first, series, 2026, 1)  # holds the counter row until it ends
        with open_session(ISSUER, bind=engine) as second:
            second.execute(text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(OperationalError) as waited:
                numbering.take(second, series, 2026, 1)
            assert isinstance(waited.value.orig, LockNotAvailable)
        first.commit()
    assert _last(engine, series, 2026) == 2


@pytest.mark.parametrize("new_year", [True, False], ids=["year's first numbers", "running year"])
def test_parallel_issuers_some_rolling_back_leave_no_gap_and_no_duplicate(engine, series, new_year):
    year = 2030
    if not new_year:
        with open_session(ISSUER, bind=engine) as s:
            numbering.take(s, series, year, 5)
            s.commit()
    start = 0 if new_year else 5
    rng = random.Random(12)
    plan = [(rng.randint(1, 4), i % 3 == 1) for i in range(9)]  # (how many, roll back?)
    barrier = threading.Barrier(len(plan))
    kept: list[list[int]] = [[] for _ in plan]
    errors: list[BaseException] = []

    def issue(i: int, count: int, fail: bool) -> None:
        try:
            with open_session(ISSUER, bind=engine) as s:
                barrier.wait()
                values = numbering.take(s, series, year, count)
                time.sleep(0.02)  # hold the row a moment: the others queue on it
                if fail:
                    s.rollback()
                else:
                    s.commit()
                    kept[i] = values
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(i, n, f)) for i, (n, f) in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    committed = sorted(v for values in kept for v in values)
    total = sum(n for n, fail in plan if not fail)
    assert committed == list(range(start + 1, start + total + 1))  # consecutive: no gap, no duplicate
    assert all(values == list(range(values[0], values[-1] + 1)) for values in kept if values)  # each run unbroken
    assert _last(engine, series, year) == start + total
