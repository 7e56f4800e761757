"""Browser sign-in, the session cookie and CSRF (double submit of an HMAC of the session), pages by role, and
the message catalogue. In-process (TestClient on the test's rolled-back transaction)."""

from __future__ import annotations

import json
from pathlib import Path

from ducting import formats
from ducting.auth import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from ducting.web import i18n

NODE = {"kind": "manhole", "geometry": {"type": "Point", "coordinates": [104.0305, 1.1301]}}


def _sign_in(client, username: str = "t_planner") -> str:
    r = client.post("/masuk", data={"username": username, "password": "rahasia-uji-123"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.cookies[SESSION_COOKIE]


def test_sign_in_sets_an_httponly_lax_session_cookie_and_a_readable_csrf_cookie(client, people):
    r = client.post("/masuk", data={"username": "t_planner", "password": "rahasia-uji-123"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/peta"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" not in csrf
    assert r.cookies[CSRF_COOKIE] == csrf_token(r.cookies[SESSION_COOKIE])


def test_a_wrong_password_shows_the_form_again_in_indonesian(client, people):
    r = client.post("/masuk", data={"username": "t_planner", "password": "salah"}, follow_redirects=False)
    assert r.status_code == 401 and "Nama pengguna atau kata sandi salah" in r.text


def test_a_cookie_write_without_the_csrf_header_is_refused(client, people):
    _sign_in(client)
    r = client.post("/api/v1/network/nodes", json=NODE)
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"


def test_a_cookie_write_with_a_forged_csrf_header_is_refused(client, people):
    _sign_in(client)
    other = csrf_token("bdl_someone-elses-session")
    r = client.post("/api/v1/network/nodes", json=NODE, headers={"X-CSRF-Token": other})
    assert r.status_code == 403


def test_a_cookie_write_with_the_sessions_csrf_token_goes_through(client, people):
    session = _sign_in(client)
    r = client.post("/api/v1/network/nodes", json=NODE, headers={"X-CSRF-Token": csrf_token(session)})
    assert r.status_code == 201, r.text


def test_cookie_reads_need_no_csrf_token(client, people):
    _sign_in(client)
    assert client.get("/api/v1/auth/me").json()["username"] == "t_planner"


def test_bearer_clients_are_not_affected_by_csrf(client, people):
    r = client.post("/api/v1/network/nodes", json=NODE, headers=people.headers("planner"))
    assert r.status_code == 201, r.text


def test_logout_needs_the_form_token_and_revokes_the_session(client, people):
    session = _sign_in(client)
    refused = client.post("/keluar", data={"csrf_token": "nope"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200
    done = client.post("/keluar", data={"csrf_token": csrf_token(session)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/masuk"
    client.cookies.set(SESSION_COOKIE, session)  # replaying the old cookie does not work any more
    assert client.get("/api/v1/auth/me").status_code == 401


def test_pages_send_strangers_to_sign_in_and_keep_roles_apart(client, people):
    r = client.get("/peta", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/masuk?next=/peta")
    _sign_in(client, "t_op_a")
    assert client.get("/", follow_redirects=False).headers["location"] == "/operator"
    assert client.get("/peta").status_code == 403
    page = client.get("/operator")
    assert page.status_code == 200 and "Ajukan kapasitas" in page.text
    assert csrf_token(client.cookies[SESSION_COOKIE]) in page.text  # the page carries its CSRF token


def test_the_public_report_page_needs_no_sign_in(client):
    assert client.get("/lapor").status_code == 200


def test_english_toggle_switches_the_catalogue_and_remembers_it(client, people):
    _sign_in(client)
    r = client.get("/peta?lang=en")
    assert "Network map" in r.text and 'lang="en"' in r.text
    assert client.cookies[i18n.LANG_COOKIE] == "en"
    assert "Network map" in client.get("/peta").text


def test_the_catalogue_has_the_same_keys_in_both_languages():
    folder = Path(i18n.__file__).parent / "i18n"
    ids, ens = (json.loads((folder / f"{lang}.json").read_text()) for lang in ("id", "en"))
    assert set(ids) == set(ens)


def test_a_page_gives_its_scripts_the_servers_formats_in_the_readers_language(client, people):
    _sign_in(client)
    page = client.get("/peta?lang=en").text
    config = json.loads(page.split("window.BEDELAU = ", 1)[1].split(";</script>", 1)[0])
    assert config["formats"] == formats.browser_config("en")
    assert config["formats"]["months"][11] == "December" and config["formats"]["zoneLabel"] == "WIB"
    assert page.index("/static/app/formats.js") < page.index("/static/app/app.js")  # app.js builds fmt from it
    assert "At an exact time (WIB)" in page
