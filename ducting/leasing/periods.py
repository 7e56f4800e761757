"""Inclusive days as users say them, half-open ranges as PostgreSQL stores them. The one place they convert.

A lease covers `[first_day, last_day]` inclusive; `last_day=None` means open-ended. PostgreSQL's `daterange`
is stored canonically as `[lower, upper)`, so upper = last_day + 1 day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from psycopg.types.range import Range


@dataclass(frozen=True)
class Days:
    first_day: date
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError(f"last day {self.last_day} is before first day {self.first_day}")

    def to_range(self) -> Range:
        upper = None if self.last_day is None else self.last_day + timedelta(days=1)
        return Range(self.first_day, upper, "[)")

    def literal(self) -> str:
        """The range as PostgreSQL text, for a `CAST(:p AS daterange)` parameter."""
        r = self.to_range()
        return f"[{r.lower},{r.upper if r.upper else ''})"

    @classmethod
    def from_range(cls, value: Range) -> Days:
        if value.lower is None:
            raise ValueError("a lease period needs a first day")
        last = None if value.upper is None else value.upper - timedelta(days=1)
        return cls(value.lower, last)

    def overlaps(self, other: Days) -> bool:
        a_end = self.last_day or date.max
        b_end = other.last_day or date.max
        return self.first_day <= b_end and other.first_day <= a_end

    @property
    def days(self) -> int | None:
        return None if self.last_day is None else (self.last_day - self.first_day).days + 1
