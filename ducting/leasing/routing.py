"""Route search over free capacity, on an in-memory graph kept in step with the database.

Why in memory: "is it free for the whole period" is the expensive part of a pgRouting query (~650 ms live vs
~80 ms on a precomputed column at 100k segments: bench/README.md, "Peer figures"). Here the network (segments,
usable subducts) is held as numpy arrays, reloaded when the network epoch moves (bumped at commit by deferred triggers), and allocations
are merged incrementally: each look reads the rows written by transactions at or after the previous look's
snapshot `xmin` (`allocation.change_xid`), which is exact, not a time window. Free counts for a period are a
few vectorised passes; the path is scipy's C Dijkstra over an adjacency built once per network, bounded by the
straight-line distance first so a short route does not explore the whole city. The database still decides:
subducts are chosen and locked in SQL, and the EXCLUDE constraint refuses any double booking a stale graph might
propose.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.calendar import Days
from ducting.network.vocab import SizeClass

OPEN_END = np.int32(2**31 - 1)
_RANKS = {c.value: c.rank for c in SizeClass}


def _ord(day: date | None) -> np.int32:
    return OPEN_END if day is None else np.int32(day.toordinal())


@dataclass
class Adjacency:
    """Both directions of every segment, sorted by (from, to) node, built once per network. Parallel segments
    between one pair of nodes share one matrix entry: a search takes the cheapest of them (`group_start`)."""

    arc_key: np.ndarray  # from * n_nodes + to, sorted
    arc_segment: np.ndarray  # segment index of each arc
    group_start: np.ndarray  # first arc of each (from, to) pair
    indptr: np.ndarray
    indices: np.ndarray
    _matrix: csr_matrix | None = None

    @classmethod
    def build(cls, seg_u: np.ndarray, seg_v: np.ndarray, n_nodes: int) -> Adjacency:
        u, v = np.concatenate([seg_u, seg_v]), np.concatenate([seg_v, seg_u])
        segment = np.concatenate([np.arange(len(seg_u))] * 2)
        key = u * n_nodes + v
        order = np.argsort(key, kind="stable")
        key, segment = key[order], segment[order]
        first = np.ones(len(key), bool)
        first[1:] = key[1:] != key[:-1]
        group_start = np.flatnonzero(first)
        rows, cols = key[group_start] // n_nodes, key[group_start] % n_nodes
        indptr = np.zeros(n_nodes + 1, np.int64)
        np.add.at(indptr, rows + 1, 1)
        return cls(key, segment, group_start, np.cumsum(indptr), cols.astype(np.int32))

    def matrix(self, cost: np.ndarray, n_nodes: int) -> csr_matrix:
        """The weighted adjacency for `cost`. One matrix per network, its weights overwritten on each call (the
        structure never changes, and building it was a fifth of a search): use it under the graph's lock, and
        do not modify it."""
        weights = np.minimum.reduceat(cost[self.arc_segment], self.group_start) if len(self.group_start) else cost[:0]
        np.maximum(weights, 1e-9, out=weights)  # an explicit zero would read as "no edge"
        if self._matrix is None or self._matrix.shape != (n_nodes, n_nodes):
            self._matrix = csr_matrix((weights, self.indices.copy(), self.indptr.copy()), shape=(n_nodes, n_nodes))
        else:
            self._matrix.data = weights
        return self._matrix

    def segment_between(self, a: int, b: int, n_nodes: int, cost: np.ndarray) -> int:
        lo, hi = np.searchsorted(self.arc_key, [a * n_nodes + b, a * n_nodes + b + 1])
        candidates = self.arc_segment[lo:hi]
        return int(candidates[np.argmin(cost[candidates])])


@dataclass
class Network:
    epoch: int
    seg_ids: np.ndarray  # int64 [n_seg]
    seg_codes: list[str]
    seg_u: np.ndarray  # node index of start
    seg_v: np.ndarray  # node index of end
    seg_len: np.ndarray  # float64 metres
    node_ids: np.ndarray  # int64 [n_node]
    node_xy: np.ndarray  # float64 [n_node, 2], UTM 48N metres: the straight-line bound of a search
    node_index: dict[int, int]
    seg_index: dict[int, int]
    sub_ids: np.ndarray  # int64 [n_sub]
    sub_seg: np.ndarray  # segment index of each subduct
    sub_rank: np.ndarray  # size class rank
    sub_usable: np.ndarray  # bool: all true (only usable subducts are loaded: the database's subduct_usable)
    sub_index: dict[int, int]
    adjacency: Adjacency
    fitting: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # by size class rank


@dataclass
class Allocations:
    """Allocations as parallel arrays, updated in place by id. `held_until` is the database's
    `allocation_space_held_until` in epoch seconds: -inf for a row that holds nothing (released), a hold's expiry,
    +inf for a lease. An allocation holds space at a moment exactly when that moment is before it."""

    pos: dict[int, int] = field(default_factory=dict)
    sub: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # subduct index (-1: unknown)
    start: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    end: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))  # exclusive
    held_until: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    n: int = 0

    def upsert(self, rows: list[tuple], sub_index: dict[int, int]) -> None:
        if not rows:
            return
        new = [r[0] for r in rows if r[0] not in self.pos]
        if self.n + len(new) > len(self.sub):
            self._grow(self.n + len(new))
        for alloc_id in new:
            self.pos[alloc_id] = self.n
            self.n += 1
        at = np.fromiter((self.pos[r[0]] for r in rows), np.int64, len(rows))
        self.sub[at] = np.fromiter((sub_index.get(r[1], -1) for r in rows), np.int64, len(rows))
        self.start[at] = np.fromiter((r[2].toordinal() for r in rows), np.int32, len(rows))
        self.end[at] = np.fromiter((_ord(r[3]) for r in rows), np.int32, len(rows))
        self.held_until[at] = np.fromiter((r[4] for r in rows), np.float64, len(rows))

    def _grow(self, need: int) -> None:
        size = max(need, 2 * len(self.sub), 1024)
        for name, fill in (("sub", -1), ("start", 0), ("end", 0), ("held_until", -np.inf)):
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


# Who wants to know how long a refresh took: (part, seconds), part "network" (a full reload) or "allocations" (the
# incremental merge). ducting.ops.metrics registers itself here; the graph knows nothing of metrics.
REFRESH_OBSERVERS: list[Callable[[str, float], None]] = []


def _timed(part: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    for observe in REFRESH_OBSERVERS:
        observe(part, elapsed)


class CapacityGraph:
    """One per process. Threads share it: hold `graph.lock` around refresh-and-search (`with graph.lock:`),
    so one request's search never sees another's half-applied update."""

    # a first search is bounded to this multiple of the straight-line distance (plus BOUND_SLACK_M); only when
    # that finds nothing does it search the whole network
    BOUND_FACTOR = 3.0
    BOUND_SLACK_M = 2_000.0

    def __init__(self) -> None:
        self.network: Network | None = None
        self.allocations = Allocations()
        self._seen_xmin: int | None = None
        self._stale = False
        self.lock = threading.RLock()

    # -- keeping in step ----------------------------------------------------------------------------------------
    def refresh(self, session: Session) -> Network:
        """Bring the graph in step with what this session sees; returns the network it now holds."""
        if session.info.get("read_replica"):  # the graph must see exactly what the bookings lock: the primary
            raise RuntimeError("the capacity graph looks at the primary only (ducting.replica)")
        with self.lock:
            epoch = session.execute(
                text("SELECT last_value + CASE WHEN is_called THEN 0 ELSE -1 END FROM network_epoch")
            ).scalar_one()
            if self.network is None or self._stale or self.network.epoch != epoch:
                started = time.perf_counter()
                self.network = _load_network(session, epoch)
                self.allocations = Allocations()
                self._seen_xmin = None
                self._stale = False
                _timed("network", started)
            started = time.perf_counter()
            self._sync_allocations(session)
            _timed("allocations", started)
            return self.network

    def _sync_allocations(self, session: Session) -> None:
        """Rows written by a transaction whose id is below the previous look's snapshot xmin had committed (or
        aborted) before that look, so that look saw them. Everything else is read again: in-flight writers of
        then, and everything since. One statement, so the xmin and the rows come from one snapshot."""
        assert self.network is not None
        where = (
            "allocation_holds_space(status)"
            if self._seen_xmin is None
            else "change_xid >= CAST(CAST(:since AS text) AS xid8)"
        )
        rows = session.execute(
            text(f"""
            SELECT id, subduct_id, lower(period), upper(period),
                   extract(epoch FROM allocation_space_held_until(status, hold_expires_at))::float8,
                   CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)
            FROM allocation_occupancy WHERE {where}  -- every operator's rows, without identity (RLS)
            UNION ALL  -- the snapshot's xmin even when no row changed
            SELECT NULL, NULL, NULL, NULL, NULL, CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)
            """),
            {"since": self._seen_xmin},
        ).all()
        self._seen_xmin = rows[0][5]  # the same on every row
        self.allocations.upsert([tuple(r[:5]) for r in rows if r[0] is not None], self.network.sub_index)

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
        hit = (al.held_until[:n] > now) & (al.start[:n] < q_end) & (al.end[:n] > q_start) & (al.sub[:n] >= 0)
        fits, usable = self._fitting(size_class)
        busy = np.zeros(len(net.sub_ids), bool)
        busy[al.sub[:n][hit]] = True
        busy &= fits
        return Capacity(usable=usable, free=usable - np.bincount(net.sub_seg[busy], minlength=len(net.seg_ids)))

    def _fitting(self, size_class: SizeClass) -> tuple[np.ndarray, np.ndarray]:
        """Usable subducts of this size class or larger, and their count per segment: fixed until the network
        changes, so kept with it."""
        net = self._net()
        if size_class.rank not in net.fitting:
            fits = net.sub_usable & (net.sub_rank >= size_class.rank)
            net.fitting[size_class.rank] = fits, np.bincount(net.sub_seg[fits], minlength=len(net.seg_ids))
        return net.fitting[size_class.rank]

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
        """The cheapest path by `cost` (inf: impassable). Tried first within a cost bound derived from the
        straight line; a path found within any bound is the cheapest overall, because Dijkstra settles nodes in
        order of cost. The bound only decides how much of the city a search may touch before giving up on it."""
        net = self._net()
        src, dst = net.node_index.get(from_node), net.node_index.get(to_node)
        if src is None or dst is None:
            return None
        n_nodes = len(net.node_ids)
        graph = net.adjacency.matrix(cost, n_nodes)
        straight = float(np.hypot(*(net.node_xy[src] - net.node_xy[dst])))
        bounds = [self.BOUND_FACTOR * straight + self.BOUND_SLACK_M, np.inf]
        for bound in bounds:
            dist, pred = dijkstra(graph, directed=True, indices=src, return_predecessors=True, limit=bound)
            if np.isfinite(dist[dst]):
                break
        else:
            return None
        nodes = [dst]
        while nodes[-1] != src:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        edges = [net.adjacency.segment_between(a, b, n_nodes, cost) for a, b in itertools.pairwise(nodes)]
        return PathResult(
            segment_ids=[int(net.seg_ids[i]) for i in edges],
            node_ids=[int(net.node_ids[i]) for i in nodes],
            cost=float(dist[dst]),
            length_m=float(net.seg_len[edges].sum()),
        )

    def segment_free(self, cap: Capacity, segment_ids: list[int]) -> list[tuple[int, str, int, int]]:
        net = self._net()
        idx = [net.seg_index[s] for s in segment_ids if s in net.seg_index]
        return [(int(net.seg_ids[i]), net.seg_codes[i], int(cap.free[i]), int(cap.usable[i])) for i in idx]

    def _net(self) -> Network:
        if self.network is None:
            raise RuntimeError("refresh the capacity graph before using it")
        return self.network


def _load_network(session: Session, epoch: int) -> Network:
    """Usable segments and their usable subducts, as the database defines them (`segment_usable`, the
    `subduct_capacity` view): the graph holds no rule of its own about what may be leased."""
    segs = session.execute(
        text("""
        SELECT id, code, start_node_id, end_node_id, length_m::float8,
               ST_X(ST_StartPoint(geom_m)), ST_Y(ST_StartPoint(geom_m)), ST_X(ST_EndPoint(geom_m)), ST_Y(ST_EndPoint(geom_m))
        FROM route_segment WHERE segment_usable(status, removed_at) ORDER BY id""")
    ).all()
    seg_ids = np.array([r[0] for r in segs], np.int64)
    node_ids = np.unique(np.array([r[2] for r in segs] + [r[3] for r in segs], np.int64))
    node_index = {int(n): i for i, n in enumerate(node_ids)}
    seg_index = {int(s): i for i, s in enumerate(seg_ids)}
    seg_u = np.array([node_index[r[2]] for r in segs], np.int64)
    seg_v = np.array([node_index[r[3]] for r in segs], np.int64)
    node_xy = np.zeros((len(node_ids), 2))
    if segs:
        node_xy[seg_u] = np.array([(r[5], r[6]) for r in segs])
        node_xy[seg_v] = np.array([(r[7], r[8]) for r in segs])
    subs = session.execute(
        text("SELECT id, segment_id, size_class::text FROM subduct_capacity WHERE usable ORDER BY id")
    ).all()
    # Two statements, two snapshots (READ COMMITTED): a segment committed between them has subducts but no row
    # above. It joins the graph at the next reload (its commit bumped the epoch); until then, leave its subducts out.
    subs = [r for r in subs if r[1] in seg_index]
    return Network(
        epoch=epoch,
        seg_ids=seg_ids,
        seg_codes=[r[1] for r in segs],
        seg_u=seg_u,
        seg_v=seg_v,
        seg_len=np.array([r[4] for r in segs], np.float64),
        node_ids=node_ids,
        node_xy=node_xy,
        node_index=node_index,
        seg_index=seg_index,
        sub_ids=np.array([r[0] for r in subs], np.int64),
        sub_seg=np.array([seg_index[r[1]] for r in subs], np.int64),
        sub_rank=np.array([_RANKS.get(r[2], -1) for r in subs], np.int64),
        sub_usable=np.ones(len(subs), bool),
        sub_index={int(r[0]): i for i, r in enumerate(subs)},
        adjacency=Adjacency.build(seg_u, seg_v, len(node_ids)),
    )


GRAPH = CapacityGraph()
"""The process's graph. Tests and benchmarks may build their own."""
