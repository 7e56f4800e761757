"""Account management, scoped API tokens, and a backup that restores row for row."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from ducting.backup import backup, restore
from ducting.calendar import Days
from ducting.db import Actor, bind_actor
from ducting.localdb import OWNER_ROLE, LocalCluster
from ducting.settings import get_settings
from tests.conftest import TEST_DB
from tests.leasing.conftest import build_ladder


def test_admin_creates_disables_and_resets_accounts_but_never_the_last_admin(client, people, session):
    h = people.headers("admin")
    r = client.post(
        "/api/v1/accounts",
        json={"username": "op.gamma", "full_name": "Gamma", "role": "operator", "organisation": "TOPA"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert len(r.json()["one_time_password"]) >= 12
    bad = client.post(
        "/api/v1/accounts", json={"username": "op.delta", "full_name": "D", "role": "operator"}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "organisation_required"
    assert (
        client.patch(f"/api/v1/accounts/{r.json()['id']}", json={"is_active": False}, headers=h).json()["is_active"]
        is False
    )
    me = people.accounts["admin"].id
    last = client.patch(f"/api/v1/accounts/{me}", json={"is_active": False}, headers=h)
    assert last.status_code == 409 and last.json()["code"] == "last_admin"
    assert client.patch(f"/api/v1/accounts/{me}", json={"role": "planner"}, headers=h).status_code == 409
    assert (
        client.post(
            "/api/v1/accounts",
            json={"username": "x.y", "full_name": "X", "role": "admin"},
            headers=people.headers("planner"),
        ).status_code
        == 403
    )
    pw = client.post(f"/api/v1/accounts/{people.accounts['planner'].id}/reset-password", headers=h)
    assert pw.status_code == 200
    assert client.get("/api/v1/auth/me", headers=people.headers("planner")).status_code == 401  # tokens revoked


def test_read_scoped_api_token_can_read_but_not_write_and_can_be_revoked(client, people):
    made = client.post("/api/v1/tokens", json={"name": "sistem NOC", "days": 30}, headers=people.headers("planner"))
    assert made.status_code == 201 and made.json()["scopes"] == ["read"]
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/api/v1/collections", headers=token).status_code == 200
    denied = client.post("/api/v1/network/nodes", json={"kind": "manhole", "geometry": None}, headers=token)
    assert denied.status_code == 403 and denied.json()["code"] == "token_scope"
    assert client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=people.headers("planner")).status_code == 204
    assert client.get("/api/v1/collections", headers=token).status_code == 401


def test_login_locks_after_repeated_failures(client, people):
    for _ in range(5):
        assert client.post("/api/v1/auth/token", json={"username": "t_finance", "password": "salah"}).status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "t_finance", "password": "rahasia-uji-123"})
    assert r.status_code == 429 and r.json()["code"] == "login_locked"


def _fingerprint(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = (
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).scalars().all()
        )
        out = {
            t: conn.execute(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM \"{t}\" x"
                )
            ).scalar()
            for t in tables
            if t != "spatial_ref_sys"
        }
    engine.dispose()
    return out


def test_backup_and_restore_round_trip_network_and_leases_row_for_row(scratch_database, tmp_path):
    from datetime import date

    from ducting.leasing import booking
    from ducting.leasing.vocab import AllocationStatus
    from ducting.network.vocab import SizeClass

    engine = create_engine(scratch_database.app_url)
    with Session(engine) as s:
        bind_actor(s, Actor.system("test"))
        grid = build_ladder(s, prefix="K")
        s.execute(
            text(
                "INSERT INTO organisation (code, name, kind, npwp) VALUES ('KOP', 'PT K', 'operator', '1234567890123456')"
            )
        )
        org = s.execute(text("SELECT id FROM organisation WHERE code = 'KOP'")).scalar()
        days = Days(date(2026, 1, 1), None)
        planned = booking.choose_subducts(
            s,
            segment_ids=[grid.segments["RS-K-A0"], grid.segments["RS-K-A1"]],
            count=2,
            size_class=SizeClass.MICRODUCT,
            days=days,
        )
        plan = booking.RoutePlan(planned, [], sum(p.length_m for p in planned), 0.0, {}, {})
        booking.hold(
            s,
            plan=plan,
            operator_id=org,
            request_id=None,
            days=days,
            status=AllocationStatus.ACTIVE,
            hold_expires_at=None,
            created_by=None,
            is_legacy=True,
        )
        s.commit()
    engine.dispose()
    dump = tmp_path / "bedelau.dump"
    assert backup(scratch_database.owner_url, dump) > 0
    cluster = LocalCluster.from_settings(get_settings())
    target = f"{TEST_DB}_restored"
    cluster.ensure_database(target, fresh=True)
    restore(dump, cluster.url(role=OWNER_ROLE, dbname=target))
    before, after = _fingerprint(scratch_database.owner_url), _fingerprint(cluster.url(role=OWNER_ROLE, dbname=target))
    assert before == after
    assert before["allocation"].startswith("4:") and before["route_segment"].startswith("10:")
