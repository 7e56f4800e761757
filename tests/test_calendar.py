"""The calendar every domain counts days with: zones, working days, months, leap years, inclusive days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.range import Range
from sqlalchemy import text

from ducting.calendar import (
    DEFAULT_ZONE_NAME,
    WIB,
    Days,
    add_working_days,
    days_in_year,
    is_working_day,
    local_day,
    month_bounds,
    month_of,
    months_from,
    months_through,
    next_month,
    term_last_day,
    today,
    zone,
    zone_label,
)


def _due(start: datetime, days: int) -> date:
    return local_day(add_working_days(start, days))


# -- zones ------------------------------------------------------------------------------------------------------
def test_the_three_indonesian_zones_are_named_by_their_labels():
    assert (zone("WIB").key, zone("WITA").key, zone("wit").key) == ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
    assert zone("Asia/Makassar") is zone("WITA")
    assert [zone_label(zone(x)) for x in ("WIB", "WITA", "WIT")] == ["WIB", "WITA", "WIT"]
    assert WIB.key == DEFAULT_ZONE_NAME == "Asia/Jakarta"  # Batam: the default, and only the default


def test_a_moment_falls_on_the_day_of_the_zone_it_is_read_in():
    moment = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 23:30 WIB, 00:30 WITA and 01:30 WIT the next day
    assert local_day(moment) == date(2026, 11, 23)
    assert local_day(moment, zone("WITA")) == local_day(moment, zone("WIT")) == date(2026, 11, 24)


def test_the_database_session_counts_today_in_the_same_zone(session):
    # ducting.db sets the session's zone from the calendar, so CURRENT_DATE is calendar.today()
    assert session.scalar(text("SHOW timezone")) == DEFAULT_ZONE_NAME
    before, db_today, after = today(), session.scalar(text("SELECT CURRENT_DATE")), today()
    assert db_today in (before, after)  # equal unless the test straddles midnight WIB


# -- working days -----------------------------------------------------------------------------------------------
def test_weekends_public_holidays_and_independence_day_are_skipped():
    # Monday 2026-08-10 09:00 WIB + 10 working days: the weekends of 15-16 and 22-23 August and Independence Day
    # (Monday 17 August) are skipped, so the due date is Tuesday 25 August... which is the Prophet's Birthday in
    # 2026, so Wednesday 26 August
    assert not is_working_day(date(2026, 8, 17)) and not is_working_day(date(2026, 8, 25))
    assert is_working_day(date(2026, 8, 18))
    assert _due(datetime(2026, 8, 10, 9, 0, tzinfo=WIB), 10) == date(2026, 8, 26)


def test_christmas_leave_and_new_year_move_a_deadline_into_the_next_year():
    # Christmas (Friday 25 December 2026, with cuti bersama on Thursday 24) and New Year's Day (Friday 1 January)
    assert not is_working_day(date(2026, 12, 24))
    assert _due(datetime(2026, 12, 23, 9, 0, tzinfo=WIB), 1) == date(2026, 12, 28)
    assert _due(datetime(2026, 12, 31, 9, 0, tzinfo=WIB), 1) == date(2027, 1, 4)


def test_nyepi_idul_fitri_2026_and_their_cuti_bersama_close_a_whole_week():
    # Wednesday 18 March (cuti bersama), Thursday 19 (Nyepi), Friday 20 (cuti bersama), Saturday 21 and Sunday 22
    # (Idul Fitri), Monday 23 and Tuesday 24 (cuti bersama): Tuesday 17 March plus one working day is Wednesday 25
    assert is_working_day(date(2026, 3, 17)) and is_working_day(date(2026, 3, 25))
    assert not any(is_working_day(date(2026, 3, d)) for d in range(18, 25))
    assert _due(datetime(2026, 3, 17, 9, 0, tzinfo=WIB), 1) == date(2026, 3, 25)
    assert _due(datetime(2026, 3, 16, 9, 0, tzinfo=WIB), 3) == date(2026, 3, 26)


def test_a_deadline_keeps_its_time_of_day():
    start = datetime(2026, 3, 17, 9, 15, tzinfo=WIB)
    assert add_working_days(start, 1) == datetime(2026, 3, 25, 9, 15, tzinfo=WIB)
    assert add_working_days(start, 0) == start


def test_working_days_are_counted_on_the_calendar_of_the_zone_asked():
    # 23:30 WIB on Thursday 13 August 2026 is 01:30 WIT on Friday 14: one working day later is Friday 14 in WIB
    # but Tuesday 18 in WIT (the weekend, then Independence Day on Monday 17)
    start = datetime(2026, 8, 13, 16, 30, tzinfo=UTC)
    assert local_day(add_working_days(start, 1)) == date(2026, 8, 14)
    assert local_day(add_working_days(start, 1, zone("WIT")), zone("WIT")) == date(2026, 8, 18)


# -- months and years -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "day,first,last,after",
    [
        (date(2026, 3, 17), date(2026, 3, 1), date(2026, 3, 31), date(2026, 4, 1)),
        (date(2026, 2, 28), date(2026, 2, 1), date(2026, 2, 28), date(2026, 3, 1)),
        (date(2028, 2, 1), date(2028, 2, 1), date(2028, 2, 29), date(2028, 3, 1)),  # a leap year
        (date(2100, 2, 10), date(2100, 2, 1), date(2100, 2, 28), date(2100, 3, 1)),  # a century, not a leap year
        (date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 1)),  # into the next year
    ],
)
def test_month_bounds_and_the_next_month(day, first, last, after):
    assert month_of(day) == first
    assert month_bounds(day) == (first, last)
    assert next_month(day) == after
    assert Days.month(day) == Days(first, last)


def test_days_in_a_year_follow_the_gregorian_leap_rule():
    assert [days_in_year(y) for y in (2026, 2027, 2028, 2100, 2000)] == [365, 365, 366, 365, 366]


def test_months_from_and_through_list_first_days_across_a_year_end():
    assert months_from(date(2026, 11, 20), 3) == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]
    assert months_from(date(2026, 11, 20), 0) == []
    assert list(months_through(date(2026, 11, 30), date(2027, 1, 1))) == months_from(date(2026, 11, 1), 3)
    assert list(months_through(date(2026, 11, 30), date(2026, 11, 30))) == [date(2026, 11, 1)]


def test_a_term_ends_the_day_before_the_same_day_months_later():
    assert term_last_day(date(2026, 3, 1), 12) == date(2027, 2, 28)
    assert term_last_day(date(2026, 1, 15), 1) == date(2026, 2, 14)
    assert term_last_day(date(2028, 2, 29), 12) == date(2029, 2, 27)  # no 29 February in 2029: clipped, then -1
    assert Days(date(2027, 3, 1), term_last_day(date(2027, 3, 1), 12)).days == 366  # the term holds 29 Feb 2028


@given(day=st.dates(date(2000, 1, 1), date(2100, 12, 31)))
def test_every_day_lies_in_its_month_and_the_months_tile_the_calendar(day):
    first, last = month_bounds(day)
    assert first <= day <= last and first.day == 1
    assert (last + timedelta(days=1)).day == 1 and next_month(day) == last + timedelta(days=1)
    assert (last - first).days + 1 in (28, 29, 30, 31)


# -- inclusive days ---------------------------------------------------------------------------------------------
def test_days_convert_to_a_half_open_daterange_and_back():
    days = Days(date(2026, 3, 1), date(2026, 3, 31))
    assert days.to_range() == Range(date(2026, 3, 1), date(2026, 4, 1), "[)")
    assert days.literal() == "[2026-03-01,2026-04-01)"
    assert Days.from_range(days.to_range()) == days
    assert days.days == 31
    open_ended = Days(date(2026, 3, 1))
    assert open_ended.to_range() == Range(date(2026, 3, 1), None, "[)")
    assert open_ended.literal() == "[2026-03-01,)" and open_ended.days is None
    assert Days.from_range(open_ended.to_range()) == open_ended
    # a range written with other bounds still means the same inclusive days
    assert Days.from_range(Range(date(2026, 2, 28), date(2026, 3, 31), "(]")) == days


def test_a_one_day_period_and_a_reversed_one():
    one = Days(date(2026, 3, 1), date(2026, 3, 1))
    assert one.days == 1 and one.literal() == "[2026-03-01,2026-03-02)"
    with pytest.raises(ValueError, match="before first day"):
        Days(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ValueError):
        Days.from_range(Range(None, date(2026, 3, 1), "[)"))


def test_periods_overlap_when_they_share_a_day():
    march = Days.month(date(2026, 3, 1))
    assert march.overlaps(Days(date(2026, 3, 31), date(2026, 4, 30)))
    assert not march.overlaps(Days(date(2026, 4, 1)))
    assert Days(date(2020, 1, 1)).overlaps(march)  # open-ended reaches every later day


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    length=st.one_of(st.none(), st.integers(0, 4000)),
)
def test_days_round_trip_through_postgresql_unchanged(session, first, length):
    days = Days(first, None if length is None else first + timedelta(days=length))
    stored = session.execute(
        text(
            "SELECT CAST(:p AS daterange) AS p, upper(CAST(:p AS daterange)) - lower(CAST(:p AS daterange)) AS n, "
            "CAST(:r AS daterange) = CAST(:p AS daterange) AS same"
        ),
        {"p": days.literal(), "r": days.to_range()},
    ).one()
    assert Days.from_range(stored.p) == days
    assert stored.same
    assert stored.n == days.days  # PostgreSQL counts the same days as the inclusive period (NULL for open-ended)
