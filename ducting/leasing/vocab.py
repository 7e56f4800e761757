"""Leasing vocabulary: request and allocation states, and which transitions are legal."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"  # route found, subducts held, waiting for a planner
    OFFERED = "offered"  # a planner approved: the operator may accept
    ACCEPTED = "accepted"  # the operator accepted; the lease starts on first_day
    ACTIVE = "active"  # the lease has started
    TERMINATED = "terminated"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # the hold ran out before anyone acted


class AllocationStatus(StrEnum):
    HELD = "held"  # reserved for a request until hold_expires_at
    ACTIVE = "active"  # leased (accepted, or a legacy cable allocated directly)
    TERMINATED = "terminated"  # ended early; its period was cut at the last day
    RELEASED = "released"  # a hold that did not become a lease: the space is free


# Which statuses hold space, and until when, is the database's rule (allocation_holds_space and
# allocation_holds_space_at, migration 0034): the exclusion constraint, SQL and the routing graph all ask it.
FINAL = frozenset({RequestStatus.TERMINATED, RequestStatus.REJECTED, RequestStatus.CANCELLED, RequestStatus.EXPIRED})

# who may move a request from a state to another: "planner", "operator", or "system" (clock)
TRANSITIONS: dict[tuple[RequestStatus, RequestStatus], str] = {
    (RequestStatus.SUBMITTED, RequestStatus.OFFERED): "planner",
    (RequestStatus.SUBMITTED, RequestStatus.REJECTED): "planner",
    (RequestStatus.SUBMITTED, RequestStatus.CANCELLED): "operator",
    (RequestStatus.SUBMITTED, RequestStatus.EXPIRED): "system",
    (RequestStatus.OFFERED, RequestStatus.ACCEPTED): "operator",
    (RequestStatus.OFFERED, RequestStatus.CANCELLED): "operator",
    (RequestStatus.OFFERED, RequestStatus.REJECTED): "planner",
    (RequestStatus.OFFERED, RequestStatus.EXPIRED): "system",
    (RequestStatus.ACCEPTED, RequestStatus.ACTIVE): "system",
    (RequestStatus.ACCEPTED, RequestStatus.TERMINATED): "operator",
    (RequestStatus.ACTIVE, RequestStatus.TERMINATED): "operator",
}
