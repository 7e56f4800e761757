"""The capacity graph stays in step with committed allocations, including a writer that started before the
graph's last look and committed after it (the case a time window got wrong). Real connections, real commits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from ducting.calendar import Days, today
from ducting.db import Actor, bind_actor
from ducting.leasing.routing import CapacityGraph
from ducting.network.vocab import SizeClass
from tests.leasing.conftest import build_ladder


def _free(graph: CapacityGraph, session: Session, segment_id: int, days: Days) -> int:
    graph.refresh(session)
    session.rollback()
    cap = graph.capacity(days, SizeClass.SUBDUCT_32_26)
    return int(cap.free[graph.network.seg_index[segment_id]])


def test_a_lease_committed_after_the_graph_looked_is_seen_at_the_next_look(scratch_database):
    engine = create_engine(scratch_database.app_url)
    with Session(engine) as s:
        bind_actor(s, Actor.system("test setup"))
        grid = build_ladder(s, prefix="G", ducts=[{"spec": "HDPE-32/26"}, {"spec": "HDPE-32/26"}])
        operator = s.execute(
            text("""INSERT INTO organisation (code, name, kind, npwp)
            VALUES ('GOP', 'PT Operator G', 'operator', '0000000000000042') RETURNING id""")
        ).scalar_one()
        s.commit()
    segment = grid.segments["RS-G-A1"]
    subducts = [
        r[0]
        for r in engine.connect().execute(
            text("SELECT id FROM subduct WHERE segment_id = :s ORDER BY id"), {"s": segment}
        )
    ]
    days = Days(today() + timedelta(days=10), today() + timedelta(days=100))
    graph = CapacityGraph()
    reader = Session(engine)
    bind_actor(reader, Actor.system("graph"))
    assert _free(graph, reader, segment, days) == 2

    def lease(session: Session, subduct: int) -> None:
        bind_actor(session, Actor.system("writer"))
        session.execute(
            text("""INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status,
                                                        contracted_length_m, is_legacy)
            VALUES (:o, :sd, :s, CAST(:p AS daterange), 'active', 100, true)"""),
            {"o": operator, "sd": subduct, "s": segment, "p": days.literal()},
        )

    # a writer takes its transaction id, the graph looks (the writer is in flight), the writer commits later
    slow = Session(engine)
    lease(slow, subducts[0])
    assert _free(graph, reader, segment, days) == 2  # not committed yet: still free
    fast = Session(engine)
    lease(fast, subducts[1])
    fast.commit()
    assert _free(graph, reader, segment, days) == 1  # the later writer, committed first
    slow.commit()
    assert _free(graph, reader, segment, days) == 0  # the earlier writer, committed after two looks

    # a release is seen too
    with Session(engine) as s:
        bind_actor(s, Actor.system("release"))
        s.execute(text("UPDATE allocation SET status = 'released' WHERE subduct_id = :sd"), {"sd": subducts[0]})
        s.commit()
    assert _free(graph, reader, segment, days) == 1
    for s in (slow, fast, reader):
        s.close()
    engine.dispose()
