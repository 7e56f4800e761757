"""How numbers, money, lengths and dates are written for a person: pages, PDFs, letters and exports ask here.

Indonesian first (`lang="id"`), English second (`lang="en"`):

    rupiah(Decimal("1234567"))          Rp 1.234.567          Rp 1,234,567
    rupiah(Decimal("101210.08"), sen=True)  Rp 101.210,08     Rp 101,210.08
    metres(98.955)                      98,96 m               98.96 m
    long_date(date(2026, 12, 9))        9 Desember 2026       9 December 2026
    date_time(moment)                   23-11-2026 18:45 WIB  (the same in both)

Money stays exact. The one rounding here is for display: what is shown is rounded half away from zero (the rule
of `billing.money`) to whole Rupiah, or to the sen with `sen=True`; with `sen=None` an amount with a fraction is
shown to the sen instead of being rounded away (for documents quoting amounts that should already be whole, a
fraction is shown, not hidden). Nothing here feeds a computation. Floats are refused for money.

The browser writes the same things with `ducting/web/static/formats.js`, from the same month names and zone
(`browser_config`); tests/test_formats.py holds the two to one table.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from num2words import num2words

from ducting.calendar import DEFAULT_ZONE, zone_label

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANG_COOKIE = "bedelau_lang"
"""The cookie the pages set to say which language the reader chose (the registry's `negotiate` reads it too)."""
NONE = "–"
"""What stands for a missing value."""

MONTHS: dict[str, tuple[str, ...]] = {
    "id": (
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
SEPARATORS = {"id": (".", ","), "en": (",", ".")}
"""(thousands, decimal) per language."""

Amount = Decimal | int | str


def _decimal(value: Decimal | int | float | str, *, money: bool = False) -> Decimal:
    if isinstance(value, float):
        if money:
            raise TypeError("money must not be a float")
        return Decimal(repr(float(value)))  # the shortest text that reads back as this float, as JS writes it
    return value if isinstance(value, Decimal) else Decimal(str(value).strip())


def _grouped(value: Decimal, decimals: int, lang: str, *, trim: bool = False) -> str:
    """`value` rounded half away from zero to `decimals` places, grouped in thousands. -0 is written 0."""
    thousands, point = SEPARATORS[lang]
    q = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{abs(q):.{decimals}f}".partition(".")
    if trim:
        frac = frac.rstrip("0")
    text = f"{int(whole):,}".replace(",", thousands) + (point + frac if frac else "")
    return ("-" if q < 0 else "") + text


def number(
    value: Decimal | int | float | str | None, decimals: int = 0, *, lang: str = "id", trim: bool = False
) -> str:
    """`1.234,5`: thousands and decimals as the language writes them, `decimals` places (`trim` drops trailing
    zeros: `3,4` rather than `3,40`)."""
    if value is None or value == "":
        return NONE
    return _grouped(_decimal(value), decimals, lang, trim=trim)


def rupiah(amount: Amount | None, *, sen: bool | None = False, lang: str = "id") -> str:
    """`Rp 1.234.567`, negatives `-Rp 2.500`. `sen`: False rounds to whole Rupiah for display, True writes the sen
    (`Rp 101.210,08`), None writes the sen only when the amount has a fraction."""
    if amount is None or amount == "":
        return NONE
    value = _decimal(amount, money=True)
    places = 2 if sen or (sen is None and value != value.to_integral_value()) else 0
    text = _grouped(value, places, lang)
    return f"-Rp {text[1:]}" if text.startswith("-") else f"Rp {text}"


def terbilang(amount: Amount) -> str:
    """A whole-Rupiah amount in Indonesian words, as invoices print it: `Satu juta dua ratus ... rupiah`."""
    value = _decimal(amount, money=True).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    words = num2words(int(abs(value)), lang="id")
    text = ("minus " if value < 0 else "") + words + " rupiah"
    return text[0].upper() + text[1:]


Number = Decimal | int | float | str


def metres(value: Number | None, decimals: int = 2, *, lang: str = "id", trim: bool = False, unit: bool = True) -> str:
    """`98,96 m` (`unit=False`: `98,96`, for a column headed in metres)."""
    if value is None or value == "":
        return NONE
    text = number(value, decimals, lang=lang, trim=trim)
    return f"{text} m" if unit else text


def km(metres_: Number | None, decimals: int = 1, *, lang: str = "id", trim: bool = False) -> str:
    """A length given in metres, written in kilometres: `12,3 km`."""
    if metres_ is None or metres_ == "":
        return NONE
    return f"{number(_decimal(metres_).scaleb(-3), decimals, lang=lang, trim=trim)} km"


def percent(value: Number | None, decimals: int = 1, *, lang: str = "id", trim: bool = False) -> str:
    """`12,5 %` (Indonesian and SI put a space before the sign)."""
    return NONE if value is None or value == "" else f"{number(value, decimals, lang=lang, trim=trim)} %"


def month_name(month: int, *, lang: str = "id") -> str:
    """`Desember` for 12."""
    return MONTHS[lang][month - 1]


def month_year(day: date | datetime | None, *, lang: str = "id", tz: ZoneInfo = DEFAULT_ZONE) -> str:
    """`Desember 2026`: the month a day belongs to (a moment's, on the zone's calendar)."""
    if day is None:
        return NONE
    day = _day(day, tz)
    return f"{month_name(day.month, lang=lang)} {day.year}"


def long_date(day: date | datetime | None, *, lang: str = "id", tz: ZoneInfo = DEFAULT_ZONE) -> str:
    """`9 Desember 2026` (a moment's day on the zone's calendar)."""
    if day is None:
        return NONE
    day = _day(day, tz)
    return f"{day.day} {month_name(day.month, lang=lang)} {day.year}"


def short_date(day: date | datetime | None, *, tz: ZoneInfo = DEFAULT_ZONE) -> str:
    """`09-12-2026` (a moment's day on the zone's calendar)."""
    return NONE if day is None else _day(day, tz).strftime("%d-%m-%Y")


def date_time(moment: datetime | date | None, *, tz: ZoneInfo = DEFAULT_ZONE, label: bool = True) -> str:
    """`23-11-2026 18:45 WIB` in the zone (a naive moment is taken as already in it); a date as `short_date`."""
    if moment is None:
        return NONE
    if not isinstance(moment, datetime):
        return short_date(moment)
    text = _local(moment, tz).strftime("%d-%m-%Y %H:%M")
    return f"{text} {zone_label(tz)}" if label else text


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz) if moment.tzinfo else moment.replace(tzinfo=tz)


def _day(day: date | datetime, tz: ZoneInfo) -> date:
    return _local(day, tz).date() if isinstance(day, datetime) else day


def browser_config(lang: str, *, tz: ZoneInfo = DEFAULT_ZONE) -> dict[str, object]:
    """What `formats.js` needs to write as this module does: the language, its month names, the zone (its name,
    label, and UTC offset for a wall-clock time the browser sends; Indonesia keeps no summer time)."""
    offset = datetime.now(tz).strftime("%z")
    return {
        "lang": lang,
        "months": list(MONTHS[lang]),
        "zone": tz.key,
        "zoneLabel": zone_label(tz),
        "utcOffset": f"{offset[:3]}:{offset[3:]}",
    }
