"""Extension points other domains register with (leasing carries allocations across a split; it also blocks
deletes of segments that carry leases). Registered explicitly by the app factory, not by import side effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class SegmentSplit:
    """A split: `original_id` keeps the first part, `new_id` is the second. `subduct_map` maps each subduct of
    the original to its twin on the new segment. Lengths are the generated spheroid lengths after the split."""

    original_id: int
    new_id: int
    node_id: int
    first_length_m: Decimal
    second_length_m: Decimal
    subduct_map: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Blocker:
    type: str
    id: int
    label: str

    def as_dict(self) -> dict[str, object]:
        return {"type": self.type, "id": self.id, "label": self.label}


SplitHook = Callable[[Session, SegmentSplit], None]
BlockerHook = Callable[[Session, str, int], list[Blocker]]  # (session, object type, id) -> blockers

split_hooks: list[SplitHook] = []
delete_blockers: list[BlockerHook] = []


def register_split_hook(hook: SplitHook) -> None:
    if hook not in split_hooks:
        split_hooks.append(hook)


def register_delete_blocker(hook: BlockerHook) -> None:
    if hook not in delete_blockers:
        delete_blockers.append(hook)
