"""Running the rules and keeping flags in step with what they find.

`evaluate()` runs every rule of `rules.RULES` for a scope (everything, or what one survey touched) into the
temporary table `_cand`, then merges it into `compliance_flag` in three set-based statements:

* a live (open, acknowledged) flag in scope with no candidate any more resolves itself, recording the survey that
  showed it gone, with a `flag_event`;
* a live flag whose candidate changed (measured value, operators, observation, evidence) takes the new evidence;
  a flag whose candidate is unchanged is not written at all;
* a candidate with no live or waived flag for its rule and subject opens a new flag; a new `duct_available` flag
  also opens a `planned` migration case for each operator with cable on the span.

Each run is an `evaluation_run` row (who, when, which survey, the counts). A flag records its opening itself
(`opened_at`, `raised_survey_id`, `opened_run_id`; migration 0021 makes those columns unchangeable by the
application), so opening half a million flags writes half a million rows, not a million with a foreign-key probe
each. Later changes are `flag_event` rows, as before.

Runs are serialised by a transaction-level advisory lock: two runs at once would both see a subject without a
flag and both open one. With the lock the insert needs no `ON CONFLICT` (its speculative insertion cost a third
of the run); the partial unique index `uq_flag_live` stays as the final guard. The flag's links to its
observation, survey and run are checked once per statement (migration 0022), not by a query per row.

Nothing here commits: the caller (route, import, CLI) does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.compliance.rules import CAND_COLUMNS, RULES, parameters
from ducting.compliance.settings import get_compliance_settings
from ducting.db import rowcount

_LIVE_FLAG = "f.rule = c.rule AND f.subject_kind = c.subject_kind AND f.subject_id = c.subject_id"
_LOCK_KEY = 0x0C0A_F1A6  # pg_advisory_xact_lock key of "a compliance evaluation is running"
# The migration cases of duct_available flags just written (`{flags}`: a CTE of their id, rule, span, operators). An
# operator has one case per span: a case still `planned` follows the newest flag, and opens again if a survey had
# closed it; one under way (or done) keeps the flag it started from.
_CASES = """cases AS (
            INSERT INTO migration_case (operator_id, span_id, flag_id)
            SELECT op, o.span_id, o.id FROM {flags} o CROSS JOIN LATERAL unnest(o.operator_ids) AS op
            WHERE o.rule = 'duct_available' ORDER BY o.id, op
            ON CONFLICT (operator_id, span_id) DO UPDATE SET flag_id = EXCLUDED.flag_id,
                closed_on = NULL, closed_survey_id = NULL, closed_reason = NULL,
                version = migration_case.version + 1, updated_at = clock_timestamp()
            WHERE migration_case.stage = 'planned' AND (migration_case.flag_id IS DISTINCT FROM EXCLUDED.flag_id
                                                        OR migration_case.closed_on IS NOT NULL)
            RETURNING 1)"""


@dataclass
class Scope:
    """What to evaluate: `None` lists mean everything."""

    spans: list[int] | None = None
    poles: list[int] | None = None

    @property
    def full(self) -> bool:
        return self.spans is None and self.poles is None


@dataclass
class EvaluationReport:
    full: bool
    spans_in_scope: int | None
    poles_in_scope: int | None
    run_id: int | None = None
    candidates: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    migrations_opened: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()


def _widen(session: Session, scope: Scope) -> tuple[list[int], list[int]]:
    """Poles at the ends of scoped spans, and every span at a scoped pole: a pole's load depends on all of them."""
    row = session.execute(
        text("""
        WITH p AS (SELECT unnest(CAST(:poles AS bigint[])) AS id
                   UNION SELECT unnest(ARRAY[from_pole_id, to_pole_id]) FROM aerial_span WHERE id = ANY(:spans))
        SELECT ARRAY(SELECT id FROM p),
               ARRAY(SELECT unnest(CAST(:spans AS bigint[])) UNION
                     SELECT s.id FROM aerial_span s WHERE s.from_pole_id IN (SELECT id FROM p)
                     UNION SELECT s.id FROM aerial_span s WHERE s.to_pole_id IN (SELECT id FROM p))"""),
        {"spans": scope.spans or [], "poles": scope.poles or []},
    ).one()
    return list(row[1]), list(row[0])


