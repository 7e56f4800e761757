"""A real service process on a free loopback port, for clients that need HTTP (GDAL, browsers, load)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(database_url: str, *, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    environ = os.environ | {"DATABASE_URL": database_url, "DUCTING_ENV": "test"} | (env or {})
    log = tempfile.NamedTemporaryFile(prefix="ducting-live-", suffix=".log", delete=False)
    # a file, not a pipe: an unread pipe fills up and stalls the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "ducting.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-proxy-headers",  # the service judges proxy headers itself (DUCTING_TRUSTED_PROXIES)
        ],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = open(log.name).read()
                raise RuntimeError(f"service did not start: {out[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        errors = open(log.name).read()
        if "Traceback" in errors:
            print(f"--- service log ({log.name}) ---\n{errors[-6000:]}")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
