"""The rule run itself: runs recorded, the opening of a flag kept unchangeable, evidence links checked per statement,
migration cases opened for duct candidates, and only changed flags written."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ducting.compliance import service
from ducting.compliance.evaluation import evaluate
from ducting.db import Actor
from tests.compliance.conftest import cable, flags, span, street
from tests.compliance.test_rules import _duct


def _refused(session, sql: str, params: dict | None = None) -> str:
    """Run `sql` in a savepoint that must fail; the SQLSTATE class name of the failure."""
    with pytest.raises(DBAPIError) as err, session.begin_nested():
        session.execute(text(sql), params or {})
    return type(err.value.orig).__name__


def test_each_run_is_recorded_with_who_which_survey_and_counts(session, people, survey):
    report = survey(street() + [span("P0", "P1", min_clearance_m="3.1", crosses="road"), cable("P0", "P1")])
    run = session.execute(text("SELECT * FROM evaluation_run WHERE id = :id"), {"id": report.evaluation.run_id}).one()
    assert run.survey_id == report.survey_id and run.account_id == people.accounts["planner"].id
    assert run.full_run is False and run.opened == report.evaluation.opened > 0 and run.finished_at is not None
    assert run.candidates["low_clearance_road"] == 1
    assert {f.opened_run_id for f in flags(session)} == {run.id}


def test_history_starts_with_the_opening_run_and_its_survey(session, people, survey):
    report = survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")])
    f = flags(session, "untagged_cable")[0]
    actor = Actor(account_id=people.accounts["planner"].id, role="planner", organisation_id=None)
    service.change_flag(session, actor=actor, flag_id=f.id, to=service.FlagStatus.ACKNOWLEDGED)
    history = service.get_flag(session, actor=actor, flag_id=f.id)["history"]
    assert [(h["to_status"], h["survey_id"]) for h in history] == [("open", report.survey_id), ("acknowledged", None)]
    assert history[0]["account_id"] == people.accounts["planner"].id


def test_the_application_cannot_rewrite_how_a_flag_was_opened_or_delete_it(session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")])
    f = flags(session, "untagged_cable")[0]
    for column, value in (
        ("opened_at", "now()"),
        ("opened_run_id", "NULL"),
        ("raised_survey_id", "NULL"),
        ("rule", "'slack_or_sag'"),
        ("subject_id", "subject_id + 1"),
    ):
        sql = f"UPDATE compliance_flag SET {column} = {value} WHERE id = :id"
        assert _refused(session, sql, {"id": f.id}) == "InsufficientPrivilege", column
    assert _refused(session, "DELETE FROM compliance_flag WHERE id = :id", {"id": f.id}) == "InsufficientPrivilege"
    # its state and evidence stay the application's to change
    session.execute(text("UPDATE compliance_flag SET last_seen_at = now() WHERE id = :id"), {"id": f.id})


def test_a_flag_pointing_at_a_missing_observation_or_run_is_refused(session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")])
    f = flags(session, "untagged_cable")[0]
    assert (
        _refused(session, "UPDATE compliance_flag SET observation_id = -5 WHERE id = :id", {"id": f.id})
        == "ForeignKeyViolation"
    )
    insert = """INSERT INTO compliance_flag (rule, severity, subject_kind, subject_id, geom, opened_run_id)
                SELECT 'slack_or_sag', 'medium', 'span', -1, geom, {run} FROM compliance_flag WHERE id = :id"""
    assert _refused(session, insert.format(run=-7), {"id": f.id}) == "ForeignKeyViolation"
    session.execute(text(insert.format(run=f.opened_run_id)), {"id": f.id})  # a real run is fine


def test_evidence_rows_are_never_deleted_by_the_application(session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1")])
    for table in ("observation", "survey_round", "evaluation_run"):
        assert _refused(session, f"DELETE FROM {table}") in ("InsufficientPrivilege", "RestrictViolation"), table


def test_evidence_rows_are_never_deleted_or_truncated_even_by_the_owner(owner_engine):
    # its own connection and rows (the test session holds no lock here, or TRUNCATE would wait for it)
    with owner_engine.connect() as owner:
        run = owner.scalar(text("INSERT INTO evaluation_run (full_run) VALUES (true) RETURNING id"))
        for sql in (
            f"DELETE FROM evaluation_run WHERE id = {run}",
            f"UPDATE evaluation_run SET id = -{run}",
            "TRUNCATE observation CASCADE",
            "TRUNCATE survey_round CASCADE",
        ):
            with pytest.raises(DBAPIError) as err, owner.begin_nested():
                owner.execute(text(sql))
            assert type(err.value.orig).__name__ == "RestrictViolation", sql
        owner.rollback()


def test_duct_candidate_opens_a_planned_migration_case_per_operator_once(client, session, people, survey):
    _duct(client, people, dy=8)
    survey(street() + [span("P0", "P1"), cable("P0", "P1"), cable("P0", "P1", operator="TOPB")])
    (f,) = flags(session, "duct_available")
    cases = session.execute(text("SELECT operator_id, flag_id, stage FROM migration_case ORDER BY operator_id")).all()
    assert [(c.operator_id, c.flag_id, c.stage) for c in cases] == [
        (people.orgs["op_a"].id, f.id, "planned"),
        (people.orgs["op_b"].id, f.id, "planned"),
    ]
    report = evaluate(session)
    assert report.migrations_opened == 0
    assert session.scalar(text("SELECT count(*) FROM migration_case")) == 2


def test_unchanged_findings_write_nothing_and_changed_evidence_is_written(session, people, survey):
    survey(street() + [span("P0", "P1", min_clearance_m="3.2", crosses="road"), cable("P0", "P1")])
    (before,) = flags(session, "low_clearance_road")
    again = evaluate(session)
    assert again.opened == again.updated == again.resolved == 0
    survey(
        street() + [span("P0", "P1", min_clearance_m="2.9", crosses="road"), cable("P0", "P1")], day=date(2026, 5, 1)
    )
    (after,) = flags(session, "low_clearance_road")
    assert after.id == before.id and float(after.measured) == 2.9 and after.version == before.version + 1
    assert after.opened_at == before.opened_at and after.observation_id != before.observation_id
