"""gis.tiles: envelopes and lookups against known Web Mercator values."""

from __future__ import annotations

import pytest

from gis.tiles import ORIGIN_M, Tile, TileError, tile_at, tiles_covering


def test_zoom_zero_is_the_whole_square():
    assert Tile(0, 0, 0).bounds_3857() == pytest.approx((-ORIGIN_M, -ORIGIN_M, ORIGIN_M, ORIGIN_M))


def test_batam_point_lies_inside_its_tile_at_every_zoom():
    lon, lat = 104.0305, 1.1301  # Nagoya, Lubuk Baja
    for z in range(19):
        w, s, e, n = tile_at(lon, lat, z).bounds_lonlat(buffer=0)
        assert w <= lon < e and s <= lat < n


def test_buffered_envelope_grows_by_the_buffer_share():
    t = tile_at(104.03, 1.13, 14)
    w0, _s0, e0, _n0 = t.bounds_lonlat(buffer=0)
    w, _s, e, _n = t.bounds_lonlat(buffer=64)
    assert (e - w) == pytest.approx((e0 - w0) * (1 + 2 * 64 / 4096))


def test_covering_tiles_of_a_box():
    tiles = tiles_covering((104.0, 1.1, 104.05, 1.15), 14)
    assert len({t.x for t in tiles}) * len({t.y for t in tiles}) == len(tiles) >= 4


@pytest.mark.parametrize("z,x,y", [(-1, 0, 0), (3, 8, 0), (3, 0, -1), (25, 0, 0)])
def test_impossible_tiles_are_refused(z, x, y):
    with pytest.raises(TileError):
        Tile(z, x, y)
