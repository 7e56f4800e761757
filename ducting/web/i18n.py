"""The one message catalogue: Bahasa Indonesia first, English second.

Templates call `t("key")`; the browser gets the same catalogue as JSON, so no string lives in two places. How
numbers, Rupiah and dates are written is `ducting.formats` (and, in the browser, `static/formats.js`)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ducting.formats import LANGUAGES

DEFAULT_LANGUAGE = "id"
LANG_COOKIE = "bedelau_lang"
_DIR = Path(__file__).resolve().parent / "i18n"
__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "catalogue", "translate"]


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language; English fills any key Indonesian lacks (and the reverse)."""
    own = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    other = json.loads((_DIR / f"{'en' if lang == 'id' else 'id'}.json").read_text(encoding="utf-8"))
    return other | own


def translate(lang: str, key: str, **values: object) -> str:
    text = catalogue(lang).get(key, key)
    return text.format(**values) if values else text
