"""What one story says about its event: entities, numbers, dates and weighted content words.

Copies of one text share word pairs; reports of one event written by different desks, or in
other languages, share much less: the entities (canonical names from the tagger, the same in
any script), the numbers and dates, and within one language a few rare content words. This
module turns one story into those terms; `events` compares two stories' terms.

Every term is a short string with a kind prefix, so one keyword field can hold them all and one
`terms` query can find stories sharing any of them: `p:`/`o:`/`l:` a person, organisation or
place, `n:` a number, `y:` a year, `d:`/`m:` a weekday or month, `w:` a stemmed content word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from sys import intern

from monitor.dedupe.facts import _MONTHS, _WEEKDAYS, _Facts, _facts
from monitor.dedupe.features import _LATIN, _STOP, _keep, _tokens, _words
from monitor.text import fold

# ---- content words ---------------------------------------------------------------------------

# Words in nearly every story about this beat, or in every story of a kind ("says", "live",
# "update"), in the languages newsmon reads. Document frequency down-weights them once enough
# stories are stored; this list keeps them from counting as evidence before that (the first
# stories of a stream, a quiet lookup) and whatever else the stream carries. Hand-written: a
# frequency table from a corpus would need a corpus we may ship, and these are few.
_UBIQUITOUS = """
    says said saying told tells report reports reported reporting news live update updates
    latest breaking watch video photos read full article more week today yesterday tomorrow
    people time times year years day days official officials state states country countries
    world government president minister prime leader leaders group groups forces military
    army troops attack attacks attacked killed kill kills killing dead deaths death war wars
    conflict fighting strike strikes israel israeli israelis gaza hamas palestinian
    palestinians palestine turkey turkish turkiye middle east region international national
    amid calls call called make makes made back take takes says also just like many much
    new news first last against after before between during without within where while
    söyledi açıkladı dedi haber haberi son dakika israil israilli gazze hamas filistin
    filistinli türkiye türk saldırı saldırısı savaş savaşı cumhurbaşkanı bakan bakanı
    hükümet ordu ordusu yıl gün
    قال قالت اعلن اعلنت وقال وقالت اسرائيل الاسرائيلي الاسرائيليه الاحتلال غزه حماس
    الفلسطيني الفلسطينيه فلسطين تركيا التركي التركيه الحرب حرب هجوم الهجوم قصف الرئيس
    رئيس وزير الوزير الحكومه الجيش اليوم امس عام يوم بعد قبل خلال على الى من في عن مع
    אמר אמרה ישראל ישראלי הישראלי עזה חמאס פלסטיני טורקיה טורקי מלחמה המלחמה תקיפה
    נשיא הנשיא שר השר ממשלה הממשלה צבא הצבא צה"ל היום אתמול שנה יום אחרי לפני
    israël israélien israélienne palestinien palestinienne turquie turc guerre président
    ministre armée attaque selon après avant
    israel palestina turki perang presiden menteri serangan kata
