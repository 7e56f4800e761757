"""Which candidate streets get ducts first: each district's network grows out from its centres, main roads first.

Every junction gets a growth cost, a shortest-path distance from the district's centres over street costs that
make main roads cheap and side streets dear far from a centre. A street's turn comes when its farther junction
is reached, so every prefix of the order is connected: a street's nearer junction hangs on a chain of streets
that came strictly earlier (or on a neck, a trunk link within the district that joins two pieces of it).
A district with a second centre first builds the backbone between them, then the trunk: the branches of its
growth tree out to the trunk links that cross its border.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from sample_data._places import DISTRICTS
from sample_data._streets import DistrictStreets, metric

ARTERIAL_COST = 0.35
"""Cost per metre of main road, relative to a side street at a centre: the network reaches out along main roads."""
SIDE_STREET_FALLOFF_M = 1500.0
"""Side streets cost 1 + (distance to the nearest centre / this)^2: dense grids stay near the centres."""
COST_NOISE = 0.3
"""Street costs vary by up to this share, so growth fronts are ragged rather than diamonds."""
STRAY_HEAD_START_M = 5000.0
"""Pieces of street graph cut off from a district's largest one start this much later, plus their distance."""


@dataclass
class Growth:
    """One district's growth: a cost per junction, the tree it grew along, its streets in the order they get ducts."""

    reached: np.ndarray  # (n,)
    edges: np.ndarray  # (m + k, 2) the streets, then the necks that join pieces of the district
    parent: np.ndarray  # (n,) edge into each junction on its cheapest path from a centre; -1 at a start
    key: np.ndarray  # (m + k,) backbone order: finite on the trunk (the first streets built), inf elsewhere
    order: np.ndarray  # (m,) street indices

    @property
    def trunk(self) -> np.ndarray:
        """(m,) streets on the backbone: between the centres and out to the trunk links."""
        return np.isfinite(self.key[: len(self.order)])


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label of each of n nodes (union-find)."""
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in edges.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(a) for a in range(n)], dtype=np.int64)


def _street_costs(streets: DistrictStreets, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Growth cost of each street: cheap along main roads, dearer the farther a side street is from a centre."""
    a, b = streets.xy[streets.edges[:, 0]], streets.xy[streets.edges[:, 1]]
    away = np.linalg.norm((a + b)[:, None, :] / 2 - centres[None, :, :], axis=2).min(axis=1)
    factor = np.where(streets.arterial, ARTERIAL_COST, 1 + (away / SIDE_STREET_FALLOFF_M) ** 2)
    noise = rng.uniform(1 - COST_NOISE, 1 + COST_NOISE, size=len(a))
    return np.linalg.norm(b - a, axis=1) * factor * noise


