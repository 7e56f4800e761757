"""One rule, every reader: for random small networks with random allocations, leasing's free count (the routing
graph's `capacity()` and the SQL `choose_subducts` locks with), compliance's free-segment test, the occupancy
tile's usable and free counts and the revenue report's leased metres agree, for every segment, several periods and
every size class, and with the rule as written down here.

Hypothesis builds each network in a savepoint of the test's transaction (rolled back after the example): nodes,
segments in every lifecycle status (some removed), ducts and subducts in every status, the city's reserve, a bore
without a leasable size class, and allocations in every status, holds current and lapsed, leases past, running and
future, open-ended or not. The reference (`_Model`) is the business rule in plain Python; the readers must match it
and therefore each other."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from billing import revenue
from ducting.calendar import Days
from ducting.compliance.rules import FREE_SEGMENT, free_segment
from ducting.leasing.booking import _FREE_SUBDUCTS
from ducting.leasing.routing import CapacityGraph
from ducting.network.tiles import LAYERS, tile_params
from ducting.network.vocab import Lifecycle, SizeClass
from gis.crs import WGS84
from gis.tiles import tile_at
from tests.factories import ORIGIN_LONLAT, at

STATUSES = [s.value for s in Lifecycle]
# mostly operational, so most examples have usable capacity for the allocations to contend for
LIKELY = st.sampled_from(STATUSES + ["operational"] * 6)
# leaf bores of the catalogue, and a carrier used as a bore: it has no leasable size class
BORES = ["MD-10/8", "MD-14/10", "HDPE-32/26", "HDPE-40/33", "HDPE-50/42", "HDPE-40/33-7xMD10"]
NODES = [(0, 0), (80, 0), (160, 0), (80, 70), (0, 70)]
OFFSETS = [-30, 0, 15, 45]  # days from today the single-day checks look at


@dataclass
class Alloc:
    status: str
    start: int  # days from today
    days: int | None  # None: open-ended
    hold_hours: int  # a hold expires this many hours from now (negative: lapsed)


@dataclass
class Sub:
    status: str
    reserved: bool
    bore: str
    allocs: list[Alloc] = field(default_factory=list)


@dataclass
class Duct:
    status: str
    subs: list[Sub]


@dataclass
class Seg:
    a: int
    b: int
    status: str
    removed: bool
    ducts: list[Duct]


def _allocations(draw: st.DrawFn) -> list[Alloc]:
    """Up to three per subduct; those that hold space never overlap (the exclusion constraint), released ones may."""
    out, cursor = [], draw(st.integers(-70, 20))
    for _ in range(draw(st.integers(0, 3))):
        status = draw(st.sampled_from(["held", "active", "terminated", "released"]))
        days = draw(st.one_of(st.none(), st.integers(1, 60)))
        hold = draw(st.sampled_from([-48, -1, 2, 72]))
        if status == "released":
            out.append(Alloc(status, draw(st.integers(-70, 50)), days, hold))
            continue
        if cursor is None:  # an open-ended lease already holds the subduct from here on
            continue
        start = cursor + draw(st.integers(0, 20))
        out.append(Alloc(status, start, days, hold))
        cursor = None if days is None else start + days
    return out


@st.composite
def networks(draw: st.DrawFn) -> list[Seg]:
    pairs = draw(
        st.lists(
            st.sampled_from(list(itertools.combinations(range(len(NODES)), 2))), min_size=1, max_size=5, unique=True
        )
    )
    segs = []
    for a, b in pairs:
        status = draw(LIKELY)
        ducts = []
        for _ in range(draw(st.integers(0, 2) if status != "operational" else st.integers(1, 2))):
            subs = [
                Sub(
                    draw(LIKELY),
                    draw(st.booleans()) and draw(st.booleans()),
                    draw(st.sampled_from(BORES)),
                    _allocations(draw),
                )
                for _ in range(draw(st.integers(1, 4)))
            ]
            ducts.append(Duct(draw(LIKELY), subs))
        segs.append(Seg(a, b, status, status == "decommissioned" and draw(st.booleans()), ducts))
    return segs


# -- the rule, written down -----------------------------------------------------------------------------------------
class _Model:
    """What the business means, in plain Python, over what was built."""

    def __init__(self, segs: list[Seg], ids: dict[int, int], classes: dict[str, str | None], now: datetime) -> None:
        self.segs, self.ids, self.classes, self.now = segs, ids, classes, now

    def usable(self, seg: Seg, duct: Duct, sub: Sub) -> bool:
        return (
            seg.status == "operational"
            and not seg.removed
            and duct.status == "operational"
            and sub.status == "operational"
            and not sub.reserved
            and self.classes[sub.bore] is not None
        )

    def holds(self, a: Alloc, first: int, last: int | None) -> bool:
        """Holds space now, over a day of [first, last] (days from today; last None: open-ended)."""
        if a.status == "released" or (a.status == "held" and a.hold_hours < 0):
            return False
        a_last = None if a.days is None else a.start + a.days - 1
        return (last is None or a.start <= last) and (a_last is None or first <= a_last)

    def counts(self, seg: Seg, first: int, last: int | None, size: SizeClass) -> tuple[int, int]:
        usable = free = 0
        for duct in seg.ducts:
            for sub in duct.subs:
                cls = self.classes[sub.bore]
                if not self.usable(seg, duct, sub) or SizeClass(cls).rank < size.rank:
                    continue
                usable += 1
                free += not any(self.holds(a, first, last) for a in sub.allocs)
        return usable, free

    def leased(self, seg: Seg, day: int) -> int:
        """Usable subducts under a lease (not merely a hold) on the day."""
        return sum(
            self.usable(seg, duct, sub)
            and any(
                a.status in ("active", "terminated") and a.start <= day and (a.days is None or day < a.start + a.days)
                for a in sub.allocs
            )
            for duct in seg.ducts
            for sub in duct.subs
        )


# -- building it ----------------------------------------------------------------------------------------------------
def _build(session, segs: list[Seg], operators: list[int], today: date) -> dict[int, int]:
    """Insert the network and its allocations; returns segment index -> id."""
    specs = dict(session.execute(text("SELECT code, id FROM duct_spec WHERE code = ANY(:c)"), {"c": BORES}).all())
    nodes = []
    for i, (x, y) in enumerate(NODES):
        lon, lat = at(x, y)
        nodes.append(
            session.execute(
                text(f"""INSERT INTO node (code, kind, status, geom)
                VALUES (:code, 'manhole', 'operational', ST_SetSRID(ST_MakePoint(:x, :y), {WGS84})) RETURNING id"""),
                {"code": f"MH-PT-{i}", "x": lon, "y": lat},
            ).scalar_one()
        )
    ids = {}
    for i, seg in enumerate(segs):
        (ax, ay), (bx, by) = at(*NODES[seg.a]), at(*NODES[seg.b])
        ids[i] = session.execute(
            text(f"""INSERT INTO route_segment (code, start_node_id, end_node_id, status, trench_type, zone_class,
                                                removed_at, geom)
            VALUES (:code, :a, :b, CAST(:status AS lifecycle), 'open_cut', 'commercial',
                    CASE WHEN :removed THEN now() END,
                    ST_SetSRID(ST_MakeLine(ST_MakePoint(:ax, :ay), ST_MakePoint(:bx, :by)), {WGS84})) RETURNING id"""),
            {
                "code": f"RS-PT-{i}",
                "a": nodes[seg.a],
                "b": nodes[seg.b],
                "status": seg.status,
                "removed": seg.removed,
                "ax": ax,
                "ay": ay,
                "bx": bx,
                "by": by,
            },
        ).scalar_one()
        length = session.execute(text("SELECT length_m FROM route_segment WHERE id = :id"), {"id": ids[i]}).scalar()
        for p, duct in enumerate(seg.ducts, 1):
            duct_id = session.execute(
                text("""INSERT INTO duct (segment_id, position, spec_id, status)
                VALUES (:s, :p, :spec, CAST(:st AS lifecycle)) RETURNING id"""),
                {"s": ids[i], "p": p, "spec": specs["HDPE-40/33-7xMD10"], "st": duct.status},
            ).scalar_one()
            for q, sub in enumerate(duct.subs, 1):
                sub_id = session.execute(
                    text("""INSERT INTO subduct (duct_id, segment_id, position, spec_id, status, is_reserved)
                    VALUES (:d, :s, :p, :spec, CAST(:st AS lifecycle), :r) RETURNING id"""),
                    {"d": duct_id, "s": ids[i], "p": q, "spec": specs[sub.bore], "st": sub.status, "r": sub.reserved},
                ).scalar_one()
                for k, a in enumerate(sub.allocs):
                    first = today + timedelta(days=a.start)
                    session.execute(
                        text("""INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status,
                                                        hold_expires_at, contracted_length_m, is_legacy)
                        VALUES (:op, :sub, :seg, daterange(:first, :upper), CAST(:st AS allocation_status),
                                CASE WHEN :st = 'held' THEN now() + make_interval(hours => :h) END, :m, true)"""),
                        {
                            "op": operators[k % len(operators)],
                            "sub": sub_id,
                            "seg": ids[i],
                            "first": first,
                            "upper": None if a.days is None else first + timedelta(days=a.days),
                            "st": a.status,
                            "h": a.hold_hours,
                            "m": length,
                        },
                    )
    return ids


# -- the readers ----------------------------------------------------------------------------------------------------
def _graph(graph: CapacityGraph, days: Days, size: SizeClass, now: float) -> dict[int, tuple[int, int]]:
    cap = graph.capacity(days, size, now=now)
    net = graph.network
    return {int(s): (int(cap.usable[i]), int(cap.free[i])) for s, i in net.seg_index.items()}


def _choose(session, seg_ids: list[int], days: Days, size: SizeClass) -> dict[int, int]:
    rows = session.execute(
        _FREE_SUBDUCTS, {"segments": seg_ids, "size_class": size.value, "period": days.literal()}
    ).all()
    out: dict[int, int] = defaultdict(int)
    for r in rows:
        out[r.segment_id] += 1
    return out


def _segment_space(session, seg_ids: list[int], days: Days, size: SizeClass) -> dict[int, tuple[int, int]]:
    rows = session.execute(
        text("""SELECT s.id, o.usable, o.free FROM unnest(CAST(:ids AS bigint[])) AS s(id)
        CROSS JOIN LATERAL segment_space(s.id, CAST(:p AS daterange), now(), CAST(:c AS size_class)) o"""),
        {"ids": seg_ids, "p": days.literal(), "c": size.value},
    ).all()
    return {r.id: (r.usable, r.free) for r in rows}


def _tile(session) -> dict[int, tuple[int, int]]:
    """The occupancy layer's own row SQL, for the tile holding the network (psycopg parameters, as the pool runs it)."""
    params = tile_params(tile_at(*ORIGIN_LONLAT, 8), None)
    sql = f"SELECT q.id, q.usable, q.free FROM ({LAYERS['occupancy'].rows_sql}) q"
    return {r[0]: (r[1], r[2]) for r in session.connection().exec_driver_sql(sql, params).all()}