"""
_COMMON = frozenset(fold(w) for w in _UBIQUITOUS.split())

_ARABIC_PREFIXES = ("وبال", "وال", "بال", "كال", "فال", "لل", "ال", "و", "ب", "ل", "ف")
_ARABIC_SUFFIXES = ("ات", "ون", "ين", "ها", "هم", "ه", "ي")
_HEBREW_PREFIXES = "והבלמשכ"
_HEBREW_SUFFIXES = ("ים", "ות")
# English and Turkish inflections, longest first; what is left is cut to a stem of six letters,
# so "hostages"/"hostage" and "planned"/"planning" meet (the usual cheap stemmer for search).
_LATIN_SUFFIXES = ("ings", "ing", "ed", "es", "s", "'s")
_STEM = 6


def _stem(tok: str) -> str:
    """A light, language-blind stem: inflections of one word meet, different words rarely do."""
    if _LATIN.match(tok):
        for suf in _LATIN_SUFFIXES:
            if tok.endswith(suf) and len(tok) - len(suf) >= 4:
                tok = tok[: -len(suf)]
                break
        return tok[:_STEM]
    if "\u0600" <= tok[0] <= "\u06ff":
        for pre in _ARABIC_PREFIXES:
            if tok.startswith(pre) and len(tok) - len(pre) >= 3:
                tok = tok[len(pre) :]
                break
        for suf in _ARABIC_SUFFIXES:
            if tok.endswith(suf) and len(tok) - len(suf) >= 3:
                return tok[: -len(suf)]
        return tok
    if "\u05d0" <= tok[0] <= "\u05ea":
        if tok[0] in _HEBREW_PREFIXES and len(tok) >= 5:
            tok = tok[1:]
        for suf in _HEBREW_SUFFIXES:
            if tok.endswith(suf) and len(tok) - len(suf) >= 3:
                return tok[: -len(suf)]
    return tok


# Token -> its content stem, or "" for a token that is not a content word. A story's tokens are
# read three times (its words, its headline, what its headline is checked against) and most recur
# across stories, so each is judged once. Bounded: cleared when it grows past _STEMS_MAX.
_STEMS: dict[str, str] = {}
_STEMS_MAX = 200_000


def _content_stem(tok: str) -> str:
    stem = _STEMS.get(tok)
    if stem is None:
        if len(_STEMS) >= _STEMS_MAX:
            _STEMS.clear()
        stem = _STEMS[tok] = _judge_token(tok)
    return stem


def _judge_token(tok: str) -> str:
    if tok.isdigit() or not _keep(tok) or tok in _COMMON or tok in _STOP:
        return ""
    # Weekday and month names are date terms already; counting them again as words
    # would make "on Saturday" outweigh what happened on Saturday.
    if tok in _WEEKDAYS or tok in _MONTHS or tok in _NUMBER_WORDS:
        return ""
    stem = _stem(tok)
    return "" if stem in _COMMON else stem


def _stems_of(tokens: Sequence[str]) -> set[str]:
    """The content stems of some tokens (their `w:` terms, less the prefix)."""
    stems = {_content_stem(t) for t in tokens}
    stems.discard("")
    return stems


def _name_stems(names: tuple[str, ...]) -> frozenset[str]:
    # Words of the tagged entities' canonical names ("recep", "tayyip", "erdogan") are the
    # entity term already; as words too they would count one name three times, and only in
    # the script it is spelled in.
    return frozenset(_stem(t) for n in names for t in _words(n) if _keep(t))


def name_words(people: list[str], orgs: list[str], places: list[str]) -> frozenset[str]:
    """The `w:` terms of tagged names' words: in a text's `covers` but not in its terms."""
    return frozenset("w:" + s for s in _name_stems(tuple(people + orgs + places)))


# ---- entities, numbers, dates ----------------------------------------------------------------


def _entity_terms(people: list[str], orgs: list[str], places: list[str]) -> frozenset[str]:
    # Canonical names are the same whatever the script the story was written in; folding only
    # protects against case or accent differences between taxonomy versions.
    return frozenset(
        [f"p:{fold(n)}" for n in people]
        + [f"o:{fold(n)}" for n in orgs]
        + [f"l:{fold(n)}" for n in places]
    )


# Small numbers spelt out, as reworded reports write "two years" where another has "2 years".
# Evidence only: they never refuse a merge (a spelt-out "three organisations" is background).
_NUMBER_WORDS = {
    fold(w): n
    for n, words in {
        2: "two iki اثنين اثنان שניים שתיים deux dua",
        3: "three üç ثلاثه שלושה שלוש trois tiga",
        4: "four dört اربعه ארבעה ארבע quatre empat",
        5: "five beş خمسه חמישה חמש cinq",
        6: "six altı سته שישה שש enam",
        7: "seven yedi سبعه שבעה שבע sept tujuh",
        8: "eight sekiz ثمانيه שמונה huit delapan",
        9: "nine dokuz تسعه תשעה neuf sembilan",
        10: "ten عشره עשרה עשר dix sepuluh",
        12: "twelve",
        20: "twenty yirmi عشرين עשרים vingt",
        30: "thirty otuz ثلاثين שלושים trente",
    }.items()
    for w in words.split()
}


def _number_terms(tokens: Sequence[str]) -> frozenset[str]:
    return frozenset(f"n:{_NUMBER_WORDS[t]}" for t in tokens if t in _NUMBER_WORDS)


def _fact_terms(f: _Facts) -> frozenset[str]:
    return frozenset(
        [f"n:{n}" for n in f.numbers]
        + [f"y:{y}" for y in f.years]
        + [f"d:{d}" for d in f.weekdays]
        + [f"m:{m}" for m in f.months]
    )


@dataclass(frozen=True)
class EventText:
    """One story's event evidence: the terms it can share, and the facts that can conflict."""

    words: frozenset[str]  # w: stemmed content words, less the words of tagged names
    title: frozenset[str]  # the headline's words (names included), numbers and dates
    covers: frozenset[str]  # what a headline is checked against: every word, fact and entity
    entities: frozenset[str]  # p: o: l:
    facts: _Facts  # numbers, years, weekdays, months (conflicts refuse a merge)
    fact_terms: frozenset[str]  # n: y: d: m:
    terms: frozenset[str]  # all of the above: the keyword field, queried with `terms`
    evidence: frozenset[str]  # entities and facts: what can be shared across languages


