"""Facts that tell events apart: numbers, years, weekdays, months, leading names, headline slots.

Copies of one story agree on these (a trimmed copy names a subset of them); look-alikes of
different events (another day's strike, another official's visit) do not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

from monitor.dedupe.features import _LATIN, _WORD, _folded, _keep, _words
from monitor.text import fold

# ---- facts that tell events apart ------------------------------------------------------------

# Not inside a word: `\b` before a digit (itself a word character) says exactly what the
# look-behind `(?<!\w)` said, and scans a text about twice as fast.
_NUM = re.compile(r"\b\d+(?:[.,٫٬]\d+)*")


def _norm_number(raw: str) -> str:
    parts = re.split(r"[.,٫٬]", raw)
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        return str(int("".join(parts)))  # thousands separators: 35,000 = 35.000 = 35000
    if len(parts) == 2:
        return f"{int(parts[0])}.{parts[1].rstrip('0') or '0'}"  # decimal: 6,2 = 6.2
    return ".".join(str(int(p)) for p in parts)


def _table(rows: dict[int, str]) -> dict[str, int]:
    return {fold(w): k for k, words in rows.items() for w in words.split()}


# Hand-written: weekday and month names in the languages newsmon reads (en, tr, fr, de, es, id,
# ar, he); a date library would only give us these same lists.
_WEEKDAYS = _table(
    {
        1: "monday pazartesi lundi montag lunes senin الاثنين الإثنين",
        2: "tuesday salı mardi dienstag martes selasa الثلاثاء",
        3: "wednesday çarşamba mercredi mittwoch miércoles rabu الأربعاء",
        4: "thursday perşembe jeudi donnerstag jueves kamis الخميس",
        5: "friday cuma vendredi freitag viernes jumat الجمعة",
        6: "saturday cumartesi samedi samstag sábado sabtu السبت",
        7: "sunday dimanche sonntag domingo الأحد",
    }
)
# Hebrew weekdays are ordinals ("שני" is also "second"): only counted after "יום"/"ביום".
_HE_WEEKDAYS = _table({1: "שני", 2: "שלישי", 3: "רביעי", 4: "חמישי", 5: "שישי", 7: "ראשון"})
_MONTHS = _table(
    {
        1: "january janvier januar enero januari يناير ינואר",
        2: "february février februar febrero februari şubat فبراير شباط פברואר",
        3: "mars märz marzo maret mart مارس آذار מרץ",
        4: "april avril abril nisan أبريل ابريل نيسان אפריל",
        5: "mai mayo mei mayıs مايو أيار",
        6: "june juin juni junio haziran يونيو حزيران יוני",
        7: "july juillet juli julio temmuz يوليو تموز יולי",
        8: "august août agosto agustus ağustos أغسطس اغسطس אוגוסט",
        9: "september septembre septiembre eylül سبتمبر أيلول ספטמבר",
        10: "october octobre oktober octubre أكتوبر اكتوبر אוקטובר",
        11: "november novembre noviembre نوفمبر נובמבר",
        12: "december décembre dezember diciembre desember ديسمبر דצמבר",
    }
)
# Month names that are also common words ("may", "march", Turkish "ekim" = I plant): counted only
# next to a number, as in "May 5" or "5 Ekim".
_MONTHS_AMBIGUOUS = {
    fold("may"): 5,
    fold("march"): 3,
    "ekim": 10,
    "kasim": 11,
    "aralik": 12,
    "ocak": 1,
    "מאי": 5,
}
_HE_PREFIXES = ("ב", "ל", "מ", "ו", "ה")


def _lookup_word(tok: str, table: dict[str, int]) -> int | None:
    if tok in table:
        return table[tok]
    # Hebrew and Arabic glue prepositions and "and" onto the next word: "ביוני", "والجمعه".
    if tok[:1] in _HE_PREFIXES and tok[1:] in table:
        return table[tok[1:]]
    if tok[:1] in ("و", "ب", "ل") and tok[1:] in table:
        return table[tok[1:]]
    return None


# Every word the loop in `_facts` can read as a weekday or a month, prefixed forms included:
# most texts hold none of them, and one set test then skips the loop over their words.
_CALENDAR = frozenset(
    {
        *(p + w for t in (_WEEKDAYS, _MONTHS) for w in t for p in ("", *_HE_PREFIXES, *"وبل")),
        *_HE_WEEKDAYS,
        *_MONTHS_AMBIGUOUS,
    }
)


@lru_cache(maxsize=65536)
def _calendar_word(tok: str) -> tuple[int | None, int | None]:
    """The weekday and the month a word names on its own (cached: a text's facts look every
    word up twice, and the same words recur text after text)."""
    return _lookup_word(tok, _WEEKDAYS), _lookup_word(tok, _MONTHS)


@dataclass(frozen=True)
class _Facts:
    numbers: frozenset[str]
    years: frozenset[str]
    weekdays: frozenset[int]
    months: frozenset[int]


# The event text and the copy comparison both read a story's facts: computed once per text.
@lru_cache(maxsize=8192)
def _facts(*parts: str | None) -> _Facts:
    folded = "\n".join(_folded(p) for p in parts if p)
    numbers: set[str] = set()
    years: set[str] = set()
    for m in _NUM.finditer(folded):
        try:
            n = _norm_number(m.group())
        except ValueError:
            continue
        if re.fullmatch(r"(19|20)\d\d", n):
            years.add(n)
        else:
            numbers.add(n)
    toks = _WORD.findall(folded)
    weekdays: set[int] = set()
    months: set[int] = set()
    if _CALENDAR.isdisjoint(toks):
        toks = []
    for i, tok in enumerate(toks):
        wd, mo = _calendar_word(tok)
        if wd is None and i > 0 and toks[i - 1] in ("יום", "ביום"):
            wd = _HE_WEEKDAYS.get(tok)
        if wd is not None:
            weekdays.add(wd)
            continue
        if mo is None and tok in _MONTHS_AMBIGUOUS:
            near = toks[max(0, i - 1) : i] + toks[i + 1 : i + 2]
            if any(t.isdigit() for t in near):
                mo = _MONTHS_AMBIGUOUS[tok]
        if mo is not None:
            months.add(mo)
    return _Facts(_frozen(numbers), _frozen(years), _frozen(weekdays), _frozen(months))


_NONE: frozenset[Any] = frozenset()


def _frozen(values: set[Any]) -> frozenset[Any]:
    # Most texts name no number, year, weekday or month: one shared empty set, not four new
    # ones per text (a fifth of a cached text's memory).
    return frozenset(values) if values else _NONE


def _disagree(a: frozenset[Any], b: frozenset[Any]) -> bool:
    # Each side names something the other lacks: a trimmed copy names a subset, so it passes.
    return bool(a - b) and bool(b - a)


_CAP_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


@lru_cache(maxsize=65536)
def _skeleton(tok: str) -> str:
    """Consonant skeleton, so transliteration variants meet: Meshaal/Mashal, Haniyeh/Haniya."""
    s = re.sub(r"[aeiouy]", "", tok)
    s = re.sub(r"(.)\1+", r"\1", s)
    return s.rstrip("h") or tok


_SEGMENT = re.compile(r"\s[-–—|]\s|[:|–—«»\"“”‘]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _is_latin(word: str) -> bool:
    return word[:1].isalpha() and ord(word[0]) < 0x250  # Basic Latin to Latin Extended-B


def _is_cap(word: str) -> bool:
    return word[:1].isupper() and _is_latin(word)


def _title_names(title: str, summary: str) -> set[str]:
    """Capitalised words of a Latin-script title: its leading people, places and bodies."""
    # Words capitalised inside a sentence of the summary are proper nouns for sure.
    confirmed = {
        _folded(w)
        for sent in _SENTENCE.split(summary or "")
        for w in _CAP_WORD.findall(sent)[1:]
        if _is_cap(w)
    }
    initial, inner = [], []
    for seg in _SEGMENT.split(title or ""):
        words = _CAP_WORD.findall(seg)
        initial += words[:1]
        inner += words[1:]
    latin = [w for w in initial + inner if _is_latin(w)]
    caps = [w for w in inner if _is_cap(w)]
    title_case = len(latin) > 3 and len(caps) >= 0.6 * max(1, len(latin) - len(initial))
    names = [w for w in caps if not title_case or _folded(w) in confirmed]
    # A headline's first word is capitalised anyway: a name only if the summary says so.
    names += [w for w in initial if _is_cap(w) and _folded(w) in confirmed]
    return {t for w in names for t in _words(w) if _keep(t) and not t.isdigit()}


def _present(tok: str, other_tokens: AbstractSet[str], skeletons: set[str]) -> bool:
    if tok in other_tokens:
        return True
    if _LATIN.match(tok):
        sk = _skeleton(tok)
        # Transliterations and demonyms: Meshaal/Mashal, Iran/Iranian, Turkey/Türkiye/Turkish.
        return sk in skeletons or any(
            len(sk) >= 3 and len(o) >= 3 and (o.startswith(sk) or sk.startswith(o))
            for o in skeletons
        )
    # Arabic and Hebrew inflect by prefixes and vowel letters (يعلن/أعلن, ביוני/יוני): a close
    # spelling in the other text counts as the same word.
    return any(
        len(o) >= 3 and (tok in o or o in tok or SequenceMatcher(None, tok, o).ratio() >= 0.75)
        for o in other_tokens
        if not _LATIN.match(o)
    )


def _missing_names(names: AbstractSet[str], other_tokens: AbstractSet[str]) -> set[str]:
    # Most names appear as they are: the other text's skeletons are made only when one does not.
    unseen = [n for n in names if n not in other_tokens]
    if not unseen:
        return set()
    skel = {_skeleton(t) for t in other_tokens if _LATIN.match(t)}
    return {n for n in unseen if not _present(n, other_tokens, skel)}


def _template_slots(a: Sequence[str], b: Sequence[str]) -> tuple[set[str], set[str]] | None:
    """The differing words of two headlines built on one template, else None."""
    if not a or not b:
        return None
    sm = SequenceMatcher(None, a, b, autojunk=False)
    ops = [op for op in sm.get_opcodes() if op[0] != "equal"]
    same = sum(i2 - i1 for tag, i1, i2, _j1, _j2 in sm.get_opcodes() if tag == "equal")
    # One or two edited spans with at least 60% of the longer headline word-for-word in place.
    if not ops or len(ops) > 2 or same < 0.6 * max(len(a), len(b)):
        return None
    sa = {t for _tag, i1, i2, _j1, _j2 in ops for t in a[i1:i2]}
    sb = {t for _tag, _i1, _i2, j1, j2 in ops for t in b[j1:j2]}
    return sa, sb
