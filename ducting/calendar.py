"""How a day and a month are counted: the city's time zone, today, working days, months, and inclusive days.

Every domain asks here: leasing's deadlines and lease periods, billing's months and day counts, compliance's
letter dates, the tiles' "today". A day is a calendar day in the city's zone. Batam is on WIB (`Asia/Jakarta`),
the default; a city on WITA or WIT passes its own zone (`zone("WITA")`), and nothing below assumes Batam beyond
that default. The database sessions use the same zone (`ducting.db` sets `timezone` from `DEFAULT_ZONE_NAME`), so
`CURRENT_DATE` in SQL is this module's `today()`.

Working days are Monday to Friday, less Indonesia's national public holidays and the cuti bersama (collective
leave) days set each year by joint decree for the civil service, which a city enterprise follows: the `holidays`
package's "public" and "government" categories. Both are national, the same in every zone.

A period is `Days`: `[first_day, last_day]` inclusive as a person says it, `last_day=None` for open-ended.
PostgreSQL stores it as a `daterange` with an exclusive upper bound; `Days` is the one place they convert.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta
from psycopg.types.range import Range

ZONE_NAMES: dict[str, str] = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}
"""Indonesia's three zones by the label a person reads (Waktu Indonesia Barat, Tengah, Timur)."""

DEFAULT_ZONE_NAME = ZONE_NAMES["WIB"]
"""The one place the zone name is written; SQL sessions, pages and the browser take it from here."""


@functools.cache
def zone(label_or_name: str = DEFAULT_ZONE_NAME) -> ZoneInfo:
    """The zone for `WIB`, `WITA`, `WIT` or an IANA name (`Asia/Makassar`)."""
    return ZoneInfo(ZONE_NAMES.get(label_or_name.upper(), label_or_name))


WIB = zone("WIB")
DEFAULT_ZONE = WIB


def zone_label(tz: ZoneInfo = DEFAULT_ZONE) -> str:
    """`WIB`, `WITA` or `WIT` for Indonesia's zones; the IANA name for any other."""
    return next((label for label, name in ZONE_NAMES.items() if name == tz.key), tz.key)


# -- now and today ----------------------------------------------------------------------------------------------
def now(tz: ZoneInfo = DEFAULT_ZONE) -> datetime:
    return datetime.now(tz)


def today(tz: ZoneInfo = DEFAULT_ZONE) -> date:
    return datetime.now(tz).date()


def local_day(moment: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> date:
    """The calendar day a moment falls on in the zone (a naive moment is taken as already local)."""
    return (moment.astimezone(tz) if moment.tzinfo else moment).date()


# -- working days -----------------------------------------------------------------------------------------------
@functools.cache
def closed_days(year: int) -> frozenset[date]:
    """The national public holidays and cuti bersama of a year (see the module docstring)."""
    return frozenset(holidays.country_holidays("ID", years=year, categories=("public", "government")))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in closed_days(day.year)


def add_working_days(start: datetime, days: int, tz: ZoneInfo = DEFAULT_ZONE) -> datetime:
    """The moment `days` working days after `start`, at the same time of day: each step moves 24 hours and counts
    when it lands on a working day of the zone's calendar."""
    current, added = start, 0
    while added < days:
        current += timedelta(days=1)
        if is_working_day(local_day(current, tz)):
            added += 1
    return current


# -- months and years -------------------------------------------------------------------------------------------
def month_of(day: date) -> date:
    """The month a day belongs to, as its first day (months are keyed by their first day everywhere)."""
    return day.replace(day=1)


def month_bounds(day: date) -> tuple[date, date]:
    """First and last day (inclusive) of the month containing `day`."""
    first = month_of(day)
    return first, first.replace(day=_stdlib_calendar.monthrange(first.year, first.month)[1])


def next_month(day: date) -> date:
    """The first day of the month after the one containing `day`."""
    return month_bounds(day)[1] + timedelta(days=1)


def months_from(start: date, count: int) -> list[date]:
    """`count` consecutive months (first days), beginning with the month containing `start`."""
    out = [month_of(start)]
    while len(out) < count:
        out.append(next_month(out[-1]))
    return out[:count]


def months_through(first_day: date, last_day: date) -> Iterator[date]:
    """The months (first days) that `[first_day, last_day]` touches, in order."""
    month = month_of(first_day)
    while month <= last_day:
        yield month
        month = next_month(month)


def days_in_year(year: int) -> int:
    return 366 if _stdlib_calendar.isleap(year) else 365


def term_last_day(first_day: date, months: int) -> date:
    """The last day of a term of `months` calendar months from `first_day`: the day before the same day `months`
    later (clipped to the month's end first: a year from 29 February 2028 ends on 27 February 2029)."""
    return first_day + relativedelta(months=months) - timedelta(days=1)


# -- inclusive days ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Days:
    """`[first_day, last_day]` inclusive; `last_day=None` is open-ended. PostgreSQL's `daterange` is stored
    canonically as `[lower, upper)`, so upper = last_day + 1 day."""

    first_day: date
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError(f"last day {self.last_day} is before first day {self.first_day}")

    @classmethod
    def month(cls, day: date) -> Days:
        """The whole month containing `day`."""
        return cls(*month_bounds(day))

    def to_range(self) -> Range:
        upper = None if self.last_day is None else self.last_day + timedelta(days=1)
        return Range(self.first_day, upper, "[)")

    def literal(self) -> str:
        """The range as PostgreSQL text, for a `CAST(:p AS daterange)` parameter."""
        r = self.to_range()
        return f"[{r.lower},{r.upper if r.upper else ''})"

    @classmethod
    def from_range(cls, value: Range) -> Days:
        """From a `daterange` as psycopg returns it, whatever its bounds say (`[a,b]`, `(a,b)` are turned inclusive)."""
        if value.lower is None:
            raise ValueError("a period needs a first day")
        first = value.lower if value.lower_inc else value.lower + timedelta(days=1)
        if value.upper is None:
            return cls(first, None)
        return cls(first, value.upper if value.upper_inc else value.upper - timedelta(days=1))

    def overlaps(self, other: Days) -> bool:
        a_end = self.last_day or date.max
        b_end = other.last_day or date.max
        return self.first_day <= b_end and other.first_day <= a_end

    @property
    def days(self) -> int | None:
        return None if self.last_day is None else (self.last_day - self.first_day).days + 1
