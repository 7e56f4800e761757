"""Trunk links: connectors across kecamatan borders, and across Batu Aji's neck, that make the city one network.

Each district's streets are a lattice of their own, so no street crosses a border. A link runs straight from a
junction of one street graph to a junction of another. It is accepted only if it lies on land (never over sea),
keeps CLEARANCE_M from every candidate street except the ones at its two ends, leaves those at a wide angle, and
keeps clear of the links chosen before it. It is checked against every candidate street, not only the ones that
get ducts, so it stays planar whatever the growth picks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import shapely
from scipy.spatial import cKDTree

from sample_data._growth import ARTERIAL_COST, Growth, branch, components
from sample_data._land import district_land, island_land
from sample_data._streets import DistrictStreets, pieces_for

CLEARANCE_M = 6.0
"""A link keeps this far from every street but the ones at its ends, and twice this from the other links."""
LAND_MARGIN_M = 5.0
"""A link keeps this far inside the land: it may cross a border, never the shore."""
MIN_ANGLE_DEG = 25.0
"""A link leaves the streets at its ends at least this steeply, so bends of 1.5 m cannot make them cross."""
REACH_BLOCKS = 2.0
"""A link is at most this many long block sides (of the coarser district) long."""
NEIGHBOURS = 6
"""Each junction is tried against this many nearest junctions of the other graph."""
MIN_BORDER_M = 500.0
"""Districts sharing less border than this are not neighbours: Sekupang and Sagulung touch at a point."""
SPACING_M = 1000.0
"""Links between the same two graphs keep this far apart, midpoint to midpoint."""
TRUNKS_PER_PAIR = 2
"""Per pair of neighbours, at most this many of the cheapest links are trunks."""
TRUNK_CAP = 0.6
"""The trunks that join all districts take at most this share of the segments: a tiny network cannot span the city."""
EXTRA_SHARE = 0.1
"""More trunks, the cheapest first, while they take less than this share of the segments."""
NECK_SHARE = 0.05
"""A piece of a district's street graph holding this share of its junctions is joined to the largest piece."""
SAMPLES = 9
"""Points per candidate street in the clearance test; the warp's sag between two of them is well under 1 m."""


@dataclass
class Links:
    """Straight connectors between junctions of two street graphs, or two pieces of one, in UTM."""

    district: np.ndarray  # (k, 2) each end's district
    junction: np.ndarray  # (k, 2) each end's junction, local to its district
    xy: np.ndarray  # (k, 2, 2) the two ends
    rank: np.ndarray  # (k,) 0 for the cheapest link between its two graphs, 1 for the next, ...
    cost: np.ndarray  # (k,) growth cost of the route between the two districts' centres through the link
    trunk: np.ndarray  # (k,) built with the streets that lead to it, ahead of the rest; every neck is a trunk

    @classmethod
    def empty(cls) -> Links:
        pairs = np.zeros((0, 2), np.int64)
        return cls(pairs, pairs, np.zeros((0, 2, 2)), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.trunk)

    def __add__(self, other: Links) -> Links:
        return Links(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)))

    def subset(self, keep: np.ndarray) -> Links:
        return Links(*(getattr(self, f.name)[keep] for f in fields(self)))

    @property
    def neck(self) -> np.ndarray:
        return self.district[:, 0] == self.district[:, 1]

    @property
    def pieces(self) -> np.ndarray:
        """Segments per link, cut like a street."""
        return pieces_for(np.linalg.norm(self.xy[:, 1] - self.xy[:, 0], axis=1))

    def necks_of(self, district: int) -> np.ndarray:
        """(k, 2) local junction pairs of the necks inside `district`."""
        return self.junction[self.neck & (self.district[:, 0] == district)]

    def gates_of(self, district: int) -> np.ndarray:
        """Local junctions of `district` where a trunk link crosses its border."""
        across = self.trunk & ~self.neck
        return np.unique(self.junction[across][self.district[across] == district])

    def laid(self, chosen_junctions: list[np.ndarray]) -> np.ndarray:
        """Links both of whose ends are junctions of chosen streets."""
        found = np.zeros(self.junction.shape, bool)
        for side in (0, 1):
            for d, have in enumerate(chosen_junctions):
                mine = self.district[:, side] == d
                found[mine, side] = np.isin(self.junction[mine, side], have)
        return found.all(axis=1)


@lru_cache(maxsize=1)
def neighbours() -> tuple[tuple[int, int], ...]:
    """Pairs of districts (by index) that share at least MIN_BORDER_M of land border."""
    lands = district_land()
    pairs = []
    for i in range(len(lands)):
        for j in range(i + 1, len(lands)):
            shared = shapely.intersection(lands[i].boundary, shapely.buffer(lands[j], 30.0))
            if shared.length >= MIN_BORDER_M:
                pairs.append((i, j))
    return tuple(pairs)


