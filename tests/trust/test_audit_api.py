"""`GET /api/v1/audit` and its CSV export: who may search, the filters (object, actor, time), keyset pages,
and secrets kept out."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import node_body

API = "/api/v1/audit"


@pytest.fixture()
def node_changes(client, people):
    """A node made by the planner and moved by the admin: two records of one object by two actors."""
    before = datetime.now(UTC) - timedelta(seconds=1)
    r = client.post(
        "/api/v1/network/nodes",
        json=node_body("MH-AUD-1", 10, 10),
        headers=people.headers("planner") | {"X-Request-Id": "req-audit-1"},
    )
    assert r.status_code == 201, r.text
    node = r.json()
    r = client.patch(
        f"/api/v1/network/nodes/{node['id']}",
        json={"notes": "dipindah"},
        headers=people.headers("admin") | {"If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    return node["id"], before, datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize(
    "who, status", [("auditor", 200), ("admin", 200), ("planner", 403), ("finance", 403), ("op_a", 403), (None, 401)]
)
def test_only_auditors_and_admins_search_the_audit_trail(client, people, who, status):
    headers = people.headers(who) if who else {}
    assert client.get(API, headers=headers).status_code == status
    assert client.get(f"{API}.csv", headers=headers).status_code == status


def test_filter_by_object_lists_its_changes_newest_first_with_who_and_request(client, people, node_changes):
    node_id, _, _ = node_changes
    body = client.get(API, params={"table": "node", "row_id": node_id}, headers=people.headers("auditor")).json()
    assert [i["action"] for i in body["items"]] == ["update", "insert"]
    update, insert = body["items"]
    assert (insert["username"], insert["role"], insert["request_id"]) == ("t_planner", "planner", "req-audit-1")
    assert insert["client_addr"] and insert["new"]["code"] == "MH-AUD-1" and insert["old"] is None
    assert update["username"] == "t_admin" and update["old"]["notes"] is None and update["new"]["notes"] == "dipindah"
    assert body["next_before_id"] is None


def test_filter_by_actor_and_time_range(client, people, node_changes):
    node_id, before, after = node_changes
    auditor = people.headers("auditor")
    by_admin = client.get(API, params={"username": "t_admin", "table": "node"}, headers=auditor).json()["items"]
    assert [(i["row_id"], i["action"]) for i in by_admin] == [(str(node_id), "update")]
    by_id = client.get(
        API, params={"account_id": people.accounts["planner"].id, "table": "node"}, headers=auditor
    ).json()
    assert [i["action"] for i in by_id["items"]] == ["insert"]
    window = {"table": "node", "row_id": node_id, "since": before.isoformat(), "until": after.isoformat()}
    assert len(client.get(API, params=window, headers=auditor).json()["items"]) == 2
    later = window | {"since": after.isoformat(), "until": (after + timedelta(hours=1)).isoformat()}
    assert client.get(API, params=later, headers=auditor).json()["items"] == []


def test_pages_follow_the_next_link_without_gaps_or_repeats(client, people, node_changes):
    auditor = people.headers("auditor")
    everything = [i["id"] for i in client.get(API, params={"limit": 1000}, headers=auditor).json()["items"]]
    assert len(everything) >= 5
    seen, page = [], client.get(API, params={"limit": 2}, headers=auditor).json()
    while True:
        seen += [i["id"] for i in page["items"]]
        if page["next"] is None or len(seen) >= len(everything):
            break
        assert page["next_before_id"] == seen[-1]
        page = client.get(page["next"], headers=auditor).json()
    assert seen == everything[: len(seen)] and len(seen) == len(set(seen))


def test_secrets_recorded_with_accounts_and_tokens_are_redacted(client, people):
    auditor = people.headers("auditor")
    for table, key in (("account", "password_hash"), ("api_token", "token_hash")):
        items = client.get(API, params={"table": table}, headers=auditor).json()["items"]
        values = [i["new"][key] for i in items if i["new"]]  # an account made without a password has none to hide
        assert "[redacted]" in values and set(values) <= {"[redacted]", None}
    text = client.get(f"{API}.csv", params={"table": "account"}, headers=auditor).text
    assert "argon2" not in text and "[redacted]" in text


@pytest.mark.parametrize(
    "params, code",
    [
        ({"row_id": "5"}, "table_required"),
        ({"since": "2026-03-02T00:00:00", "until": "2026-03-01T00:00:00"}, "end_before_start"),
        ({"since": "2026-03-01T00:00:00+07:00", "until": "2026-03-02T00:00:00"}, "mixed_offsets"),
    ],
)
def test_filters_that_make_no_sense_are_422_with_the_reason(client, people, params, code):
    r = client.get(API, params=params, headers=people.headers("auditor"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == code


def test_csv_export_has_every_matching_record_with_json_values(client, people, node_changes):
    node_id, _, _ = node_changes
    r = client.get(f"{API}.csv", params={"table": "node", "row_id": node_id}, headers=people.headers("admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["action"] for row in rows] == ["update", "insert"]
    assert rows[1]["username"] == "t_planner" and '"MH-AUD-1"' in rows[1]["new"] and rows[1]["old"] == ""
