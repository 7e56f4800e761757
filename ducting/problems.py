"""The one registry of machine codes: what each refusal is called, its HTTP status, and what it says to a person,
in Bahasa Indonesia first and English second. The entries live in `problems.toml` beside this module; this
module loads, checks and renders them.

The contract
------------
* **A code is registered once**, under its machine name (English, snake_case), with:
  `status` (the HTTP status a problem with this code has), `title` (`id`, `en`: a short phrase, no parameters)
  and optionally `detail`, a list of variants, each `{id, en}`, that state the error's facts through named
  parameters: `{node}`, `{distance_m|m}`. Both languages of a variant take exactly the same parameters.
* **Raising** states the facts, never the words: `raise NotFound(what="segment", ref=12)`,
  `raise Conflict(code="duct_position_taken", segment="RS-1", position=2)`,
  `FieldError(path, "segment_not_snapped", end="start", node="MH-1", distance_m=35.0123, tolerance_m=2)`.
  `gis` (which imports nothing of ours) does the same: its faults and read errors carry a code and their facts.
  A positional English sentence (`raise NotFound("segment 12 does not exist")`) is the legacy form: it still
  renders, where no variant fits, but the source test names every such site for conversion.
* **One fault, one sentence**: a problem that lists a single field error and states no facts of its own (beyond the
  `count` every problem with `errors` carries) says that error as its detail.
* **Rendering** picks the first detail variant whose every parameter is among the facts (and not None) and whose
  `when` (optional: `when = { action = "void" }`, a fact's value or list of values) holds, in the reader's language;
  so put the most specific variant first, and a variant without parameters last if the code may be raised without
  facts. No variant fits and no legacy text was given: the title is the detail.
* **The reader's language** (`negotiate`): the `bedelau_lang` cookie the pages set, else `Accept-Language`
  (`en` when English is preferred over Indonesian), else Indonesian.
* **Facts are members too**: the problem+json body carries every fact beside `type`, `title`, `status`, `detail`,
  `code` (and `errors`), so a client can act on `node` or `distance_m` without parsing a sentence.

Parameters and their formats: `{x}` writes text as it is, integers plainly (ids, years, counts), other numbers with
the language's decimal mark, dates as dd-mm-yyyy, lists joined by commas. A filter after `|` says more: `n`
(grouped number: 10.000 / 10,000), `m`, `km`, `m2` (metres, kilometres, square metres, up to 2 decimals: "35,01 m"),
`mb` (bytes as megabytes), `pos` (a [lon, lat] pair: "(104,05; 1,12)" in Indonesian, where the comma is the decimal
mark), `date`, `idr` (Rupiah), `plural:one:many` (English plural after the number: "1 row", "3 rows"). Any other
filter is a prefix in the page catalogue (`ducting/web/i18n/<lang>.json`): `{stage|comp.mig.stage}` says the value
`cut_over` as `comp.mig.stage.cut_over` ("Alih layanan"), so a vocabulary word is written once, where the pages
already have it.

Why the registry is the source and the page catalogue follows: a code's words are part of the code (status,
title, detail variants and their parameters are checked together, by one test), and the server has to say them
itself, because API clients, the CLI and PDF letters read messages too, not only the pages. The pages get each
code's title as `err.<code>` in the catalogue JSON (`ducting.web.i18n.catalogue` merges `catalogue_entries`), and
every problem's `detail` already in their language; so no message lives in two places.

Checks (tests/trust/test_problems.py): every code the source raises is registered (an AST scan of class `code`
attributes, `code=` keywords, `code = ...` assignments, and the code arguments of `FieldError`, `GeometryFault`,
`ReadError` and the importers' `fail` helpers); every registered code is used; the languages' parameters agree;
and in the test environment the problem handler refuses to render an unregistered code, a status that differs
from the raising class's, or a fact-bearing code raised without its facts (`audit`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ducting import formats
from ducting.formats import DEFAULT_LANGUAGE, LANGUAGES

SOURCE = Path(__file__).with_name("problems.toml")
RESERVED = frozenset({"type", "title", "status", "detail", "code", "errors", "instance"})
"""Members of every problem body: a fact may not be called so."""

_PARAM = re.compile(r"\{(\w+)(?:\|([\w.]+|plural:[\w ]+:[\w ]+))?\}")
_FILTERS = frozenset({"n", "m", "km", "m2", "mb", "pos", "date", "idr"})
_MAX_TEXT = 120  # a fact that is text from a file is cut here, so a hostile cell cannot fill the message


class RegistryError(ValueError):
    """The registry file breaks its own contract (found at import, so the service does not start with it)."""


@dataclass(frozen=True)
class Template:
    id: str
    en: str
    params: frozenset[str]
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.id

    def fits(self, facts: Mapping[str, Any]) -> bool:
        """Every parameter given (not None), and every `when` fact one of its values."""
        return all(facts.get(p) is not None for p in self.params) and all(
            facts.get(k) in values for k, values in self.when
        )


@dataclass(frozen=True)
class Entry:
    code: str
    status: int
    title: Template
    detail: tuple[Template, ...]
    source: str  # "ours"; "pydantic" for the validation error types FastAPI reports, which our code never raises

    def variant(self, facts: Mapping[str, Any]) -> Template | None:
        """The first detail variant whose every parameter the facts give."""
        return next((t for t in self.detail if t.fits(facts)), None)


# -- loading -------------------------------------------------------------------------------------------------------
def _template(code: str, where: str, raw: Any) -> Template:
    when = raw.pop("when", {}) if isinstance(raw, dict) else {}
    if not isinstance(raw, dict) or set(raw) != {"id", "en"} or not all(isinstance(v, str) for v in raw.values()):
        raise RegistryError(f"{code}: {where} needs exactly `id` and `en` text (and optionally `when`)")
    if not isinstance(when, dict) or not all(isinstance(v, (str, int, bool, list)) for v in when.values()):
        raise RegistryError(f"{code}: {where}.when maps facts to a value or a list of values")
    params = {}
    for lang in LANGUAGES:
        text = raw[lang]
        if not text.strip():
            raise RegistryError(f"{code}: {where}.{lang} is empty")
        found = _PARAM.findall(text)
        leftover = _PARAM.sub("", text)
        if "{" in leftover or "}" in leftover:
            raise RegistryError(f"{code}: {where}.{lang} has a brace that is not a {{parameter}}: {text!r}")
        params[lang] = frozenset(name for name, _ in found)
    if params["id"] != params["en"]:
        raise RegistryError(f"{code}: {where} takes {sorted(params['id'])} in id but {sorted(params['en'])} in en")
    if params["id"] & RESERVED:
        raise RegistryError(f"{code}: {where} names a fact after a problem member: {sorted(params['id'] & RESERVED)}")
    chosen = tuple((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in when.items())
    return Template(raw["id"], raw["en"], params["id"], chosen)


def load(path: Path = SOURCE) -> dict[str, Entry]:
    """Read and check the registry file. Raises RegistryError naming the first entry that breaks the contract."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Entry] = {}
    for code, spec in raw.items():
        if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code):
            raise RegistryError(f"{code!r} is not a snake_case machine code")
        unknown = set(spec) - {"status", "title", "detail", "source"}
        if unknown:
            raise RegistryError(f"{code}: unknown keys {sorted(unknown)}")
        status = spec.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise RegistryError(f"{code}: status must be an HTTP error status, not {status!r}")
        title = _template(code, "title", spec.get("title"))
        if title.params:
            raise RegistryError(f"{code}: a title takes no parameters (the pages show it alone)")
        details = tuple(_template(code, f"detail[{i}]", d) for i, d in enumerate(spec.get("detail", [])))
        source = spec.get("source", "ours")
        if source not in ("ours", "pydantic"):
            raise RegistryError(f"{code}: source is 'ours' or 'pydantic'")
        out[code] = Entry(code, status, title, details, source)
    return out


