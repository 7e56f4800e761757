"""The access matrix: every path and method in the OpenAPI document, called as every role, against the expected
status kept in `MATRIX` below. An endpoint missing from the table fails the test until someone classifies it,
and so does a row for an endpoint that no longer exists.

Roles, in the order of each row: anonymous, admin, planner, finance, auditor, operator A, operator B. Where an
endpoint takes an id it is operator A's object (built by tests.trust.world), so operator B's column says what
another operator gets: 404, as if it did not exist (or 403 where the role alone already rules it out).

Each call runs inside a savepoint that is rolled back, so every role meets the same world. Besides the status,
no call may answer 5xx, and no operator's answer may carry the other operator's identifying strings (code, name,
request references, PKS and invoice numbers)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.auth import issue_token
from ducting.calendar import today
from ducting.compliance.citizen import submit_report
from ducting.leasing.routing import GRAPH
from ducting.network.schemas import NodeIn
from ducting.network.service import create_node
from gis.crs import WGS84
from tests.compliance.conftest import csv_bytes, span, street
from tests.factories import at, node_body, point, segment_body
from tests.trust.world import World, build_world

ROLES = ("anonymous", "admin", "planner", "finance", "auditor", "op_a", "op_b")


@dataclass
class Ctx:
    """What the requests refer to: the world plus a few objects of its own."""

    world: World
    people: Any
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def a(self):
        return self.world.a

    def seg(self, code: str) -> int:
        return self.world.net.segments[code]


@dataclass(frozen=True)
class Call:
    """How to call an endpoint: path parameters, query, and a JSON body or a form with files."""

    path: Callable[[Ctx], dict[str, Any]] = lambda c: {}
    params: Callable[[Ctx], dict[str, Any]] = lambda c: {}
    json: Callable[[Ctx], Any] | None = None
    form: Callable[[Ctx], dict[str, Any]] | None = None
    files: Callable[[Ctx], dict[str, Any]] | None = None


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _later(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


BBOX = "104.04,1.12,104.07,1.14"
# the day A's case goes into the duct: within A's accepted lease, which starts 30 days from today (tests/trust/world)
PULL_DAY = (today() + timedelta(days=40)).isoformat()
ROUTE = {"segments": ["RS-W-AB"], "subduct_count": 1, "size_class": "subduct_32_26", "term_months": 12}
NODE_FILE = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "MH-W-IMP", "kind": "manhole"},
                "geometry": {"type": "Point", "coordinates": at(500, 500)},
            }
        ],
    }
).encode()
ZONE = {"type": "Polygon", "coordinates": [[at(900, 900), at(1000, 900), at(1000, 1000), at(900, 1000), at(900, 900)]]}

ZONE_FILE = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"name": "Zona impor"}, "geometry": ZONE}],
    }
).encode()

A_REQ = {
    "submitted": lambda c: {"request_id": c.a.requests["submitted"]},
    "offered": lambda c: {"request_id": c.a.requests["offered"]},
    "accepted": lambda c: {"request_id": c.a.requests["accepted"]},
}
A_INVOICE = lambda c: {"invoice_id": c.a.invoice_id}  # noqa: E731
A_UNPAID = lambda c: {"invoice_id": c.a.unpaid_invoice_id}  # noqa: E731
NODE = lambda c: {"node_id": c.ids["node"]}  # noqa: E731
SEGMENT = lambda c: {"segment_id": c.seg("RS-W-AB")}  # noqa: E731
DUCT = lambda c: {"duct_id": c.ids["duct"]}  # noqa: E731
BOOKS = lambda c: {"month": "2026-03"}  # noqa: E731
STATEMENT = Call(path=BOOKS, params=lambda c: {"operator": "TOPA"})
REVENUE = lambda c: {"from": "2026-01", "to": "2026-04"}  # noqa: E731

# (method, path): (how to call it, expected status per role:   anon admin plan  fin  aud  opA  opB)
MATRIX: dict[tuple[str, str], tuple[Call, str]] = {
    # accounts and tokens
    ("POST", "/api/v1/auth/token"): (
        Call(json=lambda c: {"username": "t_planner", "password": "rahasia-uji-123"}),
        "200 200 200 200 200 200 200",
    ),
    ("POST", "/api/v1/auth/logout"): (Call(), "401 204 204 204 204 204 204"),
    ("GET", "/api/v1/auth/me"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/organisations"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/accounts"): (Call(), "401 200 403 403 403 403 403"),
    ("POST", "/api/v1/accounts"): (
        Call(json=lambda c: {"username": "t_baru", "full_name": "Baru", "role": "planner"}),
        "401 201 403 403 403 403 403",
    ),
    ("PATCH", "/api/v1/accounts/{account_id}"): (
        Call(
            path=lambda c: {"account_id": c.people.accounts["op_a"].id},
            json=lambda c: {"full_name": "Operator Alfa (ubah)"},
        ),
        "401 200 403 403 403 403 403",
    ),
    ("POST", "/api/v1/accounts/{account_id}/reset-password"): (
        Call(path=lambda c: {"account_id": c.people.accounts["op_a"].id}),
        "401 200 403 403 403 403 403",
    ),
    ("GET", "/api/v1/tokens"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/tokens"): (
        Call(json=lambda c: {"name": "sistem-saya", "days": 30, "scopes": ["read"]}),
        "401 201 201 201 201 201 201",
    ),
    # operator A's own API token: A and an admin may revoke it; to anyone else it does not exist
    ("DELETE", "/api/v1/tokens/{token_id}"): (
        Call(path=lambda c: {"token_id": c.ids["a_token"]}),
        "401 204 404 404 404 204 404",
    ),
    # the network: everyone signed in reads; planners and admins write
    ("POST", "/api/v1/network/nodes"): (
        Call(json=lambda c: node_body("MH-W-NEW", 300, 300)),
        "401 201 201 403 403 403 403",
    ),
    ("GET", "/api/v1/network/nodes/{node_id}"): (Call(path=NODE), "401 200 200 200 200 200 200"),
    ("PATCH", "/api/v1/network/nodes/{node_id}"): (
        Call(path=NODE, json=lambda c: {"notes": "diperiksa"}),
        "401 200 200 403 403 403 403",
    ),
    ("DELETE", "/api/v1/network/nodes/{node_id}"): (
        Call(path=lambda c: {"node_id": c.ids["lone_node"]}),
        "401 200 200 403 403 403 403",
    ),
    ("GET", "/api/v1/network/nodes/{node_id}/history"): (Call(path=NODE), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/network/segments"): (
        Call(json=lambda c: segment_body("RS-W-CZ", (200, 0), (300, 0))),
        "401 201 201 403 403 403 403",
    ),
    ("GET", "/api/v1/network/segments/{segment_id}"): (Call(path=SEGMENT), "401 200 200 200 200 200 200"),
    ("PATCH", "/api/v1/network/segments/{segment_id}"): (
        Call(path=SEGMENT, json=lambda c: {"notes": "diperiksa"}),
        "401 200 200 403 403 403 403",
    ),
    # carries ducts (and leases): refused by the rule, once the role is allowed
    ("DELETE", "/api/v1/network/segments/{segment_id}"): (Call(path=SEGMENT), "401 409 409 403 403 403 403"),
    ("POST", "/api/v1/network/segments/{segment_id}/split"): (
        Call(path=SEGMENT, json=lambda c: {"geometry": point(50, 0)}),
        "401 201 201 403 403 403 403",
    ),
    ("GET", "/api/v1/network/segments/{segment_id}/history"): (Call(path=SEGMENT), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/network/segments/{segment_id}/ducts"): (Call(path=SEGMENT), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/network/segments/{segment_id}/ducts"): (
        Call(path=SEGMENT, json=lambda c: {"spec": "HDPE-32/26"}),
        "401 201 201 403 403 403 403",
    ),
    ("GET", "/api/v1/network/ducts/{duct_id}"): (Call(path=DUCT), "401 200 200 200 200 200 200"),
    ("DELETE", "/api/v1/network/ducts/{duct_id}"): (Call(path=DUCT), "401 409 409 403 403 403 403"),  # leased
    ("GET", "/api/v1/network/ducts/{duct_id}/history"): (Call(path=DUCT), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/network/specs"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/network/bulk"): (
        Call(
            json=lambda c: {"operations": [{"op": "create", "type": "node", "data": node_body("MH-W-BLK", 400, 300)}]}
        ),
        "401 200 200 403 403 403 403",
    ),
    ("GET", "/api/v1/network/summary"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/network/import"): (
        Call(files=lambda c: {"file": ("nodes.geojson", NODE_FILE)}),
        "401 200 200 403 403 403 403",
    ),
    ("GET", "/api/v1/network/export"): (Call(params=lambda c: {"format": "geojson"}), "401 200 200 200 200 200 200"),
    # leasing
    ("POST", "/api/v1/leasing/quotes"): (
        Call(json=lambda c: ROUTE | {"first_day": _later(40)}),
        "401 200 200 403 403 200 200",
    ),
    ("POST", "/api/v1/leasing/requests"): (
        Call(json=lambda c: ROUTE | {"first_day": _later(40)}),
        "401 403 403 403 403 201 201",
    ),
    ("GET", "/api/v1/leasing/requests"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/leasing/inbox"): (Call(), "401 200 200 403 403 403 403"),
    ("GET", "/api/v1/leasing/requests/{request_id}"): (Call(path=A_REQ["submitted"]), "401 200 200 200 200 200 404"),
    ("POST", "/api/v1/leasing/requests/{request_id}/approve"): (
        Call(path=A_REQ["submitted"]),
        "401 200 200 403 403 403 403",
    ),
    ("POST", "/api/v1/leasing/requests/{request_id}/reject"): (
        Call(path=A_REQ["submitted"], json=lambda c: {"reason": "jalur ditutup"}),
        "401 200 200 403 403 403 403",
    ),
    ("POST", "/api/v1/leasing/requests/{request_id}/accept"): (
        Call(path=A_REQ["offered"]),
        "401 403 403 403 403 200 404",
    ),
    ("POST", "/api/v1/leasing/requests/{request_id}/cancel"): (
        Call(path=A_REQ["offered"]),
        "401 403 403 403 403 200 404",
    ),
    ("POST", "/api/v1/leasing/requests/{request_id}/terminate"): (
        Call(path=A_REQ["accepted"], json=lambda c: {}),
        "401 403 403 403 403 200 404",
    ),
    ("POST", "/api/v1/leasing/allocations"): (
        Call(
            json=lambda c: {
                "operator": "TOPA",
                "segments": ["RS-W-AB"],
                "size_class": "subduct_32_26",
                "first_day": "2030-01-01",
            }
        ),
        "401 201 201 403 403 403 403",
    ),
    ("GET", "/api/v1/leasing/allocations"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/leasing/segments/{segment_id}/occupancy"): (Call(path=SEGMENT), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/leasing/availability"): (Call(params=lambda c: {"bbox": BBOX}), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/leasing/sla"): (Call(), "401 200 200 403 200 403 403"),
    # OGC API - Features
    ("GET", "/api/v1/"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/conformance"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/collections"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/collections/{collection_id}"): (
        Call(path=lambda c: {"collection_id": "nodes"}),
        "401 200 200 200 200 200 200",
    ),
    ("GET", "/api/v1/collections/{collection_id}/items"): (
        Call(path=lambda c: {"collection_id": "segments"}, params=lambda c: {"bbox": BBOX}),
        "401 200 200 200 200 200 200",
    ),
    ("GET", "/api/v1/collections/{collection_id}/items/{feature_id}"): (
        Call(path=lambda c: {"collection_id": "nodes", "feature_id": c.ids["node"]}),
        "401 200 200 200 200 200 200",
    ),
    # billing: finance and admin run it; auditors read the books; operators read their own issued invoices
    ("GET", "/api/v1/billing/tariffs"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/billing/tariffs"): (
        Call(
            json=lambda c: {
                "product": "whole_duct",
                "zone_class": "cbd",
                "first_day": "2031-01-01",
                "price_idr_per_m_year": "40000",
            }
        ),
        "401 201 403 201 403 403 403",
    ),
    ("POST", "/api/v1/billing/runs"): (Call(json=lambda c: {"month": "2026-05"}), "401 200 403 200 403 403 403"),
    ("GET", "/api/v1/billing/runs/{month}"): (Call(path=BOOKS), "401 200 403 200 200 403 403"),
    ("POST", "/api/v1/billing/runs/{month}/issue"): (
        Call(path=lambda c: {"month": "2026-05"}, json=lambda c: {"issued_on": "2026-05-31"}),
        "401 200 403 200 403 403 403",
    ),
    ("GET", "/api/v1/billing/runs/{month}/invoices.csv"): (Call(path=BOOKS), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/runs/{month}/lines.csv"): (Call(path=BOOKS), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/runs/{month}/run.xlsx"): (Call(path=BOOKS), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/runs/{month}/efaktur.xml"): (Call(path=BOOKS), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/runs/{month}/invoices.zip"): (Call(path=BOOKS), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/invoices"): (Call(), "401 200 403 200 200 200 200"),
    ("GET", "/api/v1/billing/invoices/{invoice_id}"): (Call(path=A_INVOICE), "401 200 403 200 200 200 404"),
    ("GET", "/api/v1/billing/invoices/{invoice_id}/pdf"): (Call(path=A_INVOICE), "401 200 403 200 200 200 404"),
    ("POST", "/api/v1/billing/invoices/{invoice_id}/credit-notes"): (
        Call(path=A_UNPAID, json=lambda c: {"reason": "salah hitung", "rebill": True, "issued_on": "2026-05-02"}),
        "401 201 403 201 403 403 403",
    ),
    ("POST", "/api/v1/billing/invoices/{invoice_id}/payments"): (
        Call(path=A_UNPAID, json=lambda c: {"amount_idr": "500", "paid_on": "2026-05-10", "reference": "TRF-MATRIX"}),
        "401 201 403 201 403 403 403",
    ),
    ("GET", "/api/v1/billing/aging"): (Call(), "401 200 403 200 200 200 200"),
    # a statement of operator A: staff name it, A may, B asking for A's gets 404
    ("GET", "/api/v1/billing/statements/{month}"): (STATEMENT, "401 200 403 200 200 200 404"),
    ("GET", "/api/v1/billing/statements/{month}/pdf"): (STATEMENT, "401 200 403 200 200 200 404"),
    ("GET", "/api/v1/billing/statements/{month}/map.png"): (STATEMENT, "401 200 403 200 200 200 404"),
    ("GET", "/api/v1/billing/revenue"): (Call(params=REVENUE), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/revenue.csv"): (Call(params=REVENUE), "401 200 403 200 200 403 403"),
    ("GET", "/api/v1/billing/revenue/chart.{fmt}"): (
        Call(path=lambda c: {"fmt": "svg"}, params=REVENUE),
        "401 200 403 200 200 403 403",
    ),
    # compliance: planners and admins manage, auditors read, finance has no business here, operators see their own
    ("GET", "/api/v1/compliance/rules"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/compliance/surveys"): (Call(), "401 200 200 403 200 403 403"),
    ("POST", "/api/v1/compliance/surveys"): (
        Call(
            files=lambda c: {
                "file": ("survey.csv", csv_bytes(street(prefix="S", y=600) + [span("S0", "S1")]), "text/csv")
            },
            form=lambda c: {"name": "Survei matriks", "surveyed_on": "2026-04-01", "team": "Tim M"},
        ),
        "401 201 201 403 403 403 403",
    ),
    ("POST", "/api/v1/compliance/evaluate"): (Call(), "401 200 200 403 403 403 403"),
    ("GET", "/api/v1/compliance/flags"): (Call(), "401 200 200 200 200 200 200"),  # finance: an empty list
    ("GET", "/api/v1/compliance/flags/map.html"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/compliance/flags/{flag_id}"): (
        Call(path=lambda c: {"flag_id": c.a.flag_id}),
        "401 200 200 404 200 200 404",
    ),
    ("POST", "/api/v1/compliance/flags/{flag_id}/transition"): (
        Call(path=lambda c: {"flag_id": c.a.flag_id}, json=lambda c: {"to": "resolved"}),
        "401 200 200 403 403 403 403",
    ),
    ("GET", "/api/v1/compliance/letters/{operator_id}.pdf"): (
        Call(path=lambda c: {"operator_id": c.a.org_id}),
        "401 200 200 404 200 200 404",
    ),
    ("GET", "/api/v1/compliance/zones"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/compliance/zones"): (
        Call(json=lambda c: {"name": "Zona matriks", "geometry": ZONE}),
        "401 201 201 403 403 403 403",
    ),
    ("PATCH", "/api/v1/compliance/zones/{zone_id}"): (
        Call(path=lambda c: {"zone_id": c.ids["zone"]}, json=lambda c: {"name": "Zona matriks (ubah)"}),
        "401 200 200 403 403 403 403",
    ),
    ("POST", "/api/v1/compliance/zones/import"): (
        Call(files=lambda c: {"file": ("zones.geojson", ZONE_FILE)}),
        "401 200 200 403 403 403 403",
    ),
    ("GET", "/api/v1/compliance/agreements"): (Call(), "401 200 200 403 200 403 403"),
    ("POST", "/api/v1/compliance/agreements"): (
        Call(json=lambda c: {"operator_id": c.a.org_id, "reference": "PKS-MATRIKS", "valid_from": "2026-01-01"}),
        "401 201 201 403 403 403 403",
    ),
    ("GET", "/api/v1/compliance/migrations"): (Call(), "401 200 200 200 200 200 200"),  # finance: an empty list
    ("POST", "/api/v1/compliance/migrations"): (
        Call(json=lambda c: {"operator_id": c.a.org_id, "span_id": c.a.span_id}),
        "401 201 201 403 403 403 403",
    ),
    ("PATCH", "/api/v1/compliance/migrations/{case_id}"): (
        Call(path=lambda c: {"case_id": c.a.case_id}, json=lambda c: {"capacity_request_id": c.a.requests["offered"]}),
        "401 200 200 404 404 200 404",
    ),
    ("POST", "/api/v1/compliance/migrations/{case_id}/advance"): (
        Call(path=lambda c: {"case_id": c.a.case_id}, json=lambda c: {"to": "pulled_into_duct", "on": PULL_DAY}),
        "401 200 200 404 404 200 404",
    ),
    ("GET", "/api/v1/compliance/dashboard"): (Call(), "401 200 200 403 200 403 403"),
    ("GET", "/api/v1/compliance/reports"): (Call(), "401 200 200 403 403 403 403"),
    ("POST", "/api/v1/compliance/reports/{report_id}/review"): (
        Call(path=lambda c: {"report_id": c.ids["report"]}, json=lambda c: {"verified": False, "note": "tidak jelas"}),
        "401 200 200 403 403 403 403",
    ),
    ("GET", "/api/v1/compliance/reports/{report_id}/photo"): (
        Call(path=lambda c: {"report_id": c.ids["report"]}),
        "401 200 200 403 403 403 403",
    ),
    ("POST", "/api/v1/public/reports"): (
        Call(
            form=lambda c: {
                "lon": str(at(50, 50)[0]),
                "lat": str(at(50, 50)[1]),
                "category": "tangled",
                "description": "kabel kusut di tiang",
            }
        ),
        "201 201 201 201 201 201 201",
    ),
    ("POST", "/api/v1/compliance/letters/{operator_id}/issue"): (
        Call(path=lambda c: {"operator_id": c.a.org_id}),
        "401 201 201 403 403 403 403",
    ),
    # notifications: everyone has a list; webhooks are operators' (their own) and admins'
    ("GET", "/api/v1/notifications"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/notifications/unread-count"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/notifications/read-all"): (Call(), "401 200 200 200 200 200 200"),
    ("POST", "/api/v1/notifications/{event_id}/read"): (  # operator A's request.submitted: A's, and the planners'
        Call(path=lambda c: {"event_id": c.ids["event"]}),
        "401 200 200 404 404 200 404",
    ),
    ("GET", "/api/v1/notifications/preferences"): (Call(), "401 200 200 200 200 200 200"),
    ("PUT", "/api/v1/notifications/preferences"): (
        Call(json=lambda c: {"email_mode": "digest", "digest_hour": 8, "language": "en"}),
        "401 200 200 200 200 200 200",
    ),
    ("GET", "/api/v1/notifications/event-types"): (Call(), "401 200 200 200 200 200 200"),
    ("GET", "/api/v1/webhooks"): (Call(), "401 200 403 403 200 200 200"),
    ("POST", "/api/v1/webhooks"): (
        Call(json=lambda c: {"url": "https://93.184.215.14/matriks", "operator": "TOPA"}),
        "401 201 403 403 403 201 403",
    ),
    ("PATCH", "/api/v1/webhooks/{endpoint_id}"): (
        Call(path=lambda c: {"endpoint_id": c.a.webhook_id}, json=lambda c: {"active": False}),
        "401 200 403 403 403 200 404",
    ),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"): (
        Call(path=lambda c: {"endpoint_id": c.a.webhook_id}),
        "401 204 403 403 403 204 404",
    ),
    ("POST", "/api/v1/webhooks/{endpoint_id}/rotate-secret"): (
        Call(path=lambda c: {"endpoint_id": c.a.webhook_id}),
        "401 200 403 403 403 200 404",
    ),
    ("GET", "/api/v1/webhooks/deliveries"): (Call(), "401 200 403 403 200 200 200"),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver"): (
        Call(path=lambda c: {"delivery_id": c.ids["delivery"]}),
        "401 200 403 403 403 200 404",
    ),
    # the audit trail
    ("GET", "/api/v1/audit"): (Call(), "401 200 403 403 200 403 403"),
    ("GET", "/api/v1/audit.csv"): (Call(), "401 200 403 403 200 403 403"),
    # tiles are answered from their own connection pool, which cannot see this test's uncommitted tokens; their
    # matrix runs with committed accounts in test_tiles_answer_every_signed_in_role_and_public_layers_anyone
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf"): (Call(), "tiles"),
}


def _endpoints(app) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}


def test_every_endpoint_is_classified(app):
    have = _endpoints(app)
    unclassified = sorted(have - MATRIX.keys())
    stale = sorted(MATRIX.keys() - have)
    assert not unclassified, f"classify these endpoints in tests/trust/test_matrix.py MATRIX: {unclassified}"
    assert not stale, f"these MATRIX rows name endpoints that no longer exist: {stale}"


@pytest.fixture()
def ctx(session: Session, people) -> Ctx:
    return build_ctx(session, people)


def build_ctx(session: Session, people) -> Ctx:
    """The world and the few objects of the matrix's own, committed (also used through the pooler, tests/ops)."""
    world = build_world(session, people)
    c = Ctx(world, people)
    c.ids["node"] = session.execute(text("SELECT id FROM node WHERE code = 'MH-W-A'")).scalar_one()
    c.ids["lone_node"] = create_node(session, data=NodeIn(code="MH-W-Z", kind="manhole", geometry=point(300, 0)))[0].id
    c.ids["duct"] = session.execute(
        text("SELECT id FROM duct WHERE segment_id = :s"), {"s": c.seg("RS-W-AB")}
    ).scalar_one()
    c.ids["a_token"] = issue_token(session, account=people.accounts["op_a"], name="sistem A", ttl=timedelta(days=1))[
        1
    ].id
    lon, lat = at(60, 60)
    receipt = submit_report(
        session,
        lon=lon,
        lat=lat,
        category="low_cable",
        description="kabel rendah sekali",
        photo=_jpeg(),
        client_addr="192.0.2.7",
    )
    c.ids["report"] = session.execute(
        text("SELECT id FROM citizen_report WHERE reference = :r"), {"r": receipt.reference}
    ).scalar_one()
    c.ids["zone"] = session.execute(
        text(
            "INSERT INTO no_overhead_zone (name, geom) VALUES ('Zona uji', ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:g), :srid)))"
            " RETURNING id"
        ),
        {"g": json.dumps(ZONE), "srid": WGS84},
    ).scalar_one()
    c.ids["event"] = session.execute(
        text(
            "SELECT id FROM notification_event WHERE type = 'request.submitted' AND operator_id = :o ORDER BY seq LIMIT 1"
        ),
        {"o": world.a.org_id},
    ).scalar_one()
    c.ids["delivery"] = session.execute(
        text("SELECT min(id) FROM notification_delivery WHERE endpoint_id = :w"), {"w": world.a.webhook_id}
    ).scalar_one()
    # the seeded whole-duct CBD tariff ends before 2031, so a new version from 2031 is a clean addition
    session.execute(
        text(
            "UPDATE tariff SET effective = daterange(lower(effective), '2031-01-01') "
            "WHERE product = 'whole_duct' AND zone_class = 'cbd' AND upper_inf(effective)"
        )
    )
    session.commit()
    return c


