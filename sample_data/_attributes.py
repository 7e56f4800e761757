"""Believable attributes: node kinds, lifecycle and dates from the growth order, zones, trenches, depths, ducts."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from ducting.network.vocab import Lifecycle, NodeKind, TrenchType, ZoneClass
from sample_data._layout import JUNCTION, SPUR_END, Layout
from sample_data._places import ZONE_ANCHORS
from sample_data._streets import metric

PREFIX = {
    NodeKind.MANHOLE: "MH",
    NodeKind.HANDHOLE: "HH",
    NodeKind.POLE: "PL",
    NodeKind.CABINET: "CB",
    NodeKind.BUILDING_ENTRY: "BE",
}
SEGMENT_PREFIX = "RS"
# Owners are organisation codes from operators.json: the importer resolves an owner by code or name, and
# "BUMD Batam" is neither, so a sample carrying it would not load.
OWNER = "BUMD"
POLE_OWNER = "PLN"  # the utility owns most poles; the BUMD only runs risers up them
CABINET_EVERY = 70
"""About one street cabinet per this many segments."""
POLE_SHARE = 0.3
"""Share of spurs that end at a pole (a riser to aerial cable) rather than a building entry."""

BUILDING_FROM = 0.93
"""Streets this late in the growth order are under construction ..."""
PLANNED_FROM = 0.97
"""... and these are only planned."""
FIRST_DAY, LAST_BUILT, LAST_DAY = date(2019, 1, 1), date(2025, 9, 30), date(2026, 12, 31)

CARRIERS = frozenset({"HDPE-40/33-7xMD10", "PVC-110-4x32", "PVC-110-3x40"})
"""Specs holding subducts or microducts: only these can keep some for the city's reserve."""
RESERVE_CHANCE = 0.3
SPEC_WEIGHTS = {
    "trunk": {"PVC-110-4x32": 0.4, "HDPE-40/33-7xMD10": 0.6},
    "main": {"PVC-110-4x32": 0.3, "PVC-110-3x40": 0.2, "HDPE-40/33-7xMD10": 0.35, "HDPE-50/42": 0.15},
    "side": {"HDPE-40/33-7xMD10": 0.55, "HDPE-32/26": 0.2, "HDPE-40/33": 0.2, "HDPE-50/42": 0.05},
    "spur": {"HDPE-32/26": 0.6, "HDPE-40/33-7xMD10": 0.4},
}
DUCT_COUNT_WEIGHTS = {  # chance of 1, 2, 3, 4 ducts
    "trunk": (0.0, 0.0, 0.2, 0.8),
    "main": (0.0, 0.0, 0.6, 0.4),
    "cbd": (0.0, 0.5, 0.35, 0.15),
    "side": (0.35, 0.5, 0.15, 0.0),
    "spur": (1.0, 0.0, 0.0, 0.0),
}
TRENCH_WEIGHTS = {
    ZoneClass.CBD: {
        TrenchType.MICRO_TRENCH: 0.3,
        TrenchType.HDD: 0.3,
        TrenchType.OPEN_CUT: 0.25,
        TrenchType.EXISTING: 0.15,  # Nagoya's and Batam Centre's older conduit, taken over
    },
    ZoneClass.COMMERCIAL: {TrenchType.OPEN_CUT: 0.5, TrenchType.HDD: 0.4, TrenchType.EXISTING: 0.1},
    ZoneClass.RESIDENTIAL: {TrenchType.OPEN_CUT: 0.8, TrenchType.MICRO_TRENCH: 0.15, TrenchType.HDD: 0.05},
    ZoneClass.INDUSTRIAL: {TrenchType.OPEN_CUT: 0.7, TrenchType.HDD: 0.3},
}
DEPTH_M = {  # cover by construction method, all within the 0.6-1.5 m the BUMD allows
    TrenchType.OPEN_CUT: (0.8, 1.2),
    TrenchType.HDD: (1.2, 1.5),
    TrenchType.MICRO_TRENCH: (0.6, 0.75),
    TrenchType.EXISTING: (0.6, 1.0),
    TrenchType.BRIDGE: (0.6, 0.6),
}


def _pick(rng: np.random.Generator, weights: dict, size: int) -> np.ndarray:
    """Draw `size` keys of `weights` as strings."""
    keys = np.array([str(k) for k in weights], dtype=object)
    return keys[rng.choice(len(keys), size=size, p=np.array(list(weights.values())))]