REGISTRY: Mapping[str, Entry] = load()


def entry(code: str) -> Entry | None:
    return REGISTRY.get(code)


# -- the reader's language ----------------------------------------------------------------------------------------
def negotiate(cookie: str | None = None, accept_language: str | None = None) -> str:
    """`id` or `en`: the page's cookie first, then the highest-weighted of the two in Accept-Language, else `id`."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for item in (accept_language or "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        if q > best_q:
            best, best_q = primary, q
    return best


# -- rendering -----------------------------------------------------------------------------------------------------
def title(code: str, lang: str) -> str:
    found = REGISTRY.get(code)
    return found.title.text(lang) if found else code


def say(code: str, lang: str, facts: Mapping[str, Any], *, fallback: str | None = None) -> str:
    """The detail in `lang`: the first variant the facts fill, else `fallback` (a legacy raise site's own text),
    else the title."""
    found = REGISTRY.get(code)
    if found is None:
        return fallback or code
    chosen = found.variant(facts)
    if chosen is None:
        return fallback or found.title.text(lang)
    return render(chosen.text(lang), lang, facts)


def render(template: str, lang: str, facts: Mapping[str, Any]) -> str:
    return _PARAM.sub(lambda m: _value(facts[m.group(1)], m.group(2), lang), template)


def catalogue_entries(lang: str) -> dict[str, str]:
    """`err.<code>` → title, for the page catalogue."""
    return {f"err.{code}": e.title.text(lang) for code, e in REGISTRY.items()}


def _value(value: Any, how: str | None, lang: str) -> str:
    if how is None:
        return _plain(value, lang)
    if how.startswith("plural:"):
        _, one, many = (how.split(":") + ["", ""])[:3]
        return f"{_plain(value, lang)} {one if value == 1 else many}"
    if how not in _FILTERS:
        return _words(value, how, lang)
    if how == "date":
        return _date(value)
    if how == "pos":
        x, y = (_number(v, lang, places=7) for v in value)
        return f"({x}; {y})" if lang == "id" else f"({x}, {y})"
    if how == "idr":
        return formats.rupiah(value, lang=lang)
    if how == "mb":
        return _number(Decimal(value) / 2**20, lang, places=1) + " MB"
    unit = {"m": " m", "km": " km", "m2": " m²", "n": ""}[how]
    return _number(value, lang, places=2, group=how == "n") + unit


def _plain(value: Any, lang: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        return _number(value, lang, places=7)
    if isinstance(value, (date, datetime)):
        return _date(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_plain(v, lang) for v in value)
    text = str(value)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _number(value: Any, lang: str, *, places: int, group: bool = False) -> str:
    """Rounded half away from zero to at most `places` decimals, trailing zeros dropped, in the language's marks
    (`formats.number`); `group` adds thousands separators (`1.234,5`). Not a number: as it is."""
    try:
        exact = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not exact.is_finite():
        return str(value)
    text = formats.number(exact, places, lang=lang, trim=True)
    return text if group else text.replace(formats.SEPARATORS[lang][0], "")


def _date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        return formats.date_time(value, label=True) if value.tzinfo else value.strftime("%d-%m-%Y %H:%M")
    if isinstance(value, date):
        return formats.short_date(value)
    return _plain(value, "id")


def _words(value: Any, prefix: str, lang: str) -> str:
    """A vocabulary value in words, from the page catalogue (read lazily: the catalogue merges this registry)."""
    from ducting.web.i18n import catalogue

    words = catalogue(lang)
    values = value if isinstance(value, (list, tuple)) else [value]
    return ", ".join(words.get(f"{prefix}.{v}", str(v)) for v in values)


# -- the checks a raise site must pass --------------------------------------------------------------------------------
def audit(
    code: str,
    status: int | None,
    facts: Mapping[str, Any],
    *,
    legacy: bool = False,
    fields: Iterable[tuple[str, Mapping[str, Any], bool]] = (),
) -> list[str]:
    """What is wrong with rendering this problem: an unregistered code, a status other than the registry's, or a
    code whose detail variants all need facts raised without them (tolerated where the raise site wrote its own
    sentence, `legacy`: the source scan names those). The same for each field error `(code, facts, legacy)`."""
    issues = []
    found = REGISTRY.get(code)
    if found is None:
        issues.append(f"code {code!r} is not registered in ducting/problems.toml")
    else:
        if status is not None and status != found.status:
            issues.append(f"code {code!r} is raised as a {status} but registered as {found.status}")
        if found.detail and not legacy and found.variant(facts) is None:
            issues.append(f"code {code!r} raised without the facts of any detail variant (got {sorted(facts)})")
    for field_code, field_facts, field_legacy in fields:
        known = REGISTRY.get(field_code)
        if known is None:
            issues.append(f"field error code {field_code!r} is not registered in ducting/problems.toml")
        elif known.detail and not field_legacy and known.variant(field_facts) is None:
            issues.append(f"field error {field_code!r} without the facts of any variant (got {sorted(field_facts)})")
    return issues
