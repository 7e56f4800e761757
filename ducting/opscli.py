"""The command line of running it for real: `ducting db replica ...`, `ducting db basebackup`, point-in-time
restore (`ducting db restore --to-time T`) and `ducting worker`. Mounted by ducting.cli."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from ducting.calendar import WIB
from ducting.settings import get_settings

replica_app = typer.Typer(
    help="A streaming read replica of the local cluster (pg_basebackup, its own port).", no_args_is_help=True
)
console = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _local_only(what: str) -> None:
    if get_settings().db.url:
        _fail(f"{what} works on the local cluster; with DATABASE_URL use your server's own standby and archive")


def _replica():
    from ducting.localrepl import LocalReplica

    return LocalReplica.from_settings(get_settings())


@replica_app.command("up")
def replica_up(
    synchronous: Annotated[
        bool, typer.Option("--synchronous", help="The primary waits for the replica at every commit.")
    ] = False,
) -> None:
    """Create (once, by pg_basebackup) and start the replica; the service then reads maps and reports from it."""
    from ducting.localdb import LocalClusterError

    _local_only("`db replica`")
    replica = _replica()
    try:
        replica.up(synchronous=synchronous)
    except LocalClusterError as exc:
        _fail(str(exc))
    console.print(f"replica running on 127.0.0.1:{replica.port}, data in {replica.data}")


@replica_app.command("down")
def replica_down() -> None:
    """Stop the replica (reads go back to the primary within a check interval)."""
    _local_only("`db replica`")
    _replica().down()
    console.print("replica stopped")


@replica_app.command("promote")
def replica_promote() -> None:
    """Make the replica a primary: the failover step. Stop the old primary first and keep it stopped."""
    _local_only("`db replica`")
    _replica().promote()
    console.print("replica promoted: it accepts writes now")


@replica_app.command("remove")
def replica_remove() -> None:
    """Stop the replica, drop its replication slot and delete its files."""
    _local_only("`db replica`")
    _replica().remove()
    console.print("replica removed")


@replica_app.command("status")
def replica_status() -> None:
    """Whether the replica runs, and how far behind it is."""
    from ducting.replica import ReadRouter

    _local_only("`db replica`")
    replica = _replica()
    if not replica.running():
        console.print("replica not running")
        raise typer.Exit(2)
    reads = ReadRouter()
    reads.check()
    console.print(f"replica on 127.0.0.1:{replica.port}: {reads.reason}; lag {reads.lag_s} s, {reads.lag_bytes} bytes")


def archive_folder() -> Path:
    folder = get_settings().db.wal_archive_dir
    if folder is None:
        _fail("set DUCTING_WAL_ARCHIVE_DIR to the WAL archive folder (then `ducting db up` archives into it)")
    return folder.resolve()


def base_backup() -> None:
    """Take a base backup into the WAL archive folder (restore starts from the latest one before its time)."""
    from ducting.localdb import LocalCluster
    from ducting.localrepl import take_base_backup

    _local_only("`db basebackup`")
    target = take_base_backup(LocalCluster.from_settings(get_settings()), archive_folder())
    console.print(f"base backup in {target}")


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without an offset is WIB (the service's time zone)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-05-04T10:30:00+07:00)")
    return when if when.tzinfo else when.replace(tzinfo=WIB)


def restore_to_time(to_time: str, port: int, folder: Path | None) -> None:
    """Recover the archive into a new cluster as it was at `to_time`; prints its URL."""
    from ducting.localdb import APP_ROLE, LocalCluster, LocalClusterError
    from ducting.localrepl import restore_to_time as recover

    _local_only("`db restore --to-time`")
    primary = LocalCluster.from_settings(get_settings())
    when = parse_time(to_time)
    root = folder or primary.root.with_name(f"{primary.root.name}-restored-{when:%Y%m%dT%H%M%S}")
    into = LocalCluster(root=root, port=port, dbname=primary.dbname)
    try:
        recover(archive_folder(), when, into, credentials=primary.credentials_file)
    except LocalClusterError as exc:
        _fail(str(exc))
    from sqlalchemy.engine import make_url

    url = make_url(into.url(role=APP_ROLE)).render_as_string(hide_password=True)
    console.print(f"restored to {when.isoformat()} in {into.data}, running on port {port}: {url}")
    console.print(f"stop it with: pg_ctl -D {into.data} stop (as the cluster's user)")


def worker(once: Annotated[bool, typer.Option("--once", help="Run every job once and exit.")] = False) -> None:
    """Run the background work in this process: the jobs (the leasing sweeper, the notifications' clock), each on
    its own clock, and the notification delivery worker (webhooks, e-mail)."""
    import asyncio

    from ducting.ops import jobs, logs

    settings = get_settings()
    logs.configure(settings)
    todo = jobs.all_jobs(settings)
    if once:
        from ducting.notify.worker import deliver_until_idle

        for job in todo:
            console.print(f"{job.name}: {jobs.run_once(job)}")
        console.print(f"notify deliveries attempted: {deliver_until_idle()}")
        return
    if settings.ops.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.ops.worker_metrics_port, addr="127.0.0.1")
    console.print(f"worker running: {', '.join(f'{j.name} every {j.interval_s:g} s' for j in todo if j.interval_s)}")
    asyncio.run(jobs.JobRunner(todo, jobs.all_loops(settings)).run_forever())
