"""Topic tagging and entity extraction over the taxonomy in config/topics.yaml.

The taxonomy (entities with aliases, cue phrases, lookalikes, topic rules) is validated on load
and compiled once into a single Aho-Corasick automaton; tagging a story is one scan per field
plus work proportional to the matches found, so it does not grow with the number of aliases.
The file's own header explains the rule language for analysts.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick
import yaml

from monitor.text import (
    ARABIC_ARTICLE_PREFIXES,
    guess_lang,
    match_form,
    match_key,
    norm_lang,
    prefix_allowed,
    script_of_text,
)

__all__ = [
    "Entity",
    "Rule",
    "TagResult",
    "Tagger",
    "Taxonomy",
    "TaxonomyError",
    "Topic",
    "load_taxonomy",
    "tag_record",
]


class TaxonomyError(ValueError):
    """The taxonomy file is invalid; the message is one line naming the file and the place."""


KINDS = ("person", "org", "place")
_SECTION_KIND = {"people": "person", "orgs": "org", "places": "place"}
_MENTION_SCOPES = ("title", "lead", "body", "story")
_PAIR_SCOPES = ("title", "sentence", "story")
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_CASES = ("capitalized", "upper")
_MAX_EVIDENCE = 3


# ---- taxonomy model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """Conditions under which some aliases of an entity do not count."""

    aliases: frozenset[str]  # match keys; empty = every alias of the entity
    case: str | None = None  # "capitalized" | "upper": how a Latin alias must be written
    no_article: bool = False  # Arabic: not with the article (المشعل is "the torch")
    not_near: tuple[str, ...] = ()  # phrases that veto the alias within `window` words
    window: int = 10
    only_with_full_name: bool = False  # counts only if the entity is named unambiguously too


@dataclass(frozen=True)
class Entity:
    """A person, organisation or place with its aliases."""

    name: str
    kind: str
    tags: frozenset[str]
    aliases: tuple[tuple[str, str], ...]  # (language, alias as written)
    implicit: tuple[tuple[str, str], ...] = ()  # (language, alias): only in stories of that lang
    guards: tuple[Guard, ...] = ()
    watch: bool = True  # written to people/orgs/places; else only to the evidence


@dataclass(frozen=True)
class Rule:
    """One scoring rule of a topic (see the kinds documented in topics.yaml)."""

    id: str
    kind: str  # mention | near | pair
    weight: float
    scope: str
    any: frozenset[str] = frozenset()
    anchor: frozenset[str] = frozenset()
    rivals: frozenset[str] = frozenset()
    window: int = 0
    a: frozenset[str] = frozenset()
    b: frozenset[str] = frozenset()
    with_: frozenset[str] = frozenset()
    listing_tags: frozenset[str] = frozenset()
    max_others: int | None = None
    max_chain: int | None = None


@dataclass(frozen=True)
class Topic:
    """A topic: tagged when the weights of its firing rules reach the threshold."""

    id: str
    name: str
    description: str
    threshold: float
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy, ready to compile into a Tagger."""

    path: str
    tags: Mapping[str, str]
    entities: tuple[Entity, ...]
    cues: Mapping[str, tuple[tuple[str, str], ...]]  # group -> (language, phrase)
    lookalikes: tuple[str, ...]
    topics: tuple[Topic, ...]

    @property
    def topic_ids(self) -> list[str]:
        """Topic ids in file order."""
        return [t.id for t in self.topics]


