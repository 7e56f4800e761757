"""Backups with PostgreSQL's own tools: `pg_dump` custom format out, `pg_restore` into a fresh database.

Extensions are created by `ducting db up` as a superuser, so a restore skips the dump's extension entries
(the target database has them already) and restores everything else as the schema owner."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from ducting.localdb import LocalCluster


class BackupError(RuntimeError):
    pass


def _tool(name: str) -> str:
    return LocalCluster._bin(name)


def _conn_args(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "", "-d", u.database or ""]
    return args, os.environ | {"PGPASSWORD": u.password or ""}


def backup(url: str, out: Path) -> int:
    """Dump the database at `url` (the schema owner's URL) to `out`; returns its size in bytes."""
    args, env = _conn_args(url)
    done = subprocess.run(
        [_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(out), *args], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    return out.stat().st_size


def restore(dump: Path, url: str) -> None:
    """Restore `dump` into the (fresh, extension-ready) database at `url`, skipping extension entries."""
    args, env = _conn_args(url)
    listing = subprocess.run([_tool("pg_restore"), "-l", str(dump)], capture_output=True, text=True, check=True).stdout
    # extensions and their own catalogue data (spatial_ref_sys) come with `CREATE EXTENSION` in the target
    keep = [line for line in listing.splitlines() if " EXTENSION " not in line and "spatial_ref_sys" not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as fh:
        fh.write("\n".join(keep) + "\n")
        plan = fh.name
    try:
        done = subprocess.run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "-L",
                plan,
                *args,
                str(dump),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
    finally:
        os.unlink(plan)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()[-2000:]}")
