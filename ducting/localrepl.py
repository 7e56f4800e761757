"""PostgreSQL's own replication and recovery for the project-local cluster: a streaming replica
(`ducting db replica up`), WAL archiving with base backups, and point-in-time restore into a new cluster
(`ducting db restore --to-time T`). In production the same pieces are the operator's standby and archive; these
commands are for tests and for a one-machine demo. Nothing here is home-made replication: `pg_basebackup`, a
physical replication slot, `standby.signal`, `restore_command` and `recovery_target_time` do the work.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ducting.localdb import LocalCluster, LocalClusterError
from ducting.settings import Settings

SLOT = "ducting_replica"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class LocalReplica(LocalCluster):
    """A hot standby of `primary`, in a folder of its own beside it, on its own port."""

    primary: LocalCluster | None = None

    @classmethod
    def of(cls, primary: LocalCluster, port: int) -> LocalReplica:
        return cls(
            root=primary.root.with_name(primary.root.name + "-replica"),
            port=port,
            dbname=primary.dbname,
            primary=primary,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalReplica:
        return cls.of(LocalCluster.from_settings(settings), settings.db.local_replica_port)

    @property
    def credentials_file(self) -> Path:  # a physical copy: the same roles and passwords as the primary
        assert self.primary is not None
        return self.primary.credentials_file

    @property
    def name(self) -> str:
        return SLOT

    def up(self, *, synchronous: bool = False) -> None:
        """Make (once, by pg_basebackup) and start the replica. `synchronous`: the primary waits for it at every
        commit (what a failover that loses nothing answered as committed needs; a stopped replica then stalls
        commits until `down`, which turns it off again)."""
        primary = self._primary()
        if not primary.running():
            raise LocalClusterError("the primary is not running: `ducting db up` first")
        if not self.initialised():
            self._clone(primary)
        if not self.running():
            self._start()
        set_config(primary, synchronous_standby_names=SLOT if synchronous else "")

    def down(self) -> None:
        primary = self._primary()
        if primary.running():  # a primary that waits for a stopped standby would hang every commit
            set_config(primary, synchronous_standby_names="")
        super().down()

    def promote(self) -> None:
        """Make this standby a primary (the failover step; the old primary must stay down, or be rebuilt)."""
        self._pg_ctl("promote", "-w", "-t", "60")

    def remove(self) -> None:
        """Stop it, drop its slot on the primary (so WAL is no longer kept for it) and delete its files."""
        self.down()
        primary = self._primary()
        if primary.running():
            primary.psql(
                "postgres",
                f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SLOT}'",
            )
        shutil.rmtree(self.storage, ignore_errors=True)

    def _primary(self) -> LocalCluster:
        assert self.primary is not None
        return self.primary

    def _clone(self, primary: LocalCluster) -> None:
        primary.psql(
            "postgres",
            f"SELECT pg_create_physical_replication_slot('{SLOT}', true) "
            f"WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{SLOT}')",
        )
        self.storage.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.data, ignore_errors=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._give_to_cluster_user(self.storage)
        base_backup_into(primary, self.data, slot=SLOT)
        conninfo = f"host={primary.socket_dir} port={primary.port} user=postgres application_name={SLOT}"
        append_conf(
            self,
            port=str(self.port),
            unix_socket_directories=_sql_str(str(self.socket_dir)),
            primary_conninfo=_sql_str(conninfo),
            primary_slot_name=_sql_str(SLOT),
            hot_standby="on",
            hot_standby_feedback="on",  # long map reads on the replica are not cancelled by the primary's vacuum
            archive_mode="off",
        )
        write_as_cluster_user(self, self.data / "standby.signal", "")


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


# -- archiving, base backups and point-in-time restore (LocalCluster methods, kept here by role) ---------------------
def append_conf(self: LocalCluster, **settings: str) -> None:
    """Append settings to postgresql.auto.conf (the last line for a name wins); the cluster must be stopped or
    reloaded to see them."""
    lines = "".join(f"{k} = {v}\n" for k, v in settings.items())
    conf = self.data / "postgresql.auto.conf"
    write_as_cluster_user(self, conf, conf.read_text() + lines if conf.exists() else lines)


def write_as_cluster_user(self: LocalCluster, path: Path, content: str) -> None:
    path.write_text(content)
    self._give_to_cluster_user(path)
    path.chmod(0o600)


def set_config(self: LocalCluster, **settings: str) -> bool:
    """ALTER SYSTEM each setting and reload; restarts the cluster when one needs it. Returns whether it did."""
    for name, value in settings.items():
        self.psql("postgres", f"ALTER SYSTEM SET {name} = {_sql_str(value)}")
    self.psql("postgres", "SELECT pg_reload_conf()")
    time.sleep(0.2)  # the postmaster rereads the file asynchronously
    names = ", ".join(_sql_str(n) for n in settings)
    pending = self.psql(
        "postgres", f"SELECT count(*) FROM pg_settings WHERE pending_restart AND name IN ({names})", capture=True
    ).strip()
    if pending != "0":
        self._pg_ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(self.log))
        return True
    return False


def archive_to(self: LocalCluster, folder: Path) -> None:
    """Archive every finished WAL segment into `folder` (restarts the cluster the first time: archive_mode needs
    it), and take a first base backup when there is none. `archive_timeout` bounds what an unfinished segment
    holds back: at most a minute of commits is not yet in the archive."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wal").mkdir(exist_ok=True)
    (folder / "base").mkdir(exist_ok=True)
    self._give_to_cluster_user(folder)
    wal = folder / "wal"
    set_config(
        self,
        archive_mode="on",
        archive_command=f"test ! -f {wal}/%f && cp %p {wal}/%f",
        archive_timeout="60s",
        wal_level="replica",
    )
    if not base_backups(folder):
        take_base_backup(self, folder)