def _markers(session: Session, side) -> set[str]:
    """Strings only `side`'s operator may see: its code and name, request references, PKS and invoice numbers."""
    rows = session.execute(
        text("""
        SELECT code FROM organisation WHERE id = :o UNION SELECT name FROM organisation WHERE id = :o
        UNION SELECT reference FROM capacity_request WHERE operator_id = :o
        UNION SELECT pks_number FROM capacity_request WHERE operator_id = :o AND pks_number IS NOT NULL
        UNION SELECT number FROM invoice WHERE operator_id = :o AND number IS NOT NULL"""),
        {"o": side.org_id},
    )
    return set(rows.scalars())


def _request(client, ctx: Ctx, method: str, path: str, call: Call, who: str):
    url = path.format(**call.path(ctx))
    headers = {} if who == "anonymous" else ctx.people.headers(who)
    kwargs: dict[str, Any] = {"params": call.params(ctx), "headers": headers}
    if call.json is not None:
        kwargs["json"] = call.json(ctx)
    if call.form is not None:
        kwargs["data"] = call.form(ctx)
    if call.files is not None:
        kwargs["files"] = call.files(ctx)
    return client.request(method, url, **kwargs)


def test_every_role_gets_what_the_matrix_says_and_no_operator_sees_the_others(client, session, connection, ctx):
    markers = {"op_a": _markers(session, ctx.world.b), "op_b": _markers(session, ctx.world.a)}
    assert all(markers.values())
    session.commit()  # the session's own savepoint ends here; each call below nests its own inside ours
    conn = connection
    wrong, leaks = [], []
    for (method, path), (call, expected) in sorted(MATRIX.items()):
        if expected == "tiles":
            continue
        want = dict(zip(ROLES, map(int, expected.split()), strict=True))
        for who in ROLES:
            conn.exec_driver_sql("SAVEPOINT matrix")
            try:
                r = _request(client, ctx, method, path, call, who)
            finally:
                conn.exec_driver_sql("ROLLBACK TO SAVEPOINT matrix")
                conn.exec_driver_sql("RELEASE SAVEPOINT matrix")
                session.expire_all()
                GRAPH.network = None  # the graph may have seen rows the savepoint took back
            if r.status_code != want[who]:
                wrong.append(f"{method} {path} as {who}: {r.status_code} (want {want[who]}) {r.text[:160]}")
            if who in markers and r.status_code < 300:
                body = r.content.decode("utf-8", "replace")
                found = sorted(m for m in markers[who] if m in body)
                if found:
                    leaks.append(f"{method} {path} as {who} shows the other operator's {found}")
    assert not leaks, "\n".join(leaks)
    assert not wrong, f"{len(wrong)} call(s) off the matrix:\n" + "\n".join(wrong)


