"""Feed date strings -> aware datetimes, accepting only what a parser really recognised.

feedparser's own chain ends in a lenient ISO 8601 reader that turns garbage into plausible
dates (`2013-xx-27` -> 2013-12-01, an epoch `1701873000` -> 2017-01-18, `22013` ->
2022-01-13) and reads zone names it does not know (`CEST`, `TRT`, `America/Los_Angeles`) as
UTC. Here every token of the string must be accounted for: a weekday, a day, a month (names in
English, French, German, Turkish, Indonesian, Arabic and Hebrew, from babel's CLDR data), a
year, a time, a zone (numeric offset, a known abbreviation or an IANA name). One unknown
token and the string is refused, so the caller keeps the first-seen time instead of a guess.

`IST` is three zones; it is read from the feed's language tag or host: Hebrew or an `.il` host
is Israel, `-IE`/`ga` or an `.ie` host is Ireland, and everything else India (by far the most
feeds that write `IST`).
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any, Literal

import feedparser.datetimes as _fp_dates
from babel.dates import get_day_names, get_month_names

__all__ = ["parse_date"]

_H = 3600
# Abbreviations as feeds write them, with their fixed offsets (seconds east of UTC). Where an
# abbreviation names a zone with daylight saving rather than one offset (ET, PT, ...), it maps
# to the IANA zone so the date's own season decides.
_ZONES: dict[str, int | str] = {
    "Z": 0, "UT": 0, "UTC": 0, "GMT": 0, "WET": 0, "WEST": _H,
    "BST": _H, "CET": _H, "MET": _H, "MEZ": _H, "WAT": _H,
    "CEST": 2 * _H, "MEST": 2 * _H, "MESZ": 2 * _H, "EET": 2 * _H, "CAT": 2 * _H,
    "SAST": 2 * _H, "EEST": 3 * _H, "IDT": 3 * _H, "TRT": 3 * _H, "MSK": 3 * _H, "EAT": 3 * _H,
    "GST": 4 * _H, "PKT": 5 * _H, "WIB": 7 * _H, "WITA": 8 * _H, "WIT": 9 * _H,
    "HKT": 8 * _H, "SGT": 8 * _H, "AWST": 8 * _H, "JST": 9 * _H, "KST": 9 * _H,
    "ACST": 9 * _H + 1800, "AEST": 10 * _H, "AEDT": 11 * _H, "NZST": 12 * _H, "NZDT": 13 * _H,
    "EST": -5 * _H, "EDT": -4 * _H, "CST": -6 * _H, "CDT": -5 * _H, "MST": -7 * _H,
    "MDT": -6 * _H, "PST": -8 * _H, "PDT": -7 * _H, "AKST": -9 * _H, "AKDT": -8 * _H,
    "HST": -10 * _H, "ADT": -3 * _H, "NST": -3 * _H - 1800, "NDT": -2 * _H - 1800,
    "ET": "America/New_York", "CT": "America/Chicago", "MT": "America/Denver",
    "PT": "America/Los_Angeles", "AT": "America/Halifax",
}  # fmt: skip
# AST is Atlantic Standard Time in RFC 822's world and Arabia Standard Time in Arabic feeds.
_AST_ATLANTIC, _AST_ARABIA = -4 * _H, 3 * _H
_IST = {"he": 2 * _H, "ie": _H, "in": 5 * _H + 1800}

# Month and weekday names come from the CLDR data babel ships, in these locales (ar_SY for
# the Levantine month names: كانون الثاني, شباط, ...), in every width and context.
_LOCALES = ("en", "fr", "de", "tr", "id", "ar", "ar_SY", "he")
# Spellings feeds use that CLDR does not list: Arabic without hamza, Egyptian -ية endings,
# Hebrew מרס, English "Tues"/"Thurs", Hebrew weekday letters with an ASCII apostrophe.
_EXTRA_MONTHS = {
    2: ("fev",),
    3: ("اذار", "מרס"),
    4: ("ابريل", "إبريل"),
    5: ("ايار",),
    6: ("يونية",),
    7: ("يولية",),
    8: ("اغسطس", "اب"),
    9: ("ايلول",),
    10: ("اكتوبر",),
}
_EXTRA_WEEKDAYS = (
    "tues",
    "thur",
    "thurs",
    "الاحد",
    "الإثنين",
    "الاربعاء",
    *(f"{c}'" for c in "אבגדהוש"),
)
# Filler words between the parts ("Thu, June 22, 2023 at 01:11 PM"), in the four languages.
_FILLER = {"at", "a", "à", "le", "de", "saat", "um", "في", "الساعة", "בשעה", "-", "–", "—"}


def _fold(word: str) -> str:
    """Lower case, Latin diacritics and dotless i folded, so `Aralık`, `ARALIK` and `déc.` match."""
    word = word.lower().replace("ı", "i").rstrip(".,")
    decomposed = unicodedata.normalize("NFKD", word)
    if decomposed.isascii() or not any(unicodedata.combining(c) for c in decomposed):
        return decomposed
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Arabic hamza forms are letters, not diacritics: keep the composed word for them.
    return base if base.isascii() else unicodedata.normalize("NFC", word)


@dataclass(frozen=True)
class _Names:
    months: dict[str, int]  # folded name -> month number
    weekdays: frozenset[str]  # folded words of weekday names
    multiword: dict[str, str]  # month names with a space -> one token


_CONTEXTS: tuple[Literal["format", "stand-alone"], ...] = ("format", "stand-alone")
_WIDTHS: tuple[Literal["wide", "abbreviated"], ...] = ("wide", "abbreviated")


@cache
def _names() -> _Names:
    """Built on first use (about 0.15 s of locale data), not at import."""
    months: dict[str, int] = {}
    weekdays: set[str] = {_fold(w) for w in _EXTRA_WEEKDAYS}
    for locale in _LOCALES:
        for context in _CONTEXTS:
            for width in _WIDTHS:
                for month, name in get_month_names(width, context, locale).items():
                    months[_fold(name)] = month
                for name in get_day_names(width, context, locale).values():
                    weekdays.update(_fold(part) for part in name.split())
            for name in get_day_names("short", context, locale).values():
                weekdays.update(_fold(part) for part in name.split())
    for month, extras in _EXTRA_MONTHS.items():
        months.update(dict.fromkeys((_fold(n) for n in extras), month))
    multiword = {n: n.replace(" ", "_") for n in months if " " in n}
    months.update({joined: months[n] for n, joined in multiword.items()})
    return _Names(months=months, weekdays=frozenset(weekdays), multiword=multiword)


_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

_ISO = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[Tt ](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<z>[Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)?)?)?)?"
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(am|pm)?")
_OFFSET = re.compile(r"(?:gmt|utc|ut)?([+-])(\d{1,2})(?::?(\d{2}))?")
_YMD = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_EPOCH = re.compile(r"\d{9,10}")
_COMMENT = re.compile(r"\([^()]*\)")
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th|er|\.)$")
_AMPM = {"am": "am", "a.m": "am", "pm": "pm", "p.m": "pm"}
_AMPM.update({"ص": "am", "صباحا": "am", "م": "pm", "مساء": "pm"})
# feedparser's readers for scripts this module does not read (Greek, Hungarian, Korean): each
# matches one narrow format, so a result from them is a real reading, not a guess.
_NARROW_FALLBACKS = tuple(
    f
    for name in (
        "_parse_date_greek",
        "_parse_date_hungarian",
        "_parse_date_nate",
        "_parse_date_onblog",
    )
    if callable(f := getattr(_fp_dates, name, None))
)


def parse_date(raw: str, *, lang: str | None = None, host: str | None = None) -> datetime | None:
    """The instant `raw` names, aware, or None when any part of it is not understood.

    `lang` (the feed's language tag, `en-IN`) and `host` (the feed's host) only decide what an
    ambiguous zone abbreviation means.
    """
    text = " ".join(_COMMENT.sub(" ", raw.translate(_DIGITS)).split())
    if not text or len(text) > 120:
        return None
    if _EPOCH.fullmatch(text):
        # Unix seconds: unambiguous at 9-10 digits (1973-2286); the caller range-checks.
        return datetime.fromtimestamp(int(text), tz=UTC)
    when = _iso(text) or _words(text, lang, host)
    if when is not None:
        return when
    for reader in _NARROW_FALLBACKS:
        try:
            parsed: Any = reader(text)
        except (ValueError, OverflowError, IndexError, KeyError):
            continue
        if parsed is not None:
            y, mo, d, h, mi, sec = parsed[:6]
            return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    return None


def _iso(text: str) -> datetime | None:
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    try:
        local = datetime(
            int(m["y"]),
            int(m["m"] or 1),
            int(m["d"] or 1),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
        )
    except ValueError:
        return None
    zone = m["z"]
    if not zone or zone.upper() in ("Z", "UTC", "GMT"):
        return local.replace(tzinfo=UTC)
    tz = _offset(zone)
    return local.replace(tzinfo=tz) if tz else None


def _offset(token: str) -> tzinfo | None:
    m = _OFFSET.fullmatch(token.lower())
    if m is None:
        return None
    hours, minutes = int(m[2]), int(m[3] or 0)
    if hours > 14 or minutes > 59:
        return None
    sign = -1 if m[1] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _zone(token: str, lang: str | None, host: str | None) -> tzinfo | None:
    upper = token.upper()
    if upper == "IST":
        return timezone(timedelta(seconds=_ist(lang, host)))
    if upper == "AST":
        arabic = (lang or "").lower().startswith("ar")
        return timezone(timedelta(seconds=_AST_ARABIA if arabic else _AST_ATLANTIC))
    known = _ZONES.get(upper)
    if isinstance(known, int):
        return timezone(timedelta(seconds=known))
    name = known or token
    if "/" in name or name == known:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
    return _offset(token)


def _ist(lang: str | None, host: str | None) -> int:
    tag, host = (lang or "").lower().replace("_", "-"), (host or "").lower()
    if tag.startswith(("he", "iw")) or tag.endswith("-il") or host.endswith(".il"):
        return _IST["he"]
    if tag.startswith("ga") or tag.endswith("-ie") or host.endswith(".ie"):
        return _IST["ie"]
    return _IST["in"]


def _words(text: str, lang: str | None, host: str | None) -> datetime | None:  # noqa: C901
    """RFC 822 and its real-world relatives: the parts in any order, every token known."""
    names = _names()
    for phrase, joined in names.multiword.items():
        text = text.replace(phrase, joined)
    text = re.sub(r"(\d)(am|pm|AM|PM)\b", r"\1 \2", text).replace(",", " ")
    months: list[int] = []
    ambiguous: list[int] = []  # tokens that are a month or a weekday ("mar": March, mardi)
    numbers: list[str] = []
    clock: tuple[int, int, int] | None = None
    half: str | None = None
    tz: tzinfo | None = None
    ymd: tuple[int, int, int] | None = None
    for token in text.split():
        word = _fold(token)
        if m := _TIME.fullmatch(word):
            if clock is not None:
                return None
            clock = (int(m[1]), int(m[2]), int(m[3] or 0))
            half = m[4]
        elif word in _AMPM and clock is not None and half is None:
            half = _AMPM[word]
        elif m := _ORDINAL.fullmatch(word):
            numbers.append(m[1])
        elif word.isdigit():
            numbers.append(word)
        elif m := _YMD.fullmatch(word):
            ymd = (int(m[1]), int(m[2]), int(m[3]))
        elif word in names.months and word in names.weekdays:
            ambiguous.append(names.months[word])
        elif word in names.months or (word[:1] == "ב" and word[1:] in names.months):
            months.append(names.months.get(word) or names.months[word[1:]])
        elif token.isupper() and token in _ZONES and tz is None:  # "AT", not the word "at"
            tz = _zone(token, lang, host)
        elif word in names.weekdays or word in _FILLER:
            continue
        elif tz is None and (zone := _zone(token.rstrip(".,"), lang, host)) is not None:
            tz = zone
        else:
            return None
    if not months and len(ambiguous) == 1:
        months = ambiguous
    if ymd is not None:
        if months or numbers:
            return None
        year, month, day = ymd
    else:
        if len(months) != 1:
            return None
        month = months[0]
        four = [n for n in numbers if len(n) == 4]
        short = [n for n in numbers if len(n) <= 2]
        if len(four) == 1 and len(short) == 1 and len(numbers) == 2:
            year, day = int(four[0]), int(short[0])
        elif not four and len(short) == 2:  # RFC 822's two-digit year: "01 Jan 04"
            day, year = int(short[0]), int(short[1])
            year += 2000 if year < 50 else 1900
        else:
            return None
    hour, minute, second = clock or (0, 0, 0)
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    # No zone: UTC, as RFC 822 readers (feedparser included) have always assumed.
    return local.replace(tzinfo=tz or UTC)