def base_backup_into(self: LocalCluster, target: Path, *, slot: str | None = None) -> None:
    """pg_basebackup of this cluster into `target` (plain format, WAL streamed alongside)."""
    cmd = [self._bin("pg_basebackup"), "-D", str(target), "-h", str(self.socket_dir), "-p", str(self.port)]
    cmd += ["-U", "postgres", "-X", "stream", "-c", "fast", "--no-password"]
    if slot:
        cmd += ["-S", slot]
    self._as_cluster_user(cmd)


def take_base_backup(self: LocalCluster, folder: Path) -> Path:
    """A base backup under `folder/base/<UTC time>`, with the time it finished (what restore chooses by)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / "base" / stamp
    base_backup_into(self, target)
    write_as_cluster_user(self, target / "ducting-backup.json", json.dumps({"finished_at": _iso(datetime.now(UTC))}))
    return target


def base_backups(folder: Path) -> list[tuple[datetime, Path]]:
    """(finished at, folder) of each base backup in the archive, oldest first."""
    found = []
    for meta in sorted((folder / "base").glob("*/ducting-backup.json")):
        found.append((datetime.fromisoformat(json.loads(meta.read_text())["finished_at"]), meta.parent))
    return sorted(found)


def restore_to_time(folder: Path, target_time: datetime, into: LocalCluster, *, credentials: Path) -> None:
    """Recover the archive in `folder` to `target_time` as the new cluster `into` (stopped, uninitialised): the
    latest base backup finished before that time, replayed from the WAL archive up to the time, then promoted.
    `into` archives nothing (it must not write into the archive it reads) and is left running."""
    candidates = [path for finished, path in base_backups(folder) if finished <= target_time]
    if not candidates:
        raise LocalClusterError(f"no base backup in {folder} finished before {_iso(target_time)}")
    if into.initialised():
        raise LocalClusterError(f"{into.data} exists already: restore into a new folder")
    into.storage.mkdir(parents=True, exist_ok=True)
    into.socket_dir.mkdir(exist_ok=True)
    into._give_to_cluster_user(into.storage)
    into._as_cluster_user(["cp", "-a", str(candidates[-1]), str(into.data)])
    for leftover in ("standby.signal", "ducting-backup.json", "postmaster.pid"):
        (into.data / leftover).unlink(missing_ok=True)
    into.root.mkdir(parents=True, exist_ok=True)
    if not into.credentials_file.exists():
        shutil.copy(credentials, into.credentials_file)
        into.credentials_file.chmod(0o600)
    append_conf(
        into,
        port=str(into.port),
        unix_socket_directories=_sql_str(str(into.socket_dir)),
        restore_command=_sql_str(f"cp {folder / 'wal'}/%f %p"),
        recovery_target_time=_sql_str(_iso(target_time)),
        recovery_target_action="promote",
        archive_mode="off",
        synchronous_standby_names="''",
        primary_conninfo="''",
        primary_slot_name="''",
    )
    write_as_cluster_user(into, into.data / "recovery.signal", "")
    into._start()
    deadline = time.monotonic() + 300
    while into.psql("postgres", "SELECT pg_is_in_recovery()", capture=True).strip() != "f":
        if time.monotonic() > deadline:
            raise LocalClusterError(f"recovery did not finish in 5 minutes; see {into.log}")
        time.sleep(0.2)
