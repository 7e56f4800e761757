"""Survey import (per-row errors, nothing written; pole matching) and the flag lifecycle with auto-resolution."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from ducting.calendar import today
from ducting.compliance import service
from ducting.compliance.survey import SurveyRejected, import_survey
from ducting.compliance.vocab import FlagStatus
from ducting.db import Actor
from ducting.errors import InvalidInput
from tests.compliance.conftest import cable, csv_bytes, flags, lease, pole, span, street


def _count(session, table):
    return session.scalar(text(f"SELECT count(*) FROM {table}"))


def test_survey_with_bad_rows_reports_each_row_and_writes_nothing(session, people):
    rows = street() + [
        span("P0", "P1", min_clearance_m="abc", crosses="river"),
        span("P0", "P9"),
        cable("P0", "P1", operator="NOPE"),
        cable("P5", "P6"),
        {"kind": "tree"},
        pole("P7", 10, 10, height_m="99"),
    ]
    before = {t: _count(session, t) for t in ("node", "aerial_span", "observation", "cable_attachment", "survey_round")}
    with pytest.raises(SurveyRejected) as err:
        import_survey(
            session, data=csv_bytes(rows), filename="s.csv", name="bad", surveyed_on=date(2026, 3, 1), team="T"
        )
    by_row = {(e.detail["row"], e.code) for e in err.value.errors}
    assert {
        (3, "value_invalid"),
        (4, "pole_unknown"),
        (5, "organisation_not_found"),
        (6, "span_not_observed"),
        (7, "value_invalid"),
        (8, "value_out_of_range"),
    } <= by_row
    assert sum(1 for e in err.value.errors if e.detail["row"] == 3) == 2  # clearance and crosses, both on row 3
    assert {t: _count(session, t) for t in before} == before


def test_swapped_coordinates_are_named(session, people):
    row = pole("P0", 0, 0)
    row["lon"], row["lat"] = row["lat"], row["lon"]
    with pytest.raises(SurveyRejected) as err:
        import_survey(
            session, data=csv_bytes([row]), filename="s.csv", name="x", surveyed_on=date(2026, 3, 1), team="T"
        )
    assert err.value.errors[0].code == "coordinates_swapped"


def test_pole_within_tolerance_of_an_existing_pole_is_the_same_pole(session, people, survey):
    first = survey(street() + [span("P0", "P1"), cable("P0", "P1")])
    assert first.poles_created == 2
    again = survey([pole("A", 1.5, 1.0), pole("B", 100.8, -0.5), span("A", "B"), cable("A", "B")], day=date(2026, 4, 1))
    assert again.poles_created == 0 and again.poles_matched == 2 and again.spans_created == 0
    assert again.cables_kept == 1 and again.cables_added == 0
    assert _count(session, "aerial_span") == 1


def test_new_poles_closer_than_tolerance_are_refused(session, people):
    rows = [pole("A", 0, 0), pole("B", 1, 1)]
    with pytest.raises(SurveyRejected) as err:
        import_survey(session, data=csv_bytes(rows), filename="s.csv", name="x", surveyed_on=date(2026, 3, 1), team="T")
    assert err.value.errors[0].code == "poles_too_close"


def test_kml_survey_is_read(session, people):
    from tests.factories import at

    marks = []
    for ref, (x, y) in (("K0", (0, 0)), ("K1", (90, 0))):
        lon, lat = at(x, y)
        marks.append(f"""<Placemark><ExtendedData><Data name="kind"><value>pole</value></Data>
            <Data name="pole_ref"><value>{ref}</value></Data></ExtendedData>
            <Point><coordinates>{lon},{lat}</coordinates></Point></Placemark>""")
    for kind, extra in (
        ("span", ""),
        ("cable", '<Data name="operator"><value>unknown</value></Data><Data name="owner_tag"><value>no</value></Data>'),
    ):
        marks.append(f"""<Placemark><ExtendedData><Data name="kind"><value>{kind}</value></Data>
            <Data name="from_pole"><value>K0</value></Data><Data name="to_pole"><value>K1</value></Data>{extra}
            </ExtendedData></Placemark>""")
    kml = (
        f'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>{"".join(marks)}</Document></kml>'
    )
    report = import_survey(
        session, data=kml.encode(), filename="odk.kml", name="kml", surveyed_on=date(2026, 3, 1), team="T"
    )
    assert report.spans_created == 1 and report.cables_added == 1
    assert {f.rule for f in flags(session)} == {"untagged_cable", "unlicensed_cable"}


def test_later_survey_without_the_cable_resolves_its_flags_and_says_which_survey(session, people, survey):
    first = survey(
        street()
        + [span("P0", "P1", min_clearance_m="3.2", crosses="road", sagging="yes"), cable("P0", "P1", owner_tag="no")]
    )
    opened = {f.rule for f in flags(session)}
    assert {"low_clearance_road", "untagged_cable", "slack_or_sag", "unlicensed_cable"} <= opened
    second = survey(street() + [span("P0", "P1")], day=date(2026, 6, 1))  # the cable is gone
    assert second.cables_removed == 1 and second.spans_cleared == 1
    assert flags(session) == []
    resolved = flags(session, status=("resolved",))
    assert {f.resolved_survey_id for f in resolved} == {second.survey_id}
    assert all(f.raised_survey_id == first.survey_id for f in resolved)
    events = session.execute(text("SELECT DISTINCT survey_id, note FROM flag_event WHERE to_status = 'resolved'")).all()
    assert events == [(second.survey_id, "no longer shown by survey")]


def test_later_survey_with_fixed_clearance_resolves_only_that_flag(session, people, survey):
    survey(street() + [span("P0", "P1", min_clearance_m="3.2", crosses="road"), cable("P0", "P1", owner_tag="no")])
    second = survey(
        street() + [span("P0", "P1", min_clearance_m="5.1", crosses="road"), cable("P0", "P1", owner_tag="no")],
        day=date(2026, 6, 1),
    )
    assert second.evaluation.resolved == 1
    assert {f.rule for f in flags(session)} == {"untagged_cable", "unlicensed_cable"}


def test_survey_elsewhere_leaves_other_flags_untouched(session, people, survey):
    survey(street() + [span("P0", "P1", min_clearance_m="3.2", crosses="road"), cable("P0", "P1")])
    other = survey(street(prefix="Q", y=500) + [span("Q0", "Q1"), cable("Q0", "Q1")], day=date(2026, 6, 1))
    assert other.evaluation.resolved == 0
    assert len(flags(session, "low_clearance_road")) == 1


def _actor(people, who="planner"):
    acc = people.accounts[who]
    return Actor(account_id=acc.id, role=acc.role, organisation_id=acc.organisation_id)


def test_flag_lifecycle_acknowledge_then_waive_needs_reason_and_keeps_history(session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")])
    f = flags(session, "untagged_cable")[0]
    service.change_flag(session, actor=_actor(people), flag_id=f.id, to=FlagStatus.ACKNOWLEDGED)
    with pytest.raises(InvalidInput):
        service.change_flag(session, actor=_actor(people), flag_id=f.id, to=FlagStatus.WAIVED, reason=" ")
    service.change_flag(
        session, actor=_actor(people), flag_id=f.id, to=FlagStatus.WAIVED, reason="kabel milik Pemkot, label menyusul"
    )
    got = service.get_flag(session, actor=_actor(people), flag_id=f.id)
    assert got["status"] == "waived" and got["waived_by"] == people.accounts["planner"].id
    assert [h["to_status"] for h in got["history"]] == ["open", "acknowledged", "waived"]


def test_waived_flag_is_not_raised_again_by_the_next_run(session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")])
    f = flags(session, "untagged_cable")[0]
    service.change_flag(session, actor=_actor(people), flag_id=f.id, to=FlagStatus.WAIVED, reason="izin khusus")
    survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")], day=date(2026, 6, 1))
    assert flags(session, "untagged_cable") == []


def test_resolved_flag_cannot_be_acknowledged(session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1", owner_tag="no")])
    f = flags(session, "untagged_cable")[0]
    service.change_flag(session, actor=_actor(people), flag_id=f.id, to=FlagStatus.RESOLVED)
    with pytest.raises(service.FlagTransitionRefused):
        service.change_flag(session, actor=_actor(people), flag_id=f.id, to=FlagStatus.ACKNOWLEDGED)


def test_worklist_orders_by_severity_then_road_class_then_age(session, people, survey):
    survey(
        street()
        + [span("P0", "P1", min_clearance_m="3", crosses="road", road_class="local"), cable("P0", "P1", owner_tag="no")]
    )
    survey(
        street(prefix="Q", y=300)
        + [span("Q0", "Q1", min_clearance_m="3", crosses="road", road_class="arterial"), cable("Q0", "Q1")],
        day=date(2026, 3, 2),
    )
    rows = service.list_flags(session, actor=_actor(people))
    keys = [(r["severity"], r["road_class"]) for r in rows]
    assert keys[:2] == [("critical", "arterial"), ("critical", "local")]
    assert [r["severity"] for r in rows] == sorted(
        (r["severity"] for r in rows), key=["critical", "high", "medium", "low"].index
    )


def _day(n: int) -> date:
    return today() + timedelta(days=n)


def test_migration_follows_sjut_order(client, session, people, survey):
    from tests.compliance.test_rules import _duct

    _duct(client, people, dy=8)
    survey(street() + [span("P0", "P1"), cable("P0", "P1")])
    span_id = session.scalar(text("SELECT id FROM aerial_span"))
    case = service.open_migration(session, operator_id=people.orgs["op_a"].id, span_id=span_id, flag_id=None)
    request_id = lease(client, people, "op_a", segments=["RS-C-AB"], first_day=today())
    service.link_request(session, case_id=case.id, capacity_request_id=request_id)
    with pytest.raises(service.MigrationOutOfOrder) as skipped:
        service.advance_migration(session, case_id=case.id, to=service.MigrationStage.CUT_OVER, on=_day(30))
    # the refusal names the stages as members, so the page can say it in the reader's language
    assert {k: skipped.value.problem()[k] for k in ("stage", "next_stage", "asked")} == {
        "stage": "planned",
        "next_stage": "pulled_into_duct",
        "asked": "cut_over",
    }
    service.advance_migration(session, case_id=case.id, to=service.MigrationStage.PULLED_INTO_DUCT, on=_day(30))
    with pytest.raises(service.MigrationOutOfOrder) as early:
        service.advance_migration(session, case_id=case.id, to=service.MigrationStage.CUT_OVER, on=_day(0))
    assert {k: early.value.problem()[k] for k in ("asked", "on", "previous_on")} == {
        "asked": "cut_over",
        "on": _day(0).isoformat(),
        "previous_on": _day(30).isoformat(),
    }
    service.advance_migration(session, case_id=case.id, to=service.MigrationStage.CUT_OVER, on=_day(32))
    done = service.advance_migration(session, case_id=case.id, to=service.MigrationStage.AERIAL_REMOVED, on=_day(38))
    assert done.stage == "aerial_removed" and done.removed_on == _day(38)


def test_geopackage_survey_from_a_field_app_is_read(session, people):
    import io

    import geopandas as gpd
    from shapely.geometry import Point

    from tests.factories import at

    rows = [
        {"kind": "pole", "pole_ref": "G0", "geometry": Point(at(0, 0))},
        {"kind": "pole", "pole_ref": "G1", "geometry": Point(at(95, 0))},
        {
            "kind": "span",
            "from_pole": "G0",
            "to_pole": "G1",
            "min_clearance_m": "3.5",
            "crosses": "road",
            "geometry": None,
        },
        {"kind": "cable", "from_pole": "G0", "to_pole": "G1", "operator": "TOPA", "owner_tag": "ya", "geometry": None},
    ]
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    buf = io.BytesIO()
    frame.to_file(buf, driver="GPKG", layer="survei_qfield")
    report = import_survey(
        session, data=buf.getvalue(), filename="qfield.gpkg", name="gpkg", surveyed_on=date(2026, 3, 1), team="T"
    )
    assert report.poles_created == 2 and report.spans_created == 1 and report.cables_added == 1
    assert float(flags(session, "low_clearance_road")[0].measured) == 3.5


def test_kmz_survey_is_read(session, people):
    import io
    import zipfile

    from tests.factories import at

    lon0, lat0 = at(0, 0)
    lon1, lat1 = at(90, 0)
    kml = f"""<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>
        <Placemark><ExtendedData><Data name="kind"><value>pole</value></Data><Data name="pole_ref"><value>Z0</value>
        </Data></ExtendedData><Point><coordinates>{lon0},{lat0}</coordinates></Point></Placemark>
        <Placemark><ExtendedData><Data name="kind"><value>pole</value></Data><Data name="pole_ref"><value>Z1</value>
        </Data></ExtendedData><Point><coordinates>{lon1},{lat1}</coordinates></Point></Placemark>
        <Placemark><ExtendedData><Data name="kind"><value>span</value></Data><Data name="from_pole"><value>Z0</value>
        </Data><Data name="to_pole"><value>Z1</value></Data><Data name="sagging"><value>ya</value></Data>
        </ExtendedData></Placemark>
        <Placemark><ExtendedData><Data name="kind"><value>cable</value></Data><Data name="from_pole"><value>Z0</value>
        </Data><Data name="to_pole"><value>Z1</value></Data><Data name="operator"><value>TOPB</value></Data>
        <Data name="owner_tag"><value>ya</value></Data></ExtendedData></Placemark></Document></kml>"""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("doc.kml", kml)
    report = import_survey(
        session, data=buf.getvalue(), filename="kobo.kmz", name="kmz", surveyed_on=date(2026, 3, 1), team="T"
    )
    assert report.spans_created == 1 and report.cables_added == 1
    assert flags(session, "slack_or_sag")[0].evidence["sagging"] is True
