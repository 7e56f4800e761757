"""The one message catalogue: Bahasa Indonesia first, English second.

Templates call `t("key")`; the browser gets the same catalogue as JSON, so no string lives in two places. The
`err.<code>` keys are not in the JSON files: they are the titles of the problem registry (`ducting.problems`),
merged in here, and the files hold the vocabulary the registry's templates say values with (`thing.*`, `status.*`).
How numbers, Rupiah and dates are written is `ducting.formats` (and, in the browser, `static/formats.js`)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ducting.formats import DEFAULT_LANGUAGE, LANG_COOKIE, LANGUAGES
from ducting.problems import catalogue_entries

_DIR = Path(__file__).resolve().parent / "i18n"
__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "catalogue", "translate"]


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language; English fills any key Indonesian lacks (and the reverse)."""
    own = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    other = json.loads((_DIR / f"{'en' if lang == 'id' else 'id'}.json").read_text(encoding="utf-8"))
    return other | own | catalogue_entries(lang)


def translate(lang: str, key: str, **values: object) -> str:
    text = catalogue(lang).get(key, key)
    return text.format(**values) if values else text
