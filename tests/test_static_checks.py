"""The static checks, run inside `./dev test` (so `.ci/run` runs them too): ruff's linter and formatter over the
whole tree, mypy over ducting/ gis/ billing/ (its settings are in pyproject.toml), and ESLint over the browser
scripts (eslint.config.js). Each must report zero findings; a failure shows the tool's own output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"


def _run(*argv: str | Path) -> None:
    done = subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        shown = " ".join(str(a) for a in argv)
        pytest.fail(f"`{shown}` found problems:\n{(done.stdout + done.stderr).strip()}", pytrace=False)


def test_ruff_lint_finds_nothing():
    _run(sys.executable, "-m", "ruff", "check", "--no-cache", ".")


def test_ruff_format_would_change_nothing():
    _run(sys.executable, "-m", "ruff", "format", "--check", "--no-cache", ".")


def test_mypy_finds_nothing():
    _run(sys.executable, "-m", "mypy")  # files and settings from [tool.mypy] in pyproject.toml


def test_eslint_finds_nothing_in_the_browser_scripts():
    if not ESLINT.exists():
        pytest.fail("ESLint is not installed: run `npm ci` (./dev setup does; it is in package.json's devDependencies)")
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: ./dev setup installs it (Debian's nodejs)")
    _run(ESLINT, "--max-warnings=0", "ducting/web/static", "eslint.config.js")
