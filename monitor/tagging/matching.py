"""Finding mentions: a taxonomy compiled into one Aho-Corasick automaton, scanned per field.

Every alias, implicit alias, lookalike, cue phrase, guard phrase and sense phrase becomes one
automaton key, so finding the mentions of a story is one scan per field plus work proportional to
the matches found and does not grow with the number of aliases. Matches are then checked for word
boundaries and clitic prefixes, filtered by the entities' guards and senses, reduced to
leftmost-longest, and resolved to one entity each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from monitor.tagging.mentions import FieldText, Mention
from monitor.tagging.schema import Guard, Sense, Taxonomy, alias_key
from monitor.tagging.senses import SenseBook, SenseSpans, sense_keys
from monitor.text import ARABIC_ARTICLE_PREFIXES, prefix_allowed

__all__ = ["Matcher", "Mention", "RuledOut"]

_ENTITY, _CUE, _CONTEXT, _SENSE = 0, 1, 2, 3


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
    langs: tuple[str, ...] = ()  # a cue phrase's languages
    senses: tuple[tuple[int, str], ...] = ()  # (sense index, side) for a sense phrase


@dataclass
class _Cand:
    start: int
    end: int
    pat: _Pat
    key: str
    prefix: str
    entities: tuple[int, ...] = ()
    weak: frozenset[int] = frozenset()
    groups: frozenset[str] = frozenset()  # cue groups (one phrase may be in several)
    langs: tuple[str, ...] = ()


@dataclass
class RuledOut:
    """A match dropped because the words next to it show another sense (for the evidence)."""

    mention: Mention
    entity: str
    sense: Sense


@dataclass
class _Scan:
    """One field's raw matches, before guards, senses and leftmost-longest."""

    text: FieldText
    ents: list[_Cand] = field(default_factory=list)
    cues: list[_Cand] = field(default_factory=list)
    spans: SenseSpans = field(default_factory=SenseSpans)


# Between a state and an implicit alias it qualifies: nothing, or a Turkish genitive ('in, 'nin).
_QUALIFIER_BEFORE = re.compile(r"(?:'\w{1,4})? ?")
# Between an implicit alias and a demonym after it: a space and maybe the article (ה, ال).
_QUALIFIER_AFTER = re.compile(r" ?(?:ה|ال)?")
_ADJECTIVE_AFTER = frozenset({"he", "ar"})
# A link's target or a bare address names no one: "https://site/hamas-leader-killed" is blanked
# (same length, so offsets hold) before matching.
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def _blank_urls(raw: str) -> str:
    if "://" not in raw and "www." not in raw.lower():
        return raw
    return _URL.sub(lambda m: " " * len(m.group()), raw)


