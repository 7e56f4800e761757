"""`ducting ...`: the project's command line (Typer). Long operations show a Rich progress bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ducting.compliance import cli as compliance_cli
from ducting.settings import get_settings

app = typer.Typer(help="BEDELAU Ducting: jaringan ducting bersama Kota Batam.", no_args_is_help=True)
db_app = typer.Typer(
    help="The database: a project-local PostgreSQL cluster unless DATABASE_URL is set.", no_args_is_help=True
)
sample_app = typer.Typer(help="The Batam sample network.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sample_app, name="sample")
app.add_typer(compliance_cli.app, name="compliance")
console = Console(stderr=True)


def _cluster():
    from ducting.localdb import LocalCluster

    return LocalCluster.from_settings(get_settings())


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@db_app.command("up")
def db_up() -> None:
    """Create (once) and start the project-local cluster, with roles, database and extensions."""
    from ducting.localdb import LocalClusterError

    if get_settings().db.url:
        console.print("DATABASE_URL is set: using that database, no local cluster started.")
        return
    try:
        cluster = _cluster()
        cluster.up()
    except LocalClusterError as exc:
        _fail(str(exc))
    console.print(f"PostgreSQL running on 127.0.0.1:{cluster.port}, data in {cluster.data}")


@db_app.command("down")
def db_down() -> None:
    """Stop the project-local cluster."""
    if get_settings().db.url:
        console.print("DATABASE_URL is set: nothing local to stop.")
        return
    _cluster().down()
    console.print("PostgreSQL stopped.")


@db_app.command("status")
def db_status() -> None:
    """Print the database URL in use (password hidden) and whether it answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from ducting.db import database_url

    settings = get_settings()
    try:
        url = database_url(settings)
    except Exception as exc:
        _fail(str(exc))
    print(make_url(url).render_as_string(hide_password=True))
    try:
        with create_engine(url).connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        console.print(f"reachable; PostGIS {version}; migration {head}")
    except Exception as exc:
        console.print(f"[yellow]not ready:[/yellow] {str(exc).splitlines()[0]}")
        raise typer.Exit(2) from exc


@db_app.command("migrate")
def db_migrate(revision: str = "heads") -> None:
    """Apply Alembic migrations (the only way the schema changes)."""
    from ducting.migrate import upgrade

    upgrade(revision)
    console.print(f"migrated to {revision}")


