"""What every benchmark needs: databases on the local cluster, services in subprocesses, load generators, timing,
memory, and one way to print and keep the figures.

Nothing here knows about a domain. A benchmark module builds its data, then reports `Figure`s through `report()`.
Machines are noisy (bench/README.md, "Peer figures": absolute times moved ~55 % between runs), so compare figures of one run only:
`interleaved()` alternates the contenders request by request for exactly that reason.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.settings import PROJECT_ROOT, get_settings

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
BENCH_VENV = PROJECT_ROOT / ".local" / "bench-venv"
"""Third-party servers we compare against live here, so their dependencies never meet the project's."""

console = Console(width=None if sys.stdout.isatty() else 150)  # a log file gets the whole table, unwrapped


# -- databases ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchDatabase:
    """A database on the project-local cluster. URLs are SQLAlchemy's (`postgresql+psycopg://`)."""

    name: str
    app_url: str
    owner_url: str

    def libpq(self, *, owner: bool = False) -> str:
        """The same URL as plain `postgresql://`, for psycopg, asyncpg and the PostgreSQL tools."""
        return (
            make_url(self.owner_url if owner else self.app_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    def note(self) -> dict[str, Any] | None:
        """What a benchmark wrote about this database's contents (see `set_note`), or None."""
        import psycopg

        with psycopg.connect(self.libpq()) as conn:
            raw = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (self.name,)
            ).fetchone()
        try:
            return json.loads(raw[0]) if raw and raw[0] else None
        except ValueError:
            return None

    def set_note(self, note: dict[str, Any]) -> None:
        """Remember what the database holds (a database comment), so the next run can reuse it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.libpq(owner=True), autocommit=True) as conn:
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(self.name), sql.Literal(json.dumps(note)))
            )

    def scalar(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """One value, read as the schema owner: bookkeeping and checks (counts, double bookings) must see every
        row, which row-level security would hide from the application role."""
        import psycopg

        with psycopg.connect(self.libpq(owner=True)) as conn:
            row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def local_cluster() -> LocalCluster:
    cluster = LocalCluster.from_settings(get_settings())
    cluster.up()  # idempotent: `./dev bench` has started it already
    return cluster


def bench_database(name: str, *, fresh: bool = False) -> BenchDatabase:
    """Create (or, with `fresh`, re-create) a database with the extensions, migrated to head."""
    from ducting.migrate import upgrade

    cluster = local_cluster()
    cluster.ensure_database(name, fresh=fresh)
    db = BenchDatabase(name, cluster.url(role=APP_ROLE, dbname=name), cluster.url(role=OWNER_ROLE, dbname=name))
    upgrade("heads", url=db.owner_url)  # "heads": branches from parallel work apply too
    return db


def postgres_tool(name: str) -> str | None:
    """A PostgreSQL client program (pgbench, psql) of the newest installed major, or from PATH."""
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (bindir / name).exists():
            return str(bindir / name)
    return shutil.which(name)


# -- timing ---------------------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Timings:
    """Seconds of repeated runs of one thing."""

    seconds: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.seconds, 50) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.seconds, 95) * 1000

    def summary(self) -> dict[str, float]:
        return {
            "n": len(self.seconds),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "min_ms": round(min(self.seconds) * 1000, 3),
            "max_ms": round(max(self.seconds) * 1000, 3),
        }


def interleaved(
    contenders: dict[str, Callable[[], object]], *, n: int, warmup: int = 10, label: str = "timing"
) -> dict[str, Timings]:
    """Time each contender `n` times, one call of each in turn, so drifting machine noise hits all alike."""
    out = {name: Timings() for name in contenders}
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    with stage_progress() as update:
        for i in range(n):
            for name, fn in contenders.items():
                started = time.perf_counter()
                fn()
                out[name].seconds.append(time.perf_counter() - started)
            update(label, i + 1, n)
    return out


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed: ...; elapsed()` gives the seconds since the block began."""
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started


@contextmanager
def stage_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress display fed by (stage, done, total) calls, as the importer and generator report."""
    bar = Progress(
        TextColumn("  {task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            for other in tasks.values():  # a new stage means the previous one is finished
                bar.update(other, completed=bar.tasks[other].total)
            tasks[stage] = bar.add_task(stage, total=max(total, 1))
        bar.update(tasks[stage], completed=done, total=max(total, 1))

    with bar:
        yield update
        for task in tasks.values():
            bar.update(task, completed=bar.tasks[task].total)


# -- HTTP -----------------------------------------------------------------------------------------------------------
class HttpProbe:
    """One persistent HTTP/1.1 connection (stdlib, so the client adds as little as it can to a timing)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = headers or {}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def get_ok(self, path: str) -> bytes:
        status, body = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str, *, timeout_s: float = 60, procs: Sequence[subprocess.Popen] = (), log: Path | None = None
) -> None:
    """Wait until `url` answers 200; fail early, with the log's tail, if a process dies."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        dead = [p for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            why = "exited" if dead else f"did not answer within {timeout_s:.0f} s"
            raise RuntimeError(f"{url}: the server {why}\n{tail}")
        time.sleep(0.1)


# -- services -------------------------------------------------------------------------------------------------------
@dataclass
class Memory:
    rss_mb: float
    hwm_mb: float


def memory(pid: int) -> Memory:
    """Resident memory now (VmRSS) and its peak (VmHWM) of one process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB
    return Memory(rss_mb=round(fields["VmRSS"], 1), hwm_mb=round(fields["VmHWM"], 1))