def _compliance_free(session, day: date, size: SizeClass) -> set[int]:
    where = free_segment(day="CAST(:d AS date)", size_class="CAST(:c AS size_class)")
    return set(
        session.execute(text(f"SELECT r.id FROM route_segment r WHERE {where}"), {"d": day, "c": size.value}).scalars()
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(segs=networks())
def test_leasing_compliance_tiles_and_revenue_agree_on_every_segment(session, people, segs):
    operators = [people.orgs["op_a"].id, people.orgs["op_b"].id]
    savepoint = session.begin_nested()
    try:
        today, now = session.execute(text("SELECT CURRENT_DATE, now()")).one()
        ids = _build(session, segs, operators, today)
        classes = dict(
            session.execute(
                text("SELECT code, size_class::text FROM duct_spec WHERE code = ANY(:c)"), {"c": BORES}
            ).all()
        )
        model = _Model(segs, ids, classes, now)
        seg_ids = list(ids.values())
        periods = [(o, o) for o in OFFSETS] + [(0, 29), (10, None)]
        loaded = CapacityGraph()
        loaded.refresh(session)
        for (first, last), size in itertools.product(periods, SizeClass):
            days = Days(today + timedelta(days=first), None if last is None else today + timedelta(days=last))
            graph = _graph(loaded, days, size, now.timestamp())
            chosen = _choose(session, seg_ids, days, size)
            sql = _segment_space(session, seg_ids, days, size)
            free_in_compliance = _compliance_free(session, days.first_day, size) if first == last else None
            for i, seg in enumerate(segs):
                sid = ids[i]
                expected = model.counts(seg, first, last, size)
                where = f"segment {i} {seg.status} {days} {size.value}"
                assert graph.get(sid, (0, 0)) == expected, f"routing graph, {where}"
                assert chosen.get(sid, 0) == expected[1], f"choose_subducts, {where}"
                assert sql[sid] == expected, f"segment_space, {where}"
                if free_in_compliance is not None:
                    assert (sid in free_in_compliance) == (expected[1] > 0), f"compliance free segment, {where}"
        # today, as the tile, the duct_available rule and the revenue report see it
        tile = _tile(session)
        compliance_today = set(
            session.execute(text(f"SELECT r.id FROM route_segment r WHERE {FREE_SEGMENT}")).scalars()
        )
        for i, seg in enumerate(segs):
            sid = ids[i]
            expected = model.counts(seg, 0, 0, SizeClass.MICRODUCT)
            if not seg.removed:
                assert tile[sid] == expected, f"occupancy tile, segment {i} {seg.status}"
            else:
                assert sid not in tile
            assert (sid in compliance_today) == (expected[1] > 0), f"FREE_SEGMENT, segment {i}"
        lengths = dict(
            session.execute(text("SELECT id, length_m FROM route_segment WHERE id = ANY(:i)"), {"i": seg_ids}).all()
        )
        for offset in OFFSETS:
            day = today + timedelta(days=offset)
            metres = {
                r.segment_id: r for r in session.execute(text("SELECT * FROM segment_occupancy_m(:d)"), {"d": day})
            }
            usable_m = leased_m = Decimal(0)
            for i, seg in enumerate(segs):
                sid = ids[i]
                usable, _ = model.counts(seg, offset, offset, SizeClass.MICRODUCT)
                leased = model.leased(seg, offset)
                got = metres.get(sid)
                assert (got.usable_m if got else 0) == usable * lengths[sid], f"usable metres, segment {i}"
                assert (got.leased_m if got else 0) == leased * lengths[sid], f"leased metres, segment {i} day {offset}"
                usable_m += usable * lengths[sid]
                leased_m += leased * lengths[sid]
            report = revenue.occupancy(session, day=day)
            assert sum(Decimal(r["capacity_m"]) for r in report) == usable_m
            assert sum(Decimal(r["leased_m"]) for r in report) == leased_m, f"revenue report, day {offset}"
    finally:
        savepoint.rollback()
