"""Loading and validating config/topics.yaml into the typed records of `schema`.

Entities with aliases, senses, cue phrases, lookalikes and topic rules are checked on load so
that an analyst's mistake is one line naming the file and the place, never a surprise while
tagging. The file's own header explains the rule language for analysts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.tagging.reader import Reader
from monitor.tagging.rulebook import is_id, parse_topics
from monitor.tagging.schema import (
    KINDS,
    Entity,
    Guard,
    Rule,
    Sense,
    Taxonomy,
    TaxonomyError,
    Topic,
    alias_key,
)

# Re-exported: the records are read from here by older code and tests.
__all__ = [
    "KINDS",
    "Entity",
    "Guard",
    "Rule",
    "Sense",
    "Taxonomy",
    "TaxonomyError",
    "Topic",
    "alias_key",
    "load_taxonomy",
    "parse_taxonomy",
]

_SECTION_KIND = {"people": "person", "orgs": "org", "places": "place"}
_CASES = ("capitalized", "upper")
_SECTIONS = (
    "version",
    "tags",
    "people",
    "orgs",
    "places",
    "lookalikes",
    "senses",
    "cues",
    "topics",
)


# ---- loading and validation ------------------------------------------------------------------
# Hand-written rather than pydantic: every error must be one line naming the file, the topic and
# the rule (or the entity) in the analyst's terms, not a nested validation dump.


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
    r.keys(doc, _SECTIONS, "top level")
    version = doc.get("version", 1)
    if version != 1:
        raise r.fail("version", f"unsupported version {version!r} (this newsmon reads 1)")
    tags = _parse_tags(r, doc.get("tags"))
    cues = _parse_cues(r, doc.get("cues"), tags)
    entities = _parse_entities(r, doc, set(tags))
    lookalikes = _parse_lookalikes(r, doc.get("lookalikes"), entities)
    known_tags = set(tags) | set(KINDS) | set(cues)
    topics = parse_topics(r, doc.get("topics"), known_tags)
    senses = _parse_senses(r, doc.get("senses"), entities, set(tags) | set(KINDS))
    return Taxonomy(
        path=path,
        tags=tags,
        entities=tuple(entities),
        cues=cues,
        lookalikes=tuple(lookalikes),
        topics=tuple(topics),
        senses=tuple(senses),
    )


def _parse_tags(r: Reader, raw: Any) -> dict[str, str]:
    """The `tags:` section: tag name -> description."""
    tags: dict[str, str] = {}
    for name, desc in r.mapping(raw or {}, "tags").items():
        if not is_id(name):
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
        if not is_id(name):
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
    guards = [
        _parse_guard(r, g, f"{where} guards[{gi + 1}]", keys)
        for gi, g in enumerate(item.get("guards") or [])
    ]
    return Entity(
        name=name,
        kind=kind,
        tags=frozenset(ent_tags),
        aliases=tuple(aliases),
        implicit=tuple(implicit),
        guards=tuple(guards),
        watch=r.flag(item.get("watch", True), f"{where}.watch"),
    )


_GUARD_KEYS = (
    "aliases",
    "case",
    "no_article",
    "not_near",
    "window",
    "only_with_full_name",
    "not_in_story",
)


def _parse_guard(r: Reader, g: Any, gw: str, keys: set[str]) -> Guard:
    """One of an entity's guards; `keys` are the entity's alias match keys."""
    g = r.mapping(g, gw)
    r.keys(g, _GUARD_KEYS, gw)
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

    def phrases(key: str) -> tuple[str, ...]:
        return tuple(p for _, p in r.phrases(g[key], f"{gw}.{key}")) if key in g else ()

    guard = Guard(
        aliases=frozenset(gkeys),
        case=case,
        no_article=r.flag(g.get("no_article", False), f"{gw}.no_article"),
        not_near=phrases("not_near"),
        window=r.integer(g.get("window", 10), f"{gw}.window", 1, 200),
        only_with_full_name=r.flag(
            g.get("only_with_full_name", False), f"{gw}.only_with_full_name"
        ),
        not_in_story=phrases("not_in_story"),
    )
    if not (
        guard.case
        or guard.no_article
        or guard.not_near
        or guard.only_with_full_name
        or guard.not_in_story
    ):
        raise r.fail(
            gw,
            "does nothing (set case, no_article, not_near, not_in_story or only_with_full_name)",
        )
    return guard


_SENSE_KEYS = (
    "why",
    "tags",
    "entities",
    "aliases",
    "bare",
    "before",
    "after",
    "capitalized_after",
)


def _parse_senses(r: Reader, raw: Any, entities: list[Entity], tags: set[str]) -> list[Sense]:
    """The `senses:` section: words next to an alias that rule its entity out."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise r.fail("senses", "expected a list of {why, tags or entities, before/after}")
    by_name = {e.name: e for e in entities}
    senses: list[Sense] = []
    for i, item in enumerate(raw):
        where = f"senses[{i + 1}]"
        item = r.mapping(item, where)
        r.keys(item, _SENSE_KEYS, where)
        sel_tags = r.tag_set(item["tags"], f"{where}.tags", tags) if "tags" in item else None
        names = r.strings(item["entities"], f"{where}.entities") if "entities" in item else []
        for n in names:
            if n not in by_name:
                raise r.fail(where, f"unknown entity '{n}'")
        if sel_tags is None and not names:
            raise r.fail(where, "select the entities it applies to with 'tags' or 'entities'")
        alias_keys = _sense_aliases(r, item, where, [by_name[n] for n in names] or entities)

        def phrases(key: str, _item: dict[str, Any] = item, _w: str = where) -> tuple[str, ...]:
            if key not in _item:
                return ()
            return tuple(p for _, p in r.phrases(_item[key], f"{_w}.{key}"))

        sense = Sense(
            why=r.text(item.get("why"), f"{where}.why"),
            tags=sel_tags or frozenset(),
            entities=frozenset(names),
            aliases=alias_keys,
            bare=r.flag(item.get("bare", False), f"{where}.bare"),
            before=phrases("before"),
            after=phrases("after"),
            capitalized_after=r.flag(
                item.get("capitalized_after", False), f"{where}.capitalized_after"
            ),
        )
        if not (sense.before or sense.after or sense.capitalized_after):
            raise r.fail(where, "does nothing (set before, after or capitalized_after)")
        senses.append(sense)
    return senses


def _sense_aliases(
    r: Reader, item: dict[str, Any], where: str, pool: list[Entity]
) -> frozenset[str]:
    """The match keys a sense is limited to; each must be an alias of a selected entity."""
    if "aliases" not in item:
        return frozenset()
    known = {alias_key(a)[0] for e in pool for _, a in e.aliases}
    out = set()
    for a in r.strings(item["aliases"], f"{where}.aliases"):
        k = alias_key(a)[0]
        if k not in known:
            raise r.fail(where, f"'{a}' is not an alias of the entities it applies to")
        out.add(k)
    return frozenset(out)
