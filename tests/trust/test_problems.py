"""The problem registry's contract (ducting/problems.py): every code the source raises is registered with Indonesian
words and the facts its templates need, every registered code is used, both languages take the same parameters,
and the handler refuses, in tests, to render a problem that breaks the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ducting import problems
from ducting.errors import (
    FieldError,
    InvalidInput,
    NotFound,
    UnrenderableProblem,
    install_handlers,
)
from ducting.web.i18n import catalogue
from tests.factories import node_body, segment_body
from tests.trust.problem_scan import ROOT, scan, string_constants

SCAN = scan()


def test_every_code_the_source_raises_is_registered_with_indonesian_words():
    missing = [str(s) for s in SCAN.sites if problems.entry(s.code) is None]
    assert not missing, "register these codes in ducting/problems.toml:\n" + "\n".join(missing)
    for site in SCAN.sites:
        entry = problems.entry(site.code)
        assert entry.title.id.strip() and all(t.id.strip() for t in entry.detail), site


def test_the_scan_sees_every_kind_of_raise_site():
    """The scan must keep finding what it is for: a test that cannot fail would not guard anything."""
    kinds = {s.how.split("(")[0] for s in SCAN.sites}
    assert {"class code", "FieldError", "GeometryFault", "ReadError", "fail", "add", "PydanticCustomError"} <= kinds
    assert {"InvalidInput", "NotFound", "TooLarge", "Conflict"} <= {s.how.split("(")[0] for s in SCAN.sites}
    assert len({s.code for s in SCAN.sites}) > 100


def test_raise_sites_state_the_facts_their_templates_need():
    """Where a site writes its facts out, they fill at least one detail variant of its code (names and `when` keys;
    values are checked at runtime, by the strict handler)."""
    unfit = []
    for site in SCAN.sites:
        entry = problems.entry(site.code)
        if entry is None or not entry.detail or site.facts is None:
            continue
        if not any(t.params | {k for k, _ in t.when} <= site.facts for t in entry.detail):
            unfit.append(f"{site}: gives {sorted(site.facts)}")
    assert not unfit, "these raise sites miss the facts every variant needs:\n" + "\n".join(unfit)


def test_each_code_is_raised_by_a_class_of_its_registered_status():
    """`raise InvalidInput(code="not_found")` would be a 422 with a code registered as a 404: a bug, found here."""
    wrong = []
    for site in SCAN.sites:
        cls = site.how.split("(")[0]
        status = SCAN.class_statuses.get(cls)
        entry = problems.entry(site.code)
        if status is not None and entry is not None and site.how.endswith(")") and status != entry.status:
            wrong.append(f"{site}: {cls} is a {status}, {site.code} is registered as {entry.status}")
    assert not wrong, "\n".join(wrong)
    assert SCAN.class_statuses["NotFound"] == 404 and SCAN.class_statuses["TopologyError"] == 422


def test_no_raise_site_writes_its_own_sentence():
    """The words are the registry's: `raise NotFound("segment 5 does not exist")` states no facts and says English."""
    legacy = [f"{file}:{line} {cls}(...)" for file, line, cls, _, sentence in SCAN.raises if sentence]
    assert not legacy, "raise these with their facts (register the template):\n" + "\n".join(legacy)


def test_every_registered_code_is_used_somewhere():
    used = string_constants()
    dead = [code for code, e in problems.REGISTRY.items() if e.source == "ours" and code not in used]
    assert not dead, f"registered but raised nowhere (remove, or raise them): {dead}"


def test_both_languages_take_the_same_parameters(tmp_path: Path):
    for entry in problems.REGISTRY.values():
        for template in entry.detail:
            names = {n for n, _ in problems._PARAM.findall(template.id)}
            assert names == {n for n, _ in problems._PARAM.findall(template.en)} == template.params, entry.code
    bad = tmp_path / "problems.toml"
    bad.write_text(
        '[x_y]\nstatus = 422\ntitle.id = "A"\ntitle.en = "A"\n[[x_y.detail]]\nid = "{a} {b}"\nen = "{a}"\n',
        encoding="utf-8",
    )
    with pytest.raises(problems.RegistryError, match="takes"):
        problems.load(bad)


def test_vocabulary_the_templates_name_is_in_the_page_catalogue():
    prefixes = {
        how
        for e in problems.REGISTRY.values()
        for t in e.detail
        for lang in ("id", "en")
        for _, how in problems._PARAM.findall(t.text(lang))
        if how and how not in problems._FILTERS and not how.startswith("plural:")
    }
    assert {"thing", "status", "line_end", "comp.mig.stage"} <= prefixes
    for lang in problems.LANGUAGES:
        words = catalogue(lang)
        assert all(any(k.startswith(p + ".") for k in words) for p in prefixes), lang
    # every `what` a not_found names has its word, in both languages
    whats = {s for s in string_constants() if f"thing.{s}" in catalogue("id")}
    assert {"segment", "node", "duct", "migration", "zone", "operator", "spec"} <= whats