class LinkFinder:
    """Candidate streets of all districts, indexed, to test links against."""

    def __init__(self, streets: list[DistrictStreets]) -> None:
        self.streets = streets
        t = np.linspace(0.0, 1.0, SAMPLES)[None, :, None]
        samples = []
        for s in streets:
            a, b = s.straight[s.edges[:, 0]][:, None], s.straight[s.edges[:, 1]][:, None]
            samples.append(s.warp(a + t * (b - a)).reshape(-1, SAMPLES, 2))
        self.samples = np.concatenate(samples)
        self.street_district = np.concatenate([np.full(len(s.edges), s.index) for s in streets])
        self.street_ends = np.vstack([s.edges for s in streets])
        self.tree = shapely.STRtree(shapely.linestrings(self.samples))
        self.land = shapely.buffer(island_land(), -LAND_MARGIN_M)
        shapely.prepare(self.land)

    def necks(self) -> Links:
        """Join each sizeable piece of a district's street graph to its largest piece."""
        found = Links.empty()
        for s in self.streets:
            label = components(len(s.xy), s.edges)
            pieces, size = np.unique(label, return_counts=True)
            by_size = pieces[np.argsort(-size, kind="stable")]
            joined = label == by_size[0]
            for piece in by_size[1:]:
                here = label == piece
                if here.sum() < NECK_SHARE * len(label):
                    break
                a, b = self._pairs(s.index, np.flatnonzero(here), s.index, np.flatnonzero(joined))
                length = np.linalg.norm(s.xy[b] - s.xy[a], axis=1)
                new = self._select(s.index, a, s.index, b, length, found, trunk=True)
                found = found + new
                if len(new):
                    joined |= here
        return found

    def across(self, growth: list[Growth], necks: Links) -> Links:
        """Links between neighbouring districts, spaced along their border, none of them a trunk yet.

        A link's cost is the growth cost from one district's centre to its end, across, and on to the other
        centre: the cheapest is the main-road route between the two centres.
        """
        found = necks
        linkable = [self._linkable(s, necks) for s in self.streets]
        for i, j in neighbours():
            a, b = self._pairs(i, linkable[i], j, linkable[j])
            length = np.linalg.norm(self.streets[j].xy[b] - self.streets[i].xy[a], axis=1)
            cost = growth[i].reached[a] + growth[j].reached[b] + ARTERIAL_COST * length
            found = found + self._select(i, a, j, b, cost, found, trunk=False)
        return found.subset(~found.neck)

    @staticmethod
    def _linkable(s: DistrictStreets, necks: Links) -> np.ndarray:
        """Junctions on the district's largest piece of street graph, once the necks have joined it up."""
        label = components(len(s.xy), np.vstack([s.edges, necks.necks_of(s.index)]))
        return np.flatnonzero(label == np.bincount(label).argmax())

    def _pairs(self, i: int, a_pool: np.ndarray, j: int, b_pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Valid links from junctions `a_pool` of district i to their nearest junctions `b_pool` of district j."""
        si, sj = self.streets[i], self.streets[j]
        if not len(a_pool) or not len(b_pool):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        reach = REACH_BLOCKS * max(max(si.block_m), max(sj.block_m))
        k = min(NEIGHBOURS, len(b_pool))
        distance, nearest = cKDTree(sj.xy[b_pool]).query(si.xy[a_pool], k=k, distance_upper_bound=reach)
        distance, nearest = distance.reshape(len(a_pool), k), nearest.reshape(len(a_pool), k)
        close = np.isfinite(distance)
        a, b = np.repeat(a_pool, k).reshape(-1, k)[close], b_pool[nearest[close]]
        valid = self._valid(i, a, j, b)
        return a[valid], b[valid]

    def _valid(self, i: int, a: np.ndarray, j: int, b: np.ndarray) -> np.ndarray:
        """On land, clear of every street but those at its ends, and leaving those at MIN_ANGLE_DEG or more."""
        pa, pb = self.streets[i].xy[a], self.streets[j].xy[b]
        lines = shapely.linestrings(np.stack([pa, pb], axis=1))
        ok = shapely.contains(self.land, lines)
        line, street = self.tree.query(lines, predicate="dwithin", distance=CLEARANCE_M)
        ends, district = self.street_ends[street], self.street_district[street]
        at_a = (district == i) & (ends == a[line, None]).any(axis=1)
        at_b = (district == j) & (ends == b[line, None]).any(axis=1)
        np.logical_and.at(ok, line, at_a | at_b)
        for at, end, toward in ((at_a, a, pb - pa), (at_b, b, pa - pb)):
            h, k = street[at], line[at]
            start = self.street_ends[h, 0] == end[k]
            first, last = self.samples[h, 1] - self.samples[h, 0], self.samples[h, -2] - self.samples[h, -1]
            away = np.where(start[:, None], first, last)
            cos = (away * toward[k]).sum(axis=1) / np.linalg.norm(away, axis=1) / np.linalg.norm(toward[k], axis=1)
            np.logical_and.at(ok, k, cos < np.cos(np.radians(MIN_ANGLE_DEG)))
        return ok

    def _select(
        self, i: int, a: np.ndarray, j: int, b: np.ndarray, score: np.ndarray, found: Links, *, trunk: bool
    ) -> Links:
        """Cheapest first: links SPACING_M apart, on junctions no other link uses, clear of the links found so far."""
        pa, pb = self.streets[i].xy[a], self.streets[j].xy[b]
        middle = (pa + pb) / 2
        used = set(zip(found.district.ravel().tolist(), found.junction.ravel().tolist()))
        others = shapely.linestrings(found.xy) if len(found) else np.zeros(0, object)
        picked: list[int] = []
        for k in np.argsort(score, kind="stable").tolist():
            if picked and (np.linalg.norm(middle[picked] - middle[k], axis=1) < SPACING_M).any():
                continue
            if (i, int(a[k])) in used or (j, int(b[k])) in used:
                continue
            line = shapely.linestrings([pa[k], pb[k]])
            if len(others) and shapely.dwithin(others, line, 2 * CLEARANCE_M).any():
                continue
            picked.append(k)
            used |= {(i, int(a[k])), (j, int(b[k]))}
            others = np.append(others, line)
        n = len(picked)
        return Links(
            district=np.tile([i, j], (n, 1)).astype(np.int64),
            junction=np.column_stack([a[picked], b[picked]]).astype(np.int64).reshape(n, 2),
            xy=np.stack([pa[picked], pb[picked]], axis=1).reshape(n, 2, 2),
            rank=np.arange(n),
            cost=score[picked].astype(float),
            trunk=np.full(n, trunk),
        )


def plan_trunks(links: Links, growth: list[Growth], streets: list[DistrictStreets], budget: int) -> Links:
    """Choose the trunk links: growth builds them first, with the branches of its tree that lead to them.

    First the cheapest links that join all districts into one network (a minimum spanning tree over the
    neighbouring pairs, by route cost), while they take at most TRUNK_CAP of `budget` segments. Then, within
    EXTRA_SHARE more, the first link of every other pair and after that the second ones, each time the one
    adding the fewest segments (streets already on a trunk cost nothing).
    """
    trunk = links.trunk.copy()
    on_trunk: list[set[int]] = [set() for _ in streets]
    paths = {
        k: [
            (d, [e for e in branch(growth[d], junction) if e < len(streets[d].edges)])
            for d, junction in zip(links.district[k].tolist(), links.junction[k].tolist())
        ]
        for k in np.flatnonzero(~links.neck & (links.rank < TRUNKS_PER_PAIR)).tolist()
    }

    def adds(k: int) -> int:
        new = [streets[d].pieces[[e for e in path if e not in on_trunk[d]]].sum() for d, path in paths[k]]
        return int(links.pieces[k] + sum(new))

    def build(k: int) -> None:
        trunk[k] = True
        for d, path in paths[k]:
            on_trunk[d].update(path)

    spent = int(links.pieces[trunk].sum())
    spanning = _spanning(links)
    for k in spanning:
        if spent + adds(k) <= TRUNK_CAP * budget:
            spent += adds(k)
            build(k)
    left = EXTRA_SHARE * budget
    pending = [k for k in paths if k not in spanning]
    while True:
        affordable = [(int(links.rank[k]), adds(k), k) for k in pending if adds(k) <= left]
        if not affordable:
            break
        _, cost, k = min(affordable)
        left -= cost
        build(k)
        pending.remove(k)
    return Links(links.district, links.junction, links.xy, links.rank, links.cost, trunk)


def _spanning(links: Links) -> list[int]:
    """Kruskal over the districts: the cheapest link of each pair, cheapest first, while it joins two networks."""
    joined = list(range(int(links.district.max(initial=0)) + 1))

    def root(d: int) -> int:
        while joined[d] != d:
            d = joined[d]
        return d

    picked = []
    firsts = np.flatnonzero(~links.neck & (links.rank == 0))
    for k in firsts[np.argsort(links.cost[firsts], kind="stable")].tolist():
        a, b = root(int(links.district[k, 0])), root(int(links.district[k, 1]))
        if a != b:
            joined[max(a, b)] = min(a, b)
            picked.append(k)
    return picked
