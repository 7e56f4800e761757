"""The ground floor stays one floor: the zone is named in one place, and identity does not reach up into pages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = [ROOT / "ducting", ROOT / "billing", ROOT / "gis", ROOT / "bench", ROOT / "tests"]
ZONE_NAME = re.compile(r"Asia/(Jakarta|Makassar|Jayapura)")
# the calendar, and the tests that check what it names (migrations keep their literals: they are history)
ALLOWED = {ROOT / "ducting" / "calendar.py", *(ROOT / "tests" / f for f in ("test_calendar.py", "test_formats.py"))}
ALLOWED.add(Path(__file__).resolve())


def _files(*suffixes: str) -> list[Path]:
    return [p for base in CODE for p in base.rglob("*") if p.suffix in suffixes and "node_modules" not in p.parts]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_the_zone_is_named_only_by_the_calendar():
    found = [
        str(p.relative_to(ROOT))
        for p in _files(".py", ".js", ".html", ".json")
        if p not in ALLOWED and ZONE_NAME.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == [], "name the zone through ducting.calendar (DEFAULT_ZONE_NAME, zone('WIB')), not a literal"


def test_no_module_builds_its_own_zone():
    found = [
        str(p.relative_to(ROOT))
        for p in _files(".py")
        if p not in ALLOWED and "ZoneInfo(" in p.read_text(encoding="utf-8")
    ]
    assert found == []


def test_accounts_never_import_the_web_pages():
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("ducting.web"))
        for p in (ROOT / "ducting" / "accounts").glob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_identity_words_live_in_accounts_not_in_the_network():
    network_vocab = (ROOT / "ducting" / "network" / "vocab.py").read_text(encoding="utf-8")
    assert "class Role" not in network_vocab and "class Organisation" not in network_vocab
    users = [p for p in _files(".py") if "ducting.network.vocab" in _imports(p)]
    for p in users:
        names = {m.rsplit(".", 1)[1] for m in _imports(p) if m.startswith("ducting.network.vocab.")}
        assert not names & {"Role", "OrganisationKind", "OrganisationStatus"}, p
