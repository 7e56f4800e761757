"""Importing a field survey (CSV with lon/lat, KML/KMZ, GeoPackage: what ODK, Kobo and QField export).

One row is one thing seen, named by `kind`:

* `pole`  - a Point where the pole stands; `pole_ref` (the team's label), optional `pole_code` (an existing node
  code), `height_m`, `material`, `owner` (organisation code), `cable_count` (cables counted at the pole), notes.
* `span`  - the cable run between `from_pole` and `to_pole` (pole refs of this file or existing pole codes);
  `min_clearance_m`, `crosses` (road|sidewalk|none), `road_class`, `coiled_slack`, `sagging`, `loose_cable`,
  `photo_ref`, `notes`. Its geometry is the straight line between the two poles; a row's own geometry is ignored.
* `cable` - one cable on a span (`from_pole`, `to_pole`) or on a pole (`pole_ref`): `operator` (organisation code
  or `unknown`), `cable_type`, `diameter_mm`, `height_m`, `owner_tag`, `permit_ref`, `dead`.

The cables listed for an observed span or pole are all the cables there now: a cable seen before and missing now
is marked removed by this survey, and a span left with none is cleared; a migration case at cut-over whose
operator has no cable left there is completed (aerial cable removed, on the survey's day), and a planned one is
closed with this survey as its reason. Poles within the match
tolerance of an existing pole are that pole. Every row is checked first; one fault anywhere and nothing is written.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.compliance.evaluation import EvaluationReport, Scope, evaluate
from ducting.compliance.models import SurveyRound
from ducting.compliance.service import close_migrations_seen_removed, complete_migrations_seen_removed
from ducting.compliance.settings import get_compliance_settings
from ducting.compliance.vocab import CableType, Crossing, PoleMaterial, RoadClass
from ducting.db import rowcount
from ducting.errors import FieldError, InvalidInput, read_faults
from gis.crs import UTM48N, WGS84, transformer
from gis.io import ReadError, read_layers

KINDS = ("pole", "span", "cable")
_TRUE = {"1", "true", "yes", "y", "ya", "ada", "t"}
_FALSE = {"0", "false", "no", "n", "tidak", "tdk", "f", ""}
_UNKNOWN_OPERATOR = {"unknown", "tidak diketahui", "?", ""}


class SurveyRejected(InvalidInput):
    code = "import_rejected"


@dataclass
class _Pole:
    ref: str
    row: int
    x: float
    y: float
    lon: float
    lat: float
    node_id: int | None = None
    code: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Span:
    row: int
    a: str
    b: str
    attrs: dict[str, Any]
    cables: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Parsed:
    poles: dict[str, _Pole] = field(default_factory=dict)
    spans: dict[frozenset[str], _Span] = field(default_factory=dict)
    pole_cables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    errors: list[FieldError] = field(default_factory=list)

    def fail(self, row: int, code: str, **facts: Any) -> None:
        self.errors.append(FieldError(f"rows/{row}", code, row=row, **facts))


@dataclass
class SurveyReport:
    survey_id: int
    observations: int
    poles_matched: int
    poles_created: int
    spans_created: int
    cables_added: int
    cables_kept: int
    cables_removed: int
    spans_cleared: int
    migrations_completed: int
    migrations_closed: int
    evaluation: EvaluationReport

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "evaluation"}
        out["evaluation"] = self.evaluation.as_dict()
        return out


def import_survey(
    session: Session,
    *,
    data: bytes,
    filename: str,
    name: str,
    surveyed_on: date,
    team: str,
    account_id: int | None = None,
) -> SurveyReport:
    """Check every row, then write the survey and re-evaluate what it touched. Raises SurveyRejected. No commit."""
    try:
        layers = read_layers(data, filename)
    except ReadError as exc:
        errors = read_faults(exc)
        raise SurveyRejected(code=exc.code if not errors else None, errors=errors, **exc.facts) from None
    frame = _one_frame(layers)
    limit = get_compliance_settings().max_survey_rows
    if len(frame) > limit:
        raise SurveyRejected(code="too_many_rows", rows=len(frame), limit=limit)
    parsed = _parse(session, frame)
    if parsed.errors:
        raise SurveyRejected(errors=parsed.errors)
    survey = SurveyRound(
        name=name,
        surveyed_on=surveyed_on,
        team=team,
        source_filename=filename[:200],
        source_sha256=hashlib.sha256(data).hexdigest(),
        imported_by=account_id,
    )
    session.add(survey)
    session.flush()
    counts, scope = _write(session, parsed, survey)
    evaluation = evaluate(session, scope=scope, survey_id=survey.id, account_id=account_id)
    return SurveyReport(survey_id=survey.id, evaluation=evaluation, **counts)


def _one_frame(layers: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    frames = []
    for layer, gdf in layers.items():
        gdf = gdf.rename(columns={c: str(c).strip().lower() for c in gdf.columns if c != "geometry"})
        gdf["_layer"] = layer
        frames.append(gdf)
    if not frames:
        raise SurveyRejected(code="survey_empty")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if "kind" not in frame.columns:
        raise SurveyRejected(code="survey_no_kind", allowed=list(KINDS))
    if len(frames) > 1:  # rows are numbered within their layer; across layers, number them through
        frame["_row"] = np.arange(1, len(frame) + 1)
    return frame


# -- checking --------------------------------------------------------------------------------------------------------
def _text(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _number(p: _Parsed, row: int, rec: dict[str, Any], key: str, low: float, high: float) -> float | None:
    raw = _text(rec, key).replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        p.fail(row, "value_invalid", column=key, value=raw[:30], expected="12.5")
        return None
    if not (low <= value <= high) or not math.isfinite(value):
        p.fail(row, "value_out_of_range", column=key, value=value, low=low, high=high)
        return None
    return value


def _flag(p: _Parsed, row: int, rec: dict[str, Any], key: str, default: bool = False) -> bool:
    raw = _text(rec, key).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return default if raw == "" else False
    p.fail(row, "value_invalid", column=key, value=raw[:20], allowed=["yes", "no"])
    return default


def _choice(p: _Parsed, row: int, rec: dict[str, Any], key: str, allowed: list[str], default: str | None) -> str | None:
    raw = _text(rec, key).lower()
    if not raw:
        return default
    if raw not in allowed:
        p.fail(row, "value_invalid", column=key, value=raw[:20], allowed=allowed)
        return default
    return raw


def _parse(session: Session, frame: gpd.GeoDataFrame) -> _Parsed:
    p = _Parsed()
    orgs = {code.lower(): oid for code, oid in session.execute(text("SELECT code, id FROM organisation"))}
    records = frame.drop(columns="geometry").to_dict("records")
    geoms = list(frame.geometry)
    kinds = [(_text(rec, "kind").lower(), rec, geom) for rec, geom in zip(records, geoms)]
    for kind, rec, geom in kinds:
        row = int(rec["_row"])
        if kind not in KINDS:
            p.fail(row, "value_invalid", column="kind", value=kind[:20], allowed=list(KINDS))
        elif kind == "pole":
            _parse_pole(p, row, rec, geom, orgs)
    _match_poles(session, p)
    for kind, rec, _geom in kinds:
        if kind == "span":
            _parse_span(session, p, int(rec["_row"]), rec)
    for kind, rec, _geom in kinds:
        if kind == "cable":
            _parse_cable(session, p, int(rec["_row"]), rec, orgs)
    return p


def _parse_pole(p: _Parsed, row: int, rec: dict[str, Any], geom: Any, orgs: dict[str, int]) -> None:
    ref = _text(rec, "pole_ref") or _text(rec, "pole_code")
    if not ref:
        p.fail(row, "value_missing", column="pole_ref", alternative="pole_code")
        return
    if ref in p.poles:
        p.fail(row, "value_repeated", column="pole_ref", value=ref, other_row=p.poles[ref].row)
        return
    if geom is None or geom.is_empty or geom.geom_type != "Point":
        p.fail(row, "geometry_missing", expected="Point")
        return
    lon, lat = geom.x, geom.y
    if not (100 <= lon <= 110 and -5 <= lat <= 5):
        if 100 <= lat <= 110:
            p.fail(row, "coordinates_swapped", position=[lon, lat], suggested=[lat, lon])
        else:
            p.fail(row, "outside_service_area", at=[lon, lat])
        return
    owner = _text(rec, "owner").lower()
    if owner and owner not in orgs:
        p.fail(row, "organisation_not_found", column="owner", value=owner)
    x, y = transformer(WGS84, UTM48N).transform(lon, lat)
    p.poles[ref] = _Pole(
        ref=ref,
        row=row,
        x=x,
        y=y,
        lon=lon,
        lat=lat,
        code=_text(rec, "pole_code") or None,
        attrs={
            "height_m": _number(p, row, rec, "height_m", 2, 30),
            "material": _choice(p, row, rec, "material", [m.value for m in PoleMaterial], None),
            "owner_id": orgs.get(owner) if owner else None,
            "cable_count": _number(p, row, rec, "cable_count", 0, 200),
            "notes": _text(rec, "notes")[:2000] or None,
            "photo_ref": _text(rec, "photo_ref")[:300] or None,
        },
    )


def _match_poles(session: Session, p: _Parsed) -> None:
    """Existing poles within the tolerance (or named by code) are the same pole; new poles must not crowd."""
    tol = get_compliance_settings().pole_match_tolerance_m
    poles = list(p.poles.values())
    if not poles:
        return
    rows = session.execute(
        text(f"""
        SELECT q.ref, n.id, n.code, ST_Distance(ST_Transform(n.geom, {UTM48N}), ST_Transform(q.g, {UTM48N})) AS d
        FROM (SELECT unnest(CAST(:refs AS text[])) AS ref,
                     ST_SetSRID(ST_MakePoint(unnest(CAST(:lons AS float8[])), unnest(CAST(:lats AS float8[]))), {WGS84}) AS g) q
        CROSS JOIN LATERAL (SELECT id, code, geom FROM node WHERE kind = 'pole' AND removed_at IS NULL
                            ORDER BY geom <-> q.g LIMIT 1) n"""),
        {"refs": [q.ref for q in poles], "lons": [q.lon for q in poles], "lats": [q.lat for q in poles]},
    ).all()
    nearest = {r.ref: r for r in rows}
    for q in poles:
        hit = nearest.get(q.ref)
        if q.code:
            found = session.execute(
                text(f"""SELECT id, ST_Distance(ST_Transform(geom, {UTM48N}),
                ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), {WGS84}), {UTM48N})) AS d FROM node
                WHERE code = :c AND kind = 'pole'"""),
                {"c": q.code, "x": q.lon, "y": q.lat},
            ).first()
            if found is None:
                pass  # a new pole with the owner's number as its code
            elif found.d > tol:
                p.fail(q.row, "pole_code_far", pole=q.code, distance_m=round(found.d, 2), tolerance_m=tol)
                continue
            else:
                q.node_id = found.id
                continue
        if hit is not None and hit.d <= tol:
            q.node_id, q.code = hit.id, hit.code
    new = [q for q in poles if q.node_id is None]
    xy = np.array([[q.x, q.y] for q in new]) if new else np.empty((0, 2))
    for i in range(len(new)):
        d = np.hypot(*(xy[i + 1 :] - xy[i]).T) if i + 1 < len(new) else np.array([])
        for j in np.flatnonzero(d <= tol):
            other = new[i + 1 + j]
            p.fail(
                other.row,
                "poles_too_close",
                pole=other.ref,
                other=new[i].ref,
                other_row=new[i].row,
                distance_m=round(float(d[j]), 2),
                tolerance_m=tol,
            )


def _resolve_pole(session: Session, p: _Parsed, ref: str) -> str | None:
    """A pole of this file by ref, or an existing pole by code (added to the file's poles as observed-by-reference)."""
    if ref in p.poles:
        return ref
    found = session.execute(
        text(
            "SELECT id, code, ST_X(geom) x, ST_Y(geom) y FROM node WHERE code = :c AND kind = 'pole'"
            " AND removed_at IS NULL"
        ),
        {"c": ref},
    ).first()
    if found is None:
        return None
    x, y = transformer(WGS84, UTM48N).transform(found.x, found.y)
    p.poles[ref] = _Pole(
        ref=ref,
        row=0,
        x=x,
        y=y,
        lon=found.x,
        lat=found.y,
        node_id=found.id,
        code=found.code,
        attrs={"reference_only": True},
    )
    return ref


def _parse_span(session: Session, p: _Parsed, row: int, rec: dict[str, Any]) -> None:
    a, b = _text(rec, "from_pole"), _text(rec, "to_pole")
    ends = []
    for column, ref in (("from_pole", a), ("to_pole", b)):
        if not ref:
            p.fail(row, "value_missing", column=column)
        elif _resolve_pole(session, p, ref) is None:
            p.fail(row, "pole_unknown", column=column, value=ref)
        else:
            ends.append(ref)
    if len(ends) < 2:
        return
    if a == b or (p.poles[a].node_id is not None and p.poles[a].node_id == p.poles[b].node_id):
        p.fail(row, "span_same_pole", pole=a)
        return
    key = frozenset((a, b))
    if key in p.spans:
        p.fail(row, "value_repeated", column="span", value=f"{a}-{b}", other_row=p.spans[key].row)
        return
    crosses = _choice(p, row, rec, "crosses", [c.value for c in Crossing], None)
    p.spans[key] = _Span(
        row=row,
        a=a,
        b=b,
        attrs={
            "min_clearance_m": _number(p, row, rec, "min_clearance_m", 0, 30),
            "crosses": crosses,
            "road_class": _choice(p, row, rec, "road_class", [c.value for c in RoadClass], None),
            "coiled_slack": _flag(p, row, rec, "coiled_slack"),
            "sagging": _flag(p, row, rec, "sagging"),
            "loose_cable": _flag(p, row, rec, "loose_cable"),
            "photo_ref": _text(rec, "photo_ref")[:300] or None,
            "notes": _text(rec, "notes")[:2000] or None,
        },
    )


def _parse_cable(session: Session, p: _Parsed, row: int, rec: dict[str, Any], orgs: dict[str, int]) -> None:
    op = _text(rec, "operator").lower()
    if op not in _UNKNOWN_OPERATOR and op not in orgs:
        p.fail(row, "organisation_not_found", column="operator", value=op, unknown_word="unknown")
    cable = {
        "row": row,
        "operator_id": None if op in _UNKNOWN_OPERATOR else orgs.get(op),
        "cable_type": _choice(p, row, rec, "cable_type", [c.value for c in CableType], "other"),
        "diameter_mm": _number(p, row, rec, "diameter_mm", 1, 150),
        "height_m": _number(p, row, rec, "height_m", 0.5, 30),
        "owner_tag": _flag(p, row, rec, "owner_tag"),
        "permit_ref": _text(rec, "permit_ref")[:100] or None,
        "dead": _flag(p, row, rec, "dead"),
    }
    a, b, pole = _text(rec, "from_pole"), _text(rec, "to_pole"), _text(rec, "pole_ref")
    if a and b:
        span = p.spans.get(frozenset((a, b)))
        if span is None:
            p.fail(row, "span_not_observed", span=f"{a}-{b}")
        else:
            span.cables.append(cable)
    elif pole:
        if pole not in p.poles or p.poles[pole].row == 0:
            p.fail(row, "pole_not_observed", pole=pole)
        else:
            p.pole_cables[pole].append(cable)
    else:
        p.fail(row, "value_missing", column=["from_pole", "to_pole"], alternative="pole_ref")


# -- writing ---------------------------------------------------------------------------------------------------------
def _write(session: Session, p: _Parsed, survey: SurveyRound) -> tuple[dict[str, int], Scope]:
    observed_at = datetime.combine(survey.surveyed_on, time(12, 0))
    counts = {"poles_matched": sum(1 for q in p.poles.values() if q.node_id is not None and q.row > 0)}
    counts["poles_created"] = _write_poles(session, p, survey)
    span_ids, counts["spans_created"] = _write_spans(session, p, survey)
    obs = _write_observations(session, p, survey, span_ids, observed_at)
    counts["observations"] = obs
    added, kept, removed = _write_cables(session, p, survey, span_ids)
    counts |= {"cables_added": added, "cables_kept": kept, "cables_removed": removed}
    observed_spans = list(span_ids.values())
    counts["spans_cleared"] = rowcount(
        session.execute(
            text("""
        UPDATE aerial_span s SET cleared_at = clock_timestamp(), cleared_survey_id = :sid
        WHERE s.id = ANY(:ids) AND s.cleared_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM cable_attachment a WHERE a.span_id = s.id AND a.removed_at IS NULL)"""),
            {"sid": survey.id, "ids": observed_spans},
        )
    )
    session.execute(
        text("""UPDATE aerial_span s SET cleared_at = NULL, cleared_survey_id = NULL
        WHERE s.id = ANY(:ids) AND s.cleared_at IS NOT NULL
          AND EXISTS (SELECT 1 FROM cable_attachment a WHERE a.span_id = s.id AND a.removed_at IS NULL)"""),
        {"ids": observed_spans},
    )
    session.execute(text("UPDATE survey_round SET observation_count = :n WHERE id = :id"), {"n": obs, "id": survey.id})
    counts["migrations_completed"] = complete_migrations_seen_removed(
        session, survey_id=survey.id, surveyed_on=survey.surveyed_on, span_ids=observed_spans
    )
    counts["migrations_closed"] = close_migrations_seen_removed(
        session, survey_id=survey.id, surveyed_on=survey.surveyed_on, span_ids=observed_spans
    )
    observed_poles = [q.node_id for q in p.poles.values() if q.row > 0]
    return counts, Scope(spans=observed_spans, poles=observed_poles)  # type: ignore[arg-type]


def _write_poles(session: Session, p: _Parsed, survey: SurveyRound) -> int:
    new = [q for q in p.poles.values() if q.node_id is None]
    if new:
        codes = [q.code or f"PL-S{survey.id}-{i:05d}" for i, q in enumerate(new, 1)]
        rows = session.execute(
            text(f"""
            INSERT INTO node (code, kind, status, owner_id, geom)
            SELECT c, 'pole', 'operational', o, ST_SetSRID(ST_MakePoint(x, y), {WGS84})
            FROM unnest(CAST(:codes AS text[]), CAST(:owners AS bigint[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]))
                 AS t(c, o, x, y)
            RETURNING id, code"""),
            {
                "codes": codes,
                "owners": [q.attrs.get("owner_id") for q in new],
                "xs": [q.lon for q in new],
                "ys": [q.lat for q in new],
            },
        ).all()
        by_code = {r.code: r.id for r in rows}
        for q, c in zip(new, codes):
            q.node_id, q.code = by_code[c], c
    seen = [q for q in p.poles.values() if q.row > 0]
    session.execute(
        text("""
        INSERT INTO pole_detail (node_id, height_m, material)
        SELECT n, h, m FROM unnest(CAST(:ids AS bigint[]), CAST(:hs AS numeric[]), CAST(:ms AS text[])) AS t(n, h, m)
        ON CONFLICT (node_id) DO UPDATE SET height_m = coalesce(EXCLUDED.height_m, pole_detail.height_m),
                                            material = coalesce(EXCLUDED.material, pole_detail.material)"""),
        {
            "ids": [q.node_id for q in seen],
            "hs": [q.attrs.get("height_m") for q in seen],
            "ms": [q.attrs.get("material") for q in seen],
        },
    )
    owners = [(q.node_id, q.attrs["owner_id"]) for q in seen if q.attrs.get("owner_id")]
    if owners:
        session.execute(
            text("""UPDATE node n SET owner_id = t.o FROM unnest(CAST(:ids AS bigint[]), CAST(:os AS bigint[]))
            AS t(i, o) WHERE n.id = t.i AND n.owner_id IS DISTINCT FROM t.o"""),
            {"ids": [i for i, _ in owners], "os": [o for _, o in owners]},
        )
    return len(new)


def _write_spans(session: Session, p: _Parsed, survey: SurveyRound) -> tuple[dict[frozenset[str], int], int]:
    spans = list(p.spans.items())
    if not spans:
        return {}, 0
    a = [p.poles[s.a].node_id for _, s in spans]
    b = [p.poles[s.b].node_id for _, s in spans]
    crosses = [None if s.attrs["crosses"] is None else s.attrs["crosses"] == "road" for _, s in spans]
    classes = [s.attrs["road_class"] for _, s in spans]
    rows = session.execute(
        text("""
        WITH t AS (SELECT * FROM unnest(CAST(:a AS bigint[]), CAST(:b AS bigint[]), CAST(:c AS boolean[]),
                                        CAST(:r AS text[])) WITH ORDINALITY AS t(a, b, c, r, i)),
        existing AS (SELECT t.i, s.id FROM t JOIN aerial_span s
                     ON least(s.from_pole_id, s.to_pole_id) = least(t.a, t.b)
                    AND greatest(s.from_pole_id, s.to_pole_id) = greatest(t.a, t.b)),
        upd AS (UPDATE aerial_span s SET crosses_road = coalesce(t.c, s.crosses_road),
                       road_class = coalesce(CAST(t.r AS road_class), s.road_class)
                FROM existing e JOIN t ON t.i = e.i WHERE s.id = e.id RETURNING s.id),
        ins AS (INSERT INTO aerial_span (from_pole_id, to_pole_id, crosses_road, road_class, first_survey_id, geom)
                SELECT t.a, t.b, coalesce(t.c, false), coalesce(CAST(t.r AS road_class), 'none'), :sid,
                       ST_MakeLine(na.geom, nb.geom)
                FROM t JOIN node na ON na.id = t.a JOIN node nb ON nb.id = t.b
                WHERE t.i NOT IN (SELECT i FROM existing) ORDER BY t.i
                RETURNING id, from_pole_id, to_pole_id)
        SELECT t.i, coalesce(e.id, n.id) AS id, e.id IS NULL AS created
        FROM t LEFT JOIN existing e ON e.i = t.i
        LEFT JOIN ins n ON n.from_pole_id = t.a AND n.to_pole_id = t.b ORDER BY t.i"""),
        {"a": a, "b": b, "c": crosses, "r": classes, "sid": survey.id},
    ).all()
    ids = {spans[r.i - 1][0]: r.id for r in rows}
    return ids, sum(1 for r in rows if r.created)


def _write_observations(
    session: Session, p: _Parsed, survey: SurveyRound, span_ids: dict[frozenset[str], int], observed_at: datetime
) -> int:
    span_rows = [
        {
            "sid": survey.id,
            "span": span_ids[k],
            "row": s.row,
            "at": observed_at,
            **{
                c: s.attrs[c]
                for c in ("min_clearance_m", "crosses", "coiled_slack", "sagging", "loose_cable", "photo_ref", "notes")
            },
        }
        for k, s in p.spans.items()
    ]
    if span_rows:
        session.execute(
            text("""
            INSERT INTO observation (survey_id, source, verified, span_id, row_no, min_clearance_m, crosses,
                                     coiled_slack, sagging, loose_cable, photo_ref, notes, observed_at, geom)
            SELECT :sid, 'survey', true, :span, :row, :min_clearance_m, :crosses, :coiled_slack, :sagging,
                   :loose_cable, :photo_ref, :notes, :at, geom FROM aerial_span WHERE id = :span"""),
            span_rows,
        )
    pole_rows = [
        {
            "sid": survey.id,
            "pole": q.node_id,
            "row": q.row,
            "at": observed_at,
            "n": None if q.attrs.get("cable_count") is None else int(q.attrs["cable_count"]),
            "notes": q.attrs.get("notes"),
            "photo": q.attrs.get("photo_ref"),
        }
        for q in p.poles.values()
        if q.row > 0
    ]
    if pole_rows:
        session.execute(
            text("""
            INSERT INTO observation (survey_id, source, verified, pole_id, row_no, cable_count, notes, photo_ref,
                                     observed_at, geom)
            SELECT :sid, 'survey', true, :pole, :row, :n, :notes, :photo, :at, geom FROM node WHERE id = :pole"""),
            pole_rows,
        )
    return len(span_rows) + len(pole_rows)


def _write_cables(
    session: Session, p: _Parsed, survey: SurveyRound, span_ids: dict[frozenset[str], int]
) -> tuple[int, int, int]:
    """Match what was seen to what was there by (operator, cable type); the rest is added or removed."""
    seen: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for key, s in p.spans.items():
        seen[("span", span_ids[key])] = s.cables
    for q in p.poles.values():
        if q.row > 0:
            seen[("pole", q.node_id)] = p.pole_cables.get(q.ref, [])  # type: ignore[index]
    existing: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for r in session.execute(
        text("""
            SELECT id, span_id, pole_id, operator_id, cable_type FROM cable_attachment
            WHERE removed_at IS NULL AND (span_id = ANY(:spans) OR pole_id = ANY(:poles)) ORDER BY id"""),
        {"spans": [k[1] for k in seen if k[0] == "span"], "poles": [k[1] for k in seen if k[0] == "pole"]},
    ):
        existing[("span", r.span_id) if r.span_id else ("pole", r.pole_id)].append(r)
    keep, add, gone = [], [], []
    for place, cables in seen.items():
        pool = list(existing.get(place, []))
        for cable in cables:
            match = next(
                (e for e in pool if e.operator_id == cable["operator_id"] and e.cable_type == cable["cable_type"]), None
            )
            if match is not None:
                pool.remove(match)
                keep.append({"id": match.id, **cable})
            else:
                add.append(
                    {
                        "span": place[1] if place[0] == "span" else None,
                        "pole": place[1] if place[0] == "pole" else None,
                        **cable,
                    }
                )
        gone += [e.id for e in pool]
    base = {"sid": survey.id}
    if keep:
        session.execute(
            text("""UPDATE cable_attachment SET diameter_mm = coalesce(:diameter_mm, diameter_mm),
            attachment_height_m = coalesce(:height_m, attachment_height_m), owner_tag = :owner_tag,
            permit_ref = coalesce(:permit_ref, permit_ref), is_dead = :dead, last_survey_id = :sid WHERE id = :id"""),
            [base | c for c in keep],
        )
    if add:
        session.execute(
            text("""INSERT INTO cable_attachment (span_id, pole_id, operator_id, cable_type, diameter_mm,
            attachment_height_m, owner_tag, permit_ref, is_dead, first_survey_id, last_survey_id)
            VALUES (:span, :pole, :operator_id, :cable_type, :diameter_mm, :height_m, :owner_tag, :permit_ref, :dead,
                    :sid, :sid)"""),
            [base | c for c in add],
        )
    if gone:
        session.execute(
            text("""UPDATE cable_attachment SET removed_at = clock_timestamp(), removed_survey_id = :sid
            WHERE id = ANY(:ids)"""),
            base | {"ids": gone},
        )
    return len(add), len(keep), len(gone)