def node_kinds(layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Manholes where streets meet or turn and along main roads and trunks, handholes between, cabinets, spur ends.

    A trunk's 110 mm ducts need a chamber one can climb into, so a trunk has no handholes.
    """
    kind = np.full(len(layout.node_xy), str(NodeKind.HANDHOLE), dtype=object)
    junction = layout.node_role == JUNCTION
    chamber = (layout.node_degree >= 3) | ~layout.node_straight | layout.node_arterial
    on_trunk = np.zeros(len(kind), bool)
    on_trunk[layout.seg_nodes[layout.seg_trunk].ravel()] = True
    kind[(junction & (layout.node_degree >= 2) & chamber) | on_trunk] = str(NodeKind.MANHOLE)

    in_line = np.flatnonzero(
        (layout.node_role != SPUR_END) & layout.node_straight & (layout.node_degree == 2) & ~on_trunk
    )
    cabinets = min(len(in_line), round(len(layout.seg_nodes) / CABINET_EVERY))
    kind[rng.choice(in_line, size=cabinets, replace=False)] = str(NodeKind.CABINET)

    spur_end = np.flatnonzero(layout.node_role == SPUR_END)
    pole = rng.random(len(spur_end)) < POLE_SHARE
    kind[spur_end] = np.where(pole, str(NodeKind.POLE), str(NodeKind.BUILDING_ENTRY))
    return kind


def _one_per_street(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique street ids, each one's first segment, and each segment's street: pieces of a street share attributes."""
    return np.unique(layout.seg_street, return_index=True, return_inverse=True)


def segment_status_and_day(layout: Layout, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lifecycle and install day per segment: the earliest streets date from 2019, the last are still planned."""
    streets, _, of_segment = _one_per_street(layout)
    rank = np.zeros(len(streets))
    np.maximum.at(rank, of_segment, layout.seg_rank)
    start, built, end = (np.datetime64(d, "D") for d in (FIRST_DAY, LAST_BUILT, LAST_DAY))
    span = (built - start).astype(np.int64)
    day = start + np.clip(rank / BUILDING_FROM * span + rng.normal(0, 45, len(streets)), 0, span).astype(np.int64)
    status = np.full(len(streets), str(Lifecycle.OPERATIONAL), dtype=object)
    building = (rank >= BUILDING_FROM) & (rank < PLANNED_FROM)
    planned = rank >= PLANNED_FROM
    status[building] = str(Lifecycle.UNDER_CONSTRUCTION)
    status[planned] = str(Lifecycle.PLANNED)
    day[building] = built + rng.integers(1, 183, int(building.sum()))
    day[planned] = built + rng.integers(183, (end - built).astype(np.int64) + 1, int(planned.sum()))
    spur = streets < 0  # a building connection or riser follows its street by a few months
    day[spur] = np.minimum(day[spur] + rng.integers(20, 180, int(spur.sum())), end)
    return status[of_segment], day[of_segment]


def node_status_and_day(layout: Layout, seg_status: np.ndarray, seg_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A node is as old as its first segment and as far along as its most advanced one."""
    progress = [str(Lifecycle.PLANNED), str(Lifecycle.UNDER_CONSTRUCTION), str(Lifecycle.OPERATIONAL)]
    level = pd.Categorical(seg_status, categories=progress).codes.astype(np.int64)
    ends = layout.seg_nodes.ravel()
    best = np.zeros(len(layout.node_xy), np.int64)
    np.maximum.at(best, ends, np.repeat(level, 2))
    day = np.full(len(layout.node_xy), np.datetime64(LAST_DAY, "D"))
    np.minimum.at(day, ends, np.repeat(seg_day, 2))
    return np.array(progress, dtype=object)[best], day


def zone_classes(layout: Layout) -> np.ndarray:
    """CBD and industrial anchors first, then commercial on main roads, residential elsewhere.

    Trunk routes are commercial everywhere but in a CBD: they run along the main roads between districts.
    """
    middle = layout.node_xy[layout.seg_nodes].mean(axis=1)
    main = layout.seg_arterial | layout.seg_trunk
    zone = np.where(main, str(ZoneClass.COMMERCIAL), str(ZoneClass.RESIDENTIAL)).astype(object)
    decided = np.zeros(len(zone), bool)
    for anchor in ZONE_ANCHORS:
        centre = metric(np.array([[anchor.lon, anchor.lat]]))[0]
        applies = ~decided & (~layout.seg_trunk | (anchor.zone == ZoneClass.CBD))
        near = applies & (np.linalg.norm(middle - centre, axis=1) <= anchor.radius_m)
        zone[near] = str(anchor.zone)
        decided |= near
    return zone


def trenches_and_depths(zones: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Construction method by zone and a cover depth that suits the method."""
    trench = np.empty(len(zones), dtype=object)
    for zone, weights in TRENCH_WEIGHTS.items():
        here = zones == str(zone)
        trench[here] = _pick(rng, weights, int(here.sum()))
    low = np.array([DEPTH_M[TrenchType(t)][0] for t in trench])
    high = np.array([DEPTH_M[TrenchType(t)][1] for t in trench])
    return trench, np.round(rng.uniform(low, high), 2)


def duct_lists(layout: Layout, zones: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ducts per segment as JSON, in position order; all pieces of one street carry the same ducts."""
    streets, first, of_segment = _one_per_street(layout)
    kind = np.where(layout.seg_arterial[first], "main", np.where(zones[first] == str(ZoneClass.CBD), "cbd", "side"))
    kind = kind.astype(object)
    kind[layout.seg_trunk[first]] = "trunk"
    kind[streets < 0] = "spur"

    text = np.empty(len(streets), dtype=object)
    for k in ("trunk", "main", "cbd", "side", "spur"):
        here = np.flatnonzero(kind == k)
        count = rng.choice(4, size=len(here), p=DUCT_COUNT_WEIGHTS[k]) + 1
        specs = _pick(rng, SPEC_WEIGHTS["side" if k == "cbd" else k], int(count.sum()))
        reserve = rng.random(len(specs)) < RESERVE_CHANCE
        kept = [int(r and s in CARRIERS) for s, r in zip(specs, reserve)]
        at = np.cumsum(count) - count
        for i, n, a in zip(here, count, at):
            ducts = [{"spec": s, "reserve": r} for s, r in zip(specs[a : a + n], kept[a : a + n])]
            text[i] = json.dumps(ducts, separators=(",", ":"))
    return text[of_segment]


def serial_codes(prefix: np.ndarray, district: np.ndarray, order: np.ndarray) -> np.ndarray:
    """`PREFIX-DST-00001` codes, numbered in `order` within each prefix and district."""
    frame = pd.DataFrame({"prefix": prefix, "district": district})
    frame = frame.iloc[np.argsort(order, kind="stable")]
    frame["serial"] = frame.groupby(["prefix", "district"], sort=False).cumcount() + 1
    frame = frame.sort_index()
    return (frame["prefix"] + "-" + frame["district"] + "-" + frame["serial"].map("{:05d}".format)).to_numpy()
