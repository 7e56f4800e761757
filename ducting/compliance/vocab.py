"""Compliance vocabulary: one enum per concept, shared by models, schemas, rules, letters and the UI."""

from __future__ import annotations

from enum import StrEnum


class RuleCode(StrEnum):
    LOW_CLEARANCE_ROAD = "low_clearance_road"
    UNTAGGED_CABLE = "untagged_cable"
    UNLICENSED_CABLE = "unlicensed_cable"
    OVERLOADED_POLE = "overloaded_pole"
    ABANDONED_CABLE = "abandoned_cable"
    SLACK_OR_SAG = "slack_or_sag"
    NO_OVERHEAD_ZONE = "no_overhead_zone"
    DUCT_AVAILABLE = "duct_available"


class Severity(StrEnum):
    """Declared most severe first: the PostgreSQL enum sorts in this order, so `ORDER BY severity` is the worklist's."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FlagStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    WAIVED = "waived"


LIVE_STATUSES = (FlagStatus.OPEN, FlagStatus.ACKNOWLEDGED)
"""A live flag is re-checked by every evaluation and resolves itself when the problem is gone."""

# who may move a flag from a state to another (planner = planner or admin); "system" is the rule evaluation
FLAG_TRANSITIONS: dict[tuple[FlagStatus, FlagStatus], str] = {
    (FlagStatus.OPEN, FlagStatus.ACKNOWLEDGED): "planner",
    (FlagStatus.OPEN, FlagStatus.RESOLVED): "planner",
    (FlagStatus.ACKNOWLEDGED, FlagStatus.RESOLVED): "planner",
    (FlagStatus.OPEN, FlagStatus.WAIVED): "planner",
    (FlagStatus.ACKNOWLEDGED, FlagStatus.WAIVED): "planner",
    (FlagStatus.WAIVED, FlagStatus.OPEN): "planner",
}


class SubjectKind(StrEnum):
    SPAN = "span"
    POLE = "pole"
    ATTACHMENT = "attachment"


class RoadClass(StrEnum):
    """Declared busiest first (the worklist's second key). `none`: the span is not over a road."""

    ARTERIAL = "arterial"
    COLLECTOR = "collector"
    LOCAL = "local"
    NONE = "none"


class Crossing(StrEnum):
    """What the measured clearance was over."""

    ROAD = "road"
    SIDEWALK = "sidewalk"
    NONE = "none"


class CableType(StrEnum):
    FIBER = "fiber"
    COPPER = "copper"
    COAX = "coax"
    DROP = "drop"
    POWER = "power"
    OTHER = "other"


class PoleMaterial(StrEnum):
    CONCRETE = "concrete"
    STEEL = "steel"
    WOOD = "wood"
    OTHER = "other"


class ObservationSource(StrEnum):
    SURVEY = "survey"
    CITIZEN = "citizen"


class MigrationStage(StrEnum):
    """Jakarta SJUT order: cable pulled into the duct, then cut-over, then the aerial cable removed."""

    PLANNED = "planned"
    PULLED_INTO_DUCT = "pulled_into_duct"
    CUT_OVER = "cut_over"
    AERIAL_REMOVED = "aerial_removed"

    @property
    def rank(self) -> int:
        return list(MigrationStage).index(self)


class ReportCategory(StrEnum):
    """What a citizen may report."""

    LOW_CABLE = "low_cable"  # kabel menjuntai rendah
    FALLEN_CABLE = "fallen_cable"  # kabel putus/jatuh
    TANGLED = "tangled"  # kabel semrawut
    LEANING_POLE = "leaning_pole"  # tiang miring
    OTHER = "other"


class ReportStatus(StrEnum):
    NEW = "new"
    VERIFIED = "verified"
    REJECTED = "rejected"