def _shortest_costs(
    n: int, edges: np.ndarray, cost: np.ndarray, sources: dict[int, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Dijkstra from several sources, each starting at its own cost. Returns costs and each node's parent edge."""
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    order = np.argsort(ends, kind="stable")
    other = np.concatenate([edges[:, 1], edges[:, 0]])[order].tolist()
    via = np.concatenate([np.arange(len(edges))] * 2)[order].tolist()
    weight = np.concatenate([cost, cost])[order].tolist()
    start = np.searchsorted(ends[order], np.arange(n + 1)).tolist()

    best, parent = [np.inf] * n, [-1] * n
    heap = [(c, s) for s, c in sorted(sources.items())]
    for c, s in heap:
        best[s] = c
    heapq.heapify(heap)
    while heap:
        c, a = heapq.heappop(heap)
        if c > best[a]:
            continue
        for k in range(start[a], start[a + 1]):
            b, w = other[k], c + weight[k]
            if w < best[b]:
                best[b], parent[b] = w, via[k]
                heapq.heappush(heap, (w, b))
    return np.array(best), np.array(parent, dtype=np.int64)


def _sources(streets: DistrictStreets, centres: np.ndarray, label: np.ndarray) -> tuple[list[int], dict[int, float]]:
    """Each centre's start junction on the largest piece, plus one late start for every other piece."""
    heads = [c.head_start_m for c in DISTRICTS[streets.index].centres]
    largest = np.bincount(label).argmax()
    starts = []
    for centre in centres:
        distance = np.linalg.norm(streets.xy - centre, axis=1)
        starts.append(int(np.argmin(np.where(label == largest, distance, np.inf))))
    sources: dict[int, float] = {}
    for start, head in zip(starts, heads):
        sources[start] = min(head, sources.get(start, np.inf))

    distance = np.linalg.norm(streets.xy - centres[0], axis=1)
    for part in np.unique(label):
        if part != largest:
            members = np.flatnonzero(label == part)
            start = int(members[np.argmin(distance[members])])
            sources[start] = heads[0] + STRAY_HEAD_START_M + float(distance[start])
    return starts, sources


def _backbone(n: int, edges: np.ndarray, cost: np.ndarray, starts: list[int]) -> np.ndarray:
    """Build order key for the streets on the cheapest paths from the first centre to the others; inf elsewhere.

    Keyed by the cost from the first centre alone, so a budget too small for the whole backbone still gets one
    connected piece, growing from the first centre.
    """
    from_first, parent = _shortest_costs(n, edges, cost, {starts[0]: 0.0})
    key = np.full(len(edges), np.inf)
    for node in starts[1:]:
        while node != starts[0] and parent[node] >= 0:
            edge = parent[node]
            key[edge] = from_first[node]
            node = int(edges[edge, 0] if edges[edge, 1] == node else edges[edge, 1])
    return key


def grow(streets: DistrictStreets, seed: int, necks: np.ndarray | None = None) -> Growth:
    """Growth costs and street order for one district. The same seed gives the same order.

    `necks` (k, 2) are trunk links that join pieces of the district's street graph; growth may cross them.
    """
    rng = np.random.default_rng([seed, streets.index, 1])
    centres = metric(np.array([[c.lon, c.lat] for c in DISTRICTS[streets.index].centres]))
    n, m = len(streets.xy), len(streets.edges)
    necks = np.zeros((0, 2), np.int64) if necks is None else necks
    if m == 0:
        return Growth(np.zeros(n), necks, np.full(n, -1), np.full(len(necks), np.inf), np.zeros(0, np.int64))
    edges = np.vstack([streets.edges, necks])
    neck_m = np.linalg.norm(streets.xy[necks[:, 1]] - streets.xy[necks[:, 0]], axis=1)
    cost = np.r_[_street_costs(streets, centres, rng), ARTERIAL_COST * neck_m]
    starts, sources = _sources(streets, centres, components(n, edges))
    key = _backbone(n, edges, cost, starts)
    reached, parent = _shortest_costs(n, edges, cost, sources)
    return _ordered(Growth(reached=reached, edges=edges, parent=parent, key=key, order=np.arange(m)))


def branch(growth: Growth, junction: int) -> list[int]:
    """Edges of the growth tree from `junction` back to the start it grew from."""
    edges, node = [], junction
    while growth.parent[node] >= 0:
        edge = int(growth.parent[node])
        edges.append(edge)
        a, b = growth.edges[edge]
        node = int(a if b == node else b)
    return edges


def with_trunks(growth: Growth, gates: np.ndarray) -> Growth:
    """The same growth, but the streets from the centres out to `gates` (junctions) come right after the backbone.

    A gate's branch of the growth tree is keyed after the whole backbone, each street by the growth cost of its
    farther junction, so every prefix of the order stays connected.
    """
    key = growth.key.copy()
    finite = key[np.isfinite(key)]
    top = float(finite.max()) if len(finite) else 0.0
    for gate in gates.tolist():
        path = np.array(branch(growth, gate), dtype=np.int64)
        path = path[~np.isfinite(key[path])]
        key[path] = top + growth.reached[growth.edges[path]].max(axis=1)
    return _ordered(Growth(growth.reached, growth.edges, growth.parent, key, growth.order))


def _ordered(growth: Growth) -> Growth:
    """Backbone streets first by key, then the rest as their farther junction is reached."""
    m = len(growth.order)
    ends = growth.reached[growth.edges[:m]]
    near, far = ends.min(axis=1), ends.max(axis=1)
    growth.order = np.lexsort((np.arange(m), near, far, growth.key[:m]))
    return growth


def share_budget(total: int, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split `total` segments by `weights`, never past a district's `capacity`; what does not fit goes elsewhere."""
    granted = np.zeros(len(weights))
    open_ = capacity > 0
    while open_.any() and total - granted.sum() > 0.5:
        share = (total - granted.sum()) * weights * open_ / (weights * open_).sum()
        granted = np.minimum(granted + share, capacity)
        open_ &= granted < capacity
    return np.floor(granted + 0.5).astype(np.int64)


def take(order: np.ndarray, pieces: np.ndarray, budget: int) -> np.ndarray:
    """The longest prefix of `order` whose streets hold at most `budget` segments."""
    total = np.cumsum(pieces[order])
    return order[: int(np.searchsorted(total, budget, side="right"))]