def _prepare(session: Session, full: bool, params: dict[str, Any] | None = None) -> None:
    """The temporary tables every rule reads: live cables per span, the latest verified observation per span and
    per pole, and the empty candidate table."""
    params = params if params is not None else _p(session)
    span_filter = "" if full else "AND {col} = ANY(:spans)"
    pole_filter = "" if full else "AND pole_id = ANY(:poles)"
    session.execute(text("DROP TABLE IF EXISTS _live, _obs, _pobs, _cand"))
    session.execute(
        text(f"""
        CREATE TEMP TABLE _live ON COMMIT DROP AS
        SELECT a.span_id, count(*) AS n,
               coalesce(array_agg(DISTINCT a.operator_id) FILTER (WHERE a.operator_id IS NOT NULL), '{{}}') AS ops
        FROM cable_attachment a WHERE a.removed_at IS NULL AND a.span_id IS NOT NULL
        {span_filter.format(col="a.span_id")} GROUP BY a.span_id"""),
        params,
    )
    session.execute(text("ALTER TABLE _live ADD PRIMARY KEY (span_id)"))
    session.execute(
        text(f"""
        CREATE TEMP TABLE _obs ON COMMIT DROP AS
        SELECT DISTINCT ON (span_id) * FROM observation
        WHERE verified AND span_id IS NOT NULL {span_filter.format(col="span_id")}
        ORDER BY span_id, observed_at DESC, id DESC"""),
        params,
    )
    session.execute(text("ALTER TABLE _obs ADD PRIMARY KEY (span_id)"))
    session.execute(
        text(f"""
        CREATE TEMP TABLE _pobs ON COMMIT DROP AS
        SELECT DISTINCT ON (pole_id) * FROM observation
        WHERE verified AND pole_id IS NOT NULL {pole_filter} ORDER BY pole_id, observed_at DESC, id DESC"""),
        params,
    )
    session.execute(text("ALTER TABLE _pobs ADD PRIMARY KEY (pole_id)"))
    session.execute(
        text("""
        CREATE TEMP TABLE _cand ON COMMIT DROP AS
        SELECT rule, severity, subject_kind, subject_id, span_id, pole_id, operator_ids, measured, threshold, unit,
               observation_id, raised_survey_id AS survey_id, road_class, kecamatan_kode, evidence, geom
        FROM compliance_flag WITH NO DATA""")
    )
    session.execute(text("ANALYZE _live, _obs, _pobs"))


def _p(session: Session) -> dict[str, Any]:
    return session.info.get("_compliance_params", {})


def rule_sql(sql: str, *, full: bool) -> str:
    """A rule's SQL with its scope placeholders filled in."""
    scopes = {
        "{att_scope}": "" if full else "AND (a.span_id = ANY(:spans) OR a.pole_id = ANY(:poles))",
        "{pole_scope}": "" if full else "AND ld.pole_id = ANY(:poles)",
        "{own_scope}": "" if full else "AND a.pole_id = ANY(:poles)",
        "{materialized}": "MATERIALIZED" if full else "NOT MATERIALIZED",
    }
    for key, value in scopes.items():
        sql = sql.replace(key, value)
    return sql


def evaluate(
    session: Session, *, scope: Scope | None = None, survey_id: int | None = None, account_id: int | None = None
) -> EvaluationReport:
    """Run every rule for `scope` and merge the findings into the flags. Does not commit.

    `survey_id` is the survey whose import asked for this run: recorded on the run (so on the flags it opens) and
    on the flags it resolves ("which survey showed it gone").
    """
    scope = scope or Scope()
    started = time.perf_counter()
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    params: dict[str, Any] = parameters(get_compliance_settings()) | {"survey": survey_id, "aid": account_id}
    full = scope.full
    if not full:
        spans, poles = _widen(session, scope)
        params |= {"spans": spans, "poles": poles}
    params["run"] = session.scalar(
        text("""INSERT INTO evaluation_run (account_id, survey_id, full_run,
        spans_in_scope, poles_in_scope) VALUES (:aid, :survey, :full, :ns, :np) RETURNING id"""),
        params
        | {"full": full, "ns": None if full else len(params["spans"]), "np": None if full else len(params["poles"])},
    )
    report = EvaluationReport(
        full=full,
        spans_in_scope=None if full else len(params["spans"]),
        poles_in_scope=None if full else len(params["poles"]),
        run_id=params["run"],
    )
    t0 = time.perf_counter()
    _prepare(session, full, params)
    report.seconds["prepare"] = round(time.perf_counter() - t0, 3)
    for rule in RULES:
        t0 = time.perf_counter()
        report.candidates[rule.code.value] = rowcount(session.execute(text(rule_sql(rule.sql, full=full)), params))
        report.seconds[rule.code.value] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    _merge(session, report, params, full)
    report.seconds["merge"] = round(time.perf_counter() - t0, 3)
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    session.execute(
        text("""UPDATE evaluation_run SET finished_at = clock_timestamp(), candidates = :cand,
        opened = :opened, updated = :updated, resolved = :resolved, seconds = :seconds WHERE id = :run"""),
        {
            "run": params["run"],
            "cand": json.dumps(report.candidates),
            "opened": report.opened,
            "updated": report.updated,
            "resolved": report.resolved,
            "seconds": json.dumps(report.seconds),
        },
    )
    return report


