"""Fixtures for the browser and the tiles: one database per run holding the committed Batam sample (accounts,
organisations, network), a real service process on it, and Debian's Chromium driven by Playwright.

The rows are committed for real (a browser talks to another process), so tests that change data use codes and
places of their own and never depend on each other's leftovers."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from ducting.calendar import DEFAULT_ZONE_NAME
from ducting.db import Actor, bind_actor
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.migrate import upgrade
from ducting.settings import PROJECT_ROOT, get_settings
from tests.conftest import TEST_DB, TestDatabase
from tests.live import running_service

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
PASSWORDS = {
    "perencana": "perencana-2026",
    "perencana2": "perencana-2026",
    "keuangan": "keuangan-2026",
    "admin": "admin-bedelau-2026",
    "auditor": "auditor-2026",
}
OPERATOR_PASSWORD = "operator-2026"
BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="
)


@pytest.fixture(scope="session")
def web_database(test_database: TestDatabase) -> TestDatabase:
    """A fresh database with the whole Batam sample committed (about 15 s, once per run)."""
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.fail("the browser tests need the local cluster for their own committed database")
    from ducting import sample

    cluster = LocalCluster.from_settings(get_settings())
    name = f"{TEST_DB}_web"
    cluster.ensure_database(name, fresh=True)
    db = TestDatabase(cluster.url(role=APP_ROLE, dbname=name), cluster.url(role=OWNER_ROLE, dbname=name))
    upgrade("heads", url=db.owner_url)
    engine = create_engine(db.app_url)
    with Session(engine) as s:
        bind_actor(s, Actor.system("web test setup"))
        sample.load_organisations(s)
        sample.load_demo_accounts(s)
        sample.load_network(s)
        s.commit()
    engine.dispose()
    return db


@pytest.fixture(scope="session")
def live(web_database: TestDatabase) -> Iterator[str]:
    with running_service(web_database.app_url) as base:
        yield base


def login_token(base: str, username: str) -> str:
    password = PASSWORDS.get(username, OPERATOR_PASSWORD)
    r = httpx.post(f"{base}/api/v1/auth/token", json={"username": username, "password": password}, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def tokens(live: str) -> dict[str, str]:
    return {who: login_token(live, who) for who in ("perencana", "keuangan", "op-bln")}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./dev setup does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class ConsoleGuard:
    """Collects console errors and uncaught page errors; a flow fails on any."""

    def __init__(self, page: object) -> None:
        self.errors: list[str] = []
        self.expected_http: set[int] = set()
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def expect_http(self, status: int) -> None:
        """A flow that provokes a refusal on purpose: Chromium logs the failed fetch, which is not a page error."""
        self.expected_http.add(status)

    def check(self) -> None:
        allowed = [f"status of {s} " for s in self.expected_http]
        self.errors = [e for e in self.errors if not ("Failed to load resource" in e and any(a in e for a in allowed))]
        assert not self.errors, "errors in the browser console:\n" + "\n".join(self.errors)


@pytest.fixture()
def page(browser: object, live: str) -> Iterator[object]:
    context = browser.new_context(
        base_url=live, viewport={"width": 1366, "height": 860}, locale="id-ID", timezone_id=DEFAULT_ZONE_NAME
    )
    # offline: OpenStreetMap tiles come back blank, so the map must be readable from its own boundaries
    context.route("https://**/*", lambda route: route.fulfill(status=200, content_type="image/png", body=BLANK_PNG))
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    guard = ConsoleGuard(pg)
    pg.console_guard = guard
    yield pg
    context.close()


def shot(page: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
