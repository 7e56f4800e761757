"""From chosen streets to nodes and segments in UTM: handholes along each street, short spurs into the blocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from sample_data._growth import Growth
from sample_data._land import district_at
from sample_data._links import CLEARANCE_M, Links
from sample_data._streets import DistrictStreets, pieces_for

Warp = Callable[[np.ndarray], np.ndarray]

JUNCTION, INNER, SPUR_END = 0, 1, 2
"""Node roles: street junction, point along a street, end of a spur into a block."""
INNER_SLIDE = 0.08
"""Handholes slide along their street by up to this share of a piece, so pieces differ in length."""
BEND_M = 1.5
"""Vertices inside a segment stray this far off the street line: hand-drawn, not ruled."""
VERTEX_WEIGHTS = (0.2, 0.4, 0.3, 0.1)
"""Chance of 0, 1, 2 or 3 vertices inside a segment."""
SPUR_REACH = (0.18, 0.30)
"""Spur length as a share of the shorter block side: well inside the block, which no street enters."""


@dataclass
class Layout:
    """Nodes and segments in UTM. A segment's vertices are its start node, `bends`, then its end node."""

    node_xy: np.ndarray  # (n, 2)
    node_role: np.ndarray  # (n,) JUNCTION, INNER or SPUR_END
    node_district: np.ndarray  # (n,)
    node_degree: np.ndarray  # (n,) streets meeting at a junction (spurs not counted)
    node_straight: np.ndarray  # (n,) exactly two streets meet, in line
    node_arterial: np.ndarray  # (n,) on a main road
    seg_nodes: np.ndarray  # (s, 2) start, end
    seg_rank: np.ndarray  # (s,) growth position of the segment's street, 0 first .. 1 last
    seg_arterial: np.ndarray  # (s,)
    seg_trunk: np.ndarray  # (s,) on the backbone of a district or a trunk link between two
    seg_spur: np.ndarray  # (s,)
    seg_district: np.ndarray  # (s,)
    seg_street: np.ndarray  # (s,) candidate street the segment lies on; a spur gets its own negative id
    bend_xy: np.ndarray  # (b, 2) inner vertices of all segments
    bend_seg: np.ndarray  # (b,) owning segment, non-decreasing


@dataclass
class _Part:
    """One district's share of the layout, indices local to it. Junctions come first among the nodes."""

    junctions: np.ndarray  # the district's junction ids, in node order
    node_xy: np.ndarray
    node_role: np.ndarray
    node_degree: np.ndarray
    node_straight: np.ndarray
    node_arterial: np.ndarray
    seg_nodes: np.ndarray
    seg_rank: np.ndarray
    seg_arterial: np.ndarray
    seg_trunk: np.ndarray
    seg_street: np.ndarray
    bend_xy: np.ndarray
    bend_seg: np.ndarray