@db_app.command("reset")
def db_reset(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Drop and recreate the local database, then migrate. Destroys its data."""
    if get_settings().db.url:
        _fail("refusing to reset a database given by DATABASE_URL")
    if not yes and not typer.confirm("Drop the local database and all its data?"):
        raise typer.Exit(1)
    cluster = _cluster()
    cluster.up()
    cluster.ensure_database(cluster.dbname, fresh=True)
    from ducting.migrate import upgrade

    upgrade("heads")
    console.print("database recreated and migrated")


def _progress():
    """A Rich progress bar fed by (stage, done, total) callbacks."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            for other in tasks.values():  # the previous stage is finished
                bar.update(other, completed=bar.tasks[other].total)
            tasks[stage] = bar.add_task(stage, total=max(total, 1))
        bar.update(tasks[stage], completed=done)

    return bar, update


def _cli_session():
    import getpass

    from ducting.db import Actor, open_session

    return open_session(Actor(account_id=None, role="system", request_id=f"cli:{getpass.getuser()}"))


@sample_app.command("load")
def sample_load(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Skip when the network has nodes.")] = False,
    network: Annotated[Path | None, typer.Option(help="A network file instead of the sample.")] = None,
) -> None:
    """Load the Batam sample: organisations, demo accounts (not in production) and the duct network."""
    from ducting import sample
    from ducting.errors import DomainError

    with _cli_session() as session:
        added = sample.load_organisations(session)
        accounts = sample.load_demo_accounts(session)
        if if_empty and not sample.network_is_empty(session):
            session.commit()
            console.print(f"network already loaded; {added} organisation(s), {len(accounts)} account(s) added")
            return
        bar, update = _progress()
        try:
            with bar:
                report = sample.load_network(session, network or sample.NETWORK_FILE, progress=update)
        except DomainError as exc:
            _print_problem(exc)
            raise typer.Exit(1) from exc
        session.commit()
    console.print(
        f"loaded {report.nodes.create} nodes, {report.segments.create} segments, {report.ducts} ducts, "
        f"{report.subducts} subducts; {added} organisation(s), {len(accounts)} account(s)"
    )


def _print_problem(exc) -> None:
    console.print(f"[red]{exc.code}:[/red] {exc.detail}")
    for err in exc.errors[:50]:
        console.print(f"  {err.path}: [yellow]{err.code}[/yellow] {err.message}")
    if len(exc.errors) > 50:
        console.print(f"  ... and {len(exc.errors) - 50} more")


@app.command("import")
def import_file(
    path: Path,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; write nothing.")] = False,
    crs: Annotated[str | None, typer.Option(help="CRS of a file that does not say, e.g. EPSG:32648")] = None,
) -> None:
    """Import nodes and segments (GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ, CSV). All or nothing."""
    from ducting.errors import DomainError
    from ducting.network.importer import import_layers
    from gis.io import ReadError, read_layers

    if not path.exists():
        _fail(f"{path} does not exist")
    try:
        layers = read_layers(path.read_bytes(), path.name, crs=crs)
    except ReadError as exc:
        _fail(f"{exc.code}: {exc.message}" + "".join(f"\n  row {r}: {c} {m}" for r, c, m in exc.errors[:50]))
    with _cli_session() as session:
        bar, update = _progress()
        try:
            with bar:
                report = import_layers(session, layers, dry_run=dry_run, progress=update)
        except DomainError as exc:
            _print_problem(exc)
            raise typer.Exit(1) from exc
        if not dry_run:
            session.commit()
    r = report.as_dict()
    verb = "would change" if dry_run else "imported"
    console.print(f"{verb}: nodes {r['nodes']}, segments {r['segments']}, ducts {r['ducts']}, subducts {r['subducts']}")


@app.command("export")
def export_file(
    out: Path,
    fmt: Annotated[str, typer.Option("--format", "-f", help="geojson, gpkg, shp, kml, kmz, csv, ofds")] = "gpkg",
) -> None:
    """Export the live network."""
    from ducting.network.exporter import EXPORT_FORMATS, export_network

    if fmt not in EXPORT_FORMATS:
        _fail(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    with _cli_session() as session:
        content, _, ext = export_network(session, fmt)
    out.write_bytes(content)
    console.print(f"wrote {out} ({len(content):,} bytes, {ext})")


@db_app.command("backup")
def db_backup(out: Path) -> None:
    """Dump the database (pg_dump custom format)."""
    from ducting.backup import BackupError, backup
    from ducting.db import database_url

    try:
        size = backup(database_url(get_settings(), migrations=True), out)
    except BackupError as exc:
        _fail(str(exc))
    console.print(f"wrote {out} ({size:,} bytes)")


@db_app.command("restore")
def db_restore(
    dump: Path,
    into: Annotated[
        str | None, typer.Option(help="Restore into this local database instead of replacing the current one")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Restore a dump into a fresh local database (by default the current one, replaced)."""
    from ducting.backup import BackupError, restore
    from ducting.localdb import OWNER_ROLE

    if not dump.exists():
        _fail(f"{dump} does not exist")
    if get_settings().db.url:
        _fail("restore targets the local cluster; with DATABASE_URL use pg_restore against your server")
    cluster = _cluster()
    cluster.up()
    name = into or cluster.dbname
    if into is None and not yes and not typer.confirm(f"Replace database {name} and all its data?"):
        raise typer.Exit(1)
    cluster.ensure_database(name, fresh=True)
    try:
        restore(dump, cluster.url(role=OWNER_ROLE, dbname=name))
    except BackupError as exc:
        _fail(str(exc))
    console.print(f"restored {dump} into {name}")


@app.command("serve")
def serve(port: int = 8000, host: str = "127.0.0.1", workers: int = 1) -> None:
    """Run the web service (uvicorn)."""
    import uvicorn

    uvicorn.run(
        "ducting.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )


@app.command("worker")
def worker(once: Annotated[bool, typer.Option("--once", help="One round of deliveries, then exit.")] = False) -> None:
    """Deliver notifications (webhooks, e-mail) and run their clock, beside or instead of the service's own."""
    from ducting.notify.worker import run_forever, run_once

    if once:
        console.print(f"{run_once()} deliveries attempted")
    else:
        run_forever()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