def children(pid: int) -> list[int]:
    """Direct child processes (uvicorn --workers N, gunicorn)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@dataclass
class Service:
    """Server processes running on one loopback port."""

    name: str
    base_url: str
    procs: list[subprocess.Popen]
    log: Path

    @property
    def pids(self) -> list[int]:
        """The processes that serve: each launched process, or its workers if it forked some."""
        out = []
        for p in self.procs:
            out += children(p.pid) or [p.pid]
        return out

    def memory(self) -> dict[int, Memory]:
        return {pid: memory(pid) for pid in self.pids}


@contextmanager
def service(
    name: str,
    commands: Sequence[Sequence[str]],
    *,
    port: int,
    env: dict[str, str],
    ready_path: str,
    cwd: Path | None = None,
    timeout_s: float = 90,
) -> Iterator[Service]:
    """Start one or more server processes that serve `port`, wait until `ready_path` answers, stop them after.

    Output goes to a log file that is shown when a server fails to start.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    log = workdir / "server.log"
    procs: list[subprocess.Popen] = []
    with log.open("wb") as out:
        try:
            for cmd in commands:
                procs.append(
                    subprocess.Popen(
                        list(cmd),
                        env=os.environ | env,
                        cwd=cwd or workdir,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            base = f"http://127.0.0.1:{port}"
            wait_http(base + ready_path, timeout_s=timeout_s, procs=procs, log=log)
            yield Service(name, base, procs, log)
        finally:
            for p in procs:
                _stop(p)
    shutil.rmtree(workdir, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process and the group it leads (its workers), then SIGKILL what is left after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
    except ProcessLookupError:
        pass


def uvicorn_commands(
    app: str,
    *,
    port: int,
    python: str = sys.executable,
    factory: bool = False,
    processes: int = 1,
    mode: str = "single",
) -> list[list[str]]:
    """How to run `app` under uvicorn on `port`: mode "single" (one process), "workers" (`--workers N`),
    or "reuseport" (N single-worker processes, each with its own SO_REUSEPORT socket; see bench/reuseport.py).
    Access logs are off: both contenders pay the same, and wrk would fill a disk with them."""
    flags = ["--log-level", "warning", "--no-access-log"] + (["--factory"] if factory else [])
    if mode == "reuseport":
        return [[python, "-m", "bench.reuseport", app, "--port", str(port), *flags] for _ in range(processes)]
    cmd = [python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), *flags]
    if mode == "workers":
        cmd += ["--workers", str(processes)]
    return [cmd]


# -- load -----------------------------------------------------------------------------------------------------------
@dataclass
class LoadResult:
    """Closed-loop load: `connections` clients, each sending its next request when the last one is answered."""

    tool: str
    connections: int
    duration_s: float
    requests: int
    requests_per_s: float
    bad_responses: int  # non-2xx, plus socket errors and time-outs
    latency_ms: dict[str, float]  # percentiles the tool reports, e.g. {"p50": 61.2, "p99": 140.0}

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.bad_responses == 0


def load(
    url: str, *, headers: dict[str, str] | None = None, connections: int = 16, threads: int = 2, duration_s: float = 10
) -> LoadResult:
    """wrk when it is installed (Debian `wrk`), otherwise a bounded asyncio + httpx client (weaker: it shares
    the 2 cores with the servers and is slower per request, so its figures are a floor, not a peer's)."""
    if shutil.which("wrk"):
        return wrk(url, headers=headers, connections=connections, threads=threads, duration_s=duration_s)
    console.print("[yellow]wrk is not installed (apt-get install wrk); using the slower httpx client[/]")
    return httpx_load(url, headers=headers, connections=connections, duration_s=duration_s)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(
    url: str, *, headers: dict[str, str] | None = None, connections: int = 16, threads: int = 2, duration_s: float = 10
) -> LoadResult:
    cmd = ["wrk", f"-c{connections}", f"-t{threads}", f"-d{int(duration_s)}s", "--latency", "--timeout", "30s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in errors.groups()) if errors else 0)
    latency = {
        f"p{m.group(1)}": round(_ms(m.group(2)), 2)
        for m in re.finditer(r"^\s+(50|75|90|99)(?:\.\d+)?%\s+([\d.]+(?:us|ms|s|m))\s*$", out, re.M)
    }
    return LoadResult("wrk", connections, duration_s, requests, round(rate, 2), bad, latency)


def httpx_load(
    url: str, *, headers: dict[str, str] | None = None, connections: int = 16, duration_s: float = 10
) -> LoadResult:
    import asyncio

    import httpx

    async def run() -> tuple[list[float], int]:
        times: list[float] = []
        bad = 0
        deadline = time.monotonic() + duration_s
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

            async def worker() -> None:
                nonlocal bad
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    response = await client.get(url)
                    times.append(time.perf_counter() - started)
                    bad += response.status_code >= 300

            await asyncio.gather(*(worker() for _ in range(connections)))
        return times, bad

    started = time.perf_counter()
    times, bad = asyncio.run(run())
    elapsed = time.perf_counter() - started
    latency = {f"p{q}": round(percentile(times, q) * 1000, 2) for q in (50, 75, 90, 99)} if times else {}
    return LoadResult("httpx", connections, round(elapsed, 2), len(times), round(len(times) / elapsed, 2), bad, latency)


def pgbench(
    db_url: str,
    statement: str,
    *,
    clients: int = 16,
    threads: int = 2,
    duration_s: float = 10,
    settings: dict[str, str] | None = None,
) -> LoadResult:
    """Run one SQL statement (literal values, no parameters) in a closed loop with pgbench over TCP. `settings`
    are set on each connection (PGOPTIONS), e.g. the identity row-level security reads."""
    tool = postgres_tool("pgbench")
    if tool is None:
        raise RuntimeError("pgbench not found (Debian: postgresql-client)")
    parts = make_url(db_url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(statement.strip().rstrip(";") + ";\n")
        script = fh.name
    try:
        cmd = [
            tool,
            "-n",
            "-h",
            parts.host or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(int(duration_s)),
            "-f",
            script,
            parts.database or "",
        ]
        options = " ".join(f"-c {k}={v}" for k, v in (settings or {}).items())
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=os.environ | {"PGPASSWORD": parts.password or "", "PGOPTIONS": options},
        )
    finally:
        os.unlink(script)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip()[-1000:]}")
    count = int(re.search(r"number of transactions actually processed: (\d+)", done.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))
    lat = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    return LoadResult(
        "pgbench",
        clients,
        duration_s,
        count,
        round(tps, 2),
        int(failed.group(1)) if failed else 0,
        {"mean": float(lat.group(1))} if lat else {},
    )


# -- figures --------------------------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One printed figure. `target` is ("<=" | "<" | ">=" | ">", limit) or None for information only."""

    key: str
    label: str
    value: float | None
    unit: str
    target: tuple[str, float] | None = None
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        op, limit = self.target
        return {"<=": self.value <= limit, "<": self.value < limit, ">=": self.value >= limit, ">": self.value > limit}[
            op
        ]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = f"{self.target[0]} {self.target[1]:g}" if self.target else None
        out["passed"] = self.passed
        return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def report(name: str, title: str, figures: list[Figure], details: dict[str, Any]) -> Path:
    """Print the figures as a table and write them, with `details`, to bench/results/<name>-<timestamp>.json."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for column, justify in (
        ("figure", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("target", "left"),
        ("", "left"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for f in figures:
        verdict = {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: ""}[f.passed]
        target = f"{f.target[0]} {f.target[1]:g}" if f.target else ""
        table.add_row(f.label, _fmt(f.value), f.unit, target, verdict, f.note)
    console.print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    payload = {
        "benchmark": name,
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": [f.as_dict() for f in figures],
        "details": details,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    console.print(f"written to {path.relative_to(PROJECT_ROOT)}")
    return path


def load_average() -> float:
    """The 1-minute load average: above the core count, other work shares the machine and figures are noisy."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def warn_if_busy() -> float:
    """Say so when the machine is busy before a benchmark starts; returns the load average."""
    load = load_average()
    if load > 0.5 * (os.cpu_count() or 1):
        console.print(
            f"[yellow]the machine is busy (load average {load:.1f} on {os.cpu_count()} cores): "
            f"absolute figures will be slower; same-run ratios still hold best[/]"
        )
    return load


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.strip()
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "commit": commit or None,
        "load_average_at_end": load_average(),
    }