@lru_cache(maxsize=8192)
def _event_text(
    title: str,
    summary: str,
    people: tuple[str, ...],
    orgs: tuple[str, ...],
    places: tuple[str, ...],
) -> EventText:
    # Tokenised once: the title's and the summary's folded tokens (the fold is the cached one
    # the MinHash signature already made) feed the words, the headline and the covers alike.
    title_tokens, summary_tokens = _tokens(title), _tokens(summary)
    title_stems = _stems_of(title_tokens)
    all_stems = title_stems | _stems_of(summary_tokens)
    facts = _facts(title, summary)
    title_numbers = _number_terms(title_tokens)
    fact_terms = _fact_terms(facts) | title_numbers | _number_terms(summary_tokens)
    entities = _entity_terms(list(people), list(orgs), list(places))
    names = _name_stems(people + orgs + places)
    # Interned: a grouping run keeps every story's terms in memory (`MemoryEventLookup`), and
    # the same words recur story after story; one string per term, not per story.
    term = {t: intern("w:" + t) for t in all_stems}
    words = frozenset([term[t] for t in all_stems if t not in names])
    return EventText(
        words=words,
        terms=words | entities | fact_terms,
        evidence=entities | fact_terms,
        title=frozenset([term[t] for t in title_stems])
        | _fact_terms(_facts(title))
        | title_numbers,
        covers=frozenset(term.values()) | fact_terms | entities,
        entities=entities,
        facts=facts,
        fact_terms=fact_terms,
    )


def event_text(
    title: str, summary: str, people: list[str], orgs: list[str], places: list[str]
) -> EventText:
    """The event evidence of a story's title and summary plus its tagged entities (cached)."""
    return _event_text(title or "", summary or "", tuple(people), tuple(orgs), tuple(places))


_NUMERIC_KIND = re.compile(r"^[nydm]:")


def is_fact_term(term: str) -> bool:
    """Whether a term is a number, year, weekday or month (evidence in any language)."""
    return _NUMERIC_KIND.match(term) is not None


def clear_event_caches() -> None:
    """Forget cached event texts (benchmarks measure cold decisions with it)."""
    _event_text.cache_clear()
    _facts.cache_clear()
    _tokens.cache_clear()
    _STEMS.clear()
