"""`ducting compliance ...`: zone files and rule runs from the command line (mounted by ducting.cli).

Both run as the system identity (`cli:<user>`), write all or nothing, and commit only when everything passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Overhead cabling compliance: no-overhead zones and rule runs.", no_args_is_help=True)
console = Console(stderr=True)


def _session():
    import getpass

    from ducting.db import Actor, open_session

    return open_session(Actor(account_id=None, role="system", request_id=f"cli:{getpass.getuser()}"))


def _problem(exc) -> None:
    console.print(f"[red]{exc.code}:[/red] {exc.detail}")
    for err in exc.errors[:50]:
        console.print(f"  {err.path}: [yellow]{err.code}[/yellow] {err.message}")
    if len(exc.errors) > 50:
        console.print(f"  ... and {len(exc.errors) - 50} more")


@app.command("zones-import")
def zones_import(
    path: Path,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; write nothing.")] = False,
    crs: Annotated[str | None, typer.Option(help="CRS of a file that does not say")] = None,
) -> None:
    """Import no-overhead zones (GeoJSON, GeoPackage, KML/KMZ, zipped Shapefile). All or nothing; zones are
    matched by name; the spans under changed zones are re-evaluated."""
    from ducting.compliance import zones
    from ducting.errors import DomainError

    if not path.exists():
        console.print(f"[red]error:[/red] {path} does not exist")
        raise typer.Exit(1)
    with _session() as session:
        try:
            layers = zones.read_zone_file(path.read_bytes(), path.name, crs=crs)
            report = zones.import_zones(session, layers=layers, dry_run=dry_run, account_id=None)
        except DomainError as exc:
            _problem(exc)
            raise typer.Exit(1) from exc
        if not dry_run:
            session.commit()
    verb = "would create" if dry_run else "created"
    ev = report.evaluation
    console.print(
        f"{verb} {report.created}, updated {report.updated}, unchanged {report.unchanged} zone(s)"
        + (f"; flags opened {ev.opened}, resolved {ev.resolved}" if ev else "")
    )


@app.command("evaluate")
def evaluate_all() -> None:
    """Run every rule over everything and merge the flags (what `POST /api/v1/compliance/evaluate` does)."""
    from ducting.compliance.evaluation import evaluate

    with _session() as session:
        report = evaluate(session)
        session.commit()
    console.print(
        f"run {report.run_id}: opened {report.opened:,}, updated {report.updated:,}, resolved "
        f"{report.resolved:,}, migration cases {report.migrations_opened:,} in {report.seconds['total']} s"
    )
