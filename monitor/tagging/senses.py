"""Entity senses: words right next to an alias that show it means something else.

"Rantisi hospital", "مستشفى الرنتيسي" (a place named after a figure), "Turkish lawyers" (people of
a country, not its state), "former Turkish PM", "Mishal Husain" (a given name shared with a
watched surname): the taxonomy's `senses:` section lists such words per language, before or after
the alias; a match they touch is dropped, and the evidence says which sense ruled it out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.tagging.mentions import FieldText
from monitor.tagging.schema import Sense, Taxonomy, alias_key

# After an alias and before the word that follows: a possessive or Turkish case suffix.
_SUFFIX = re.compile(r"'\w{0,4}")
# A capitalised word in running text right after a surname: "Mishal Husain", not "Erdogan AKP"
# (an acronym), not "Haniyeh's" (a possessive).
_NEXT_NAME = re.compile(r" ([A-Z][a-z\u00c0-\u024f]+)\b")
_NOT_A_NAME = frozenset(
    {
        *("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        *("January", "February", "March", "April", "May", "June", "July", "August"),
        *("September", "October", "November", "December"),
    }
)


@dataclass
class SenseSpans:
    """Where a field's sense phrases start and end (folded positions), per sense and side."""

    starts: dict[int, set[int]] = field(default_factory=dict)  # `after` phrases by start
    ends: dict[int, set[int]] = field(default_factory=dict)  # `before` phrases by end

    def add(self, side: str, sense: int, start: int, end: int) -> None:
        if side == "after":
            self.starts.setdefault(start, set()).add(sense)
        else:
            self.ends.setdefault(end, set()).add(sense)


class SenseBook:
    """The taxonomy's senses, ready to check a match against the words around it."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.senses: tuple[Sense, ...] = taxonomy.senses
        # Per entity: the senses that can rule its aliases out.
        self._by_entity: dict[int, list[int]] = {}
        names_multiword = {e.name: len(e.name.split()) > 1 for e in taxonomy.entities}
        self._multiword = [names_multiword[e.name] for e in taxonomy.entities]
        for ei, ent in enumerate(taxonomy.entities):
            for si, s in enumerate(self.senses):
                if ent.name in s.entities or (s.tags and s.tags & ent.tags):
                    self._by_entity.setdefault(ei, []).append(si)
        # The senses that need no sense phrase in the field: most fields hold none, and then
        # only these are worth asking.
        self._unphrased: dict[int, list[int]] = {
            ei: [si for si in sis if self.senses[si].capitalized_after]
            for ei, sis in self._by_entity.items()
        }

    def phrases(self) -> Iterator[tuple[str, int, str]]:
        """(phrase as written, sense index, 'before' or 'after') for the automaton."""
        for si, s in enumerate(self.senses):
            for p in s.before:
                yield p, si, "before"
            for p in s.after:
                yield p, si, "after"

    def ruled_out(
        self, ei: int, key: str, start: int, end: int, f: FieldText, spans: SenseSpans
    ) -> Sense | None:
        """The sense that rules entity `ei` out for the match [start, end) of alias `key`."""
        by_entity = self._by_entity if spans.starts or spans.ends else self._unphrased
        for si in by_entity.get(ei, ()):
            s = self.senses[si]
            if s.aliases and key not in s.aliases:
                continue
            if s.bare and (" " in key or not self._multiword[ei]):
                continue
            if s.after and si in spans.starts.get(_next_word(f.mt, end), ()):
                return s
            if s.before and si in spans.ends.get(_prev_word_end(f.mt, start), ()):
                return s
            if s.capitalized_after and _given_name_first(f, end):
                return s
        return None


def _next_word(mt: str, end: int) -> int:
    """Where the word after a match starts: past a possessive or suffix and one space."""
    m = _SUFFIX.match(mt, end)
    pos = m.end() if m else end
    return pos + 1 if pos < len(mt) and mt[pos] == " " else pos


def _prev_word_end(mt: str, start: int) -> int:
    """Where the word before a match ends: before the one space that separates them."""
    return start - 1 if start > 0 and mt[start - 1] == " " else start


def _given_name_first(f: FieldText, end: int) -> bool:
    """Whether a capitalised name follows the match in running text (so it was a given name)."""
    if end >= len(f.mt) or f.mt[end] != " ":
        return False
    raw_end = f.offsets[end - 1] + 1
    m = _NEXT_NAME.match(f.raw, raw_end)
    # Title Case last: it reads the whole field (once, then cached), the others one word.
    return m is not None and m.group(1) not in _NOT_A_NAME and not f.title_case


def sense_keys(book: SenseBook) -> Iterator[tuple[str, bool, str, int, str]]:
    """(automaton key, star, script, sense index, side) for every sense phrase."""
    for phrase, si, side in book.phrases():
        key, star, script = alias_key(phrase)
        yield key, star, script, si, side
