"""The taxonomy: typed records, and loading and validating config/topics.yaml into them.

Entities with aliases, cue phrases, lookalikes and topic rules are checked on load so that an
analyst's mistake is one line naming the file and the place, never a surprise while tagging.
The file's own header explains the rule language for analysts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitor.tagging.reader import Reader
from monitor.text import match_key, script_of_text


class TaxonomyError(ValueError):
    """The taxonomy file is invalid; the message is one line naming the file and the place."""


KINDS = ("person", "org", "place")
_SECTION_KIND = {"people": "person", "orgs": "org", "places": "place"}
_MENTION_SCOPES = ("title", "lead", "body", "story")
_PAIR_SCOPES = ("title", "sentence", "story")
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_CASES = ("capitalized", "upper")


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
    r = Reader(path, TaxonomyError)
    doc = r.mapping(data, "top level")
    r.keys(
        doc,
        ("version", "tags", "people", "orgs", "places", "lookalikes", "cues", "topics"),
        "top level",
    )
    version = doc.get("version", 1)
    if version != 1:
        raise r.fail("version", f"unsupported version {version!r} (this newsmon reads 1)")
    tags = _parse_tags(r, doc.get("tags"))
    cues = _parse_cues(r, doc.get("cues"), tags)
    entities = _parse_entities(r, doc, set(tags))
    lookalikes = _parse_lookalikes(r, doc.get("lookalikes"), entities)
    known_tags = set(tags) | set(KINDS) | set(cues)
    topics = _parse_topics(r, doc.get("topics"), known_tags)
    return Taxonomy(
        path=path,
        tags=tags,
        entities=tuple(entities),
        cues=cues,
        lookalikes=tuple(lookalikes),
        topics=tuple(topics),
    )


def _parse_tags(r: Reader, raw: Any) -> dict[str, str]:
    """The `tags:` section: tag name -> description."""
    tags: dict[str, str] = {}
    for name, desc in r.mapping(raw or {}, "tags").items():
        if not isinstance(name, str) or not _ID.match(name):
            raise r.fail("tags", f"tag '{name}' must be lower_snake_case")
        if name in KINDS:
            raise r.fail(f"tags.{name}", "is built in (every entity carries its kind)")
        tags[name] = r.text(desc, f"tags.{name}", required=False)
    return tags


def _parse_cues(
    r: Reader, raw: Any, tags: dict[str, str]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """The `cues:` section: group name -> (language, phrase); group names are tags too."""
    cues: dict[str, tuple[tuple[str, str], ...]] = {}
    for name, spec in r.mapping(raw or {}, "cues").items():
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
    return cues


def _parse_entities(r: Reader, doc: dict[str, Any], tags: set[str]) -> list[Entity]:
    """The people, orgs and places sections, in that order; entity names must be unique."""
    entities: list[Entity] = []
    seen_names: dict[str, str] = {}
    for section, kind in _SECTION_KIND.items():
        items = doc.get(section) or []
        if not isinstance(items, list):
            raise r.fail(section, "expected a list of entities")
        for i, item in enumerate(items):
            ent = _parse_entity(r, item, kind, f"{section}[{i + 1}]", tags)
            if ent.name in seen_names:
                raise r.fail(f"{section} '{ent.name}'", f"duplicate of {seen_names[ent.name]}")
            seen_names[ent.name] = f"{section} '{ent.name}'"
            entities.append(ent)
    return entities


def _parse_lookalikes(r: Reader, raw: Any, entities: list[Entity]) -> list[str]:
    """The `lookalikes:` phrases; none may be an alias, or it would hide the entity."""
    alias_keys = {alias_key(a)[0] for e in entities for _, a in e.aliases}
    lookalikes: list[str] = []
    raw_look = raw or []
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
    return lookalikes


def _parse_topics(r: Reader, raw: Any, known: set[str]) -> list[Topic]:
    """The `topics:` section, in file order; at least one topic."""
    raw_topics = r.mapping(raw, "topics")
    if not raw_topics:
        raise r.fail("topics", "define at least one topic")
    return [_parse_topic(r, tid, spec, known) for tid, spec in raw_topics.items()]


def _parse_entity(r: Reader, item: Any, kind: str, where: str, tags: set[str]) -> Entity:
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


def _parse_topic(r: Reader, tid: Any, spec: Any, known: set[str]) -> Topic:
    where = f"topic '{tid}'"
    if not isinstance(tid, str) or not _ID.match(tid):
        raise r.fail(where, "id must be lower_snake_case")
    spec = r.mapping(spec, where)
    r.keys(spec, ("name", "description", "threshold", "rules"), where)
    threshold = r.number(spec.get("threshold", 1.0), f"{where} threshold")
    if threshold <= 0:
        raise r.fail(f"{where} threshold", "must be greater than 0")
    rules = _parse_rules(r, spec.get("rules"), where, known)
    _check_reachable(r, rules, threshold, where)
    return Topic(
        id=tid,
        name=str(spec.get("name") or tid),
        description=str(spec.get("description") or ""),
        threshold=threshold,
        rules=tuple(rules),
    )


def _parse_rules(r: Reader, raw_rules: Any, where: str, known: set[str]) -> list[Rule]:
    """A topic's non-empty list of rules, each with a unique lower_snake_case id."""
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
        rules.append(_parse_rule(r, raw, rid, rw, known))
    return rules


