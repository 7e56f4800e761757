"""Point-in-time recovery: a throwaway cluster archives its WAL into a folder (what `ducting db up` does with
DUCTING_WAL_ARCHIVE_DIR) and has a base backup; rows are written, the time is noted, more rows are written, and
the archive is recovered to the noted time into a new cluster, which holds exactly the rows of before."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from ducting.localdb import LocalCluster
from ducting.localrepl import archive_to, base_backups
from tests.live import free_port
from tests.ops.conftest import app_engine, seed

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _codes(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT code FROM node WHERE code LIKE 'MH-PITR-%'")).scalars())


def _write(engine, codes: list[str], y: float) -> None:
    from ducting.db import Actor, open_session
    from ducting.network.schemas import NodeIn
    from ducting.network.service import create_node
    from tests.factories import point

    with open_session(Actor.system("pitr"), bind=engine) as s:
        for i, code in enumerate(codes):
            create_node(s, data=NodeIn(code=code, kind="manhole", geometry=point(700 + 10 * i, y)))
        s.commit()


def test_restore_to_a_noted_time_brings_back_the_rows_of_that_moment_and_none_after(clusters):
    primary = clusters.primary("pitr-primary")
    archive = primary.storage / "wal-archive"
    archive_to(primary, archive)
    assert primary.psql("postgres", "SHOW archive_mode", capture=True).strip() == "on"
    assert len(base_backups(archive)) == 1
    engine = app_engine(primary)
    seed(engine, prefix="PIT")

    before = [f"MH-PITR-{i}" for i in range(5)]
    _write(engine, before, 700)
    time.sleep(1.0)
    noted = datetime.now(UTC)
    time.sleep(1.0)
    _write(engine, [f"MH-PITR-LATE-{i}" for i in range(3)], 760)
    # finish the segment holding the late rows, so it is archived, and wait until it is
    switched = primary.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())", capture=True).strip()
    deadline = time.monotonic() + 60
    while (
        primary.psql("postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", capture=True).strip()
        < switched
    ):
        assert time.monotonic() < deadline, "the WAL segment was not archived"
        time.sleep(0.2)
    assert _codes(engine) == set(before) | {f"MH-PITR-LATE-{i}" for i in range(3)}

    # through the command line, as an operator would
    into = clusters.adopt(
        LocalCluster(root=primary.root.with_name("pitr-restored"), port=free_port(), dbname="ducting_ops")
    )
    env = os.environ | {
        "DUCTING_PG_DIR": str(primary.root),
        "DUCTING_PG_PORT": str(primary.port),
        "DUCTING_PG_DB": primary.dbname,
        "DUCTING_WAL_ARCHIVE_DIR": str(archive),
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ducting.cli",
            "db",
            "restore",
            "--to-time",
            noted.isoformat(),
            "--port",
            str(into.port),
            "--folder",
            str(into.root),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    restored = app_engine(into)
    try:
        assert _codes(restored) == set(before)  # the rows of the noted moment, and not one written after it
        with restored.connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is False  # promoted: usable
            assert conn.execute(text("SELECT count(*) FROM account WHERE username LIKE 'pit_%'")).scalar() == 3
    finally:
        restored.dispose()
        engine.dispose()
