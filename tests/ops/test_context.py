"""What every request gets from ducting.ops, in process: the client's address behind trusted proxies (and only
those), request ids, /healthz and /readyz, who may read /metrics and what it says, JSON logs with the request id,
background jobs counted, the capacity graph's refresh timed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from ducting.ops import jobs, metrics
from ducting.ops.logs import JsonFormatter, RequestIdFilter
from ducting.ops.proxy import parse_networks, resolve
from ducting.settings import get_settings
from tests.factories import at, node_body

TRUSTED = parse_networks("10.0.0.0/8, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "xff", "proto", "want"),
    [
        ("192.0.2.1", "203.0.113.9", "https", ("192.0.2.1", "http")),  # not a proxy: its headers prove nothing
        ("10.0.0.5", "203.0.113.9", "https", ("203.0.113.9", "https")),
        ("10.0.0.5", "198.51.100.1, 203.0.113.9", "http", ("203.0.113.9", "http")),  # the client wrote the left one
        ("10.0.0.5", "203.0.113.9, 10.0.0.7", "https", ("203.0.113.9", "https")),  # two proxies in a row
        ("10.0.0.5", "10.0.0.8, 10.0.0.7", "https", ("10.0.0.8", "https")),  # all proxies: the farthest one
        ("10.0.0.5", "not-an-ip, 203.0.113.9", "https", ("203.0.113.9", "https")),
        ("10.0.0.5", "203.0.113.9, garbage", "https", ("10.0.0.5", "https")),  # a broken chain: nothing past it
        ("10.0.0.5", "[2001:db8::1]:443, 203.0.113.9:5678", "HTTPS", ("203.0.113.9", "https")),
        ("10.0.0.5", "", "gopher", ("10.0.0.5", "http")),
        ("2001:db8::5", "2001:db8:1::9, 2a00::1", "https", ("2a00::1", "https")),
        ("::ffff:10.0.0.5", "203.0.113.9", "https", ("203.0.113.9", "https")),  # IPv4 peer as IPv6
        (None, "203.0.113.9", "https", (None, "http")),
    ],
)
def test_forwarded_headers_count_only_from_trusted_proxies(peer, xff, proto, want):
    assert resolve(peer, xff, proto, "http", TRUSTED) == want


def test_nothing_is_trusted_when_no_proxy_is_configured():
    assert resolve("127.0.0.1", "203.0.113.9", "https", "http", ()) == ("127.0.0.1", "http")


@pytest.fixture()
def behind_proxy(app, client, monkeypatch) -> Iterator[TestClient]:
    """The app as a proxy at 10.1.2.3 reaches it (the session swap of `client` stays in force)."""
    monkeypatch.setattr(get_settings().ops, "trusted_proxies", "10.0.0.0/8")
    with TestClient(app, client=("10.1.2.3", 4000)) as c:
        yield c


def _audit_addrs(session, request_id: str) -> set[str]:
    rows = session.execute(text("SELECT DISTINCT client_addr FROM audit_log WHERE request_id = :r"), {"r": request_id})
    return set(rows.scalars())


def test_the_audit_trail_and_the_request_id_come_from_the_one_resolved_request(behind_proxy, client, session, people):
    headers = people.headers("planner") | {"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Request-Id": "req-42"}
    r = behind_proxy.post("/api/v1/network/nodes", json=node_body("MH-CTX-1", 10, 10), headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "req-42"
    assert _audit_addrs(session, "req-42") == {"203.0.113.9"}
    # the same headers from a client that is not a proxy: its own address, and an unsafe id is replaced
    headers |= {"X-Request-Id": "x" * 65}
    r = client.post("/api/v1/network/nodes", json=node_body("MH-CTX-2", 30, 10), headers=headers)
    assert r.status_code == 201 and len(r.headers["x-request-id"]) == 32
    assert _audit_addrs(session, r.headers["x-request-id"]) == {"testclient"}


def test_sign_in_is_audited_with_the_client_address(behind_proxy, session, people):
    r = behind_proxy.post(
        "/api/v1/auth/token",
        json={"username": "t_planner", "password": "salah"},
        headers={"X-Forwarded-For": "203.0.113.50", "X-Request-Id": "login-1"},
    )
    assert r.status_code == 401
    assert _audit_addrs(session, "login-1") == {"203.0.113.50"}  # the failed attempt counted, and from where


def test_citizen_reports_are_limited_per_resolved_client(behind_proxy):
    lon, lat = at(60, 60)
    form = {"lon": str(lon), "lat": str(lat), "category": "tangled", "description": "kabel kusut di tiang"}

    def post(addr: str) -> int:
        return behind_proxy.post("/api/v1/public/reports", data=form, headers={"X-Forwarded-For": addr}).status_code

    assert [post("203.0.113.60") for _ in range(6)] == [201] * 5 + [429]
    assert post("203.0.113.61") == 201  # another citizen behind the same proxy is not refused


def test_cookies_are_secure_when_the_proxy_says_https(behind_proxy, client, people):
    form = {"username": "t_planner", "password": "rahasia-uji-123"}
    r = behind_proxy.post("/masuk", data=form, headers={"X-Forwarded-Proto": "https"}, follow_redirects=False)
    assert r.status_code == 303 and all("Secure" in c for c in r.headers.get_list("set-cookie"))
    r = client.post("/masuk", data=form, headers={"X-Forwarded-Proto": "https"}, follow_redirects=False)
    assert r.status_code == 303 and not any("Secure" in c for c in r.headers.get_list("set-cookie"))


def test_healthz_answers_and_readyz_checks_the_database_and_its_migrations(app, engine, monkeypatch):
    from ducting.ops import health

    with TestClient(app) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
    ready, details = health.readiness(engine)
    assert ready and details["migrations"]["database"] == details["migrations"]["code"]
    monkeypatch.setattr(health, "code_heads", lambda: frozenset({"9999_not_yet"}))
    ready, details = health.readiness(engine)
    assert not ready and "ducting db migrate" in details["migrations"]["problem"]
    gone = create_engine("postgresql+psycopg://nobody:x@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    ready, details = health.readiness(gone)
    assert not ready and details["database"] != "ok"


def _metrics(c: TestClient, **kw) -> str:
    r = c.get("/metrics", **kw)
    assert r.status_code == 200, r.status_code
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def test_metrics_are_for_allowed_addresses_or_the_token_and_label_routes_by_template(app, client, people, monkeypatch):
    assert client.get("/metrics").status_code == 404  # the test client's address is not in the allow list
    monkeypatch.setattr(get_settings().ops, "metrics_token", __import__("pydantic").SecretStr("s3cret-scrape"))
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    node = client.post("/api/v1/network/nodes", json=node_body("MH-CTX-M", 50, 50), headers=people.headers("planner"))
    client.get(f"/api/v1/network/nodes/{node.json()['id']}", headers=people.headers("planner"))
    client.get("/api/v1/no/such/path/123")
    body = _metrics(client, headers={"Authorization": "Bearer s3cret-scrape"})
    assert 'route="/api/v1/network/nodes/{node_id}",status="200"' in body
    assert f"/api/v1/network/nodes/{node.json()['id']}" not in body  # never a raw path
    assert 'route="unmatched",status="404"' in body
    for name in ("ducting_db_pool_connections", "ducting_replica_usable", "ducting_background_runs_total"):
        assert f"# TYPE {name}" in body
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        assert "ducting_http_request_duration_seconds_bucket" in _metrics(local)  # loopback may, by default


def test_json_logs_carry_the_request_id_of_the_request_they_were_written_in(client, people):
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("ducting.access")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        r = client.get("/api/v1/network/specs", headers=people.headers("planner") | {"X-Request-Id": "trace-7"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert r.status_code == 200
    record = json.loads(lines[-1])
    assert record["request_id"] == "trace-7" and record["route"] == "/api/v1/network/specs"
    assert record["status"] == 200 and record["level"] == "info" and record["duration_ms"] > 0


def _count(series: str) -> float:
    from prometheus_client import REGISTRY

    name, _, labels = series.partition("{")
    pairs = dict(p.split("=") for p in labels.rstrip("}").split(",")) if labels else {}
    return REGISTRY.get_sample_value(name, {k: v.strip('"') for k, v in pairs.items()}) or 0.0


def test_background_runs_are_counted_by_job_and_outcome():
    ok = jobs.Job("ops_test_job", 1, lambda: 3)

    def broken() -> int:
        raise ValueError("on purpose")

    before = _count('ducting_background_runs_total{job="ops_test_job",outcome="ok"}')
    assert jobs.run_once(ok) == 3
    assert jobs.run_once(jobs.Job("ops_test_job", 1, broken)) is None  # logged, not raised
    assert _count('ducting_background_runs_total{job="ops_test_job",outcome="ok"}') == before + 1
    assert _count('ducting_background_runs_total{job="ops_test_job",outcome="error"}') >= 1
    assert _count('ducting_background_last_success_timestamp_seconds{job="ops_test_job"}') > 0


def test_a_capacity_graph_reload_is_timed(client, session, people):
    from tests.leasing.conftest import build_ladder

    build_ladder(session, prefix="GT")
    session.commit()
    before = _count('ducting_graph_reload_seconds_count{part="network"}')
    body = {"from_node": "MH-GT-A0", "to_node": "MH-GT-B4", "subduct_count": 1, "size_class": "microduct"}
    body["term_months"] = 12
    r = client.post("/api/v1/leasing/quotes", json=body | {"first_day": "2031-01-01"}, headers=people.headers("op_a"))
    assert r.status_code == 200, r.text
    assert _count('ducting_graph_reload_seconds_count{part="network"}') == before + 1
    assert metrics.GRAPH_RELOAD_SECONDS is not None