def _parse_rule(r: Reader, raw: dict[str, Any], rid: str, rw: str, known: set[str]) -> Rule:
    """One rule, once its id is checked; `rw` names the topic and the rule in errors."""
    kind = raw.get("kind")
    if kind not in _RULE_KEYS:
        raise r.fail(rw, f"kind must be one of {', '.join(_RULE_KEYS)}, got {kind!r}")
    _check_rule_keys(r, raw, kind, rw)
    weight = r.number(raw["weight"], f"{rw} weight")
    if weight == 0:
        raise r.fail(rw, "weight 0 never changes the score")
    scopes = _PAIR_SCOPES if kind == "pair" else _MENTION_SCOPES
    scope = raw.get("in", "story")
    if scope not in scopes:
        raise r.fail(rw, f"'in' must be one of {', '.join(scopes)} for a {kind} rule")

    def tags_of(key: str) -> frozenset[str]:
        return r.tag_set(raw[key], f"{rw} {key}", known) if key in raw else frozenset()

    listing_tags, max_others, max_chain = _parse_listing(r, raw, rw, known)
    return Rule(
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


def _check_rule_keys(r: Reader, raw: dict[str, Any], kind: str, rw: str) -> None:
    """Fail on a key the rule's kind does not allow, or a missing one it requires."""
    allowed, required = _RULE_KEYS[kind]
    r.keys(raw, allowed | {"id", "kind"}, rw)
    for key in sorted(required | {"weight"}):
        if key not in raw:
            raise r.fail(rw, f"missing '{key}'")


def _parse_listing(
    r: Reader, raw: dict[str, Any], rw: str, known: set[str]
) -> tuple[frozenset[str], int | None, int | None]:
    """A rule's `listing` options as (tags, max_others, max_chain); no options when absent."""
    if "listing" not in raw:
        return frozenset(), None, None
    lw = f"{rw} listing"
    listing = r.mapping(raw["listing"], lw)
    r.keys(listing, ("tags", "max_others", "max_chain"), lw)
    if "tags" not in listing or "max_others" not in listing:
        raise r.fail(lw, "needs both 'tags' and 'max_others'")
    listing_tags = r.tag_set(listing["tags"], f"{lw} tags", known)
    max_others = r.integer(listing["max_others"], f"{lw} max_others", 0, 100)
    max_chain: int | None = None
    if "max_chain" in listing:
        max_chain = r.integer(listing["max_chain"], f"{lw} max_chain", 2, 100)
    return listing_tags, max_others, max_chain


def _check_reachable(r: Reader, rules: list[Rule], threshold: float, where: str) -> None:
    """Fail unless the topic's positive weights can add up to its threshold."""
    if not any(x.weight > 0 for x in rules):
        raise r.fail(where, "no rule has a positive weight, so the topic can never be tagged")
    if sum(x.weight for x in rules if x.weight > 0) < threshold:
        raise r.fail(where, f"the positive weights cannot reach the threshold {threshold}")
