"""Survey files built in metres from the Batam origin (tests.factories), and a helper to import them."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from ducting.compliance.survey import SurveyReport, import_survey
from tests.factories import at

COLUMNS = [
    "kind",
    "pole_ref",
    "pole_code",
    "lon",
    "lat",
    "from_pole",
    "to_pole",
    "height_m",
    "material",
    "owner",
    "cable_count",
    "min_clearance_m",
    "crosses",
    "road_class",
    "coiled_slack",
    "sagging",
    "loose_cable",
    "photo_ref",
    "notes",
    "operator",
    "cable_type",
    "diameter_mm",
    "owner_tag",
    "permit_ref",
    "dead",
]


def pole(ref: str, dx: float, dy: float, **kw: Any) -> dict[str, Any]:
    lon, lat = at(dx, dy)
    return {"kind": "pole", "pole_ref": ref, "lon": f"{lon:.8f}", "lat": f"{lat:.8f}", **kw}


def span(a: str, b: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "span", "from_pole": a, "to_pole": b, **kw}


def cable(
    a: str | None = None,
    b: str | None = None,
    *,
    on_pole: str | None = None,
    operator: str = "TOPA",
    owner_tag: str = "yes",
    **kw: Any,
) -> dict[str, Any]:
    row = {"kind": "cable", "operator": operator, "cable_type": "fiber", "owner_tag": owner_tag, **kw}
    if on_pole:
        row["pole_ref"] = on_pole
    else:
        row |= {"from_pole": a, "to_pole": b}
    return row


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return out.getvalue().encode()


def street(
    n_poles: int = 2, spacing: float = 100.0, y: float = 0.0, prefix: str = "P", x0: float = 0.0
) -> list[dict[str, Any]]:
    return [pole(f"{prefix}{i}", x0 + i * spacing, y) for i in range(n_poles)]


@pytest.fixture()
def survey(session, people):
    """`survey(rows, day=...)` imports a CSV survey through the service and returns its report."""
    counter = {"n": 0}

    def run(rows: list[dict[str, Any]], day: date = date(2026, 3, 1), name: str | None = None) -> SurveyReport:
        counter["n"] += 1
        return import_survey(
            session,
            data=csv_bytes(rows),
            filename="survey.csv",
            name=name or f"R{counter['n']}",
            surveyed_on=day,
            team="Tim Uji",
            account_id=people.accounts["planner"].id,
        )

    return run


def flags(session, rule: str | None = None, status: tuple[str, ...] = ("open", "acknowledged")) -> list[Any]:
    return session.execute(
        text("""SELECT * FROM compliance_flag WHERE (CAST(:r AS text) IS NULL OR rule = :r)
        AND status = ANY(CAST(:s AS flag_status[])) ORDER BY id"""),
        {"r": rule, "s": list(status)},
    ).all()


def lease(
    client,
    people,
    who: str,
    *,
    segments: list[str],
    first_day: date,
    size_class: str = "subduct_32_26",
    months: int = 12,
) -> int:
    """A capacity request of `who` along `segments`, offered by a planner and accepted: a lease from `first_day`.
    Returns the request's id."""
    body = {
        "segments": segments,
        "subduct_count": 1,
        "size_class": size_class,
        "first_day": first_day.isoformat(),
        "term_months": months,
    }
    r = client.post("/api/v1/leasing/requests", json=body, headers=people.headers(who))
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    r = client.post(f"/api/v1/leasing/requests/{request_id}/approve", headers=people.headers("planner"))
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/leasing/requests/{request_id}/accept", headers=people.headers(who))
    assert r.status_code == 200, r.text
    return request_id
