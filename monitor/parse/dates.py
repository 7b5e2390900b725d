"""Feed date strings -> aware datetimes, accepting only what a parser really recognised.

feedparser's own chain ends in a lenient ISO 8601 reader that turns garbage into plausible
dates (`2013-xx-27` -> 2013-12-01, an epoch `1701873000` -> 2017-01-18, `22013` ->
2022-01-13) and reads zone names it does not know (`CEST`, `TRT`, `America/Los_Angeles`) as
UTC. Here every token of the string must be accounted for: a weekday, a day, a month (English,
French, German, Turkish, Arabic, Hebrew names), a year, a time, a zone (numeric offset,
a known abbreviation or an IANA name). One unknown token and the string is refused, so the
caller keeps the first-seen time instead of a guess.

`IST` is three zones; it is read from the feed's language tag or host: Hebrew or an `.il` host
is Israel, `-IE`/`ga` or an `.ie` host is Ireland, and everything else India (by far the most
feeds that write `IST`).
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import feedparser.datetimes as _fp_dates

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

# fmt: off
_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("jan", "january", "janv", "janvier", "januar", "ocak", "oca",
        "يناير", "كانون الثاني", "ינואר"),
    2: ("feb", "february", "fev", "fevr", "fevrier", "februar", "subat", "sub",
        "فبراير", "شباط", "פברואר"),
    3: ("mar", "march", "mars", "marz", "mart",
        "مارس", "آذار", "اذار", "מרץ", "מרס"),
    4: ("apr", "april", "avr", "avril", "nisan", "nis",
        "أبريل", "ابريل", "إبريل", "نيسان", "אפריל"),
    5: ("may", "mai", "mayis",
        "مايو", "أيار", "ايار", "מאי"),
    6: ("jun", "june", "juin", "juni", "haziran", "haz",
        "يونيو", "يونية", "حزيران", "יוני"),
    7: ("jul", "july", "juil", "juillet", "juli", "temmuz", "tem",
        "يوليو", "يولية", "تموز", "יולי"),
    8: ("aug", "august", "aout", "agustos", "agu",
        "أغسطس", "اغسطس", "آب", "اب", "אוגוסט"),
    9: ("sep", "sept", "september", "septembre", "eylul", "eyl",
        "سبتمبر", "أيلول", "ايلول", "ספטמבר"),
    10: ("oct", "october", "octobre", "okt", "oktober", "ekim", "eki",
        "أكتوبر", "اكتوبر", "تشرين الأول", "אוקטובר"),
    11: ("nov", "november", "novembre", "kasim", "kas",
        "نوفمبر", "تشرين الثاني", "נובמבר"),
    12: ("dec", "december", "decembre", "dez", "dezember", "aralik", "ara",
        "ديسمبر", "كانون الأول", "דצמבר"),
}
# fmt: on
_WEEKDAY_NAMES = (  # noqa: SIM905 (one string reads better than 80 quoted words)
    "mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday sat saturday "
    "sun sunday lun lundi mar mardi mer mercredi jeu jeudi ven vendredi sam samedi dim dimanche "
    "mo montag di dienstag mi mittwoch do donnerstag fr freitag sa samstag so sonntag "
    "pazartesi pzt sali sal carsamba car persembe per cuma cum cumartesi cmt pazar paz "
    "الأحد الاحد الإثنين الاثنين الثلاثاء الأربعاء الاربعاء الخميس الجمعة السبت "
    "יום ראשון שני שלישי רביעי חמישי שישי שבת א' ב' ג' ד' ה' ו' ש' א׳ ב׳ ג׳ ד׳ ה׳ ו׳ ש׳"
).split()
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


_MONTHS: dict[str, int] = {_fold(n): m for m, names in _MONTH_NAMES.items() for n in names}
# Multi-word month names (Levantine Arabic) are joined into one token before splitting.
_MULTIWORD = {n: n.replace(" ", "_") for names in _MONTH_NAMES.values() for n in names if " " in n}
_MONTHS.update({n.replace(" ", "_"): _MONTHS[n] for n in _MULTIWORD})
_WEEKDAYS = {_fold(w) for w in _WEEKDAY_NAMES}
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
    for phrase, joined in _MULTIWORD.items():
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
        elif word in _MONTHS and word in _WEEKDAYS:
            ambiguous.append(_MONTHS[word])
        elif word in _MONTHS or (word[:1] == "ב" and word[1:] in _MONTHS):
            months.append(_MONTHS.get(word) or _MONTHS[word[1:]])
        elif token.isupper() and token in _ZONES and tz is None:  # "AT", not the word "at"
            tz = _zone(token, lang, host)
        elif word in _WEEKDAYS or word in _FILLER:
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
