"""Reading and validating the `topics:` section: topics, their rules and each rule's options.

Every error is one line naming the file, the topic and the rule in the analyst's terms (the rule
language is documented in the header of config/topics.yaml).
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from monitor.tagging.reader import Reader
from monitor.tagging.schema import BINDINGS, MENTION_SCOPES, PAIR_SCOPES, Rule, Topic

_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_COMMON = {"in", "weight", "also"}
# (allowed keys, required keys) per rule kind, on top of id, kind and the common keys.
_RULE_KEYS = {
    "mention": ({"any"}, {"any"}),
    "near": ({"anchor", "any", "rivals", "window"}, {"anchor", "any", "window"}),
    "pair": ({"a", "b", "with", "listing", "governed_by", "without", "between"}, {"a", "b"}),
    "head": (
        {"any", "anchor", "bind", "through", "qualified", "outside", "governed_by"},
        {"any", "anchor"},
    ),
}
_TAG_KEYS = (
    "any",
    "anchor",
    "rivals",
    "a",
    "b",
    "with",
    "through",
    "qualified",
    "outside",
    "governed_by",
    "without",
    "between",
)


def is_id(value: Any) -> TypeGuard[str]:
    """Whether `value` is a lower_snake_case identifier (topic, rule, tag, cue group)."""
    return isinstance(value, str) and _ID.match(value) is not None


def parse_topics(r: Reader, raw: Any, known: set[str]) -> list[Any]:
    """The `topics:` section, in file order; at least one topic."""
    raw_topics = r.mapping(raw, "topics")
    if not raw_topics:
        raise r.fail("topics", "define at least one topic")
    return [_parse_topic(r, tid, spec, known) for tid, spec in raw_topics.items()]


def _parse_topic(r: Reader, tid: Any, spec: Any, known: set[str]) -> Topic:
    where = f"topic '{tid}'"
    if not is_id(tid):
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
        if not is_id(rid):
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
    scopes = PAIR_SCOPES if kind == "pair" else MENTION_SCOPES
    scope = raw.get("in", "story")
    if scope not in scopes:
        raise r.fail(rw, f"'in' must be one of {', '.join(scopes)} for a {kind} rule")
    bind = raw.get("bind", "owner")
    if bind not in BINDINGS:
        raise r.fail(rw, f"bind must be one of {', '.join(BINDINGS)}, got {bind!r}")
    tags = {key: r.tag_set(raw[key], f"{rw} {key}", known) for key in _TAG_KEYS if key in raw}
    listing_tags, max_others, max_chain = _parse_listing(r, raw, rw, known)
    also, also_in = _parse_also(r, raw, rw, known)
    empty: frozenset[str] = frozenset()
    return Rule(
        id=rid,
        kind=kind,
        weight=weight,
        scope=scope,
        any=tags.get("any", empty),
        anchor=tags.get("anchor", empty),
        rivals=tags.get("rivals", empty),
        window=r.integer(raw["window"], f"{rw} window", 0, 100) if "window" in raw else 0,
        a=tags.get("a", empty),
        b=tags.get("b", empty),
        with_=tags.get("with", empty),
        listing_tags=listing_tags,
        max_others=max_others,
        max_chain=max_chain,
        bind=bind,
        through=tags.get("through", empty),
        qualified=tags.get("qualified", empty),
        outside=tags.get("outside", empty),
        governed_by=tags.get("governed_by", empty),
        without=tags.get("without", empty),
        between=tags.get("between", empty),
        also=also,
        also_in=also_in,
    )


def _check_rule_keys(r: Reader, raw: dict[str, Any], kind: str, rw: str) -> None:
    """Fail on a key the rule's kind does not allow, or a missing one it requires."""
    allowed, required = _RULE_KEYS[kind]
    r.keys(raw, allowed | _COMMON | {"id", "kind"}, rw)
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


def _parse_also(
    r: Reader, raw: dict[str, Any], rw: str, known: set[str]
) -> tuple[frozenset[str], str]:
    """A rule's `also: {tags, in}`: a mention that must also appear, and where."""
    if "also" not in raw:
        return frozenset(), "story"
    aw = f"{rw} also"
    also = r.mapping(raw["also"], aw)
    r.keys(also, ("tags", "in"), aw)
    if "tags" not in also:
        raise r.fail(aw, "needs 'tags'")
    scope = also.get("in", "story")
    if scope not in MENTION_SCOPES:
        raise r.fail(aw, f"'in' must be one of {', '.join(MENTION_SCOPES)}")
    return r.tag_set(also["tags"], f"{aw} tags", known), scope


def _check_reachable(r: Reader, rules: list[Rule], threshold: float, where: str) -> None:
    """Fail unless the topic's positive weights can add up to its threshold."""
    if not any(x.weight > 0 for x in rules):
        raise r.fail(where, "no rule has a positive weight, so the topic can never be tagged")
    if sum(x.weight for x in rules if x.weight > 0) < threshold:
        raise r.fail(where, f"the positive weights cannot reach the threshold {threshold}")