def _merge(session: Session, report: EvaluationReport, params: dict[str, Any], full: bool) -> None:
    session.execute(text("ANALYZE _cand"))
    # a UNION of two index scans: an OR of the two would scan every flag
    in_scope = (
        "TRUE"
        if full
        else """f.id IN (SELECT id FROM compliance_flag WHERE span_id = ANY(:spans)
                                            UNION SELECT id FROM compliance_flag WHERE pole_id = ANY(:poles))"""
    )
    # resolve first: after the inserts it would also scan the flags just opened (half a million in a first run)
    report.resolved = rowcount(
        session.execute(
            text(f"""
        WITH gone AS (
            SELECT f.id, f.status FROM compliance_flag f
            WHERE f.status IN ('open', 'acknowledged') AND {in_scope}
              AND NOT EXISTS (SELECT 1 FROM _cand c WHERE {_LIVE_FLAG})
            FOR UPDATE),
        resolved AS (
            UPDATE compliance_flag f SET status = 'resolved', resolved_at = clock_timestamp(),
                   resolved_survey_id = :survey, version = f.version + 1
            FROM gone WHERE f.id = gone.id RETURNING f.id, gone.status AS was)
        INSERT INTO flag_event (flag_id, from_status, to_status, account_id, survey_id, note)
        SELECT id, was, 'resolved', :aid, :survey,
               CASE WHEN CAST(:survey AS bigint) IS NULL THEN 'no longer found by re-evaluation'
                    ELSE 'no longer shown by survey' END
        FROM resolved"""),
            params,
        )
    )
    # A changed duct_available flag may name an operator it did not before (its cable arrived, or now fits): that
    # operator gets its case too, in the same statement, reading the RETURNING rows.
    row = session.execute(
        text(f"""
        WITH updated AS (
            UPDATE compliance_flag f SET measured = c.measured, threshold = c.threshold, operator_ids = c.operator_ids,
                   observation_id = c.observation_id, evidence = c.evidence, geom = c.geom, road_class = c.road_class,
                   kecamatan_kode = c.kecamatan_kode, last_seen_at = clock_timestamp(), version = f.version + 1
            FROM _cand c WHERE {_LIVE_FLAG} AND f.status IN ('open', 'acknowledged')
              AND (f.measured IS DISTINCT FROM c.measured OR f.operator_ids <> c.operator_ids
                   OR f.observation_id IS DISTINCT FROM c.observation_id OR f.threshold IS DISTINCT FROM c.threshold
                   OR f.evidence <> c.evidence OR f.road_class <> c.road_class
                   OR f.kecamatan_kode IS DISTINCT FROM c.kecamatan_kode)
            RETURNING f.id, f.rule, f.span_id, f.operator_ids),
        {_CASES.format(flags="updated")}
        SELECT (SELECT count(*) FROM updated) AS updated, (SELECT count(*) FROM cases) AS cases"""),
        params,
    ).one()
    report.updated, report.migrations_opened = row.updated, row.cases
    # What is left in _cand after this has no live or waived flag: it opens one. Decided in its own statement,
    # not inside the INSERT: a NOT EXISTS on the table being filled is planned from its size before the insert (an
    # empty table after a reset), and a nested loop over its growing pages is quadratic.
    session.execute(
        text(f"""DELETE FROM _cand c WHERE EXISTS (SELECT 1 FROM compliance_flag f WHERE {_LIVE_FLAG}
                                                        AND f.status IN ('open', 'acknowledged', 'waived'))""")
    )
    # Opening and the migration cases of new duct_available flags in one statement: the cases read the
    # RETURNING rows, so no lookup of half a million just-written flags is needed.
    row = session.execute(
        text(f"""
        WITH opened AS (
            INSERT INTO compliance_flag ({CAND_COLUMNS.replace("survey_id", "raised_survey_id")}, opened_run_id)
            SELECT {CAND_COLUMNS}, :run FROM _cand c
            RETURNING id, rule, span_id, operator_ids),
        {_CASES.format(flags="opened")}
        SELECT (SELECT count(*) FROM opened) AS opened, (SELECT count(*) FROM cases) AS cases"""),
        params,
    ).one()
    report.opened, report.migrations_opened = row.opened, report.migrations_opened + row.cases
