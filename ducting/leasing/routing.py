"""Route search over free capacity, on an in-memory graph kept in step with the database.

Why in memory: "is it free for the whole period" is the expensive part of a pgRouting query (PEERS.md: ~650 ms
live vs ~80 ms on a precomputed column at 100k segments). Here the network (segments, usable subducts) is held
as numpy arrays, reloaded when the network epoch moves (bumped at commit by deferred triggers), and allocations
are merged incrementally by `changed_at` with a safety margin. Free counts for a period are a few vectorised
passes; the path is scipy's C Dijkstra. The database still decides: subducts are chosen and locked in SQL, and
the EXCLUDE constraint refuses any double booking a stale graph might propose.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.leasing.periods import Days
from ducting.network.vocab import SizeClass

OPEN_END = np.int32(2**31 - 1)
ALLOCATION_MARGIN = timedelta(seconds=60)  # longer than any booking transaction may run (statement timeout 30 s)
_RANKS = {c.value: c.rank for c in SizeClass}


def _ord(day: date | None) -> np.int32:
    return OPEN_END if day is None else np.int32(day.toordinal())


@dataclass
class Network:
    epoch: int
    seg_ids: np.ndarray  # int64 [n_seg]
    seg_codes: list[str]
    seg_u: np.ndarray  # node index of start
    seg_v: np.ndarray  # node index of end
    seg_len: np.ndarray  # float64 metres
    node_ids: np.ndarray  # int64 [n_node]
    node_index: dict[int, int]
    seg_index: dict[int, int]
    sub_ids: np.ndarray  # int64 [n_sub]
    sub_seg: np.ndarray  # segment index of each subduct
    sub_rank: np.ndarray  # size class rank
    sub_usable: np.ndarray  # bool: operational, not reserved, duct live
    sub_index: dict[int, int]


@dataclass
class Allocations:
    """Space-holding allocations as parallel arrays, updated in place by id."""

    pos: dict[int, int] = field(default_factory=dict)
    sub: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # subduct index (-1: unknown)
    start: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    end: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))  # exclusive
    hold_until: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))  # epoch seconds; inf if not held
    live: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    n: int = 0

    def upsert(self, rows: list[tuple], sub_index: dict[int, int]) -> None:
        new = [r for r in rows if r[0] not in self.pos]
        if self.n + len(new) > len(self.sub):
            self._grow(self.n + len(new))
        for r in new:
            self.pos[r[0]] = self.n
            self.n += 1
        for alloc_id, sub_id, lower, upper, status, hold_until in rows:
            i = self.pos[alloc_id]
            self.sub[i] = sub_index.get(sub_id, -1)
            self.start[i] = lower.toordinal()
            self.end[i] = _ord(upper)
            self.live[i] = status in ("held", "active", "terminated")
            self.hold_until[i] = hold_until.timestamp() if status == "held" and hold_until else np.inf

    def _grow(self, need: int) -> None:
        size = max(need, 2 * len(self.sub), 1024)
        for name, fill in (("sub", -1), ("start", 0), ("end", 0), ("hold_until", np.inf), ("live", False)):
            old = getattr(self, name)
            arr = np.full(size, fill, dtype=old.dtype)
            arr[: len(old)] = old
            setattr(self, name, arr)


@dataclass(frozen=True)
class Capacity:
    """Per segment, for one period and size class: usable subducts and those free for the whole period."""

    usable: np.ndarray
    free: np.ndarray


@dataclass
class PathResult:
    segment_ids: list[int]
    node_ids: list[int]
    cost: float
    length_m: float


class CapacityGraph:
    """One per process. Threads share it: hold `graph.lock` around refresh-and-search (`with graph.lock:`),
    so one request's search never sees another's half-applied update."""

    def __init__(self) -> None:
        self.network: Network | None = None
        self.allocations = Allocations()
        self._synced_until: datetime | None = None
        self._stale = False
        self.lock = threading.RLock()

    # -- keeping in step ----------------------------------------------------------------------------------------
    def refresh(self, session: Session) -> None:
        with self.lock:
            epoch = session.execute(text("SELECT last_value + CASE WHEN is_called THEN 0 ELSE -1 END FROM network_epoch")).scalar_one()
            if self.network is None or self._stale or self.network.epoch != epoch:
                self.network = _load_network(session, epoch)
                self.allocations = Allocations()
                self._synced_until = None
                self._stale = False
            self._sync_allocations(session)

    def _sync_allocations(self, session: Session) -> None:
        assert self.network is not None
        started = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        if self._synced_until is None:
            rows = session.execute(text("""
                SELECT id, subduct_id, lower(period), upper(period), status::text, hold_expires_at FROM allocation_occupancy
                WHERE status IN ('held', 'active', 'terminated')""")).all()
        else:
            rows = session.execute(text("""
                SELECT id, subduct_id, lower(period), upper(period), status::text, hold_expires_at FROM allocation_occupancy
                WHERE changed_at > :since"""), {"since": self._synced_until - ALLOCATION_MARGIN}).all()
        self.allocations.upsert([tuple(r) for r in rows], self.network.sub_index)
        self._synced_until = started

    def forget(self) -> None:
        """Reload everything on the next refresh (a search found the graph behind the database)."""
        with self.lock:
            self._stale = True

    # -- capacity -----------------------------------------------------------------------------------------------
    def capacity(self, days: Days, size_class: SizeClass, *, now: float | None = None) -> Capacity:
        net, al = self._net(), self.allocations
        now = time.time() if now is None else now
        q_start, q_end = days.first_day.toordinal(), _ord(days.last_day + timedelta(days=1) if days.last_day else None)
        n = al.n
        hit = al.live[:n] & (al.start[:n] < q_end) & (al.end[:n] > q_start) & (al.hold_until[:n] > now) & (al.sub[:n] >= 0)
        busy = np.zeros(len(net.sub_ids), bool)
        busy[al.sub[:n][hit]] = True
        fits = net.sub_usable & (net.sub_rank >= size_class.rank)
        usable = np.bincount(net.sub_seg[fits], minlength=len(net.seg_ids))
        free = np.bincount(net.sub_seg[fits & ~busy], minlength=len(net.seg_ids))
        return Capacity(usable=usable, free=free)

    def costs(self, cap: Capacity, need: int, *, near_full_share: float, penalty: float) -> np.ndarray:
        """Length, raised by `penalty` where taking `need` leaves less than `near_full_share` free; inf if short."""
        net = self._net()
        cost = net.seg_len.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(cap.usable > 0, (cap.free - need) / cap.usable, 0.0)
        cost[left < near_full_share] *= 1.0 + penalty
        cost[cap.free < need] = np.inf
        return cost

    # -- paths --------------------------------------------------------------------------------------------------
    def shortest_path(self, from_node: int, to_node: int, cost: np.ndarray) -> PathResult | None:
        net = self._net()
        src, dst = net.node_index.get(from_node), net.node_index.get(to_node)
        if src is None or dst is None:
            return None
        ok = np.isfinite(cost)
        u, v, w, e = net.seg_u[ok], net.seg_v[ok], cost[ok], np.flatnonzero(ok)
        # both directions; parallel edges keep the cheapest (a sparse matrix would sum them)
        uu, vv, ww, ee = np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w]), np.concatenate([e, e])
        n_nodes = len(net.node_ids)
        key = uu.astype(np.int64) * n_nodes + vv
        order = np.lexsort((ww, key))
        key, uu, vv, ww, ee = key[order], uu[order], vv[order], ww[order], ee[order]
        first = np.ones(len(key), bool)
        first[1:] = key[1:] != key[:-1]
        key, uu, vv, ww, ee = key[first], uu[first], vv[first], ww[first], ee[first]
        graph = csr_matrix((np.maximum(ww, 1e-9), (uu, vv)), shape=(n_nodes, n_nodes))
        dist, pred = dijkstra(graph, directed=True, indices=src, return_predecessors=True)
        if not np.isfinite(dist[dst]):
            return None
        nodes = [dst]
        while nodes[-1] != src:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        edges = [int(ee[np.searchsorted(key, a * n_nodes + b)]) for a, b in zip(nodes[:-1], nodes[1:])]
        return PathResult(segment_ids=[int(net.seg_ids[i]) for i in edges], node_ids=[int(net.node_ids[i]) for i in nodes],
                          cost=float(dist[dst]), length_m=float(net.seg_len[edges].sum()))

    def segment_free(self, cap: Capacity, segment_ids: list[int]) -> list[tuple[int, str, int, int]]:
        net = self._net()
        idx = [net.seg_index[s] for s in segment_ids if s in net.seg_index]
        return [(int(net.seg_ids[i]), net.seg_codes[i], int(cap.free[i]), int(cap.usable[i])) for i in idx]

    def _net(self) -> Network:
        if self.network is None:
            raise RuntimeError("refresh the capacity graph before using it")
        return self.network


def _load_network(session: Session, epoch: int) -> Network:
    segs = session.execute(text("""
        SELECT id, code, start_node_id, end_node_id, length_m::float8 FROM route_segment
        WHERE removed_at IS NULL AND status = 'operational' ORDER BY id""")).all()
    seg_ids = np.array([r[0] for r in segs], np.int64)
    node_ids = np.unique(np.array([r[2] for r in segs] + [r[3] for r in segs], np.int64))
    node_index = {int(n): i for i, n in enumerate(node_ids)}
    seg_index = {int(s): i for i, s in enumerate(seg_ids)}
    subs = session.execute(text("""
        SELECT sd.id, sd.segment_id, sp.size_class::text,
               (sd.status = 'operational' AND NOT sd.is_reserved AND d.status = 'operational') AS usable
        FROM subduct sd JOIN duct d ON d.id = sd.duct_id JOIN duct_spec sp ON sp.id = sd.spec_id
        JOIN route_segment s ON s.id = sd.segment_id
        WHERE s.removed_at IS NULL AND s.status = 'operational' ORDER BY sd.id""")).all()
    # Two statements, two snapshots (READ COMMITTED): a segment committed between them has subducts but no row
    # above. It joins the graph at the next reload (its commit bumped the epoch); until then, leave its subducts out.
    subs = [r for r in subs if r[1] in seg_index]
    return Network(
        epoch=epoch, seg_ids=seg_ids, seg_codes=[r[1] for r in segs],
        seg_u=np.array([node_index[r[2]] for r in segs], np.int64), seg_v=np.array([node_index[r[3]] for r in segs], np.int64),
        seg_len=np.array([r[4] for r in segs], np.float64), node_ids=node_ids, node_index=node_index, seg_index=seg_index,
        sub_ids=np.array([r[0] for r in subs], np.int64), sub_seg=np.array([seg_index[r[1]] for r in subs], np.int64),
        sub_rank=np.array([_RANKS.get(r[2], -1) for r in subs], np.int64),
        sub_usable=np.array([bool(r[3]) for r in subs], bool), sub_index={int(r[0]): i for i, r in enumerate(subs)})


GRAPH = CapacityGraph()
"""The process's graph. Tests and benchmarks may build their own."""