def test_the_page_catalogue_gets_code_titles_from_the_registry_only():
    for lang in problems.LANGUAGES:
        own = json.loads((ROOT / "ducting/web/i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        assert not [k for k in own if k.startswith("err.")], "err.* keys come from ducting/problems.toml"
        words = catalogue(lang)
        assert all(words[f"err.{code}"] == e.title.text(lang) for code, e in problems.REGISTRY.items())


def test_numbers_are_written_the_way_each_language_reads_them():
    facts = {"d": 35.0123, "n": 10000, "p": [104.05, 1.12], "r": "1234567.4", "k": 1.5}
    assert (
        problems.render("{d|m} {n|n} {p|pos} {r|idr} {k|km}", "id", facts)
        == "35,01 m 10.000 (104,05; 1,12) Rp 1.234.567 1,5 km"
    )
    assert (
        problems.render("{d|m} {n|n} {p|pos} {r|idr} {k|km}", "en", facts)
        == "35.01 m 10,000 (104.05, 1.12) Rp 1,234,567 1.5 km"
    )
    assert problems.render("{n} rows, {c|plural:row:rows}", "en", {"n": 2026, "c": 1}) == "2026 rows, 1 row"


def test_the_reader_language_is_the_cookie_then_accept_language_then_indonesian():
    assert problems.negotiate(None, None) == "id"
    assert problems.negotiate(None, "en-US,en;q=0.9") == "en"
    assert problems.negotiate(None, "id-ID,id;q=0.9,en;q=0.8") == "id"
    assert problems.negotiate(None, "fr, en;q=0.5") == "en"
    assert problems.negotiate(None, "fr") == "id"
    assert problems.negotiate("id", "en") == "id"
    assert problems.negotiate("en", None) == "en"


# -- at runtime: the handler renders only what the registry allows -------------------------------------------------
@pytest.fixture(scope="module")
def tiny() -> TestClient:
    app = FastAPI()
    install_handlers(app)

    @app.get("/unregistered")
    def _unregistered() -> None:
        raise InvalidInput(code="no_such_code_at_all")

    @app.get("/wrong-status")
    def _wrong_status() -> None:
        raise InvalidInput(code="not_found", what="segment", ref=1)  # registered as a 404

    @app.get("/no-facts")
    def _no_facts() -> None:
        raise InvalidInput(code="segment_duplicate")  # every variant states facts

    @app.get("/field")
    def _field() -> None:
        raise InvalidInput(errors=[FieldError("x", "no_such_field_code")])

    @app.get("/fine")
    def _fine() -> None:
        raise NotFound(what="zone", ref=7)

    return TestClient(app)


@pytest.mark.parametrize("path", ["/unregistered", "/wrong-status", "/no-facts", "/field"])
def test_the_handler_refuses_a_problem_the_registry_does_not_allow(tiny, path):
    with pytest.raises(UnrenderableProblem):
        tiny.get(path)


def test_a_registered_problem_is_said_in_the_readers_language_with_its_facts_as_members(tiny):
    r = tiny.get("/fine")
    assert r.status_code == 404 and r.headers["content-language"] == "id"
    assert r.json() == {
        "type": "https://bedelau.batam.go.id/problems/not_found",
        "title": "Tidak ditemukan",
        "status": 404,
        "detail": "zona 7 tidak ada (atau sudah dihapus)",
        "code": "not_found",
        "what": "zone",
        "ref": 7,
    }
    reader = TestClient(tiny.app, cookies={"bedelau_lang": "en"})  # the cookie the pages set
    english = reader.get("/fine").json()
    assert english["title"] == "Not found" and english["detail"] == "zone 7 does not exist (or was removed)"


def test_a_topology_refusal_reaches_the_planner_in_indonesian_with_indonesian_decimals(client, people):
    for code, x in (("MH-P-A", 0), ("MH-P-B", 100)):
        r = client.post("/api/v1/network/nodes", json=node_body(code, x, 0), headers=people.headers("planner"))
        assert r.status_code == 201, r.text
    attempt = segment_body("RS-P-X", (0, 0), (135, 0))
    r = client.post("/api/v1/network/segments", json=attempt, headers=people.headers("planner"))
    body = r.json()
    assert r.status_code == 422 and body["code"] == "segment_not_snapped" and 34.9 < body["distance_m"] < 35.1
    metres = problems.render("{d|m}", "id", {"d": body["distance_m"]})
    assert "," in metres  # 35.0x m away: a decimal comma, never a thousands dot
    tolerance = problems.render("{t|m}", "id", {"t": body["tolerance_m"]})
    assert body["detail"] == (
        f"ujung akhir garis tidak berada pada node: node terdekat (MH-P-B) berjarak {metres}; toleransi tangkap {tolerance}"
    )
    assert body["errors"][0]["message"] == body["detail"] and body["title"] == "Ujung segmen tidak menempel pada node"
    english = client.post(
        "/api/v1/network/segments", json=attempt, headers=people.headers("planner") | {"Accept-Language": "en"}
    ).json()
    assert english["detail"].startswith("the end of the line is not on a node: the nearest node (MH-P-B) is 35.")
