"""What an event says to a person, in Bahasa Indonesia or English, from the one catalogue (`ducting/web/i18n`).

`notif.<type>` is the one-line title and `notif.<type>.detail` the sentence under it; both name values from the
payload as `{reference}`, `{total}` ... which `display_values` writes for a person (Rupiah, WIB dates, translated
statuses). The in-app list, the e-mails and the browser all use these, so no sentence lives in two places.
"""

from __future__ import annotations

import string
from datetime import date, datetime
from typing import Any

from ducting import formats
from ducting.web import i18n

_DATES = {
    "first_day": "first_day",
    "last_day": "last_day",
    "due_on": "due",
    "paid_on": "paid_on",
    "issued_on": "issued_on",
    "deadline": "deadline",
}
_MONEY = {"total_idr": "total", "amount_idr": "amount", "outstanding_idr": "outstanding"}
_PLAIN = ("reference", "number", "note", "reason", "days_late", "working_days", "span_id", "flags")
# payload member -> the catalogue prefix that says its value in words
_WORDS = {
    "status": "status",
    "severity": "sev",
    "category": "cat",
    "stage": "comp.mig.stage",
    "outcome": "notif.outcome",
}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "–"


def _day(value: Any) -> str:
    if not value:
        return "–"
    return formats.short_date(date.fromisoformat(str(value)[:10]))


def _moment(value: Any) -> str:
    if not value:
        return "–"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return formats.date_time(moment)


def display_values(lang: str, payload: dict[str, Any]) -> dict[str, str]:
    """The payload's members as a person reads them, under the names the catalogue's templates use."""
    out: dict[str, str] = {}
    for name in _PLAIN:
        if payload.get(name) is not None:
            out[name] = str(payload[name])
    for name, key in _DATES.items():
        if name in payload:
            out[key] = _day(payload[name])
    for name, key in _MONEY.items():
        if name in payload:
            out[key] = formats.rupiah(payload[name], lang=lang)
    for name, prefix in _WORDS.items():
        if payload.get(name):
            out[name] = i18n.translate(lang, f"{prefix}.{payload[name]}")
    if "hold_expires_at" in payload:
        out["hold"] = _moment(payload["hold_expires_at"])
    if payload.get("pks_number"):
        out["pks"] = payload["pks_number"]
    if payload.get("credit_note_number"):
        out["credit_note"] = payload["credit_note_number"]
    if payload.get("month"):
        out["month"] = str(payload["month"])[:7]
    if payload.get("rule"):
        out["rule"] = _rule_title(lang, payload["rule"])
    return out


def _rule_title(lang: str, code: str) -> str:
    from ducting.compliance.rules import BY_CODE

    rule = BY_CODE.get(code)
    if rule is None:
        return code
    return rule.title_en if lang == "en" else rule.title_id


def _fill(template: str, values: dict[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Blank(values))


def title(lang: str, event_type: str, payload: dict[str, Any]) -> str:
    return _fill(i18n.catalogue(lang).get(f"notif.{event_type}", event_type), display_values(lang, payload))


def detail(lang: str, event_type: str, payload: dict[str, Any]) -> str:
    template = i18n.catalogue(lang).get(f"notif.{event_type}.detail", "")
    return _fill(template, display_values(lang, payload)) if template else ""
