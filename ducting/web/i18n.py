"""The one message catalogue (Bahasa Indonesia first, English second) and the display formats the pages use:
Rupiah as `Rp 1.234.567`, dates and times in WIB (Asia/Jakarta).

Templates call `t("key")`; the browser gets the same catalogue as JSON, so no string lives in two places. The
`err.<code>` keys are not in the JSON files: they are the titles of the problem registry (`ducting.problems`),
merged in here, and the files hold the vocabulary the registry's templates say values with (`thing.*`, `status.*`)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from ducting.problems import DEFAULT_LANGUAGE, LANG_COOKIE, LANGUAGES, catalogue_entries

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "WIB", "catalogue", "rupiah", "translate", "wib"]

WIB = ZoneInfo("Asia/Jakarta")
_DIR = Path(__file__).resolve().parent / "i18n"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language; English fills any key Indonesian lacks (and the reverse)."""
    own = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    other = json.loads((_DIR / f"{'en' if lang == 'id' else 'id'}.json").read_text(encoding="utf-8"))
    return other | own | catalogue_entries(lang)


def translate(lang: str, key: str, **values: object) -> str:
    text = catalogue(lang).get(key, key)
    return text.format(**values) if values else text


def rupiah(amount: Decimal | int | str | None) -> str:
    """`Rp 1.234.567`: whole Rupiah, dots between thousands, half up (display only; billing rounds for real)."""
    if amount is None or amount == "":
        return "–"
    value = Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}Rp {abs(int(value)):,}".replace(",", ".")


def wib(moment: datetime | date | None, *, with_time: bool = True) -> str:
    """`23-11-2026 18:45 WIB`, or `23-11-2026` for a date."""
    if moment is None:
        return "–"
    if isinstance(moment, datetime):
        local = moment.astimezone(WIB) if moment.tzinfo else moment.replace(tzinfo=WIB)
        return local.strftime("%d-%m-%Y %H:%M WIB") if with_time else local.strftime("%d-%m-%Y")
    return moment.strftime("%d-%m-%Y")