TILE_MATRIX = {
    "segments": "401 200 200 200 200 200 200",
    "occupancy": "401 200 200 200 200 200 200",
    "nodes": "401 200 200 200 200 200 200",
    "kecamatan": "200 200 200 200 200 200 200",
}


@pytest.fixture()
def committed_roles(engine):
    """One committed account and token per role (the tile pool reads only committed rows); removed afterwards."""
    from ducting.accounts.models import Account, Organisation
    from ducting.db import Actor, open_session

    tag = uuid.uuid4().hex[:6]
    tokens: dict[str, str] = {}
    with open_session(Actor.system("matrix tiles"), bind=engine) as s:
        orgs = {
            who: Organisation(
                code=f"TL{tag[:4]}{who[-1].upper()}", name=f"PT Ubin {who}", kind="operator", npwp="0123456789012345"
            )
            for who in ("op_a", "op_b")
        }
        s.add_all(orgs.values())
        s.flush()
        for who in ROLES[1:]:
            role = "operator" if who.startswith("op_") else who
            acc = Account(
                username=f"t_tile_{tag}_{who.replace('_', '')}",
                full_name=who,
                role=role,
                organisation_id=orgs[who].id if who in orgs else None,
            )
            s.add(acc)
            s.flush()
            tokens[who], _ = issue_token(s, account=acc, name="tiles", ttl=timedelta(minutes=10))
        s.commit()
        org_ids = [o.id for o in orgs.values()]
    yield tokens
    with open_session(Actor.system("matrix tiles"), bind=engine) as s:
        s.execute(
            text("DELETE FROM api_token WHERE account_id IN (SELECT id FROM account WHERE username LIKE :u)"),
            {"u": f"t_tile_{tag}_%"},
        )
        s.execute(text("DELETE FROM account WHERE username LIKE :u"), {"u": f"t_tile_{tag}_%"})
        s.execute(text("DELETE FROM organisation WHERE id = ANY(:o)"), {"o": org_ids})
        s.commit()


