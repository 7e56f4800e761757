"""The project-local PostgreSQL cluster under `.local/pg`: created, started, stopped by `ducting db ...`.

Two roles, so the database itself enforces what the application may do:
  * `ducting_owner` owns the schema and runs migrations;
  * `ducting_app` is what the service connects as: data access only, subject to row-level security, and unable
    to alter or delete audit records.
PostgreSQL refuses to run as root, so when we are root the cluster runs as Debian's `postgres` user.
Passwords are generated once and kept in `.local/pg/credentials.json` (mode 0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ducting.calendar import DEFAULT_ZONE_NAME
from ducting.settings import Settings

OWNER_ROLE = "ducting_owner"
APP_ROLE = "ducting_app"
EXTENSIONS = ("postgis", "pgrouting", "btree_gist", "pgcrypto")


class LocalClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalCluster:
    root: Path
    port: int
    dbname: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalCluster:
        return cls(root=settings.db.local_dir, port=settings.db.local_port, dbname=settings.db.local_dbname)

    @property
    def storage(self) -> Path:
        """Where the cluster's files live: `.local/pg`, unless the `postgres` user cannot reach that folder (a
        checkout under /root, say), then a folder of its own under /var/lib/postgresql named after the checkout."""
        if os.geteuid() != 0 or self._reachable_by_cluster_user(self.root.parent):
            return self.root
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        return Path("/var/lib/postgresql/ducting") / digest

    @property
    def data(self) -> Path:
        return self.storage / "data"

    @property
    def socket_dir(self) -> Path:
        return self.storage / "run"

    @property
    def log(self) -> Path:
        return self.storage / "postgres.log"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    # -- state -----------------------------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def credentials(self) -> dict[str, str]:
        if not self.credentials_file.exists():
            raise LocalClusterError(f"no local cluster at {self.root}: run `ducting db up` first")
        return json.loads(self.credentials_file.read_text())

    def url(self, *, role: str = APP_ROLE, dbname: str | None = None) -> str:
        password = quote(self.credentials()[role], safe="")
        return f"postgresql+psycopg://{role}:{password}@127.0.0.1:{self.port}/{dbname or self.dbname}"

    # -- lifecycle -------------------------------------------------------------------------------------------
    def up(self) -> None:
        """Initialise (once), start, and make sure roles, database and extensions exist. Idempotent."""
        if not self.initialised():
            self._initdb()
        if not self.running():
            self._start()
        self._ensure_roles()
        self.ensure_database(self.dbname)

    def down(self) -> None:
        if self.running():
            self._pg_ctl("stop", "-m", "fast", "-w")

    def ensure_database(self, dbname: str, *, fresh: bool = False) -> None:
        """Create `dbname` owned by the owner role, with the extensions (which need a superuser)."""
        if fresh:
            self.psql("postgres", f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        exists = self.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'", capture=True)
        if exists.strip() != "1":
            self.psql("postgres", f"CREATE DATABASE \"{dbname}\" OWNER {OWNER_ROLE} ENCODING 'UTF8' TEMPLATE template0")
        exts = "; ".join(f"CREATE EXTENSION IF NOT EXISTS {e}" for e in EXTENSIONS)
        self.psql(dbname, exts)

    def psql(self, dbname: str, sql: str, *, capture: bool = False) -> str:
        cmd = [
            self._bin("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            dbname,
            "-At",
            "-c",
            sql,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise LocalClusterError(f"psql failed: {done.stderr.strip()}")
        return done.stdout if capture else ""

    # -- internals -------------------------------------------------------------------------------------------
    def _initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._give_to_cluster_user(self.storage)
        self._as_cluster_user(
            [
                self._bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        )
        # Tuned for a 2-core machine serving maps: parallel query hurt tile latency in measurements (bench/README.md, "Peer figures").
        conf = self.data / "postgresql.auto.conf"
        with conf.open("a") as fh:
            fh.write(
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 200\n"
                "shared_buffers = '1GB'\n"
                "work_mem = '32MB'\n"
                "maintenance_work_mem = '256MB'\n"
                "max_parallel_workers_per_gather = 0\n"
                "jit = off\n"
                f"timezone = '{DEFAULT_ZONE_NAME}'\n"
                "log_min_duration_statement = 2000\n"
            )
        creds = {OWNER_ROLE: secrets.token_urlsafe(18), APP_ROLE: secrets.token_urlsafe(18)}
        if self.credentials_file.exists():  # a cluster re-created beside old credentials keeps them
            creds = json.loads(self.credentials_file.read_text())
        self.credentials_file.write_text(json.dumps(creds, indent=2))
        os.chmod(self.credentials_file, 0o600)

    def _start(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        self._give_to_cluster_user(self.socket_dir)
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log))
        for _ in range(50):
            if self.running():
                return
            time.sleep(0.1)
        raise LocalClusterError(f"PostgreSQL did not start; see {self.log}")

    def _ensure_roles(self) -> None:
        creds = self.credentials()
        for role in (OWNER_ROLE, APP_ROLE):
            pw = creds[role].replace("'", "''")
            self.psql(
                "postgres",
                f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} LOGIN PASSWORD '{pw}';
                ELSE ALTER ROLE {role} LOGIN PASSWORD '{pw}'; END IF; END $$""",
            )

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._as_cluster_user([self._bin("pg_ctl"), "-D", str(self.data), *args], check=check)

    def _as_cluster_user(self, cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if check and done.returncode != 0:
            raise LocalClusterError(f"{' '.join(cmd)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done

    @staticmethod
    def _reachable_by_cluster_user(path: Path) -> bool:
        done = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True)
        return done.returncode == 0

    def _give_to_cluster_user(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")]:
            os.chown(p, user.pw_uid, user.pw_gid)
        os.chmod(path, 0o700)

    @staticmethod
    def _bin(name: str) -> str:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        for bindir in reversed(versions):
            if (bindir / name).exists():
                return str(bindir / name)
        found = shutil.which(name)
        if not found:
            raise LocalClusterError(f"{name} not found: is PostgreSQL installed? (`./dev` installs it)")
        return found
