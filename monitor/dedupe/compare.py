"""Comparing two stories' texts: cached text features, the similarity blend and the conflicts.

`similarity` says how close two texts are; `_conflict` says why two close texts are still
different events (their facts disagree, or they were published days apart).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise

from cachetools import LRUCache

from monitor.dedupe.facts import (
    _calendar_word,
    _disagree,
    _Facts,
    _facts,
    _missing_names,
    _skeleton,
    _template_slots,
    _title_names,
)
from monitor.dedupe.features import _LATIN, _content_tokens, _folded, _words

# ---- parameters ------------------------------------------------------------------------------
MAX_GAP = timedelta(hours=72)  # copies appear within hours; days apart means a follow-up story
MIN_SHINGLES = 6  # below this many word pairs a text is too short to call a copy on its own
# What the parsed texts of a grouping run may hold (`_parsed`): about 2 KB per story of a
# feed's summary, so a 20,000-story first poll keeps every text it met.
PARSED_BYTES = 48 * 1024 * 1024


@dataclass(frozen=True)
class _Text:
    """Features of one story's text (cached: stored stories come back as candidates often)."""

    title_tokens: frozenset[str]
    title_seq: tuple[str, ...]
    tokens: frozenset[str]
    shingles: frozenset[str | tuple[str, str]]
    all_tokens: frozenset[str]
    facts: _Facts
    names: frozenset[str]
    when: datetime | None


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One text's words and facts: what its `_Text` is built from, and the costly part of it
    (folding, tokenising, the facts' patterns), in a fifth of a `_Text`'s memory."""

    title_seq: tuple[str, ...]
    content: tuple[str, ...]  # content words of title, summary and body, in order
    words: tuple[str, ...]  # every word, each once
    facts: _Facts
    names: frozenset[str]

    def size(self) -> int:
        """Bytes held, roughly: the tuples' slots (their words are interned, shared)."""
        slots = len(self.title_seq) + len(self.content) + len(self.words) + len(self.names)
        return 8 * slots + sys.getsizeof(self) + 400


# A grouping run meets the same stored story as a candidate pass after pass; a pass's `_Text`
# cache (below) cannot hold a run's worth of them, this can. Keyed by the story's id and the
# hashes of its texts, not the texts, which a candidate read from Elasticsearch brings as new
# strings each time: two texts of one story colliding on all three 64-bit hashes is not a
# practical concern. Bounded by bytes, not entries: a body can be a hundred times a summary.
_PARSED: LRUCache[tuple[str, int, int, int], _Parsed] = LRUCache(
    maxsize=PARSED_BYTES, getsizeof=_Parsed.size
)
_PARSED_LOCK = threading.Lock()  # LRUCache is not thread-safe; lru_cache is


def _parsed(sid: str, title: str, summary: str, content: str | None) -> _Parsed:
    key = (sid, hash(title), hash(summary), hash(content))
    with _PARSED_LOCK:
        hit = _PARSED.get(key)
    if hit is not None:
        return hit
    parsed = _Parsed(
        title_seq=tuple(_content_tokens(title)),
        content=tuple(_content_tokens(title, summary, content)),
        words=tuple(dict.fromkeys(t for p in (title, summary, content) for t in _words(p or ""))),
        facts=_facts(title, summary),
        names=frozenset(_title_names(title, summary)),
    )
    if parsed.size() <= PARSED_BYTES:
        with _PARSED_LOCK:
            _PARSED[key] = parsed
    return parsed


@lru_cache(maxsize=4096)
def _features(
    sid: str, title: str, summary: str, content: str | None, when: datetime | None
) -> _Text:
    """Story `sid`'s comparison features (its texts as given: `headline` of its title)."""
    p = _parsed(sid, title or "", summary or "", content)
    return _Text(
        title_tokens=frozenset(p.title_seq),
        title_seq=p.title_seq,
        tokens=frozenset(p.content),
        shingles=_pairs(p.content),
        all_tokens=frozenset(p.words),
        facts=p.facts,
        names=p.names,
        when=when,
    )


def _pairs(words: tuple[str, ...]) -> frozenset[str | tuple[str, str]]:
    """The word pairs of a text for comparison (a one-word text: that word), as tuples.

    The same sets as `_shingles` up to representation: words hold no spaces, so two pairs are
    equal as tuples exactly when they are equal as "a b" strings, and a word never equals a
    pair. Tuples are made in C by `pairwise`; formatting a string per pair was a tenth of a
    grouping run's comparison cost. MinHash keeps the strings: it hashes their bytes.
    """
    if len(words) < 2:
        return frozenset(words)
    return frozenset(pairwise(words))


def _jaccard(a: AbstractSet[object], b: AbstractSet[object]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _containment(a: AbstractSet[object], b: AbstractSet[object]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _conflict(a: _Text, b: _Text) -> str | None:
    """Why two similar texts are different events, or None when their facts agree."""
    fa, fb = a.facts, b.facts
    if _disagree(fa.numbers, fb.numbers):
        only_a, only_b = sorted(fa.numbers - fb.numbers), sorted(fb.numbers - fa.numbers)
        return f"numbers differ ({only_a} vs {only_b})"
    if _disagree(fa.years, fb.years):
        return "years differ"
    if _disagree(fa.weekdays, fb.weekdays):
        return "weekdays differ"
    if _disagree(fa.months, fb.months):
        return "months differ"
    ma = _missing_names(a.names, b.all_tokens)
    mb = _missing_names(b.names, a.all_tokens)
    if ma and mb:
        return f"names differ ({sorted(ma)} vs {sorted(mb)})"
    slots = _template_slots(a.title_seq, b.title_seq)
    if slots is not None:
        # Template headlines ("X confirmed killed", "Y meets Z") differ in one slot; in scripts
        # without capitals the names rule above cannot see it, so the slot words are compared.
        sa = {t for t in slots[0] if not _LATIN.match(t) and not t.isdigit()}
        sb = {t for t in slots[1] if not _LATIN.match(t) and not t.isdigit()}
        if _missing_names(sa, b.all_tokens) and _missing_names(sb, a.all_tokens):
            return "headline slots differ"
    if a.when and b.when and abs(a.when - b.when) > MAX_GAP:
        return "published days apart"
    return None


def similarity(a: _Text, b: _Text) -> float:
    """Blend of shingle Jaccard, word containment and title overlap, in [0, 1]."""
    j2 = _jaccard(a.shingles, b.shingles)
    # Containment forgives trimmed copies, but only over enough words to mean something.
    c1 = _containment(a.tokens, b.tokens) if min(len(a.tokens), len(b.tokens)) >= 8 else 0.0
    t = _jaccard(a.title_tokens, b.title_tokens)
    # A few shared words prove little: "Live updates" recurs daily, so short texts are damped.
    evidence = min(1.0, min(len(a.shingles), len(b.shingles)) / MIN_SHINGLES)
    return (0.35 * min(1.0, 2 * j2) + 0.45 * c1 + 0.2 * t) * evidence


def clear_caches(*, keep_parsed: bool = False) -> None:
    """Forget cached folds and text features (benchmarks measure cold decisions with it).

    `keep_parsed`: keep the parsed texts (bounded by `PARSED_BYTES`), as a grouping run does
    from one pass to the next."""
    _folded.cache_clear()
    _skeleton.cache_clear()
    _calendar_word.cache_clear()
    _features.cache_clear()
    if not keep_parsed:
        with _PARSED_LOCK:
            _PARSED.clear()
