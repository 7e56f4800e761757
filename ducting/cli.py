"""`ducting ...`: the project's command line (Typer). Long operations show a Rich progress bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ducting.settings import get_settings

app = typer.Typer(help="BEDELAU Ducting: jaringan ducting bersama Kota Batam.", no_args_is_help=True)
db_app = typer.Typer(help="The database: a project-local PostgreSQL cluster unless DATABASE_URL is set.",
                     no_args_is_help=True)
sample_app = typer.Typer(help="The Batam sample network.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sample_app, name="sample")
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
    except Exception as exc:  # noqa: BLE001 - a status command reports, it does not crash
        _fail(str(exc))
    print(make_url(url).render_as_string(hide_password=True))
    try:
        with create_engine(url).connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        console.print(f"reachable; PostGIS {version}; migration {head}")
    except Exception as exc:  # noqa: BLE001
        console.print(f"[yellow]not ready:[/yellow] {str(exc).splitlines()[0]}")
        raise typer.Exit(2)


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
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

    upgrade("head")
    console.print("database recreated and migrated")


@app.command("serve")
def serve(port: int = 8000, host: str = "127.0.0.1", workers: int = 1) -> None:
    """Run the web service (uvicorn)."""
    import uvicorn

    uvicorn.run("ducting.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
