"""Candidate streets: one jittered, gently warped street lattice per district, clipped to its land.

Why the result is a planar graph: in the lattice frame, junctions move less than half a block, so a street can
only meet the streets that share one of its junctions. The warp that bends the streets afterwards is a smooth
map whose displacement has a Lipschitz constant below 0.4, so it is one-to-one and keeps the drawing planar.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import UTM48N, WGS84, transformer
from sample_data._land import district_land
from sample_data._places import DISTRICTS, District

SEGMENT_TARGET_M = 95.0
"""A street between two junctions is cut into pieces of about this length (handholes in between) ..."""
SEGMENT_MAX_M = 135.0
"""... and never longer than this before bending, which stretches a few by some metres."""
MIN_BLOCK_M = 62.0
"""Blocks never shrink below this, however many segments are asked for."""
ARTERIAL_SPACING_M = 1000.0
"""Every so many metres a lattice line is a main road."""
JITTER = 0.08
"""Junction jitter as a share of the shorter block side; planarity needs it below 0.5."""
LOCAL_DROP = 0.15
"""Share of side streets left out, so that blocks merge and T-junctions appear."""
MARGIN_M = 15.0
"""Streets keep this far inside the land, which absorbs the bending added later (a few metres)."""


@dataclass(frozen=True)
class Warp:
    """A smooth displacement field made of a few long sine waves."""

    amplitude_m: np.ndarray  # (c,)
    direction: np.ndarray  # (c, 2) unit vectors of the displacement
    wave: np.ndarray  # (c, 2) wave vectors, radians per metre
    phase: np.ndarray  # (c,)

    @classmethod
    def random(cls, rng: np.random.Generator) -> Warp:
        # Amplitude * |wave| bounds each wave's share of the Lipschitz constant: two long waves at most
        # 50 * 2pi / 2500 ~ 0.13 each and a short one at most 12 * 2pi / 700 ~ 0.11, 0.36 in all.
        angle = rng.uniform(0.0, 2 * np.pi, size=(2, 3))
        wavelength = np.r_[rng.uniform(2500.0, 5000.0, size=2), rng.uniform(700.0, 1200.0)]
        return cls(
            amplitude_m=np.r_[rng.uniform(20.0, 50.0, size=2), rng.uniform(5.0, 12.0)],
            direction=np.column_stack([np.cos(angle[0]), np.sin(angle[0])]),
            wave=np.column_stack([np.cos(angle[1]), np.sin(angle[1])]) * (2 * np.pi / wavelength)[:, None],
            phase=rng.uniform(0.0, 2 * np.pi, size=3),
        )

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        return xy + (np.sin(xy @ self.wave.T + self.phase) * self.amplitude_m) @ self.direction


@dataclass
class DistrictStreets:
    """One district's candidate street graph. Junction indices are local to the district."""

    index: int  # position in DISTRICTS
    block_m: tuple[float, float]
    axes: np.ndarray  # (2, 2) unit vectors of the lattice's u and v directions
    warp: Warp
    straight: np.ndarray  # (n, 2) junctions before the warp, UTM
    xy: np.ndarray  # (n, 2) junctions, UTM
    cell: np.ndarray  # (n, 2) lattice indices (i along u, j along v)
    edges: np.ndarray  # (m, 2) junction pairs
    along_v: np.ndarray  # (m,) the street runs along the lattice's v axis
    arterial: np.ndarray  # (m,) main road
    land: BaseGeometry  # the land shrunk by MARGIN_M, prepared

    @cached_property
    def pieces(self) -> np.ndarray:
        """How many segments each street is cut into."""
        return pieces_for(np.linalg.norm(self.straight[self.edges[:, 1]] - self.straight[self.edges[:, 0]], axis=1))


def pieces_for(length_m: np.ndarray) -> np.ndarray:
    """How many segments a street (or a link) this long is cut into."""
    pieces = np.maximum(np.rint(length_m / SEGMENT_TARGET_M), np.ceil(length_m / SEGMENT_MAX_M))
    return np.maximum(pieces, 1).astype(np.int64)