def test_tiles_answer_every_signed_in_role_and_public_layers_anyone(app, test_database, committed_roles, monkeypatch):
    from fastapi.testclient import TestClient
    from sqlalchemy.engine import make_url

    from ducting.network.tiles import POOL
    from gis.tiles import tile_at

    url = make_url(test_database.app_url).set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setattr(POOL, "conninfo", lambda: url)
    monkeypatch.setattr(POOL, "_pools", {})
    tile = tile_at(*at(0, 0), 14)
    wrong, etags = [], {}
    with TestClient(app) as c:
        for layer, expected in TILE_MATRIX.items():
            for who, want in zip(ROLES, map(int, expected.split()), strict=True):
                headers = {} if who == "anonymous" else {"Authorization": f"Bearer {committed_roles[who]}"}
                r = c.get(f"/tiles/{layer}/{tile.z}/{tile.x}/{tile.y}.pbf", headers=headers)
                if r.status_code != want:
                    wrong.append(f"{layer} as {who}: {r.status_code} (want {want})")
                etags.setdefault(layer, set()).add(r.headers.get("etag"))
        assert (
            c.get(
                f"/tiles/segments/{tile.z}/{tile.x}/{tile.y}.pbf", headers={"Authorization": "Bearer bdl_not-a-token"}
            ).status_code
            == 401
        )
    assert not wrong, wrong
    # a tile carries no identity: every role that may read it gets the same bytes
    assert all(len(tags - {None}) == 1 for tags in etags.values()), etags


