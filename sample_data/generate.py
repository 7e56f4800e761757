"""A seeded, believable duct network for Batam's central districts, drawn inside the real kelurahan boundaries.

There is no road layer for Batam here, so each district gets a street lattice of its own (turned, jittered,
gently bent) clipped to its land on the main island. Trunk links join the lattices across district borders, so
the city is one network. It grows out from the district centres, trunks and main roads first, until it holds the
requested number of segments. See sample_data/README.md.

    python -m sample_data.generate --out sample_data/batam_network.gpkg
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from ducting.network.vocab import NodeKind
from gis.crs import UTM48N, WGS84
from sample_data import _attributes as attrs
from sample_data._growth import Growth, components, grow, share_budget, take, with_trunks
from sample_data._layout import Layout, lay_out, polylines
from sample_data._links import LinkFinder, Links, plan_trunks
from sample_data._places import DISTRICTS
from sample_data._streets import DistrictStreets, build_streets, lonlat

DEFAULT_SEGMENTS = 2200
"""The committed sample: about 200 km of route."""
SPUR_SHARE = 0.02
"""Share of segments that are short spurs to a building entry or a pole."""
HEADROOM = 1.08
"""Candidate streets to build per segment wanted, so that growth stops before the last slivers of land."""

NODE_COLUMNS = ["code", "kind", "status", "owner", "install_date", "geometry"]
SEGMENT_COLUMNS = [
    "code",
    "start_node",
    "end_node",
    "status",
    "trench_type",
    "depth_m",
    "zone_class",
    "ducts",
    "geometry",
]


@dataclass
class Network:
    """A generated network; both frames are EPSG:4326."""

    nodes: gpd.GeoDataFrame
    segments: gpd.GeoDataFrame


def generate_network(
    *,
    target_segments: int | None = None,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
) -> Network:
    """Generate the sample network, or one of about `target_segments` segments (within 3 %) for benchmarks.

    The same seed and target give the same network. `progress(done, total)` counts segments laid out.
    """
    target = DEFAULT_SEGMENTS if target_segments is None else int(target_segments)
    if target < 1:
        raise ValueError(f"target_segments must be positive, got {target}")
    spurs = round(target * SPUR_SHARE)
    budget = target - spurs

    streets = build_streets(math.ceil(budget * HEADROOM), seed)
    finder = LinkFinder(streets)
    necks = finder.necks()
    growth = [grow(s, seed, necks.necks_of(s.index)) for s in streets]
    links = plan_trunks(necks + finder.across(growth, necks), growth, streets, budget)
    growth = [with_trunks(g, links.gates_of(s.index)) for s, g in zip(streets, growth)]
    chosen, laid = _choose(streets, growth, links, budget)

    done = 0

    def counted(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(min(done, target), target)

    layout = lay_out(streets, chosen, growth, links.subset(laid), spurs, seed, progress=counted)
    network = _frames(layout, np.random.default_rng([seed, len(DISTRICTS) + 2]))
    if progress:
        progress(len(network.segments), len(network.segments))
    return network


def _choose(
    streets: list[DistrictStreets], growth: list[Growth], links: Links, budget: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each district's streets, and which links are laid between them, for about `budget` segments in all.

    Trunk streets come first in every district's growth order, so each district's budget starts with them and
    the rest is shared out by weight; in a network too small to hold them all, everything is shared by weight.
    A link is laid when both its ends are on chosen streets. The trunk links are set aside at first; a second
    pass trims the streets by what the links actually laid take.
    """
    trunk = np.array([s.pieces[g.trunk].sum() for s, g in zip(streets, growth)])
    weights = np.array([d.share for d in DISTRICTS])
    pieces = links.pieces
    reserved = int(pieces[links.trunk].sum())
    if trunk.sum() + reserved > budget:
        trunk[:] = 0
    capacity = np.array([s.pieces.sum() for s in streets]) - trunk
    for _ in range(2):
        budgets = trunk + share_budget(budget - reserved - int(trunk.sum()), weights, capacity)
        chosen = [take(g.order, s.pieces, b) for s, g, b in zip(streets, growth, budgets)]
        laid = links.laid([np.unique(s.edges[c]) for s, c in zip(streets, chosen)])
        reserved = int(pieces[laid].sum())
    return chosen, laid


