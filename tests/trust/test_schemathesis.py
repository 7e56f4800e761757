"""Schemathesis over the OpenAPI document: every operation, as every role, with generated input. No response may
be a 5xx, and every response must match what the document says it returns.

The app runs in-process. Its data lives in a database of its own (`<test db>_fuzz`), seeded once and committed:
accounts of every role with tokens, and a ladder network with ducts, so list endpoints serialise real rows. Each
operation's cases then run in one transaction that is rolled back, so generated writes never pile up.

The budget is bounded for CI: `SCHEMATHESIS_MAX_EXAMPLES` (default 5) generated cases per operation, each sent
as all five roles, no shrinking (`SCHEMATHESIS_SHRINK=1` locally for minimal failing cases).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ducting.accounts.models import Account, Organisation
from ducting.accounts.vocab import OrganisationKind, Role
from ducting.app import create_app
from ducting.auth import hash_password, issue_token
from ducting.db import Actor, SessionFactory, bind_actor, get_session
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.migrate import upgrade
from ducting.settings import get_settings
from tests.conftest import TEST_DB
from tests.leasing.conftest import build_ladder

ROLES = ("admin", "planner", "finance", "auditor", "operator")
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))
PHASES = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("SCHEMATHESIS_SHRINK") else [])

APP = create_app()
# loaded at import: schemathesis's lazy `from_fixture` does not run under pytest 9
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
if os.environ.get("SCHEMATHESIS_PATH"):  # local debugging: only the operations whose path matches this regex
    schema = schema.include(path_regex=os.environ["SCHEMATHESIS_PATH"])


def _seed(engine: Engine) -> dict[str, str]:
    """Organisations, one account and token per role, a ladder network. Committed. Returns role -> token."""
    with SessionFactory(bind=engine) as s:
        bind_actor(s, Actor.system("schemathesis seed"))
        orgs = [
            Organisation(code="FBUMD", name="PT Batam Ducting Bersama (Fuzz)", kind=OrganisationKind.BUMD),
            Organisation(code="FOPA", name="PT Operator Fuzz", kind=OrganisationKind.OPERATOR, npwp="0123456789012345"),
        ]
        s.add_all(orgs)
        s.flush()
        tokens = {}
        password = hash_password("rahasia-fuzz-123")
        for role in ROLES:
            account = Account(
                username=f"fuzz_{role}",
                full_name=f"Fuzz {role}",
                role=Role(role),
                password_hash=password,
                organisation_id=orgs[1].id if role == "operator" else None,
            )
            s.add(account)
            s.flush()
            tokens[role], _ = issue_token(s, account=account, name="fuzz", ttl=timedelta(hours=6))
        build_ladder(s, prefix="F")
        s.commit()
    return tokens


@pytest.fixture(scope="module")
def fuzz_db() -> Iterator[tuple[Engine, dict[str, str]]]:
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.fail("the schemathesis run needs the local cluster for a database of its own")
    cluster = LocalCluster.from_settings(get_settings())
    cluster.up()
    name = f"{TEST_DB}_fuzz"
    cluster.ensure_database(name, fresh=True)
    upgrade("heads", url=cluster.url(role=OWNER_ROLE, dbname=name))
    engine = create_engine(cluster.url(role=APP_ROLE, dbname=name), pool_size=2)
    tokens = _seed(engine)
    yield engine, tokens
    engine.dispose()


@pytest.fixture()
def tokens(fuzz_db) -> Iterator[dict[str, str]]:
    """Point the app at one rolled-back transaction on the fuzz database for this operation's cases."""
    engine, tokens = fuzz_db
    conn = engine.connect()
    outer = conn.begin()
    session = SessionFactory(bind=conn, join_transaction_mode="create_savepoint")

    def _session():
        try:
            yield session
        finally:
            session.rollback()  # as closing does in the app: what the route did not commit is gone

    APP.dependency_overrides[get_session] = _session
    try:
        yield tokens
    finally:
        APP.dependency_overrides.clear()
        session.close()
        outer.rollback()
        conn.close()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=PHASES,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_off_schema_for_any_role(case, tokens):
    for role in ROLES:
        response = case.call(headers={"Authorization": f"Bearer {tokens[role]}"})
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


# -- what it found, kept as plain regression tests --------------------------------------------------------------------
def test_ids_beyond_64_bits_and_nul_characters_are_422_not_500(client, people):
    h = people.headers("admin")
    for path in (
        "/api/v1/network/nodes/99999999999999999999",
        "/api/v1/billing/invoices/-99999999999999999999",
        "/api/v1/leasing/requests/99999999999999999999",
    ):
        r = client.get(path, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "value_out_of_range", (path, r.text)
    r = client.get("/api/v1/billing/statements/2026-01", params={"operator": "TOP\x00A"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "nul_character", r.text


def test_flag_filters_outside_the_vocabulary_are_422(client, people):
    r = client.get("/api/v1/compliance/flags", params={"status": "AAA"}, headers=people.headers("planner"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "query/status/0"
    assert (
        client.get("/api/v1/compliance/flags", params={"rule": "nope"}, headers=people.headers("planner")).status_code
        == 422
    )


def test_migration_case_naming_missing_rows_is_422_listing_each(client, people):
    r = client.post(
        "/api/v1/compliance/migrations",
        json={"operator_id": 0, "span_id": 0, "capacity_request_id": 0},
        headers=people.headers("planner"),
    )
    assert r.status_code == 422, r.text
    assert [(e["code"], e["detail"]["what"]) for e in r.json()["errors"]] == [
        ("not_found", "operator"),
        ("not_found", "span"),
        ("not_found", "capacity_request"),
    ]
