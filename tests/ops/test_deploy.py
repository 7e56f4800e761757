"""The deployment files are real: the systemd units pass `systemd-analyze verify` and start commands this CLI has,
the settings checklist names only settings the service reads, and `ducting worker --once` runs every job."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ducting.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy/systemd").glob("*.service"))
ENV_EXAMPLE = ROOT / "deploy/ducting.env.example"


def _exec_lines(unit: Path) -> list[list[str]]:
    return [line.split("=", 1)[1].split() for line in unit.read_text().splitlines() if line.startswith("ExecStart")]


def test_the_units_start_commands_the_cli_has():
    assert {u.name for u in UNITS} == {"bedelau-ducting.service", "bedelau-ducting-worker.service"}
    for unit in UNITS:
        for argv in _exec_lines(unit):
            if not argv[0].endswith("/ducting"):
                continue
            words = [a for a in argv[1:] if not a.startswith("-")]
            options = {a for a in argv[1:] if a.startswith("--")}
            sub = [w for w in words if not w[0].isdigit() and "." not in w][:2]
            done = subprocess.run(
                [sys.executable, "-m", "ducting.cli", *sub, "--help"], cwd=ROOT, capture_output=True, text=True
            )
            assert done.returncode == 0, (unit.name, argv, done.stderr)
            for option in options:
                assert option in done.stdout, f"{unit.name}: `ducting {' '.join(sub)}` has no {option}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    venv_bin = Path(sys.executable).parent
    for unit in UNITS:
        text = unit.read_text().replace("/opt/bedelau/.venv/bin", str(venv_bin)).replace("/opt/bedelau", str(ROOT))
        (tmp_path / unit.name).write_text(text.replace("/etc/bedelau/ducting.env", str(ENV_EXAMPLE)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def _aliases() -> set[str]:
    """Every environment variable the settings read."""
    names: set[str] = set()

    def walk(model: type, prefix: str) -> None:
        for name, field in model.model_fields.items():
            sub = field.default_factory() if field.default_factory else None
            if sub is not None and hasattr(type(sub), "model_fields"):
                walk(type(sub), type(sub).model_config.get("env_prefix", ""))
                continue
            alias = field.validation_alias
            if alias is not None:
                names.update(a.upper() for a in alias.choices)
            else:
                names.add(f"{prefix}{name}".upper())

    walk(Settings, Settings.model_config.get("env_prefix", ""))
    return names


def test_the_settings_checklist_names_only_settings_the_service_reads():
    given = re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), flags=re.M)
    assert "DATABASE_REPLICA_URL" in given and "DUCTING_TRUSTED_PROXIES" in given
    unknown = set(given) - _aliases()
    assert not unknown, unknown


def test_the_worker_runs_every_job_once(scratch_database):
    env = os.environ | {"DATABASE_URL": scratch_database.app_url}
    done = subprocess.run(
        [sys.executable, "-m", "ducting.cli", "worker", "--once"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "leasing_sweeper: 0" in done.stderr


@pytest.mark.slow
def test_several_worker_processes_answer_one_metrics_view_and_log_json(scratch_database, tmp_path):
    """As the service unit runs it: `ducting serve --workers 2` with PROMETHEUS_MULTIPROC_DIR and JSON logs."""
    import json
    import time

    import httpx

    from tests.live import free_port

    port = free_port()
    env = os.environ | {
        "DATABASE_URL": scratch_database.app_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DUCTING_LEASING_SWEEP_INTERVAL_S": "1",
        "DUCTING_LOG_FORMAT": "json",
    }
    log = tmp_path.parent / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ducting.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        for _ in range(40):
            assert httpx.get(f"{base}/healthz", headers={"X-Request-Id": "mp-probe"}).status_code == 200
        time.sleep(2.5)  # both processes' sweepers run
        text = httpx.get(f"{base}/metrics").text
    finally:
        proc.terminate()
        proc.wait(30)
    counts = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("ducting_http_request_duration_seconds_count", "ducting_background_runs_total"))
    }
    assert counts['ducting_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}'] == 40
    pids = {f.name.split("_")[-1] for f in tmp_path.glob("*.db")}
    assert len(pids) >= 2  # two processes wrote, one scrape added them up
    assert counts['ducting_background_runs_total{job="leasing_sweeper",outcome="ok"}'] >= 2
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["logger"] == "ducting.access" and r["request_id"] == "mp-probe" for r in records)
