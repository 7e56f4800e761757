"""The network's vocabulary: one enum per concept, shared by models, schemas, imports and the UI."""

from __future__ import annotations

from enum import StrEnum


class NodeKind(StrEnum):
    MANHOLE = "manhole"
    HANDHOLE = "handhole"
    POLE = "pole"
    CABINET = "cabinet"
    BUILDING_ENTRY = "building_entry"


class Lifecycle(StrEnum):
    """Open Fibre Data Standard nodeStatus / spanStatus codelist (closed), used verbatim."""

    PROPOSED = "proposed"
    PLANNED = "planned"
    UNDER_CONSTRUCTION = "underConstruction"
    OPERATIONAL = "operational"
    INACTIVE = "inactive"
    DECOMMISSIONED = "decommissioned"


class TrenchType(StrEnum):
    OPEN_CUT = "open_cut"
    HDD = "hdd"  # horizontal directional drilling, under roads and drains
    MICRO_TRENCH = "micro_trench"
    BRIDGE = "bridge"  # attached to a bridge or culvert
    EXISTING = "existing"  # legacy conduit taken over by the BUMD


class ZoneClass(StrEnum):
    """Tariff zone of a route segment."""

    CBD = "cbd"
    COMMERCIAL = "commercial"
    RESIDENTIAL = "residential"
    INDUSTRIAL = "industrial"


class SizeClass(StrEnum):
    """What a lease rents: the product key of tariffs and the minimum size of a capacity request."""

    MICRODUCT = "microduct"
    SUBDUCT_32_26 = "subduct_32_26"
    SUBDUCT_40_33 = "subduct_40_33"
    WHOLE_DUCT = "whole_duct"

    @property
    def rank(self) -> int:
        return list(SizeClass).index(self)


class SpecKind(StrEnum):
    CARRIER = "carrier"  # holds subducts or microducts, is not leased itself
    DUCT = "duct"  # a plain duct, leased whole as its single bore
    MICRODUCT = "microduct"


NODE_CODE_PREFIX: dict[NodeKind, str] = {
    NodeKind.MANHOLE: "MH",
    NodeKind.HANDHOLE: "HH",
    NodeKind.POLE: "PL",
    NodeKind.CABINET: "CB",
    NodeKind.BUILDING_ENTRY: "BE",
}
SEGMENT_CODE_PREFIX = "RS"

KECAMATAN_ABBREVIATION: dict[str, str] = {
    "21.71.01": "BLP",  # Belakang Padang
    "21.71.02": "BTA",  # Batu Ampar
    "21.71.03": "SKP",  # Sekupang
    "21.71.04": "NGS",  # Nongsa
    "21.71.05": "BLG",  # Bulang
    "21.71.06": "LBJ",  # Lubuk Baja
    "21.71.07": "SBD",  # Sei Beduk
    "21.71.08": "GLG",  # Galang
    "21.71.09": "BKG",  # Bengkong
    "21.71.10": "BTK",  # Batam Kota
    "21.71.11": "SGL",  # Sagulung
    "21.71.12": "BTJ",  # Batu Aji
}