def _frames(layout: Layout, rng: np.random.Generator) -> Network:
    """Attributes and codes for a layout, as two GeoDataFrames."""
    abbr = np.array([d.abbr for d in DISTRICTS], dtype=object)
    kind = attrs.node_kinds(layout, rng)
    seg_status, seg_day = attrs.segment_status_and_day(layout, rng)
    node_status, node_day = attrs.node_status_and_day(layout, seg_status, seg_day)
    zone = attrs.zone_classes(layout)
    trench, depth = attrs.trenches_and_depths(zone, rng)
    ducts = attrs.duct_lists(layout, zone, rng)

    node_prefix = np.array([attrs.PREFIX[NodeKind(k)] for k in kind], dtype=object)
    node_code = attrs.serial_codes(node_prefix, abbr[layout.node_district], node_day.astype(np.int64))
    seg_prefix = np.full(len(layout.seg_nodes), attrs.SEGMENT_PREFIX, dtype=object)
    seg_code = attrs.serial_codes(seg_prefix, abbr[layout.seg_district], layout.seg_rank + layout.seg_spur)

    node_lonlat = lonlat(layout.node_xy)
    nodes = gpd.GeoDataFrame(
        {
            "code": node_code,
            "kind": kind,
            "status": node_status,
            "owner": np.where(kind == str(NodeKind.POLE), attrs.POLE_OWNER, attrs.OWNER),
            "install_date": node_day.astype(str),
        },
        geometry=shapely.points(node_lonlat),
        crs=WGS84,
    )
    lines = polylines(node_lonlat, layout.seg_nodes, lonlat(layout.bend_xy), layout.bend_seg)
    segments = gpd.GeoDataFrame(
        {
            "code": seg_code,
            "start_node": node_code[layout.seg_nodes[:, 0]],
            "end_node": node_code[layout.seg_nodes[:, 1]],
            "status": seg_status,
            "trench_type": trench,
            "depth_m": depth,
            "zone_class": zone,
            "ducts": ducts,
        },
        geometry=lines,
        crs=WGS84,
    )
    return Network(nodes=_sorted(nodes), segments=_sorted(segments))


def _sorted(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows in code order, with a fresh index: diffs of the committed file stay readable."""
    return frame.sort_values("code", kind="stable").reset_index(drop=True)


def write_gpkg(network: Network, path: str | Path) -> None:
    """Write layers "nodes" and "segments" to a new GeoPackage, replacing any file at `path`."""
    path = Path(path)
    path.unlink(missing_ok=True)
    network.nodes[NODE_COLUMNS].to_file(path, layer="nodes", driver="GPKG", engine="pyogrio")
    network.segments[SEGMENT_COLUMNS].to_file(path, layer="segments", driver="GPKG", engine="pyogrio")


def route_km(network: Network) -> float:
    """Total segment length in UTM kilometres."""
    return float(network.segments.to_crs(UTM48N).length.sum() / 1000)


def _component_labels(network: Network) -> np.ndarray:
    """Connected-piece label of each node, in node order."""
    codes = network.nodes["code"].to_numpy()
    index = {code: i for i, code in enumerate(codes)}
    edges = np.array(
        [[index[a], index[b]] for a, b in zip(network.segments["start_node"], network.segments["end_node"])],
        dtype=np.int64,
    ).reshape(-1, 2)
    return components(len(codes), edges)


def connected_share(network: Network) -> float:
    """The share of all nodes in the network's largest connected piece."""
    label = _component_labels(network)
    return float(np.bincount(label).max() / len(label))


def largest_component_share(network: Network) -> dict[str, float]:
    """Per district abbreviation: the share of its nodes in its largest connected piece of network."""
    label = _component_labels(network)
    district = np.array([code.split("-")[1] for code in network.nodes["code"]])
    shares = {}
    for abbr in [d.abbr for d in DISTRICTS]:
        mine = label[district == abbr]
        if len(mine):
            shares[abbr] = float(np.bincount(np.unique(mine, return_inverse=True)[1]).max() / len(mine))
    return shares


def summary(network: Network, seconds: float) -> str:
    """A few lines for the terminal."""
    kinds = Counter(network.nodes["kind"])
    shares = largest_component_share(network)
    segments = network.segments
    across = int((segments["start_node"].str[3:6] != segments["end_node"].str[3:6]).sum())
    lines = [
        f"segments: {len(segments)}   route: {route_km(network):.1f} km   nodes: {len(network.nodes)}",
        "nodes by kind: " + ", ".join(f"{k}={kinds.get(str(k), 0)}" for k in NodeKind),
        f"connected: {connected_share(network):.2%} of nodes in the largest piece; {across} segments cross a border",
        "largest component share: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()),
        f"generated in {seconds:.1f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_data.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=None, help="segment count (default: the committed sample)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, required=True, help="GeoPackage to write")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    network = generate_network(target_segments=args.segments, seed=args.seed)
    seconds = time.perf_counter() - started
    write_gpkg(network, args.out)
    print(summary(network, seconds))
    print(f"wrote {args.out} in {time.perf_counter() - started - seconds:.1f} s")


if __name__ == "__main__":
    main()
