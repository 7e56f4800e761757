"""A small billed network: two segments in metres from Batam Centre, subducts to lease, allocation helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ducting.calendar import Days
from ducting.db import Actor
from ducting.leasing.models import Allocation
from ducting.leasing.vocab import AllocationStatus
from ducting.network.models import Duct, Subduct
from ducting.network.schemas import NodeIn, SegmentIn
from ducting.network.service import create_node, create_segment
from tests.factories import line, point

FINANCE = Actor(account_id=None, role="finance")


@dataclass
class Net:
    session: Session
    segments: dict[str, int]
    subducts: dict[str, list[int]]  # segment code -> subduct ids in (duct, subduct) position order

    def lease(
        self,
        operator_id: int,
        seg: str,
        first_day: date,
        last_day: date | None,
        *,
        metres: str = "100",
        bore: int = 0,
        status: AllocationStatus = AllocationStatus.ACTIVE,
        pks: str | None = None,
        legacy: bool = True,
    ) -> Allocation:
        """An allocation; legacy by default so that no one-time access fee is added (tests of fees say so)."""
        alloc = Allocation(
            operator_id=operator_id,
            subduct_id=self.subducts[seg][bore],
            segment_id=self.segments[seg],
            period=Days(first_day, last_day).to_range(),
            status=status,
            contracted_length_m=Decimal(metres),
            pks_number=pks,
            is_legacy=legacy,
        )
        self.session.add(alloc)
        self.session.flush()
        return alloc

    def set_price(self, product: str, zone: str, price: int, *, levy: int = 0, since: date | None = None) -> None:
        """Make one tariff key cost `price` from `since` (or always): the seeded version is cut at that day."""
        s = self.session
        if since is None:
            s.execute(
                text(
                    "UPDATE tariff SET price_idr_per_m_year = :p, retribusi_idr_per_m_year = :l "
                    "WHERE product = CAST(:k AS size_class) AND zone_class = CAST(:z AS zone_class)"
                ),
                {"p": price, "l": levy, "k": product, "z": zone},
            )
            return
        s.execute(
            text(
                "UPDATE tariff SET effective = daterange(lower(effective), :d) WHERE product = CAST(:k AS size_class)"
                " AND zone_class = CAST(:z AS zone_class) AND upper_inf(effective)"
            ),
            {"d": since, "k": product, "z": zone},
        )
        s.execute(
            text(
                "INSERT INTO tariff (product, zone_class, effective, price_idr_per_m_year, retribusi_idr_per_m_year)"
                " VALUES (CAST(:k AS size_class), CAST(:z AS zone_class), daterange(:d, NULL), :p, :l)"
            ),
            {"d": since, "k": product, "z": zone, "p": price, "l": levy},
        )


def build_net(session: Session, prefix: str = "T") -> Net:
    for code, x in ((f"MH-{prefix}-A", 0), (f"MH-{prefix}-B", 100), (f"MH-{prefix}-C", 200)):
        create_node(session, data=NodeIn(code=code, kind="manhole", geometry=point(x, 0)))
    segs = {}
    for code, (x0, x1), zone, spec in (
        (f"RS-{prefix}-AB", (0, 100), "residential", "PVC-110-4x32"),
        (f"RS-{prefix}-BC", (100, 200), "cbd", "HDPE-40/33-7xMD10"),
    ):
        seg = create_segment(
            session, data=SegmentIn(code=code, geometry=line((x0, 0), (x1, 0)), zone_class=zone, ducts=[{"spec": spec}])
        )
        segs[code] = seg.id
    subducts = {}
    for code, seg_id in segs.items():
        subducts[code] = list(
            session.scalars(
                select(Subduct.id)
                .join(Duct, Duct.id == Subduct.duct_id)
                .where(Subduct.segment_id == seg_id)
                .order_by(Duct.position, Subduct.position)
            )
        )
    session.flush()
    return Net(session, segs, subducts)


@pytest.fixture()
def net(session: Session) -> Net:
    """The network, with subduct 32/26 in residential zones at Rp 13,000 (of which Rp 5,000 retribusi) and the
    minimum monthly charge off, so that scenarios show only their own arithmetic."""
    n = build_net(session)
    n.set_price("subduct_32_26", "residential", 13_000, levy=5_000)
    session.execute(text("UPDATE billing_fee SET amount_idr = 0 WHERE kind = 'minimum_monthly_charge'"))
    return n


def lines_of(session: Session, operator_id: int, month: date) -> list[dict]:
    return [
        dict(r)
        for r in session.execute(
            text("""
        SELECT l.* FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id
        WHERE i.operator_id = :o AND i.month = :m AND i.kind = 'invoice' ORDER BY l.line_no"""),
            {"o": operator_id, "m": month},
        ).mappings()
    ]


def invoice_of(session: Session, operator_id: int, month: date) -> dict:
    return dict(
        session.execute(
            text("SELECT * FROM invoice WHERE operator_id = :o AND month = :m AND kind = 'invoice'"),
            {"o": operator_id, "m": month},
        )
        .mappings()
        .one()
    )
