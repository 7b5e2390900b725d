"""Finding mentions: a taxonomy compiled into one Aho-Corasick automaton, scanned per field.

Every alias, implicit alias, lookalike, cue phrase and guard phrase becomes one automaton key, so
finding the mentions of a story is one scan per field plus work proportional to the matches found
and does not grow with the number of aliases. Matches are then checked for word boundaries and
clitic prefixes, filtered by the entities' guards, reduced to leftmost-longest, and resolved to
one entity each.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from monitor.tagging.taxonomy import Guard, Taxonomy, alias_key
from monitor.text import ARABIC_ARTICLE_PREFIXES, match_form, prefix_allowed

# ---- compiled matcher ------------------------------------------------------------------------

_ENTITY, _CUE, _CONTEXT = 0, 1, 2


@dataclass(frozen=True)
class _Pat:
    """What one automaton key means. One key can carry several of these."""

    layer: int
    star: bool
    script: str
    alias: str
    entities: tuple[int, ...] = ()
    lookalike: bool = False
    implicit_lang: str | None = None
    cue: str = ""


@dataclass
class _Cand:
    start: int
    end: int
    pat: _Pat
    key: str
    prefix: str
    entities: tuple[int, ...] = ()
    weak: frozenset[int] = frozenset()


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


_SENT_END = frozenset(".!?؟…।")
# Between a state and an implicit alias it qualifies: nothing, or a Turkish genitive ('in, 'nin).
_QUALIFIER_BEFORE = re.compile(r"(?:'\w{1,4})? ?")
# Between an implicit alias and a demonym after it: a space and maybe the article (ה, ال).
_QUALIFIER_AFTER = re.compile(r" ?(?:ה|ال)?")
_ADJECTIVE_AFTER = frozenset({"he", "ar"})
_TOKEN = re.compile(r"\w+")


@dataclass
class _Field:
    name: str
    raw: str
    mt: str
    offsets: list[int]
    tok_starts: list[int]
    sent_ends: list[int]
    sent_base: int
    tok_base: int  # words in the fields before this one: the story is one word sequence
    ents: list[_Cand] = field(default_factory=list)
    cues: list[_Cand] = field(default_factory=list)

    def tok(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.tok_starts, pos) - 1)

    def tok_last(self, end: int) -> int:
        return max(0, bisect.bisect_left(self.tok_starts, end) - 1)

    def sent(self, pos: int) -> int:
        if self.name == "title":
            return 0
        return self.sent_base + bisect.bisect_right(self.sent_ends, pos)

    def surface(self, start: int, end: int) -> tuple[str, int, int]:
        o0, o1 = self.offsets[start], self.offsets[end - 1] + 1
        return self.raw[o0:o1], o0, o1


def _sentence_ends(mt: str) -> list[int]:
    ends = []
    for i, ch in enumerate(mt):
        if ch in _SENT_END and (i + 1 == len(mt) or mt[i + 1] == " "):
            # "u.s." / "u.n.": a single Latin letter before the dot is an abbreviation.
            j = i
            while j > 0 and mt[j - 1].isalnum():
                j -= 1
            word = mt[j:i]
            if len(word) == 1 and word.isascii() and ch == ".":
                continue
            ends.append(i)
    return ends


class Matcher:
    """A taxonomy compiled into one Aho-Corasick automaton; `find` lists one story's mentions."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._entities = taxonomy.entities
        self._guards: list[list[Guard]] = [list(e.guards) for e in taxonomy.entities]
        self._guard_ctx: dict[int, list[tuple[str, ...]]] = {}
        groups: dict[str, dict[tuple[Any, ...], _Pat]] = {}

        def add(key: str, pat: _Pat, merge: tuple[Any, ...]) -> None:
            slot = groups.setdefault(key, {})
            prev = slot.get(merge)
            if prev is None:
                slot[merge] = pat
            elif pat.entities and not set(pat.entities) <= set(prev.entities):
                slot[merge] = _Pat(**{**prev.__dict__, "entities": prev.entities + pat.entities})

        for ei, ent in enumerate(taxonomy.entities):
            for _, alias in ent.aliases:
                key, star, script = alias_key(alias)
                pat = _Pat(_ENTITY, star, script, alias, entities=(ei,))
                add(key, pat, (_ENTITY, star, None))
            for lang, alias in ent.implicit:
                key, star, script = alias_key(alias)
                pat = _Pat(_ENTITY, star, script, alias, (ei,), implicit_lang=lang)
                add(key, pat, (_ENTITY, star, lang))
            ctx: list[tuple[str, ...]] = []
            for g in ent.guards:
                keys = []
                for phrase in g.not_near:
                    key, star, script = alias_key(phrase)
                    add(key, _Pat(_CONTEXT, star, script, phrase), (_CONTEXT, star))
                    keys.append(key)
                ctx.append(tuple(keys))
            self._guard_ctx[ei] = ctx
        for phrase in taxonomy.lookalikes:
            key, star, script = alias_key(phrase)
            add(key, _Pat(_ENTITY, star, script, phrase, lookalike=True), ("look", star))
        for group, phrases in taxonomy.cues.items():
            for _, phrase in phrases:
                key, star, script = alias_key(phrase)
                add(key, _Pat(_CUE, star, script, phrase, cue=group), (_CUE, star, group))

        automaton = ahocorasick.Automaton()
        for key, slot in groups.items():
            automaton.add_word(key, (key, tuple(slot.values())))
        automaton.make_automaton()
        self._automaton = automaton
        self.pattern_count = len(groups)

    # -- scanning --

    def _scan(self, f: _Field, lang: str | None, context: dict[str, list[int]]) -> None:
        """Every boundary-respecting match of one field; guard phrases go to `context`."""
        mt = f.mt
        n = len(mt)
        ents, cues = f.ents, f.cues
        for end_idx, (key, pats) in self._automaton.iter(mt):
            end = end_idx + 1
            start = end - len(key)
            prefix = ""
            if mt[start].isalnum():
                j = start
                while j > 0 and mt[j - 1].isalnum():
                    j -= 1
                prefix = mt[j:start]
            for pat in pats:
                if prefix and not prefix_allowed(prefix, pat.script):
                    continue
                stop = end
                if pat.star:
                    while stop < n and mt[stop].isalnum():
                        stop += 1
                elif stop < n and mt[stop - 1].isalnum() and mt[stop].isalnum():
                    continue
                if pat.layer == _CONTEXT:
                    context.setdefault(key, []).append(f.tok_base + f.tok(start))
                elif pat.layer == _CUE:
                    cues.append(_Cand(start, stop, pat, key, prefix))
                else:
                    if pat.implicit_lang is not None and pat.implicit_lang != lang:
                        continue
                    ents.append(_Cand(start, stop, pat, key, prefix, pat.entities))

    def _select(self, f: _Field, context: dict[str, list[int]]) -> tuple[list[_Cand], list[_Cand]]:
        """Guards applied, then leftmost-longest among entities and among cues."""
        kept: list[_Cand] = []
        for c in f.ents:
            if c.pat.lookalike:
                kept.append(c)
                continue
            ok: list[int] = []
            weak: set[int] = set()
            for ei in c.entities:
                verdict = self._guard(ei, c, f, context)
                if verdict is None:
                    continue
                ok.append(ei)
                if verdict:
                    weak.add(ei)
            if ok:
                c.entities, c.weak = tuple(ok), frozenset(weak)
                kept.append(c)
        return _leftmost_longest(kept), _leftmost_longest(f.cues)

    def _guard(self, ei: int, c: _Cand, f: _Field, context: dict[str, list[int]]) -> bool | None:
        """None when a guard rejects the match; else whether it is weak (needs the full name)."""
        weak = False
        for g, ctx in zip(self._guards[ei], self._guard_ctx[ei], strict=True):
            if g.aliases and c.key not in g.aliases:
                continue
            if g.case and c.pat.script == "latin":
                surface, _, _ = f.surface(c.start, c.end)
                letters = [ch for ch in surface if ch.isalpha()]
                if g.case == "capitalized" and letters and not letters[0].isupper():
                    return None
                if g.case == "upper" and not all(ch.isupper() for ch in letters):
                    return None
            if g.no_article and c.prefix in ARABIC_ARTICLE_PREFIXES:
                return None
            if ctx:
                here = f.tok_base + f.tok(c.start)
                for key in ctx:
                    if any(abs(t - here) <= g.window for t in context.get(key, ())):
                        return None
            weak = weak or g.only_with_full_name
        return weak

    def _field(self, name: str, raw: str, sent_base: int, tok_base: int) -> _Field:
        mt, offsets = match_form(raw)
        return _Field(
            name=name,
            raw=raw,
            mt=mt,
            offsets=offsets,
            tok_starts=[m.start() for m in _TOKEN.finditer(mt)],
            sent_ends=_sentence_ends(mt),
            sent_base=sent_base,
            tok_base=tok_base,
        )

    # -- mentions --

    def find(
        self, title: str, summary: str, content: str, lang: str | None
    ) -> tuple[list[Mention], int]:
        """The resolved mentions of one story, and its lead sentence number (-1: title only)."""
        fields: list[_Field] = []
        base = 1
        words = 0
        lead = -1
        context: dict[str, list[int]] = {}
        for name, raw in (("title", title), ("summary", summary), ("content", content)):
            if not raw.strip():
                continue
            f = self._field(name, raw, base, words)
            if name != "title":
                if lead < 0:
                    lead = base
                base += len(f.sent_ends) + 1
            words += len(f.tok_starts) + 1
            self._scan(f, lang, context)
            fields.append(f)

        mentions: list[Mention] = []
        for f in fields:
            ents, cues = self._select(f, context)
            for c in ents:
                if c.pat.lookalike:
                    continue
                mentions.append(self._mention(f, c))
            for c in cues:
                m = self._mention(f, c)
                m.tags, m.cue = frozenset({c.pat.cue}), c.pat.cue
                mentions.append(m)
            self._check_implicit(mentions, f)
        return self._resolve(mentions), lead

    def _mention(self, f: _Field, c: _Cand) -> Mention:
        text, o0, o1 = f.surface(c.start, c.end)
        return Mention(
            field=f.name,
            start=c.start,
            end=c.end,
            tok0=f.tok(c.start),
            tok1=f.tok_last(c.end),
            sent=f.sent(c.start),
            text=text,
            ostart=o0,
            oend=o1,
            tags=frozenset(),
            src=f.mt,
            options=c.entities,
            weak=c.weak,
            implicit_lang=c.pat.implicit_lang,
            alias=c.pat.alias,
        )

    def _check_implicit(self, mentions: list[Mention], f: _Field) -> None:
        """Drop implicit mentions ("the Foreign Ministry") qualified by another state's name.

        "ABD Dışişleri Bakanı", "İsrail'in Dışişleri Bakanlığı" (the state before, Turkish and
        Latin word order) or "שר החוץ הטורקי" (a demonym right after, Hebrew and Arabic order)
        name some other country's ministry.
        """
        here = [m for m in mentions if m.field == f.name and m.options]
        drop = set()
        for m in here:
            if m.implicit_lang is None:
                continue
            for o in here:
                if o is m or o.implicit_lang is not None:
                    continue
                if not any("state" in self._entities[e].tags for e in o.options):
                    continue
                if o.end <= m.start and _QUALIFIER_BEFORE.fullmatch(f.mt[o.end : m.start]):
                    drop.add(id(m))
                    break
                if (
                    m.implicit_lang in _ADJECTIVE_AFTER
                    and m.end <= o.start
                    and _QUALIFIER_AFTER.fullmatch(f.mt[m.end : o.start])
                ):
                    drop.add(id(m))
                    break
        if drop:
            mentions[:] = [m for m in mentions if id(m) not in drop]

    def _resolve(self, mentions: list[Mention]) -> list[Mention]:
        """Pick one entity per mention (shared surnames) and drop unconfirmed weak aliases."""
        named = {
            m.options[0] for m in mentions if len(m.options) == 1 and m.options[0] not in m.weak
        }
        out: list[Mention] = []
        for m in mentions:
            if not m.options:
                out.append(m)
                continue
            preferred = [e for e in m.options if e in named]
            choice = preferred[0] if preferred else m.options[0]
            if choice in m.weak and choice not in named:
                continue
            m.entity = choice
            m.tags = self._entities[choice].tags
            out.append(m)
        return out


def _leftmost_longest(cands: list[_Cand]) -> list[_Cand]:
    cands.sort(key=lambda c: (c.start, -(c.end - c.start)))
    chosen: list[_Cand] = []
    last = -1
    for c in cands:
        if c.start >= last:
            chosen.append(c)
            last = c.end
    return chosen
