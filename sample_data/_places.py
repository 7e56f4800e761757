"""What the generator knows about Batam: the central kecamatan, where each one's network starts, and the tariff zones.

Coordinates are lon/lat read off the kelurahan map; they only need to be right to a few hundred metres.
"""

from __future__ import annotations

from dataclasses import dataclass

from ducting.network.vocab import ZoneClass


@dataclass(frozen=True)
class Centre:
    """A place the duct network grows out from."""

    lon: float
    lat: float
    head_start_m: float = 0.0  # growth cost charged before this centre starts: a later centre ends up smaller


@dataclass(frozen=True)
class District:
    """A kecamatan, its code abbreviation, its share of the network and its street pattern at scale 1."""

    name: str  # as written in the `kecamatan` field of batam_kelurahan.geojson
    abbr: str
    share: float  # of all segments, while its land has room
    block_m: tuple[float, float]  # junction spacing along and across the street grid
    centres: tuple[Centre, ...]


@dataclass(frozen=True)
class ZoneAnchor:
    """A circle whose segments take `zone`, ahead of the main-road and residential defaults."""

    zone: ZoneClass
    lon: float
    lat: float
    radius_m: float


DISTRICTS: tuple[District, ...] = (
    District("Lubuk Baja", "LBJ", 0.14, (200.0, 120.0), (Centre(104.0110, 1.1440),)),  # Nagoya
    District("Batam Kota", "BTK", 0.20, (240.0, 130.0), (Centre(104.0520, 1.1280),)),  # Batam Centre
    District("Batu Ampar", "BTA", 0.09, (240.0, 130.0), (Centre(104.0080, 1.1600),)),  # Jodoh
    District("Bengkong", "BKG", 0.08, (250.0, 140.0), (Centre(104.0300, 1.1530),)),
    District("Sekupang", "SKP", 0.11, (300.0, 150.0), (Centre(103.9750, 1.1120),)),  # Tiban
    District("Batu Aji", "BTJ", 0.07, (300.0, 150.0), (Centre(103.9750, 1.0520),)),
    District("Sagulung", "SGL", 0.09, (300.0, 150.0), (Centre(103.9550, 1.0350),)),
    District(  # Muka Kuning's factories and Tanjung Piayu
        "Sei Beduk", "SBD", 0.12, (330.0, 170.0), (Centre(104.0420, 1.0580), Centre(104.0750, 1.0250))
    ),
    District(  # Batu Besar and the Kabil industrial estate
        "Nongsa", "NGS", 0.10, (360.0, 180.0), (Centre(104.1200, 1.1350), Centre(104.1250, 1.0650))
    ),
)

ZONE_ANCHORS: tuple[ZoneAnchor, ...] = (
    ZoneAnchor(ZoneClass.CBD, 104.0110, 1.1440, 1300.0),  # Nagoya
    ZoneAnchor(ZoneClass.CBD, 104.0520, 1.1280, 1200.0),  # Batam Centre
    ZoneAnchor(ZoneClass.INDUSTRIAL, 104.0020, 1.1680, 1600.0),  # Batu Ampar port
    ZoneAnchor(ZoneClass.INDUSTRIAL, 104.1280, 1.0620, 2500.0),  # Kabil
    ZoneAnchor(ZoneClass.INDUSTRIAL, 104.0380, 1.0560, 2200.0),  # Muka Kuning (Batamindo)
)
