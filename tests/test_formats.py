"""How numbers, Rupiah, lengths and dates are written for a person, on the server (`ducting.formats`) and in the
browser (`ducting/web/static/formats.js`): one table, run through both."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ducting import formats
from ducting.calendar import zone

FORMATS_JS = Path(formats.__file__).parent / "web" / "static" / "formats.js"

# (function, value, options, language, expected). Options are keyword arguments in Python and the options object
# in JavaScript, by the same names; "zone" picks the formatter's zone (default WIB).
CASES: list[tuple[str, Any, dict[str, Any], str, str]] = [
    # Rupiah: dots between thousands, a comma before the sen; negatives before the symbol; halves away from zero
    ("rupiah", "1234567", {}, "id", "Rp 1.234.567"),
    ("rupiah", 1234567, {}, "en", "Rp 1,234,567"),
    ("rupiah", "0", {}, "id", "Rp 0"),
    ("rupiah", "-2500", {}, "id", "-Rp 2.500"),
    ("rupiah", "-59302", {}, "en", "-Rp 59,302"),
    ("rupiah", "999.5", {}, "id", "Rp 1.000"),
    ("rupiah", "36.49", {}, "id", "Rp 36"),
    ("rupiah", "-36.5", {}, "id", "-Rp 37"),
    ("rupiah", "-0.5", {}, "id", "-Rp 1"),
    ("rupiah", "-0.4", {}, "id", "Rp 0"),
    ("rupiah", "2.5", {}, "id", "Rp 3"),
    ("rupiah", "101210.08", {"sen": True}, "id", "Rp 101.210,08"),
    ("rupiah", "101210.08", {"sen": True}, "en", "Rp 101,210.08"),
    ("rupiah", "101210.005", {"sen": True}, "id", "Rp 101.210,01"),
    ("rupiah", "1500000", {"sen": True}, "id", "Rp 1.500.000,00"),
    ("rupiah", "1500000.00", {"sen": None}, "id", "Rp 1.500.000"),
    ("rupiah", "999.5", {"sen": None}, "id", "Rp 999,50"),
    ("rupiah", "-999.5", {"sen": None}, "en", "-Rp 999.50"),
    ("rupiah", "0.001", {"sen": None}, "id", "Rp 0,00"),
    ("rupiah", "5E+3", {}, "id", "Rp 5.000"),
    ("rupiah", None, {}, "id", "–"),
    ("rupiah", "", {}, "en", "–"),
    # plain numbers
    ("number", "1234.5", {"decimals": 1}, "id", "1.234,5"),
    ("number", "1234.5", {"decimals": 1}, "en", "1,234.5"),
    ("number", "1234567.891", {}, "id", "1.234.568"),
    ("number", "3.40", {"decimals": 2, "trim": True}, "id", "3,4"),
    ("number", "7", {"decimals": 2, "trim": True}, "id", "7"),
    ("number", "-0.004", {"decimals": 2}, "id", "0,00"),
    ("number", "-1000.25", {"decimals": 1}, "id", "-1.000,3"),
    ("number", 0.1, {"decimals": 3}, "en", "0.100"),
    ("number", "0E-7", {"decimals": 1}, "id", "0,0"),
    # lengths: metres to the centimetre by default, kilometres to 100 m
    ("metres", "98.955", {}, "id", "98,96 m"),
    ("metres", 98.955, {}, "en", "98.96 m"),
    ("metres", "1234.5", {}, "id", "1.234,50 m"),
    ("metres", "1234.5", {"decimals": 0}, "id", "1.235 m"),
    ("metres", "15", {"decimals": 1, "trim": True}, "id", "15 m"),
    ("metres", None, {}, "id", "–"),
    ("km", "12345.678", {}, "id", "12,3 km"),
    ("km", "950", {}, "en", "1.0 km"),
    ("km", "49", {"decimals": 2}, "id", "0,05 km"),
    ("km", "-1250", {}, "id", "-1,3 km"),
    ("percent", "12.25", {}, "id", "12,3 %"),
    ("percent", "33.333", {"decimals": 2, "trim": True}, "en", "33.33 %"),
    # dates: months by name in each language, or day-month-year in digits
    ("long_date", "2026-12-09", {}, "id", "9 Desember 2026"),
    ("long_date", "2026-12-09", {}, "en", "9 December 2026"),
    ("long_date", "2028-02-29", {}, "id", "29 Februari 2028"),
    ("long_date", "2026-05-01T16:59:00+00:00", {}, "id", "1 Mei 2026"),  # 23:59 WIB
    ("long_date", "2026-05-01T17:00:00+00:00", {}, "id", "2 Mei 2026"),  # 00:00 WIB the next day
    ("month_year", "2026-08-17", {}, "id", "Agustus 2026"),
    ("month_year", "2026-08-17", {}, "en", "August 2026"),
    ("month_year", "2027-01", {}, "id", "Januari 2027"),
    ("short_date", "2026-03-05", {}, "id", "05-03-2026"),
    ("short_date", "2026-11-23T17:30:00+00:00", {}, "en", "24-11-2026"),
    ("date_time", "2026-11-23T17:30:00+00:00", {}, "id", "24-11-2026 00:30 WIB"),
    ("date_time", "2026-11-23T11:45:00+00:00", {}, "en", "23-11-2026 18:45 WIB"),
    ("date_time", "2026-11-23T11:45:00+00:00", {"label": False}, "id", "23-11-2026 18:45"),
    ("date_time", "2026-11-23T16:00:00+07:00", {"zone": "WITA"}, "id", "23-11-2026 17:00 WITA"),
    ("date_time", "2026-11-23T16:00:00+07:00", {"zone": "WIT"}, "id", "23-11-2026 18:00 WIT"),
    ("date_time", "2026-03-05", {}, "id", "05-03-2026"),
    ("date_time", None, {}, "id", "–"),
]
JS_NAMES = {
    "rupiah": "idr",
    "number": "number",
    "metres": "m",
    "km": "km",
    "percent": "pct",
    "long_date": "longDate",
    "month_year": "monthYear",
    "short_date": "shortDate",
    "date_time": "dateTime",
}
DATE_FUNCTIONS = {"long_date", "month_year", "short_date", "date_time"}


def _python(fn: str, value: Any, opts: dict[str, Any], lang: str) -> str:
    kwargs = dict(opts)
    tz = zone(kwargs.pop("zone", "WIB"))
    if fn in DATE_FUNCTIONS:
        kwargs["tz"] = tz
        if isinstance(value, str):  # ISO text, as the browser gets it in JSON
            value = date.fromisoformat(value + "-01" if len(value) == 7 else value) if "T" not in value else value
            value = datetime.fromisoformat(value) if isinstance(value, str) else value
    if fn not in ("short_date", "date_time"):  # digits only: the same in both languages
        kwargs["lang"] = lang
    return getattr(formats, fn)(value, **kwargs)


@pytest.mark.parametrize("fn,value,opts,lang,expected", CASES)
def test_the_server_writes_each_case_as_the_table_says(fn, value, opts, lang, expected):
    assert _python(fn, value, opts, lang) == expected


def test_the_browser_writes_every_case_as_the_server_does():
    node = shutil.which("node")
    assert node, "node is installed by ./dev (the front end's npm packages need it)"
    cases = [
        {
            "fn": JS_NAMES[fn],
            "value": value,
            "opts": {k: v for k, v in opts.items() if k != "zone"},
            "config": formats.browser_config(lang, tz=zone(opts.get("zone", "WIB"))),
        }
        for fn, value, opts, lang, _ in CASES
    ]
    script = (
        f"require({json.dumps(str(FORMATS_JS))});"
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(cases.map((c) => globalThis.BFormats.make(c.config)[c.fn](c.value, c.opts))));"
    )
    run = subprocess.run([node, "-e", script], input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    browser = json.loads(run.stdout)
    server = [_python(fn, value, opts, lang) for fn, value, opts, lang, _ in CASES]
    differ = [(c[:4], s, b) for c, s, b in zip(CASES, server, browser) if s != b]
    assert not differ, differ
    assert browser == [c[4] for c in CASES]


def test_the_browser_gets_its_month_names_and_zone_from_the_server():
    config = formats.browser_config("id", tz=zone("WITA"))
    assert config["months"][11] == "Desember" and formats.browser_config("en")["months"][0] == "January"
    assert (config["zone"], config["zoneLabel"], config["utcOffset"]) == ("Asia/Makassar", "WITA", "+08:00")
    assert formats.browser_config("id")["utcOffset"] == "+07:00"
    assert "Desember" not in FORMATS_JS.read_text() and "Asia/" not in FORMATS_JS.read_text()


def test_money_is_never_formatted_from_a_float():
    with pytest.raises(TypeError):
        formats.rupiah(0.1)  # type: ignore[arg-type]
    assert formats.rupiah(Decimal("1234567.4999")) == "Rp 1.234.567"  # exact: no float rounding on the way
    assert formats.rupiah(Decimal("0.005"), sen=True) == "Rp 0,01"


def test_month_names_in_both_languages():
    assert [formats.month_name(m) for m in (1, 3, 5, 8, 12)] == ["Januari", "Maret", "Mei", "Agustus", "Desember"]
    assert [formats.month_name(m, lang="en") for m in (1, 3, 5, 8, 12)] == [
        "January",
        "March",
        "May",
        "August",
        "December",
    ]
    assert formats.month_year(date(2026, 2, 14), lang="en") == "February 2026"


def test_a_naive_moment_is_taken_as_the_zones_wall_clock():
    assert formats.date_time(datetime(2026, 11, 23, 18, 45)) == "23-11-2026 18:45 WIB"
    assert formats.date_time(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == "24-11-2026 00:30 WIB"
    assert formats.short_date(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == "24-11-2026"


def test_a_column_headed_in_metres_drops_the_unit():
    assert formats.metres(Decimal("98.957"), unit=False) == "98,96"


def test_terbilang_writes_whole_rupiah_in_indonesian_words():
    assert formats.terbilang(122556) == "Seratus dua puluh dua ribu lima ratus lima puluh enam rupiah"
    assert formats.terbilang(Decimal("-1000000.4")) == "Minus satu juta rupiah"


def test_a_chart_tick_from_numpy_is_written_like_any_float():
    import numpy as np

    assert (
        formats.number(np.float64(1.25), 1, trim=True) == "1,3" and formats.number(np.float64(2.0), 1, trim=True) == "2"
    )