# The browser's pages and the single sign-on routes are not in the OpenAPI document (include_in_schema=False), so
# they have their own table, walked the same way: every such route of the app must be named here. GET pages are
# opened with each role's session cookie; 303 is the redirect to sign in (or, for "/", to the role's home page).
PAGES: dict[tuple[str, str], str] = {
    #                              anonymous admin planner finance auditor op_a op_b
    ("GET", "/"): "303 303 303 303 303 303 303",
    ("GET", "/masuk"): "200 200 200 200 200 200 200",
    ("GET", "/lapor"): "200 200 200 200 200 200 200",
    ("GET", "/peta"): "303 200 200 403 200 403 403",
    ("GET", "/kotak-masuk"): "303 200 200 403 403 403 403",
    ("GET", "/impor"): "303 200 200 403 403 403 403",
    ("GET", "/kepatuhan"): "303 200 200 403 200 403 403",
    ("GET", "/operator"): "303 403 403 403 403 200 200",
    ("GET", "/operator/sewa"): "303 403 403 403 403 200 200",
    ("GET", "/operator/tagihan"): "303 403 403 403 403 200 200",
    ("GET", "/keuangan"): "303 200 403 200 200 403 403",
    ("GET", "/notifikasi"): "303 200 200 200 200 200 200",
    ("GET", "/notifikasi/webhook"): "303 200 403 403 200 200 200",
    # forms and redirects with their own tests
    ("POST", "/masuk"): "tests/web/test_session.py (password sign-in, lockout)",
    ("POST", "/keluar"): "tests/web/test_session.py::test_logout_needs_the_form_token_and_revokes_the_session",
    ("GET", "/auth/oidc/login"): "tests/trust/test_oidc.py",
    ("GET", "/auth/oidc/callback"): "tests/trust/test_oidc.py",
}
FRAMEWORK = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect")}


