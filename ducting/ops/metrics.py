"""Prometheus metrics, in the text format at `/metrics`.

One process: the default registry. Several worker processes (`ducting serve --workers N`, or uvicorn's own): set
`PROMETHEUS_MULTIPROC_DIR` to an empty folder before they start and each scrape adds every process's figures
up (prometheus_client's multiprocess mode; gauges say how: pool connections are summed, lag is the worst).

Route labels are route templates (`/api/v1/network/nodes/{node_id}`), never raw paths, so a crawler cannot blow
up the series count. Labels carry no city or tenant: a deployment serving many cities (issue 20) adds that label
where the data is, not here.

Who may read `/metrics`: clients whose resolved address (after the trusted proxies) is in `DUCTING_METRICS_ALLOW`
(default loopback), or any client sending `Authorization: Bearer $DUCTING_METRICS_TOKEN`. Others get 404.
"""

from __future__ import annotations

import hmac
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ducting.ops.proxy import in_networks, parse_networks
from ducting.settings import Settings

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_SECONDS = Histogram(
    "ducting_http_request_duration_seconds",
    "Time from a request's arrival to its last byte, by route template",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
DB_POOL = Gauge(
    "ducting_db_pool_connections",
    "Connections of each database pool: in_use, idle, overflow",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
READ_SESSIONS = Counter(
    "ducting_db_reads_total", "Read-only requests by where they were sent (replica or primary) and why", ["target"]
)
REPLICA_LAG_SECONDS = Gauge(
    "ducting_replica_lag_seconds",
    "How far the read replica is behind the primary, as last measured",
    multiprocess_mode="livemax",
)
REPLICA_LAG_BYTES = Gauge(
    "ducting_replica_lag_bytes", "WAL bytes the replica has not replayed, as last measured", multiprocess_mode="livemax"
)
REPLICA_USABLE = Gauge(
    "ducting_replica_usable",
    "1 while reads go to the replica, 0 while they go to the primary",
    multiprocess_mode="livemin",
)
GRAPH_RELOAD_SECONDS = Histogram(
    "ducting_graph_reload_seconds",
    "Capacity graph refreshes: a full network load, or the incremental allocation merge",
    ["part"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BACKGROUND_RUNS = Counter("ducting_background_runs_total", "Runs of background jobs by outcome", ["job", "outcome"])
BACKGROUND_SECONDS = Histogram(
    "ducting_background_run_seconds",
    "Duration of background job runs",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0),
)
BACKGROUND_LAST_SUCCESS = Gauge(
    "ducting_background_last_success_timestamp_seconds",
    "When each background job last finished without error (Unix time)",
    ["job"],
    multiprocess_mode="livemax",
)
DB_UNAVAILABLE = Counter("ducting_db_unavailable_total", "Requests answered 503 because a database was unreachable")


def exposition() -> tuple[bytes, str]:
    """The text format of every metric, across processes when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def may_read(settings: Settings, client_addr: str | None, authorization: str) -> bool:
    """Allowed by address (the resolved client, so a request through the proxy is judged by where it came from)
    or by the metrics token."""
    ops = settings.ops
    token = ops.metrics_token.get_secret_value() if ops.metrics_token else ""
    bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    if token and bearer and hmac.compare_digest(bearer.encode(), token.encode()):
        return True
    return in_networks(client_addr, parse_networks(ops.metrics_allow))


def observe_graph(part: str, seconds: float) -> None:
    GRAPH_RELOAD_SECONDS.labels(part).observe(seconds)


def sample_pool(name: str, pool) -> None:
    """A SQLAlchemy QueuePool's figures into DB_POOL (sampled by the replica monitor, and at each scrape)."""
    try:
        in_use, idle, overflow = pool.checkedout(), pool.checkedin(), max(pool.overflow(), 0)
    except AttributeError:  # a pool kind without counters (NullPool, StaticPool)
        return
    DB_POOL.labels(name, "in_use").set(in_use)
    DB_POOL.labels(name, "idle").set(idle)
    DB_POOL.labels(name, "overflow").set(overflow)


def sample_async_pool(name: str, pool) -> None:
    """A psycopg_pool pool's figures into DB_POOL."""
    stats = pool.get_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL.labels(name, "in_use").set(size - available)
    DB_POOL.labels(name, "idle").set(available)
    DB_POOL.labels(name, "waiting").set(stats.get("requests_waiting", 0))


async def process_exit() -> None:
    """In multiprocess mode, drop this process's live gauges from later scrapes."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