class _Keys:
    """The automaton's keys while compiling: what each key means, merged per kind of match."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[tuple[Any, ...], _Pat]] = {}

    def add(self, key: str, pat: _Pat, merge: tuple[Any, ...]) -> None:
        """Add a meaning to `key`; meanings of one kind merge (entities, languages, senses)."""
        slot = self.groups.setdefault(key, {})
        prev = slot.get(merge)
        if prev is None:
            slot[merge] = pat
        elif pat.entities and not set(pat.entities) <= set(prev.entities):
            slot[merge] = _Pat(**{**prev.__dict__, "entities": prev.entities + pat.entities})
        elif pat.langs and not set(pat.langs) <= set(prev.langs):
            slot[merge] = _Pat(**{**prev.__dict__, "langs": prev.langs + pat.langs})
        elif pat.senses and not set(pat.senses) <= set(prev.senses):
            slot[merge] = _Pat(**{**prev.__dict__, "senses": prev.senses + pat.senses})

    def context(self, phrases: tuple[str, ...]) -> tuple[str, ...]:
        """Add guard phrases (whose positions guards read); returns their keys."""
        out = []
        for phrase in phrases:
            key, star, script = alias_key(phrase)
            self.add(key, _Pat(_CONTEXT, star, script, phrase), (_CONTEXT, star))
            out.append(key)
        return tuple(out)

    def automaton(self) -> Any:
        """The compiled Aho-Corasick automaton: key -> (key, meanings)."""
        automaton = ahocorasick.Automaton()
        for key, slot in self.groups.items():
            automaton.add_word(key, (key, tuple(slot.values())))
        automaton.make_automaton()
        return automaton


class Matcher:
    """A taxonomy compiled into one Aho-Corasick automaton; `find` lists one story's mentions."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._entities = taxonomy.entities
        self._guards: list[list[Guard]] = [list(e.guards) for e in taxonomy.entities]
        # Per entity and guard: the match keys of its not_near and its not_in_story phrases.
        self._guard_ctx: dict[int, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        self._senses = SenseBook(taxonomy)
        keys = _Keys()
        for ei, ent in enumerate(taxonomy.entities):
            for _, alias in ent.aliases:
                key, star, script = alias_key(alias)
                keys.add(key, _Pat(_ENTITY, star, script, alias, (ei,)), (_ENTITY, star, None))
            for lang, alias in ent.implicit:
                key, star, script = alias_key(alias)
                pat = _Pat(_ENTITY, star, script, alias, (ei,), implicit_lang=lang)
                keys.add(key, pat, (_ENTITY, star, lang))
            self._guard_ctx[ei] = [
                (keys.context(g.not_near), keys.context(g.not_in_story)) for g in ent.guards
            ]
        for phrase in taxonomy.lookalikes:
            key, star, script = alias_key(phrase)
            keys.add(key, _Pat(_ENTITY, star, script, phrase, lookalike=True), ("look", star))
        for group, phrases in taxonomy.cues.items():
            for lang, phrase in phrases:
                key, star, script = alias_key(phrase)
                pat = _Pat(_CUE, star, script, phrase, cue=group, langs=(lang,))
                keys.add(key, pat, (_CUE, star, group))
        for key, star, script, si, side in sense_keys(self._senses):
            pat = _Pat(_SENSE, star, script, key, senses=((si, side),))
            keys.add(key, pat, (_SENSE, star))
        self._automaton = keys.automaton()
        self.pattern_count = len(keys.groups)

    # -- scanning --

    def _scan(self, f: _Scan, lang: str | None, context: dict[str, list[int]]) -> None:
        """Every boundary-respecting match of one field; guard phrases go to `context`."""
        t = f.text
        mt = t.mt
        n = len(mt)
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
                    context.setdefault(key, []).append(t.tok_base + t.tok(start))
                elif pat.layer == _SENSE:
                    for si, side in pat.senses:
                        f.spans.add(side, si, start - len(prefix), stop)
                elif pat.layer == _CUE:
                    cand = _Cand(start, stop, pat, key, prefix, groups=frozenset({pat.cue}))
                    cand.langs = pat.langs
                    f.cues.append(cand)
                else:
                    if pat.implicit_lang is not None and pat.implicit_lang != lang:
                        continue
                    f.ents.append(_Cand(start, stop, pat, key, prefix, pat.entities))

    def _select(
        self, f: _Scan, context: dict[str, list[int]], dropped: list[RuledOut]
    ) -> tuple[list[_Cand], list[_Cand]]:
        """Guards and senses applied, then leftmost-longest among entities and among cues."""
        kept: list[_Cand] = []
        for c in f.ents:
            if c.pat.lookalike:
                kept.append(c)
                continue
            ok: list[int] = []
            weak: set[int] = set()
            for ei in c.entities:
                verdict = self._guard(ei, c, f.text, context)
                if verdict is None or self._sense_rules_out(ei, c, f, dropped):
                    continue
                ok.append(ei)
                if verdict:
                    weak.add(ei)
            if ok:
                c.entities, c.weak = tuple(ok), frozenset(weak)
                kept.append(c)
        return _leftmost_longest(kept), _leftmost_longest(_merge_cues(f.cues))

    def _sense_rules_out(self, ei: int, c: _Cand, f: _Scan, dropped: list[RuledOut]) -> bool:
        sense = self._senses.ruled_out(ei, c.key, c.start - len(c.prefix), c.end, f.text, f.spans)
        if sense is not None:
            m = self._mention(f.text, c)
            m.entity = ei
            dropped.append(RuledOut(m, self._entities[ei].name, sense))
        return sense is not None

    def _guard(self, ei: int, c: _Cand, f: FieldText, context: dict[str, list[int]]) -> bool | None:
        """None when a guard rejects the match; else whether it is weak (needs the full name)."""
        weak = False
        for g, (near, anywhere) in zip(self._guards[ei], self._guard_ctx[ei], strict=True):
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
            if near:
                here = f.tok_base + f.tok(c.start)
                for key in near:
                    if any(abs(t - here) <= g.window for t in context.get(key, ())):
                        return None
            # One sense per story: "Massachusetts Institute of Technology" anywhere means
            # every "MIT" in it is the university.
            if any(key in context for key in anywhere):
                return None
            weak = weak or g.only_with_full_name
        return weak

    # -- mentions --

    def find(
        self, title: str, summary: str, content: str, lang: str | None
    ) -> tuple[list[Mention], int, list[RuledOut]]:
        """The resolved mentions of one story, its lead sentence number (-1: title only), and
        the matches a sense ruled out."""
        fields: list[_Scan] = []
        base = 1
        words = 0
        lead = -1
        context: dict[str, list[int]] = {}
        for name, raw in (("title", title), ("summary", summary), ("content", content)):
            if not raw.strip():
                continue
            f = _Scan(FieldText.build(name, _blank_urls(raw), base, words))
            if name != "title":
                if lead < 0:
                    lead = base
                base += len(f.text.sent_ends) + 1
            words += len(f.text.tok_starts) + 1
            self._scan(f, lang, context)
            fields.append(f)

        mentions: list[Mention] = []
        dropped: list[RuledOut] = []
        for f in fields:
            ents, cues = self._select(f, context, dropped)
            for c in ents:
                if c.pat.lookalike:
                    continue
                mentions.append(self._mention(f.text, c))
            for c in cues:
                m = self._mention(f.text, c)
                m.tags, m.cue, m.langs = c.groups, "+".join(sorted(c.groups)), c.langs
                mentions.append(m)
            self._check_implicit(mentions, f.text)
        return self._resolve(mentions), lead, dropped

    def _mention(self, f: FieldText, c: _Cand) -> Mention:
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
            prefix=c.prefix,
            ctx=f,
        )

    def _check_implicit(self, mentions: list[Mention], f: FieldText) -> None:
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


def _merge_cues(cands: list[_Cand]) -> list[_Cand]:
    """One candidate per span: a phrase listed in several cue groups carries all their tags."""
    by_span: dict[tuple[int, int], _Cand] = {}
    for c in cands:
        prev = by_span.get((c.start, c.end))
        if prev is None:
            by_span[(c.start, c.end)] = c
        else:
            prev.groups = prev.groups | c.groups
            prev.langs = tuple(dict.fromkeys(prev.langs + c.langs))
    return list(by_span.values())


def _leftmost_longest(cands: list[_Cand]) -> list[_Cand]:
    cands.sort(key=lambda c: (c.start, -(c.end - c.start)))
    chosen: list[_Cand] = []
    last = -1
    for c in cands:
        if c.start >= last:
            chosen.append(c)
            last = c.end
    return chosen
