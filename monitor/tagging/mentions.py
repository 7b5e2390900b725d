"""A story's fields as the matcher and the rules read them, and the mentions found in them.

A field's text is folded once (`match_form`); every position the rules reason about (words,
sentences, clauses) is a position in that folded text, and `offsets` maps it back to the
original for the evidence.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from monitor.text import match_form

_SENT_END = frozenset(".!?؟…।")
_TOKEN = re.compile(r"\w+")
# What ends a clause inside a sentence, in the original text: semicolons, colons (not in a time
# such as 10:30), brackets, bars, and dashes used as punctuation ("... court – Erdogan",
# "Israel Latest: ..."). Hyphens inside words (al-Arouri) do not count; folding turns both into
# spaces, which is why clauses are read from the original text.
_CLAUSE_BREAK = re.compile(r"[;|()\[\]{}–—]|:(?<!\d:)|:(?!\d)|\s-\s")
# A headline in Title Case tells nothing by capitals; running text does ("Mishal Husain").
# Title Case leaves at most a few longer words in lower case.
_TITLE_CASE_LOWER = 0.1


@dataclass
class FieldText:
    """One field of a story (title, summary, content), folded for matching."""

    name: str
    raw: str
    mt: str
    offsets: Sequence[int]
    tok_starts: list[int]
    sent_ends: list[int]
    sent_base: int
    tok_base: int  # words in the fields before this one: the story is one word sequence

    @classmethod
    def build(cls, name: str, raw: str, sent_base: int, tok_base: int) -> FieldText:
        """Fold `raw` and index its words and sentence ends."""
        mt, offsets = match_form(raw)
        return cls(
            name=name,
            raw=raw,
            mt=mt,
            offsets=offsets,
            tok_starts=[m.start() for m in _TOKEN.finditer(mt)],
            sent_ends=_sentence_ends(mt),
            sent_base=sent_base,
            tok_base=tok_base,
        )

    def tok(self, pos: int) -> int:
        """The index of the word at (or before) folded position `pos`."""
        return max(0, bisect.bisect_right(self.tok_starts, pos) - 1)

    def tok_last(self, end: int) -> int:
        """The index of the last word that starts before folded position `end`."""
        return max(0, bisect.bisect_left(self.tok_starts, end) - 1)

    def sent(self, pos: int) -> int:
        """The story-wide sentence number at `pos` (the title is sentence 0)."""
        if self.name == "title":
            return 0
        return self.sent_base + bisect.bisect_right(self.sent_ends, pos)

    def surface(self, start: int, end: int) -> tuple[str, int, int]:
        """The original text of folded span [start, end) and its original offsets."""
        o0, o1 = self.offsets[start], self.offsets[end - 1] + 1
        return self.raw[o0:o1], o0, o1

    @cached_property
    def breaks(self) -> list[int]:
        """Clause breaks as folded positions p: a new clause starts at p (a break character,
        or the first character after a sentence end or after a dash folded into a space)."""
        starts = [m.start() for m in _CLAUSE_BREAK.finditer(self.raw)]
        if isinstance(self.offsets, range):  # folded positions are the original ones
            out = {min(p, len(self.offsets)) for p in starts}
        else:
            out = {bisect.bisect_left(self.offsets, p) for p in starts}
        out.update(e + 1 for e in self.sent_ends)
        return sorted(out)

    def same_clause(self, a: int, b: int) -> bool:
        """Whether no clause starts after folded position min(a, b) and by max(a, b)."""
        lo, hi = min(a, b), max(a, b)
        i = bisect.bisect_right(self.breaks, lo)
        return i == len(self.breaks) or self.breaks[i] > hi

    @cached_property
    def title_case(self) -> bool:
        """Whether the field is a Title Case headline: (almost) no longer word in lower case."""
        words = [w for w in self.raw.split() if len(w) > 3 and w[0].isalpha()]
        if not words:
            return False
        lower = sum(1 for w in words if w[0].islower())
        return lower <= _TITLE_CASE_LOWER * len(words)


def _sentence_ends(mt: str) -> list[int]:
    ends = []
    for m in _SENT_END_AT.finditer(mt):  # a regex, not a walk: this runs on every field
        i = m.start()
        # "u.s." / "u.n.": a single Latin letter before the dot is an abbreviation.
        j = i
        while j > 0 and mt[j - 1].isalnum():
            j -= 1
        word = mt[j:i]
        if len(word) == 1 and word.isascii() and mt[i] == ".":
            continue
        ends.append(i)
    return ends


_SENT_END_AT = re.compile(f"[{re.escape(''.join(sorted(_SENT_END)))}](?= |$)")


@dataclass
class Mention:
    """One alias or cue phrase found in a field, as the topic rules and the evidence see it."""

    field: str
    start: int
    end: int
    tok0: int
    tok1: int
    sent: int
    text: str
    ostart: int
    oend: int
    tags: frozenset[str]
    src: str = ""  # the field's folded text, to read what lies between two mentions
    entity: int = -1  # resolved entity index; -1 for a cue
    options: tuple[int, ...] = ()
    weak: frozenset[int] = frozenset()
    implicit_lang: str | None = None
    cue: str = ""
    alias: str = ""  # as written in the taxonomy
    prefix: str = ""  # an Arabic or Hebrew clitic glued before the match (و, ب, ה...)
    langs: tuple[str, ...] = ()  # a cue phrase's languages in the taxonomy
    ctx: FieldText | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def word_start(self) -> int:
        """Where the word starts, clitics included (وحماس starts at و)."""
        return self.start - len(self.prefix)

    def evidence(self, names: Sequence[str]) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "field": self.field,
            "start": self.ostart,
            "end": self.oend,
            "alias": self.alias,
        }
        if self.entity >= 0:
            d["entity"] = names[self.entity]
        else:
            d["cue"] = self.cue
        return d