def _routes_outside_openapi(app) -> set[tuple[str, str]]:
    documented = _endpoints(app)
    out = set()
    for entry in app.routes:
        for route in getattr(getattr(entry, "original_router", None), "routes", None) or [entry]:
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD" and (method, route.path) not in documented:
                    out.add((method, route.path))
    return out - FRAMEWORK


def test_every_page_and_sign_on_route_is_classified(app):
    have = _routes_outside_openapi(app)
    assert ("GET", "/peta") in have and ("GET", "/auth/oidc/callback") in have  # the walk sees the routers
    unclassified, stale = sorted(have - PAGES.keys()), sorted(PAGES.keys() - have)
    assert not unclassified, f"classify these routes in tests/trust/test_matrix.py PAGES: {unclassified}"
    assert not stale, f"these PAGES rows name routes that no longer exist: {stale}"


def test_every_role_opens_the_pages_the_table_says_and_no_operator_page_shows_the_other(client, session, ctx):
    from ducting.auth import SESSION_COOKIE

    markers = {"op_a": _markers(session, ctx.world.b), "op_b": _markers(session, ctx.world.a)}
    wrong, leaks = [], []
    for (method, path), expected in sorted(PAGES.items()):
        if method != "GET" or not expected[0].isdigit():
            continue
        for who, want in zip(ROLES, map(int, expected.split()), strict=True):
            client.cookies.clear()
            if who != "anonymous":
                client.cookies.set(SESSION_COOKIE, ctx.people.tokens[who])
            r = client.get(path, follow_redirects=False)
            if r.status_code != want:
                wrong.append(f"GET {path} as {who}: {r.status_code} (want {want})")
            if who == "anonymous" and want == 303 and path not in ("/",):
                assert r.headers["location"].startswith(f"/masuk?next={path}")
            if who in markers and r.status_code == 200:
                found = sorted(m for m in markers[who] if m in r.text)
                if found:
                    leaks.append(f"GET {path} as {who} shows the other operator's {found}")
    client.cookies.clear()
    assert not leaks, "\n".join(leaks)
    assert not wrong, f"{len(wrong)} page(s) off the table:\n" + "\n".join(wrong)
