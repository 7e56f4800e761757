"""Database fixtures. The suite runs against a real PostGIS: the project-local cluster (started if needed) or
TEST_DATABASE_URL / TEST_MIGRATION_DATABASE_URL. A fresh database is migrated once per run with Alembic; each
test runs in a transaction that is rolled back, with the app's session swapped for the test's. A missing
database fails the run; nothing falls back to mocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

os.environ.setdefault("DUCTING_ENV", "test")
os.environ.setdefault("DUCTING_LEASING_SWEEP_INTERVAL_S", "0")  # the in-process sweeper would open its own
# connections outside the test transaction; tests/leasing/test_sweeper.py turns it on for a live server
os.environ.setdefault("DUCTING_NOTIFY_WORKER_IN_PROCESS", "0")  # likewise the notification worker (tests/notify)

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ducting.accounts.models import Account, Organisation
from ducting.accounts.vocab import OrganisationKind, Role
from ducting.app import create_app
from ducting.auth import hash_password, issue_token
from ducting.db import Actor, SessionFactory, bind_actor, get_session
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.migrate import upgrade
from ducting.settings import get_settings

TEST_DB = os.environ.get("DUCTING_TEST_DB", "ducting_test")


@dataclass(frozen=True)
class TestDatabase:
    app_url: str
    owner_url: str


@pytest.fixture(scope="session")
def test_database() -> TestDatabase:
    if os.environ.get("TEST_DATABASE_URL"):
        db = TestDatabase(
            os.environ["TEST_DATABASE_URL"],
            os.environ.get("TEST_MIGRATION_DATABASE_URL", os.environ["TEST_DATABASE_URL"]),
        )
    else:
        cluster = LocalCluster.from_settings(get_settings())
        cluster.up()
        cluster.ensure_database(TEST_DB, fresh=True)
        db = TestDatabase(cluster.url(role=APP_ROLE, dbname=TEST_DB), cluster.url(role=OWNER_ROLE, dbname=TEST_DB))
    upgrade("heads", url=db.owner_url)
    return db


@pytest.fixture(scope="session")
def engine(test_database: TestDatabase) -> Iterator[Engine]:
    eng = create_engine(test_database.app_url, pool_size=10, max_overflow=20)
    with eng.connect() as conn:  # fail loudly and early when the database is not there
        conn.execute(text("SELECT postgis_lib_version()"))
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def owner_engine(test_database: TestDatabase) -> Iterator[Engine]:
    eng = create_engine(test_database.owner_url)
    yield eng
    eng.dispose()


@pytest.fixture()
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture()
def session(connection: Connection) -> Iterator[Session]:
    """The test's session acts as the system (row-level security lets it set up any operator's rows); a request
    made through `client` acts as its caller, and the session is the system again when the request is done."""
    sess = SessionFactory(bind=connection, join_transaction_mode="create_savepoint")
    bind_actor(sess, Actor.system("test"))
    yield sess
    sess.close()


@pytest.fixture(scope="session")
def app():
    return create_app()


@pytest.fixture()
def client(app, session: Session) -> Iterator[TestClient]:
    def _session() -> Iterator[Session]:
        actor = session.info.get("actor")
        try:
            yield session
        finally:
            session.rollback()  # as closing does in the app: what the route did not commit is gone
            if actor is not None:
                bind_actor(session, actor)  # the request bound its caller; the test goes on as before

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c
    app.dependency_overrides.clear()


@dataclass
class People:
    """Organisations and accounts of every role, with tokens, for one test."""

    session: Session
    orgs: dict[str, Organisation]
    accounts: dict[str, Account]
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture()
def people(session: Session) -> People:
    return make_people(session)


def make_people(session: Session) -> People:
    """Three organisations and an account with a token per role, committed through `session`."""
    orgs = {
        "bumd": Organisation(code="TBUMD", name="PT Batam Ducting Bersama (Test)", kind=OrganisationKind.BUMD),
        "op_a": Organisation(
            code="TOPA", name="PT Operator Alfa", kind=OrganisationKind.OPERATOR, npwp="0123456789012345"
        ),
        "op_b": Organisation(
            code="TOPB", name="PT Operator Beta", kind=OrganisationKind.OPERATOR, npwp="012345678901234"
        ),
    }
    session.add_all(orgs.values())
    session.flush()
    pw = hash_password("rahasia-uji-123")
    specs = {
        "admin": (Role.ADMIN, None),
        "planner": (Role.PLANNER, None),
        "finance": (Role.FINANCE, None),
        "auditor": (Role.AUDITOR, None),
        "op_a": (Role.OPERATOR, orgs["op_a"]),
        "op_b": (Role.OPERATOR, orgs["op_b"]),
    }
    accounts = {}
    tokens = {}
    for name, (role, org) in specs.items():
        acc = Account(
            username=f"t_{name}",
            full_name=f"Test {name}",
            role=role,
            password_hash=pw,
            organisation_id=org.id if org else None,
        )
        session.add(acc)
        session.flush()
        accounts[name] = acc
        tokens[name], _ = issue_token(session, account=acc, name="test", ttl=timedelta(hours=1))
    session.commit()  # releases the test's savepoint only; the outer transaction is rolled back after the test
    return People(session, orgs, accounts, tokens)


@pytest.fixture(autouse=True)
def _fresh_routing_graph():
    """Each test's network lives in its own rolled-back transaction, whose deferred epoch triggers never fire;
    start every test with an empty graph cache so the graph loads what this test sees."""
    from ducting.leasing.routing import GRAPH

    GRAPH.network = None
    yield
    GRAPH.network = None


@pytest.fixture()
def scratch_database(test_database: TestDatabase) -> TestDatabase:
    """A fresh, migrated, empty database whose rows are committed for real: for tests with several real
    connections or processes (races, live HTTP). Rebuilt for each test that asks for it."""
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.fail("scratch databases need the local cluster (or TEST_SCRATCH_DATABASE_URL support)")
    cluster = LocalCluster.from_settings(get_settings())
    name = f"{TEST_DB}_scratch"
    cluster.ensure_database(name, fresh=True)
    db = TestDatabase(cluster.url(role=APP_ROLE, dbname=name), cluster.url(role=OWNER_ROLE, dbname=name))
    upgrade("heads", url=db.owner_url)
    return db