def _lattice_extent(land: BaseGeometry, origin: np.ndarray, axes: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Lattice index bounds [[i0, j0], [i1, j1]] covering the land, with room for the warp's shift."""
    coords = shapely.get_coordinates(land) - origin
    local = coords @ axes.T
    pad = 2 + np.ceil(150.0 / block)
    return np.vstack([np.floor(local.min(axis=0) / block) - pad, np.ceil(local.max(axis=0) / block) + pad])


def _lattice_edges(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All neighbour pairs of a (ni, nj) lattice indexed i * nj + j, and whether each runs along v."""
    ni, nj = shape
    index = np.arange(ni * nj).reshape(ni, nj)
    along_u = np.column_stack([index[:-1, :].ravel(), index[1:, :].ravel()])
    along_v = np.column_stack([index[:, :-1].ravel(), index[:, 1:].ravel()])
    edges = np.vstack([along_u, along_v])
    return edges, np.r_[np.zeros(len(along_u), bool), np.ones(len(along_v), bool)]


def _arterial(
    cell: np.ndarray, edges: np.ndarray, along_v: np.ndarray, block: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Main roads: every k-th lattice line in each direction, with a random phase."""
    every = np.maximum(2, np.rint(ARTERIAL_SPACING_M / block)).astype(np.int64)
    phase = rng.integers(0, every)
    start = cell[edges[:, 0]]
    # A street along u lies on a line of constant j, and one along v on a line of constant i.
    on_v_line = (start[:, 0] - phase[0]) % every[0] == 0
    on_u_line = (start[:, 1] - phase[1]) % every[1] == 0
    return np.where(along_v, on_v_line, on_u_line)


def _on_land(inner: BaseGeometry, xy: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Streets whose junctions and straight chord lie inside `inner` (a prepared polygon)."""
    inside = shapely.contains_xy(inner, xy[:, 0], xy[:, 1])
    keep = inside[edges[:, 0]] & inside[edges[:, 1]]
    chords = shapely.linestrings(np.stack([xy[edges[keep, 0]], xy[edges[keep, 1]]], axis=1))
    keep[keep] = shapely.contains(inner, chords)
    return keep


def build_district(index: int, district: District, land: BaseGeometry, scale: float, seed: int) -> DistrictStreets:
    """Lay a jittered, warped lattice over one district and keep the streets that lie on its land."""
    rng = np.random.default_rng([seed, index])
    block = np.maximum(np.array(district.block_m) * scale, MIN_BLOCK_M)
    theta = rng.uniform(0.0, np.pi / 2)
    axes = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    warp = Warp.random(rng)
    inner = shapely.buffer(land, -MARGIN_M)
    shapely.prepare(inner)

    origin = np.array(shapely.centroid(land).coords[0])
    (i0, j0), (i1, j1) = _lattice_extent(land, origin, axes, block).astype(np.int64)
    ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
    cell = np.column_stack([ii.ravel(), jj.ravel()])
    local = cell * block + rng.uniform(-JITTER, JITTER, size=cell.shape) * block.min()
    straight = origin + local @ axes
    xy = warp(straight)

    edges, along_v = _lattice_edges(ii.shape)
    arterial = _arterial(cell, edges, along_v, block, rng)
    keep = ((rng.random(len(edges)) >= LOCAL_DROP) | arterial) & _on_land(inner, xy, edges)
    edges, along_v, arterial = edges[keep], along_v[keep], arterial[keep]
    used, edges = np.unique(edges, return_inverse=True)
    return DistrictStreets(
        index=index,
        block_m=(float(block[0]), float(block[1])),
        axes=axes,
        warp=warp,
        straight=straight[used],
        xy=xy[used],
        cell=cell[used],
        edges=edges.reshape(-1, 2),
        along_v=along_v,
        arterial=arterial,
        land=inner,
    )


def build_streets(capacity: int, seed: int) -> list[DistrictStreets]:
    """Candidate streets for every district, at the coarsest scale that still holds `capacity` segments.

    Scale 1 is the realistic street pattern. Bigger benchmark networks shrink the blocks until enough segments
    fit; capacity falls between 1/scale and 1/scale**2, so stepping by the linear ratio never undershoots by much.
    """
    lands = district_land()
    scale = 1.0
    for _ in range(12):
        streets = [build_district(i, d, lands[i], scale, seed) for i, d in enumerate(DISTRICTS)]
        have = sum(int(s.pieces.sum()) for s in streets)
        if have >= capacity:
            return streets
        if scale * np.array([d.block_m for d in DISTRICTS]).max() <= MIN_BLOCK_M:
            break
        scale *= min(0.97, have / capacity)
    raise ValueError(f"Batam's central districts hold at most about {have} segments; {capacity} were asked for")


def lonlat(xy: np.ndarray) -> np.ndarray:
    """UTM 48N metres to lon/lat degrees, row by row."""
    lon, lat = transformer(UTM48N, WGS84).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def metric(lonlat_deg: np.ndarray) -> np.ndarray:
    """Lon/lat degrees to UTM 48N metres, row by row."""
    x, y = transformer(WGS84, UTM48N).transform(lonlat_deg[:, 0], lonlat_deg[:, 1])
    return np.column_stack([x, y])