def _junction_facts(edges: np.ndarray, along_v: np.ndarray, arterial: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Degree, straight-through and main-road flags per junction."""
    ends = edges.ravel()
    degree = np.bincount(ends, minlength=n)
    v_count = np.bincount(ends, weights=np.repeat(along_v, 2), minlength=n)
    straight = (degree == 2) & ((v_count == 0) | (v_count == 2))
    on_arterial = np.bincount(ends, weights=np.repeat(arterial, 2), minlength=n) > 0
    return degree, straight, on_arterial


def _inner_nodes(
    k: np.ndarray, a: np.ndarray, b: np.ndarray, warp: Warp, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Handholes cutting each street a->b into k pieces: their street, position t along it (0..1) and place."""
    first_inner = np.cumsum(k - 1) - (k - 1)
    inner_edge = np.repeat(np.arange(len(k)), k - 1)
    inner_pos = np.arange(len(inner_edge)) - first_inner[inner_edge] + 1
    inner_t = (inner_pos + rng.uniform(-INNER_SLIDE, INNER_SLIDE, len(inner_edge))) / k[inner_edge]
    return inner_edge, inner_t, warp(a[inner_edge] + inner_t[:, None] * (b - a)[inner_edge])


def _pieces(k: np.ndarray, edges: np.ndarray, inner_t: np.ndarray, nj: int) -> tuple[np.ndarray, ...]:
    """Each piece's street, start and end node (junctions 0..nj-1, then inner nodes) and its span t0..t1."""
    first_inner = np.cumsum(k - 1) - (k - 1)
    seg_edge = np.repeat(np.arange(len(k)), k)
    pos = np.arange(len(seg_edge)) - np.repeat(np.cumsum(k) - k, k)
    first, last = pos == 0, pos == k[seg_edge] - 1
    inner_index = first_inner[seg_edge] + pos - 1  # the inner node a piece starts at, where it has one
    start = np.where(first, edges[seg_edge, 0], nj + inner_index)
    end = np.where(last, edges[seg_edge, 1], nj + inner_index + 1)
    padded = np.r_[inner_t, np.nan]  # index -1 stands for "no inner node here"
    t0 = np.where(first, 0.0, padded[np.where(first, -1, inner_index)])
    t1 = np.where(last, 1.0, padded[np.where(last, -1, inner_index + 1)])
    return seg_edge, start, end, t0, t1


def _bends(
    seg_edge: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    warp: Warp,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """0-3 vertices inside each piece, evenly along it, a little off the line, then warped with the streets."""
    bends = rng.choice(len(VERTEX_WEIGHTS), size=len(seg_edge), p=VERTEX_WEIGHTS)
    bend_seg = np.repeat(np.arange(len(seg_edge)), bends)
    q = np.arange(len(bend_seg)) - np.repeat(np.cumsum(bends) - bends, bends) + 1
    t = t0[bend_seg] + (t1 - t0)[bend_seg] * q / (bends[bend_seg] + 1)
    e = seg_edge[bend_seg]
    direction = (b - a)[e] / np.linalg.norm((b - a)[e], axis=1)[:, None]
    normal = direction @ np.array([[0.0, 1.0], [-1.0, 0.0]])
    off = rng.uniform(-BEND_M, BEND_M, len(e))[:, None] * normal
    return warp(a[e] + t[:, None] * (b - a)[e] + off), bend_seg


def _district_part(
    streets: DistrictStreets,
    local: np.ndarray,
    street_id: np.ndarray,
    rank: np.ndarray,
    reached: np.ndarray,
    trunk: np.ndarray,
    rng: np.random.Generator,
) -> _Part:
    """Cut the chosen streets of one district into segments; `reached` orients them outward from the centre."""
    edges = streets.edges[local]
    edges = np.where((reached[edges[:, 1]] < reached[edges[:, 0]])[:, None], edges[:, ::-1], edges)
    junctions, edges = np.unique(edges, return_inverse=True)
    edges = edges.reshape(-1, 2)
    nj = len(junctions)
    a, b = streets.straight[junctions][edges[:, 0]], streets.straight[junctions][edges[:, 1]]
    k = streets.pieces[local]
    arterial = streets.arterial[local]

    inner_edge, inner_t, inner_xy = _inner_nodes(k, a, b, streets.warp, rng)
    seg_edge, start, end, t0, t1 = _pieces(k, edges, inner_t, nj)
    bend_xy, bend_seg = _bends(seg_edge, t0, t1, a, b, streets.warp, rng)
    degree, straight, on_arterial = _junction_facts(edges, streets.along_v[local], arterial, nj)
    n_inner = len(inner_xy)
    return _Part(
        junctions=junctions,
        node_xy=np.vstack([streets.xy[junctions], inner_xy]),
        node_role=np.r_[np.full(nj, JUNCTION), np.full(n_inner, INNER)],
        node_degree=np.r_[degree, np.full(n_inner, 2)],
        node_straight=np.r_[straight, np.ones(n_inner, bool)],
        node_arterial=np.r_[on_arterial, arterial[inner_edge]],
        seg_nodes=np.column_stack([start, end]),
        seg_rank=rank[seg_edge],
        seg_arterial=arterial[seg_edge],
        seg_trunk=trunk[seg_edge],
        seg_street=street_id[seg_edge],
        bend_xy=bend_xy,
        bend_seg=bend_seg,
    )


def _spur_candidates(
    streets: DistrictStreets, junctions: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Possible spurs as (junction position in `junctions`, end point): at most one per lattice cell."""
    side = rng.choice(np.array([-1, 1]), size=(len(junctions), 2))
    cell = streets.cell[junctions] + (side - 1) // 2  # the cell entered, named by its lower corner
    order = rng.permutation(len(junctions))
    _, first = np.unique(cell[order], axis=0, return_index=True)
    pick = order[np.sort(first)]

    block = np.array(streets.block_m)
    toward_centre = (side[pick] * block) @ streets.axes
    toward_centre /= np.linalg.norm(toward_centre, axis=1)[:, None]
    reach = rng.uniform(*SPUR_REACH, len(pick)) * block.min()
    end = streets.warp(streets.straight[junctions[pick]] + reach[:, None] * toward_centre)
    lines = shapely.linestrings(np.stack([streets.xy[junctions[pick]], end], axis=1))
    inside = shapely.contains(streets.land, lines)
    return pick[inside], end[inside]


def _with_spurs(part: _Part, parent: np.ndarray, end_xy: np.ndarray) -> _Part:
    """Add spur segments from `parent` nodes to new end nodes; a spur is as old as its parent's oldest street."""
    parent_rank = np.full(len(part.node_xy), np.inf)
    np.minimum.at(parent_rank, part.seg_nodes.ravel(), np.repeat(part.seg_rank, 2))
    n, m = len(part.node_xy), len(parent)
    return _Part(
        junctions=part.junctions,
        node_xy=np.vstack([part.node_xy, end_xy]),
        node_role=np.r_[part.node_role, np.full(m, SPUR_END)],
        node_degree=np.r_[part.node_degree, np.zeros(m, np.int64)],
        node_straight=np.r_[part.node_straight, np.zeros(m, bool)],
        node_arterial=np.r_[part.node_arterial, np.zeros(m, bool)],
        seg_nodes=np.vstack([part.seg_nodes, np.column_stack([parent, n + np.arange(m)])]),
        seg_rank=np.r_[part.seg_rank, parent_rank[parent]],
        seg_arterial=np.r_[part.seg_arterial, np.zeros(m, bool)],
        seg_trunk=np.r_[part.seg_trunk, np.zeros(m, bool)],
        seg_street=np.r_[part.seg_street, -1 - (n + np.arange(m))],  # -1 - the spur end's node index
        bend_xy=part.bend_xy,
        bend_seg=part.bend_seg,
    )


def lay_out(
    streets: list[DistrictStreets],
    chosen: list[np.ndarray],
    growth: list[Growth],
    links: Links,
    spurs: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> Layout:
    """Segments for each district's `chosen` streets (in growth order), the `links` between them, and `spurs` spurs.

    Every link must end at junctions of chosen streets.
    """
    rng = np.random.default_rng([seed, len(streets) + 1])
    edge_offsets = np.cumsum([0] + [len(s.edges) for s in streets])
    link_lines = shapely.linestrings(links.xy) if len(links) else np.zeros(0, object)
    link_tree = shapely.STRtree(link_lines)

    parts, candidates = [], []
    for s, picked, g, e0 in zip(streets, chosen, growth, edge_offsets):
        rank = np.arange(len(picked)) / max(len(picked) - 1, 1)
        part = _district_part(s, picked, e0 + picked, rank, g.reached, g.trunk[picked], rng)
        parts.append(part)
        pick, end = _spur_candidates(s, part.junctions, rng)
        spur_lines = shapely.linestrings(np.stack([s.xy[part.junctions[pick]], end], axis=1))
        near_link, _ = link_tree.query(spur_lines, predicate="dwithin", distance=CLEARANCE_M)
        clear = ~np.isin(np.arange(len(pick)), near_link)
        candidates.append((pick[clear], end[clear]))
        if progress:
            progress(len(part.seg_nodes))

    priority = [rng.random(len(c[0])) for c in candidates]
    everything = np.sort(np.concatenate(priority))
    cut = everything[min(spurs, len(everything)) - 1] if spurs and len(everything) else -np.inf
    parts = [_with_spurs(p, c[0][w <= cut], c[1][w <= cut]) for p, c, w in zip(parts, candidates, priority)]
    if progress:
        progress(sum(int((w <= cut).sum()) for w in priority))
    layout = _concatenate(parts, [s.index for s in streets])

    node_offsets = np.cumsum([0] + [len(p.node_xy) for p in parts])
    ends = np.empty(links.junction.shape, np.int64)
    for side in (0, 1):
        for d, part in enumerate(parts):
            mine = links.district[:, side] == d
            ends[mine, side] = node_offsets[d] + np.searchsorted(part.junctions, links.junction[mine, side])
    layout = _with_links(layout, links.xy, ends, np.random.default_rng([seed, len(streets) + 3]))
    if progress:
        progress(int(links.pieces.sum()))
    return layout


def _with_links(layout: Layout, xy: np.ndarray, ends: np.ndarray, rng: np.random.Generator) -> Layout:
    """Links cut like streets, between the junction nodes `ends` (k, 2). They are trunk, so their ends are manholes.

    A link runs from its older end and is as young as its younger end's first segment; its pieces take the
    district of their midpoints.
    """
    first_rank = np.full(len(layout.node_xy), np.inf)
    np.minimum.at(first_rank, layout.seg_nodes.ravel(), np.repeat(layout.seg_rank, 2))
    flip = first_rank[ends[:, 1]] < first_rank[ends[:, 0]]
    ends = np.where(flip[:, None], ends[:, ::-1], ends)
    xy = np.where(flip[:, None, None], xy[:, ::-1], xy)
    a, b = xy[:, 0], xy[:, 1]
    k = pieces_for(np.linalg.norm(b - a, axis=1))

    local = np.arange(2 * len(k)).reshape(-1, 2)  # the ends are 0 .. 2k-1 here, inner nodes follow
    _inner_link, inner_t, inner_xy = _inner_nodes(k, a, b, _unwarped, rng)
    seg_link, start, end, t0, t1 = _pieces(k, local, inner_t, 2 * len(k))
    bend_xy, bend_seg = _bends(seg_link, t0, t1, a, b, _unwarped, rng)
    n, s = len(layout.node_xy), len(layout.seg_nodes)
    node_of = np.r_[ends.ravel(), n + np.arange(len(inner_xy))]
    seg_nodes = np.column_stack([node_of[start], node_of[end]])
    node_xy = np.vstack([layout.node_xy, inner_xy])

    degree, through, arterial = layout.node_degree.copy(), layout.node_straight.copy(), layout.node_arterial.copy()
    np.add.at(degree, ends.ravel(), 1)
    through[ends.ravel()] = False
    arterial[ends.ravel()] = True
    m, i = len(seg_link), len(inner_xy)
    return Layout(
        node_xy=node_xy,
        node_role=np.r_[layout.node_role, np.full(i, INNER)],
        node_district=np.r_[layout.node_district, district_at(inner_xy)],
        node_degree=np.r_[degree, np.full(i, 2)],
        node_straight=np.r_[through, np.ones(i, bool)],
        node_arterial=np.r_[arterial, np.ones(i, bool)],
        seg_nodes=np.vstack([layout.seg_nodes, seg_nodes]),
        seg_rank=np.r_[layout.seg_rank, first_rank[ends].max(axis=1)[seg_link]],
        seg_arterial=np.r_[layout.seg_arterial, np.ones(m, bool)],
        seg_trunk=np.r_[layout.seg_trunk, np.ones(m, bool)],
        seg_spur=np.r_[layout.seg_spur, np.zeros(m, bool)],
        seg_district=np.r_[layout.seg_district, district_at(node_xy[seg_nodes].mean(axis=1))],
        seg_street=np.r_[layout.seg_street, layout.seg_street.max(initial=-1) + 1 + seg_link],
        bend_xy=np.vstack([layout.bend_xy, bend_xy]),
        bend_seg=np.r_[layout.bend_seg, s + bend_seg],
    )


def _unwarped(xy: np.ndarray) -> np.ndarray:
    """Links are straight in UTM: no district's warp bends them."""
    return xy


def _concatenate(parts: list[_Part], districts: list[int]) -> Layout:
    """Join district parts, shifting node and segment indices."""
    node_offsets = np.cumsum([0] + [len(p.node_xy) for p in parts])
    seg_offsets = np.cumsum([0] + [len(p.seg_nodes) for p in parts])
    node_role = np.concatenate([p.node_role for p in parts])
    seg_nodes = np.vstack([p.seg_nodes + off for p, off in zip(parts, node_offsets)])
    return Layout(
        node_xy=np.vstack([p.node_xy for p in parts]),
        node_role=node_role,
        node_district=np.concatenate([np.full(len(p.node_xy), d) for p, d in zip(parts, districts)]),
        node_degree=np.concatenate([p.node_degree for p in parts]),
        node_straight=np.concatenate([p.node_straight for p in parts]),
        node_arterial=np.concatenate([p.node_arterial for p in parts]),
        seg_nodes=seg_nodes,
        seg_rank=np.concatenate([p.seg_rank for p in parts]),
        seg_arterial=np.concatenate([p.seg_arterial for p in parts]),
        seg_trunk=np.concatenate([p.seg_trunk for p in parts]),
        seg_spur=node_role[seg_nodes[:, 1]] == SPUR_END,
        seg_district=np.concatenate([np.full(len(p.seg_nodes), d) for p, d in zip(parts, districts)]),
        seg_street=np.concatenate([_shift_spur_ids(p.seg_street, off) for p, off in zip(parts, node_offsets)]),
        bend_xy=np.vstack([p.bend_xy for p in parts]),
        bend_seg=np.concatenate([p.bend_seg + off for p, off in zip(parts, seg_offsets)]),
    )


def _shift_spur_ids(street: np.ndarray, node_offset: int) -> np.ndarray:
    """Spur ids name their end node, so they shift with the node indices."""
    return np.where(street < 0, street - node_offset, street)


def polylines(node_xy: np.ndarray, seg_nodes: np.ndarray, bend_xy: np.ndarray, bend_seg: np.ndarray) -> np.ndarray:
    """LineStrings whose first and last coordinates are copied from `node_xy`, so they match the nodes exactly."""
    count = np.bincount(bend_seg, minlength=len(seg_nodes)) + 2
    first = np.cumsum(count) - count
    coords = np.empty((int(count.sum()), 2))
    coords[first] = node_xy[seg_nodes[:, 0]]
    coords[first + count - 1] = node_xy[seg_nodes[:, 1]]
    within = np.arange(len(bend_seg)) - (np.cumsum(count - 2) - (count - 2))[bend_seg]
    coords[first[bend_seg] + 1 + within] = bend_xy
    return shapely.linestrings(coords, indices=np.repeat(np.arange(len(seg_nodes)), count))
