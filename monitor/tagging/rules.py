"""Rule evaluation: whether one topic rule fires on a story's mentions, and with what evidence.

The rule kinds (mention, near, pair) and their options are documented for analysts in the header
of config/topics.yaml; a pair rule's `listing` options recognise stories that merely enumerate
many states.
"""

from __future__ import annotations

import re

from monitor.tagging.matching import Mention
from monitor.tagging.taxonomy import Rule

_MAX_EVIDENCE = 3


def _gap(a: Mention, b: Mention) -> int:
    """Words strictly between two mentions of one field (0 when adjacent or overlapping)."""
    return max(0, b.tok0 - a.tok1 - 1, a.tok0 - b.tok1 - 1)


def _in_scope(m: Mention, scope: str, lead: int) -> bool:
    if scope == "title":
        return m.field == "title"
    if scope == "lead":
        return m.sent == lead and m.field != "title"
    if scope == "body":
        return m.field != "title"
    return True


def evaluate(rule: Rule, mentions: list[Mention], lead: int) -> list[Mention] | None:
    """The evidence when `rule` fires on these mentions, else None."""
    if rule.kind == "mention":
        return _mention_evidence(rule, mentions, lead)
    if rule.kind == "near":
        return _near_evidence(rule, mentions, lead)
    return _pair_evidence(rule, mentions)  # the remaining kind, "pair"


def _mention_evidence(rule: Rule, mentions: list[Mention], lead: int) -> list[Mention] | None:
    """A mention rule: the first few in-scope mentions carrying one of its `any` tags."""
    hits = [m for m in mentions if _in_scope(m, rule.scope, lead) and m.tags & rule.any]
    return hits[:_MAX_EVIDENCE] if hits else None


def _near_evidence(rule: Rule, mentions: list[Mention], lead: int) -> list[Mention] | None:
    """A near rule: the first `any` mention with an anchor close enough, and that anchor."""
    scoped = [m for m in mentions if _in_scope(m, rule.scope, lead)]
    for c in scoped:
        if not c.tags & rule.any:
            continue
        anchor = _near_anchor(rule, c, scoped)
        if anchor is not None:
            return [c, anchor]
    return None


def _near_anchor(rule: Rule, c: Mention, scoped: list[Mention]) -> Mention | None:
    """The anchor nearest to `c` in its sentence, if within the window and no rival is closer."""
    same = [m for m in scoped if m.sent == c.sent and m.field == c.field and m is not c]
    anchors = [m for m in same if m.tags & rule.anchor]
    if not anchors:
        return None
    best = min(anchors, key=lambda a: _gap(c, a))
    d_anchor = _gap(c, best)
    if d_anchor > rule.window:
        return None
    rivals = [
        _gap(c, m)
        for m in same
        if m.entity >= 0 and m.tags & rule.rivals and not m.tags & rule.anchor
    ]
    if rivals and min(rivals) < d_anchor:
        return None
    return best


def _pair_evidence(rule: Rule, mentions: list[Mention]) -> list[Mention] | None:
    """A pair rule: the evidence of the first unit (title, sentence or story) where it fires."""
    sides = rule.a | rule.b
    for unit in _pair_units(rule.scope, mentions):
        evidence = _pair_in_unit(rule, unit, sides)
        if evidence is not None:
            return evidence
    return None


def _pair_units(scope: str, mentions: list[Mention]) -> list[list[Mention]]:
    """The groups of mentions a pair must share: the title, each sentence, or the whole story."""
    if scope == "title":
        return [[m for m in mentions if m.field == "title"]]
    if scope == "sentence":
        by_sent: dict[int, list[Mention]] = {}
        for m in mentions:
            by_sent.setdefault(m.sent, []).append(m)
        return list(by_sent.values())
    return [mentions]


def _pair_in_unit(rule: Rule, unit: list[Mention], sides: frozenset[str]) -> list[Mention] | None:
    """An entity per side (and a `with` mention if required), unless the unit is a listing."""
    a_side = [m for m in unit if m.entity >= 0 and m.tags & rule.a]
    b_side = [m for m in unit if m.entity >= 0 and m.tags & rule.b]
    pair = next(((x, y) for x in a_side for y in b_side if x.entity != y.entity), None)
    if pair is None:
        return None
    evidence = list(pair)
    if rule.with_:
        extra = next((m for m in unit if m.tags & rule.with_), None)
        if extra is None:
            return None
        evidence.append(extra)
    if _is_listing(rule, unit, sides):
        return None
    return evidence


def _is_listing(rule: Rule, unit: list[Mention], sides: frozenset[str]) -> bool:
    """Whether the unit merely enumerates states, by the rule's `listing` options."""
    if rule.max_others is not None:
        others = {
            m.entity
            for m in unit
            if m.entity >= 0 and m.tags & rule.listing_tags and not m.tags & sides
        }
        if len(others) > rule.max_others:
            return True
    return rule.max_chain is not None and _in_long_list(unit, rule, sides)


# Words that join the items of a list; single-letter Arabic/Hebrew "and" is glued to the next
# word, so it shows up alone between two mentions.
_LIST_JOINERS = frozenset(
    ("and", "or", "ve", "veya", "et", "ou", "dan", "atau", "und", "y", "e", "و", "او", "ו", "או")
)
_LIST_PUNCT = re.compile(r"[\s,،;/&]+")
_LIST_MARK = re.compile(r"[,،;/&]")
_TR_SUFFIX = re.compile(r"^'\w+")


def _in_long_list(unit: list[Mention], rule: Rule, sides: frozenset[str]) -> bool:
    """Whether a side is one item of an enumeration of more than `max_chain` states."""
    states = sorted(
        (m for m in unit if m.entity >= 0 and m.tags & rule.listing_tags),
        key=lambda m: (m.field, m.start),
    )
    chain: list[Mention] = []
    for m in states:
        if chain and chain[-1].field == m.field and _joined(chain[-1], m):
            chain.append(m)
        else:
            if _long_side_chain(chain, sides, rule):
                return True
            chain = [m]
    return _long_side_chain(chain, sides, rule)


def _joined(a: Mention, b: Mention) -> bool:
    """Whether only a comma or a conjunction separates two mentions ("Greece, Cyprus and")."""
    between = _TR_SUFFIX.sub("", a.src[a.end : b.start])
    word = _LIST_PUNCT.sub("", between)
    return word in _LIST_JOINERS if word else _LIST_MARK.search(between) is not None


def _long_side_chain(chain: list[Mention], sides: frozenset[str], rule: Rule) -> bool:
    assert rule.max_chain is not None
    distinct = {m.entity for m in chain}
    return len(distinct) > rule.max_chain and any(m.tags & sides for m in chain)
