"""A small contended network for leasing tests, built through the network service in the test transaction."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from ducting.network.schemas import NodeIn, SegmentIn
from ducting.network.service import create_node, create_segment
from tests.factories import line, point


@dataclass
class Grid:
    """A ladder: top row A0..A4, bottom row B0..B4, rungs between them; 100 m spacing."""

    nodes: dict[str, int]
    segments: dict[str, int]


def build_ladder(
    session: Session, *, prefix: str = "L", ducts: list[dict] | None = None, top_ducts: list[dict] | None = None
) -> Grid:
    nodes, segments = {}, {}
    for row, y in (("A", 0), ("B", 100)):
        for i in range(5):
            code = f"MH-{prefix}-{row}{i}"
            nodes[code] = create_node(
                session, data=NodeIn(code=code, kind="manhole", geometry=point(100 * i, y), split=False)
            )[0].id
    plain = ducts if ducts is not None else [{"spec": "HDPE-40/33-7xMD10", "reserve": 1}]
    for row, y in (("A", 0), ("B", 100)):
        for i in range(4):
            code = f"RS-{prefix}-{row}{i}"
            segments[code] = create_segment(
                session,
                data=SegmentIn(
                    code=code,
                    geometry=line((100 * i, y), (100 * (i + 1), y)),
                    ducts=(top_ducts if (row == "A" and top_ducts is not None) else plain),
                ),
            ).id
    for i in (0, 4):
        code = f"RS-{prefix}-R{i}"
        segments[code] = create_segment(
            session, data=SegmentIn(code=code, geometry=line((100 * i, 0), (100 * i, 100)), ducts=plain)
        ).id
    session.flush()
    return Grid(nodes, segments)


@pytest.fixture()
def ladder(session, people) -> Grid:
    grid = build_ladder(session)
    session.commit()
    return grid