# ---- loading and validation ------------------------------------------------------------------
# Hand-written rather than pydantic: every error must be one line naming the file, the topic and
# the rule (or the entity) in the analyst's terms, not a nested validation dump.


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, msg: str) -> TaxonomyError:
        return TaxonomyError(f"{self.path}: {where}: {msg}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {_type_name(value)}")
        return value

    def keys(self, value: dict[str, Any], allowed: Iterable[str], where: str) -> None:
        extra = sorted(set(value) - set(allowed))
        if extra:
            raise self.fail(
                where, f"unknown key '{extra[0]}' (allowed: {', '.join(sorted(allowed))})"
            )

    def text(self, value: Any, where: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "expected a non-empty string")
        return value.strip()

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(where, f"expected a number, got {_type_name(value)}")
        if math.isinf(value):
            raise self.fail(where, "must be finite")
        return float(value)

    def integer(self, value: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(where, f"expected a whole number from {lo} to {hi}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, "expected true or false")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list of strings")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                raise self.fail(where, f"item {i + 1} is not a non-empty string")
            out.append(item.strip())
        return out

    def phrases(self, value: Any, where: str) -> list[tuple[str, str]]:
        """A list of phrases, or a mapping language -> list; each phrase checked for matching."""
        pairs: list[tuple[str, str]] = []
        if isinstance(value, dict):
            for lang, items in value.items():
                if not isinstance(lang, str) or not lang:
                    raise self.fail(where, "language keys must be strings such as 'en'")
                pairs += [(lang, p) for p in self.strings(items, f"{where}.{lang}")]
        else:
            pairs = [("", p) for p in self.strings(value, where)]
        for _, p in pairs:
            core = p[:-1] if p.endswith("*") else p
            if "*" in core:
                raise self.fail(where, f"'{p}': '*' is only allowed at the end")
            if len(match_key(core).replace(" ", "")) < 2:
                raise self.fail(where, f"'{p}' is too short to match safely")
        return pairs

    def tag_set(self, value: Any, where: str, known: set[str]) -> frozenset[str]:
        tags = self.strings(value, where)
        for t in tags:
            if t not in known:
                raise self.fail(where, f"unknown tag '{t}' (declare it under tags: or cues:)")
        return frozenset(tags)


def alias_key(alias: str) -> tuple[str, bool, str]:
    """(automaton key, trailing-star flag, script) of an alias, cue or lookalike as written."""
    star = alias.endswith("*")
    core = alias[:-1] if star else alias
    key = match_key(core)
    script = script_of_text(key)
    # An Arabic alias written with the article: the article becomes one of the optional
    # clitics, so لل/بال/وال forms (where ال merges or stacks) are found too.
    if script == "arabic" and key.startswith("ال") and len(key) > 4 and key[2] != " ":
        key = key[2:]
    return key, star, script


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and validate a taxonomy file; raises TaxonomyError with a one-line message."""
    p = str(path)
    try:
        raw_text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise TaxonomyError(f"{p}: cannot read the taxonomy: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(raw_text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise TaxonomyError(f"{p}: invalid YAML{where}: {problem}") from e
    return parse_taxonomy(data, p)


def parse_taxonomy(data: Any, path: str = "<taxonomy>") -> Taxonomy:
    """Validate an already-parsed taxonomy document (used by load_taxonomy and tests)."""
    r = _Reader(path)
    doc = r.mapping(data, "top level")
    r.keys(
        doc,
        ("version", "tags", "people", "orgs", "places", "lookalikes", "cues", "topics"),
        "top level",
    )
    version = doc.get("version", 1)
    if version != 1:
        raise r.fail("version", f"unsupported version {version!r} (this newsmon reads 1)")

    tags: dict[str, str] = {}
    for name, desc in r.mapping(doc.get("tags") or {}, "tags").items():
        if not isinstance(name, str) or not _ID.match(name):
            raise r.fail("tags", f"tag '{name}' must be lower_snake_case")
        if name in KINDS:
            raise r.fail(f"tags.{name}", "is built in (every entity carries its kind)")
        tags[name] = r.text(desc, f"tags.{name}", required=False)

    cues: dict[str, tuple[tuple[str, str], ...]] = {}
    for name, spec in r.mapping(doc.get("cues") or {}, "cues").items():
        where = f"cue group '{name}'"
        if not isinstance(name, str) or not _ID.match(name):
            raise r.fail(where, "name must be lower_snake_case")
        if name in tags or name in KINDS:
            raise r.fail(where, "name clashes with a tag")
        spec = r.mapping(spec, where)
        r.keys(spec, ("description", "phrases"), where)
        if "phrases" not in spec:
            raise r.fail(where, "missing 'phrases'")
        cues[name] = tuple(r.phrases(spec["phrases"], f"{where} phrases"))
    known_tags = set(tags) | set(KINDS) | set(cues)

    entities: list[Entity] = []
    seen_names: dict[str, str] = {}
    for section, kind in _SECTION_KIND.items():
        items = doc.get(section) or []
        if not isinstance(items, list):
            raise r.fail(section, "expected a list of entities")
        for i, item in enumerate(items):
            ent = _parse_entity(r, item, kind, f"{section}[{i + 1}]", set(tags))
            if ent.name in seen_names:
                raise r.fail(f"{section} '{ent.name}'", f"duplicate of {seen_names[ent.name]}")
            seen_names[ent.name] = f"{section} '{ent.name}'"
            entities.append(ent)

    alias_keys = {alias_key(a)[0] for e in entities for _, a in e.aliases}
    lookalikes: list[str] = []
    raw_look = doc.get("lookalikes") or []
    if not isinstance(raw_look, list):
        raise r.fail("lookalikes", "expected a list of {why, phrases}")
    for i, item in enumerate(raw_look):
        where = f"lookalikes[{i + 1}]"
        item = r.mapping(item, where)
        r.keys(item, ("why", "phrases"), where)
        for _, phrase in r.phrases(item.get("phrases"), f"{where}.phrases"):
            if alias_key(phrase)[0] in alias_keys:
                raise r.fail(where, f"'{phrase}' is also an alias, so it would hide the entity")
            lookalikes.append(phrase)

    topics: list[Topic] = []
    raw_topics = r.mapping(doc.get("topics"), "topics")
    if not raw_topics:
        raise r.fail("topics", "define at least one topic")
    for tid, spec in raw_topics.items():
        topics.append(_parse_topic(r, tid, spec, known_tags))

    return Taxonomy(
        path=path,
        tags=tags,
        entities=tuple(entities),
        cues=cues,
        lookalikes=tuple(lookalikes),
        topics=tuple(topics),
    )


def _parse_entity(r: _Reader, item: Any, kind: str, where: str, tags: set[str]) -> Entity:
    item = r.mapping(item, where)
    name = r.text(item.get("name"), f"{where}.name")
    where = f"{where} '{name}'"
    r.keys(item, ("name", "tags", "aliases", "implicit", "guards", "watch"), where)
    ent_tags: set[str] = {kind}
    for t in item.get("tags") or []:
        if t not in tags:
            raise r.fail(where, f"unknown tag '{t}' (declare it under tags:)")
        ent_tags.add(t)
    if "aliases" not in item:
        raise r.fail(where, "missing 'aliases'")
    aliases = r.phrases(item["aliases"], f"{where} aliases")
    implicit: list[tuple[str, str]] = []
    if item.get("implicit") is not None:
        raw = r.mapping(item["implicit"], f"{where} implicit")
        implicit = r.phrases(raw, f"{where} implicit")
    keys = {alias_key(a)[0] for _, a in aliases}
    guards: list[Guard] = []
    for gi, g in enumerate(item.get("guards") or []):
        gw = f"{where} guards[{gi + 1}]"
        g = r.mapping(g, gw)
        r.keys(
            g, ("aliases", "case", "no_article", "not_near", "window", "only_with_full_name"), gw
        )
        gkeys: set[str] = set()
        if g.get("aliases") is not None:
            for a in r.strings(g["aliases"], f"{gw}.aliases"):
                k = alias_key(a)[0]
                if k not in keys:
                    raise r.fail(gw, f"'{a}' is not one of this entity's aliases")
                gkeys.add(k)
        case = g.get("case")
        if case is not None and case not in _CASES:
            raise r.fail(gw, f"case must be one of {', '.join(_CASES)}")
        not_near: list[str] = []
        if "not_near" in g:
            not_near = [p for _, p in r.phrases(g["not_near"], f"{gw}.not_near")]
        guard = Guard(
            aliases=frozenset(gkeys),
            case=case,
            no_article=r.flag(g.get("no_article", False), f"{gw}.no_article"),
            not_near=tuple(not_near),
            window=r.integer(g.get("window", 10), f"{gw}.window", 1, 200),
            only_with_full_name=r.flag(
                g.get("only_with_full_name", False), f"{gw}.only_with_full_name"
            ),
        )
        if not (guard.case or guard.no_article or guard.not_near or guard.only_with_full_name):
            raise r.fail(gw, "does nothing (set case, no_article, not_near or only_with_full_name)")
        guards.append(guard)
    return Entity(
        name=name,
        kind=kind,
        tags=frozenset(ent_tags),
        aliases=tuple(aliases),
        implicit=tuple(implicit),
        guards=tuple(guards),
        watch=r.flag(item.get("watch", True), f"{where}.watch"),
    )


_RULE_KEYS = {
    "mention": ({"any", "in", "weight"}, {"any"}),
    "near": ({"anchor", "any", "rivals", "window", "in", "weight"}, {"anchor", "any", "window"}),
    "pair": ({"a", "b", "with", "listing", "in", "weight"}, {"a", "b"}),
}


def _parse_topic(r: _Reader, tid: Any, spec: Any, known: set[str]) -> Topic:
    where = f"topic '{tid}'"
    if not isinstance(tid, str) or not _ID.match(tid):
        raise r.fail(where, "id must be lower_snake_case")
    spec = r.mapping(spec, where)
    r.keys(spec, ("name", "description", "threshold", "rules"), where)
    threshold = r.number(spec.get("threshold", 1.0), f"{where} threshold")
    if threshold <= 0:
        raise r.fail(f"{where} threshold", "must be greater than 0")
    raw_rules = spec.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise r.fail(where, "needs a non-empty list of rules")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        rw = f"{where} rule {i + 1}"
        raw = r.mapping(raw, rw)
        rid = raw.get("id")
        if not isinstance(rid, str) or not _ID.match(rid):
            raise r.fail(rw, "needs an id in lower_snake_case")
        rw = f"{where} rule '{rid}'"
        if any(x.id == rid for x in rules):
            raise r.fail(rw, "duplicate rule id")
        kind = raw.get("kind")
        if kind not in _RULE_KEYS:
            raise r.fail(rw, f"kind must be one of {', '.join(_RULE_KEYS)}, got {kind!r}")
        allowed, required = _RULE_KEYS[kind]
        r.keys(raw, allowed | {"id", "kind"}, rw)
        for key in sorted(required | {"weight"}):
            if key not in raw:
                raise r.fail(rw, f"missing '{key}'")
        weight = r.number(raw["weight"], f"{rw} weight")
        if weight == 0:
            raise r.fail(rw, "weight 0 never changes the score")
        scopes = _PAIR_SCOPES if kind == "pair" else _MENTION_SCOPES
        scope = raw.get("in", "story")
        if scope not in scopes:
            raise r.fail(rw, f"'in' must be one of {', '.join(scopes)} for a {kind} rule")

        def tags_of(key: str, rw: str = rw, raw: dict[str, Any] = raw) -> frozenset[str]:
            return r.tag_set(raw[key], f"{rw} {key}", known) if key in raw else frozenset()

        listing_tags: frozenset[str] = frozenset()
        max_others: int | None = None
        max_chain: int | None = None
        if "listing" in raw:
            lw = f"{rw} listing"
            listing = r.mapping(raw["listing"], lw)
            r.keys(listing, ("tags", "max_others", "max_chain"), lw)
            if "tags" not in listing or "max_others" not in listing:
                raise r.fail(lw, "needs both 'tags' and 'max_others'")
            listing_tags = r.tag_set(listing["tags"], f"{lw} tags", known)
            max_others = r.integer(listing["max_others"], f"{lw} max_others", 0, 100)
            if "max_chain" in listing:
                max_chain = r.integer(listing["max_chain"], f"{lw} max_chain", 2, 100)
        rules.append(
            Rule(
                id=rid,
                kind=kind,
                weight=weight,
                scope=scope,
                any=tags_of("any"),
                anchor=tags_of("anchor"),
                rivals=tags_of("rivals"),
                window=r.integer(raw["window"], f"{rw} window", 0, 100) if "window" in raw else 0,
                a=tags_of("a"),
                b=tags_of("b"),
                with_=tags_of("with"),
                listing_tags=listing_tags,
                max_others=max_others,
                max_chain=max_chain,
            )
        )
    if not any(x.weight > 0 for x in rules):
        raise r.fail(where, "no rule has a positive weight, so the topic can never be tagged")
    if sum(x.weight for x in rules if x.weight > 0) < threshold:
        raise r.fail(where, f"the positive weights cannot reach the threshold {threshold}")
    return Topic(
        id=tid,
        name=str(spec.get("name") or tid),
        description=str(spec.get("description") or ""),
        threshold=threshold,
        rules=tuple(rules),
    )


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
class _Mention:
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


@dataclass
class TagResult:
    """Tagging outcome for one story."""

    topics: list[str]
    scores: dict[str, float]
    evidence: dict[str, Any]
    people: list[str]
    orgs: list[str]
    places: list[str]
    lang: str | None


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


class Tagger:
    """A taxonomy compiled into one Aho-Corasick automaton; `tag` scores one story."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._entities = taxonomy.entities
        self._names = [e.name for e in taxonomy.entities]
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

    # -- tagging --

    def tag(
        self, title: str, summary: str, content: str | None = None, lang: str | None = None
    ) -> TagResult:
        """Tag one story: topics with score and evidence, people, orgs, places, language."""
        title, summary, content = title or "", summary or "", content or ""
        lang = norm_lang(lang) or guess_lang(f"{title}\n{summary}\n{content[:2000]}")
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

        mentions: list[_Mention] = []
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
        mentions = self._resolve(mentions)

        found: dict[tuple[bool, str], list[str]] = {}
        for m in mentions:
            if m.entity >= 0:
                ent = self._entities[m.entity]
                bucket = found.setdefault((ent.watch, ent.kind), [])
                if ent.name not in bucket:
                    bucket.append(ent.name)

        topics: list[str] = []
        scores: dict[str, float] = {}
        topic_ev: dict[str, Any] = {}
        for topic in self.taxonomy.topics:
            score = 0.0
            fired: list[dict[str, Any]] = []
            for rule in topic.rules:
                hit = _evaluate(rule, mentions, lead)
                if hit is not None:
                    score += rule.weight
                    fired.append(
                        {
                            "rule": rule.id,
                            "weight": rule.weight,
                            "matches": [m.evidence(self._names) for m in hit],
                        }
                    )
            score = round(score, 3)
            scores[topic.id] = score
            if score >= topic.threshold - 1e-9:
                topics.append(topic.id)
            if fired:
                topic_ev[topic.id] = {
                    "score": score,
                    "threshold": topic.threshold,
                    "tagged": topic.id in topics,
                    "rules": fired,
                }
        evidence: dict[str, Any] = {"topics": topic_ev}
        for kind, key in (
            ("person", "other_people"),
            ("org", "other_orgs"),
            ("place", "other_places"),
        ):
            if found.get((False, kind)):
                evidence[key] = found[(False, kind)]
        return TagResult(
            topics=topics,
            scores=scores,
            evidence=evidence,
            people=found.get((True, "person"), []),
            orgs=found.get((True, "org"), []),
            places=found.get((True, "place"), []),
            lang=lang,
        )

    def _mention(self, f: _Field, c: _Cand) -> _Mention:
        text, o0, o1 = f.surface(c.start, c.end)
        return _Mention(
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

    def _check_implicit(self, mentions: list[_Mention], f: _Field) -> None:
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

    def _resolve(self, mentions: list[_Mention]) -> list[_Mention]:
        """Pick one entity per mention (shared surnames) and drop unconfirmed weak aliases."""
        named = {
            m.options[0] for m in mentions if len(m.options) == 1 and m.options[0] not in m.weak
        }
        out: list[_Mention] = []
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


def _gap(a: _Mention, b: _Mention) -> int:
    """Words strictly between two mentions of one field (0 when adjacent or overlapping)."""
    return max(0, b.tok0 - a.tok1 - 1, a.tok0 - b.tok1 - 1)


def _in_scope(m: _Mention, scope: str, lead: int) -> bool:
    if scope == "title":
        return m.field == "title"
    if scope == "lead":
        return m.sent == lead and m.field != "title"
    if scope == "body":
        return m.field != "title"
    return True


def _evaluate(rule: Rule, mentions: list[_Mention], lead: int) -> list[_Mention] | None:
    """The evidence when `rule` fires on these mentions, else None."""
    if rule.kind == "mention":
        hits = [m for m in mentions if _in_scope(m, rule.scope, lead) and m.tags & rule.any]
        return hits[:_MAX_EVIDENCE] if hits else None
    if rule.kind == "near":
        scoped = [m for m in mentions if _in_scope(m, rule.scope, lead)]
        for c in scoped:
            if not c.tags & rule.any:
                continue
            same = [m for m in scoped if m.sent == c.sent and m.field == c.field and m is not c]
            anchors = [m for m in same if m.tags & rule.anchor]
            if not anchors:
                continue
            best = min(anchors, key=lambda a: _gap(c, a))
            d_anchor = _gap(c, best)
            if d_anchor > rule.window:
                continue
            rivals = [
                _gap(c, m)
                for m in same
                if m.entity >= 0 and m.tags & rule.rivals and not m.tags & rule.anchor
            ]
            if rivals and min(rivals) < d_anchor:
                continue
            return [c, best]
        return None
    # pair
    units: list[list[_Mention]]
    if rule.scope == "title":
        units = [[m for m in mentions if m.field == "title"]]
    elif rule.scope == "sentence":
        by_sent: dict[int, list[_Mention]] = {}
        for m in mentions:
            by_sent.setdefault(m.sent, []).append(m)
        units = list(by_sent.values())
    else:
        units = [mentions]
    sides = rule.a | rule.b
    for unit in units:
        a_side = [m for m in unit if m.entity >= 0 and m.tags & rule.a]
        b_side = [m for m in unit if m.entity >= 0 and m.tags & rule.b]
        pair = next(((x, y) for x in a_side for y in b_side if x.entity != y.entity), None)
        if pair is None:
            continue
        evidence = list(pair)
        if rule.with_:
            extra = next((m for m in unit if m.tags & rule.with_), None)
            if extra is None:
                continue
            evidence.append(extra)
        if rule.max_others is not None:
            others = {
                m.entity
                for m in unit
                if m.entity >= 0 and m.tags & rule.listing_tags and not m.tags & sides
            }
            if len(others) > rule.max_others:
                continue
        if rule.max_chain is not None and _in_long_list(unit, rule, sides):
            continue
        return evidence
    return None


# Words that join the items of a list; single-letter Arabic/Hebrew "and" is glued to the next
# word, so it shows up alone between two mentions.
_LIST_JOINERS = frozenset(
    ("and", "or", "ve", "veya", "et", "ou", "dan", "atau", "und", "y", "e", "و", "او", "ו", "או")
)
_LIST_PUNCT = re.compile(r"[\s,،;/&]+")
_LIST_MARK = re.compile(r"[,،;/&]")
_TR_SUFFIX = re.compile(r"^'\w+")


def _in_long_list(unit: list[_Mention], rule: Rule, sides: frozenset[str]) -> bool:
    """Whether a side is one item of an enumeration of more than `max_chain` states."""
    states = sorted(
        (m for m in unit if m.entity >= 0 and m.tags & rule.listing_tags),
        key=lambda m: (m.field, m.start),
    )
    chain: list[_Mention] = []
    for m in states:
        if chain and chain[-1].field == m.field and _joined(chain[-1], m):
            chain.append(m)
        else:
            if _long_side_chain(chain, sides, rule):
                return True
            chain = [m]
    return _long_side_chain(chain, sides, rule)


def _joined(a: _Mention, b: _Mention) -> bool:
    """Whether only a comma or a conjunction separates two mentions ("Greece, Cyprus and")."""
    between = _TR_SUFFIX.sub("", a.src[a.end : b.start])
    word = _LIST_PUNCT.sub("", between)
    return word in _LIST_JOINERS if word else _LIST_MARK.search(between) is not None


def _long_side_chain(chain: list[_Mention], sides: frozenset[str], rule: Rule) -> bool:
    assert rule.max_chain is not None
    distinct = {m.entity for m in chain}
    return len(distinct) > rule.max_chain and any(m.tags & sides for m in chain)


def tag_record(tagger: Tagger, record: Mapping[str, Any]) -> dict[str, Any]:
    """Tag one input record; returns the `newsmon tag` output line (DESIGN contract)."""
    result = tagger.tag(
        str(record.get("title") or ""),
        str(record.get("summary") or ""),
        record.get("content") or None,
        record.get("lang") or None,
    )
    return {
        "id": record.get("id"),
        "topics": result.topics,
        "people": result.people,
        "orgs": result.orgs,
        "places": result.places,
        "lang": result.lang,
        "evidence": {**result.evidence, "scores": result.scores},
    }
