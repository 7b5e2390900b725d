"""Rule evaluation: whether one topic rule fires on a story's mentions, and with what evidence.

The rule kinds (mention, near, pair, head) and their options are documented for analysts in the
header of config/topics.yaml; a pair rule's `listing` options recognise stories that merely
enumerate many states, its `governed_by` option mentions a third party takes over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.tagging import heads
from monitor.tagging.mentions import Mention
from monitor.tagging.schema import Rule

_MAX_EVIDENCE = 3


@dataclass
class Hit:
    """A rule that fired: the mentions that made it fire, and why when that needs saying."""

    matches: list[Mention]
    why: str = ""


@dataclass
class Story:
    """One story's mentions as the rules read them. What several rules share (the mentions in
    a scope, the pair units, scenes per field, third-party readings) is built once, on demand."""

    mentions: list[Mention]
    lead: int
    lang: str | None = None
    tags: frozenset[str] = frozenset()  # every tag some mention carries: rules skip early
    _scenes: dict[str, heads.Scene] = field(default_factory=dict)
    _scoped: dict[str, list[Mention]] = field(default_factory=dict)
    _units: dict[str, list[tuple[list[Mention], frozenset[str]]]] = field(default_factory=dict)
    _governed: dict[tuple[int, frozenset[str], frozenset[str]], bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tags = frozenset().union(*(m.tags for m in self.mentions))

    def scene(self, m: Mention) -> heads.Scene:
        """The mentions of `m`'s field, indexed for the head and governor readings."""
        s = self._scenes.get(m.field)
        if s is None:
            assert m.ctx is not None
            s = heads.Scene(m.ctx, [x for x in self.mentions if x.field == m.field], self.lang)
            self._scenes[m.field] = s
        return s

    def scoped(self, scope: str) -> list[Mention]:
        """The mentions in a scope (title, lead, body, story)."""
        out = self._scoped.get(scope)
        if out is None:
            out = [m for m in self.mentions if _in_scope(m, scope, self.lead)]
            self._scoped[scope] = out
        return out

    def units(self, scope: str) -> list[tuple[list[Mention], frozenset[str]]]:
        """The groups of mentions a pair must share in a scope, each with the tags its entity
        mentions carry (most units lack one side: a set test skips them)."""
        out = self._units.get(scope)
        if out is None:
            out = [
                (u, frozenset().union(*(m.tags for m in u if m.entity >= 0)))
                for u in _pair_units(scope, self.mentions)
            ]
            self._units[scope] = out
        return out

    def governed(self, m: Mention, sides: frozenset[str], third: frozenset[str]) -> bool:
        """Whether a third party takes side mention `m` over (see heads.governor)."""
        key = (id(m), sides, third)
        out = self._governed.get(key)
        if out is None:
            out = heads.governor(self.scene(m), m, sides, third) is not None
            self._governed[key] = out
        return out


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


def _possible(rule: Rule, tags: frozenset[str]) -> bool:
    """Whether the story carries the tags the rule needs at all (most stories lack some)."""
    for need in rule.needs:  # noqa: SIM110 - a plain loop: this runs for every rule of every story
        if need.isdisjoint(tags):
            return False
    return True


def evaluate(rule: Rule, story: Story) -> Hit | None:
    """The evidence when `rule` fires on this story, else None."""
    if not _possible(rule, story.tags):
        return None
    if rule.kind == "mention":
        hit = _mention_evidence(rule, story)
    elif rule.kind == "near":
        hit = _near_evidence(rule, story)
    elif rule.kind == "head":
        hit = _head_evidence(rule, story)
    else:
        hit = _pair_evidence(rule, story)  # the remaining kind, "pair"
    if hit is not None and rule.also:
        extra = next((m for m in story.scoped(rule.also_in) if m.tags & rule.also), None)
        if extra is None:
            return None
        hit.matches.append(extra)
    return hit


def _mention_evidence(rule: Rule, story: Story) -> Hit | None:
    """A mention rule: the first few in-scope mentions carrying one of its `any` tags."""
    hits = [m for m in story.scoped(rule.scope) if m.tags & rule.any]
    return Hit(hits[:_MAX_EVIDENCE]) if hits else None


def _near_evidence(rule: Rule, story: Story) -> Hit | None:
    """A near rule: the first `any` mention with an anchor close enough, and that anchor."""
    scoped = story.scoped(rule.scope)
    for c in scoped:
        if not c.tags & rule.any:
            continue
        anchor = _near_anchor(rule, c, scoped)
        if anchor is not None:
            return Hit([c, anchor])
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


def _head_evidence(rule: Rule, story: Story) -> Hit | None:
    """A head rule: an `any` word whose owner (or object) is an `anchor` entity.

    Options: `qualified` needs a qualifier in the phrase ("senior Hamas official"); `outside`
    skips words in a clause those cues open ("... after Hamas chief called for ..."); a
    `governed_by` noun governing the phrase ("son of the Hamas founder") makes it about that
    noun (the relative), not about the head.
    """
    read = heads.target if rule.bind == "object" else heads.owner
    for w in story.scoped(rule.scope):
        if w.entity >= 0 or not w.tags & rule.any:
            continue
        scene = story.scene(w)
        if rule.outside and heads.in_subordinate_clause(scene, w, rule.outside):
            continue
        found = read(scene, w, rule.through)
        if found is None:
            continue
        head, how = found
        bound = next((h for h in heads.with_coordinated(scene, head) if h.tags & rule.anchor), None)
        if bound is None:
            continue
        lo = min(w.word_start, head.word_start, bound.word_start)
        hi = max(w.end, head.end, bound.end)
        if rule.governed_by and heads.kin_of(scene, lo, hi, rule.governed_by, w) is not None:
            continue
        matches = [w, bound]
        if rule.qualified:
            q = heads.qualified(scene, lo, hi, rule.qualified)
            if q is None:
                continue
            matches.append(q)
        via = "" if bound is head else f", with {head.text}"
        return Hit(matches, f"'{w.text}' attaches to '{bound.text}' ({how}{via})")
    return None


def _pair_evidence(rule: Rule, story: Story) -> Hit | None:
    """A pair rule: the evidence of the first unit (title, sentence or story) where it fires."""
    sides = rule.a | rule.b
    for unit, tags in story.units(rule.scope):
        if rule.a.isdisjoint(tags) or rule.b.isdisjoint(tags):
            continue
        evidence = _pair_in_unit(rule, unit, sides, story)
        if evidence is not None:
            return Hit(evidence)
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


def _pair_in_unit(
    rule: Rule, unit: list[Mention], sides: frozenset[str], story: Story
) -> list[Mention] | None:
    """An entity per side (and a `with` mention if required), unless the unit is a listing,
    holds a `without` mention, or a third party takes every candidate side mention over."""
    if rule.without and any(m.entity >= 0 and m.tags & rule.without for m in unit):
        return None
    a_side = [m for m in unit if m.entity >= 0 and m.tags & rule.a]
    b_side = [m for m in unit if m.entity >= 0 and m.tags & rule.b]
    if not a_side or not b_side:  # before the governor reading, which costs the most here
        return None
    evidence = _first_pair(rule, unit, a_side, b_side, sides, story)
    if evidence is None:
        return None
    if rule.with_:
        extra = next((m for m in unit if m.tags & rule.with_), None)
        if extra is None:
            return None
        evidence.append(extra)
    if _is_listing(rule, unit, sides):
        return None
    return evidence


def _first_pair(
    rule: Rule,
    unit: list[Mention],
    a_side: list[Mention],
    b_side: list[Mention],
    sides: frozenset[str],
    story: Story,
) -> list[Mention] | None:
    """The first (a, b) pair of distinct entities that no third party governs (and that a
    `between` mention links), with that link. The governor reading is the costly part: it is
    asked lazily, only of mentions a pair still depends on."""
    for x in a_side:
        if rule.governed_by and _governed(x, sides, rule, story):
            continue
        for y in b_side:
            if x.entity == y.entity:
                continue
            if rule.governed_by and _governed(y, sides, rule, story):
                continue
            if not rule.between:
                return [x, y]
            link = _linked_by(x, y, unit, rule.between, story)
            if link is not None:
                return [x, y, link]
    return None


def _linked_by(
    x: Mention, y: Mention, unit: list[Mention], tags: frozenset[str], story: Story
) -> Mention | None:
    """A `tags` mention between x and y in one clause: "Erdogan's visit to Germany"."""
    if x.field != y.field or x.ctx is None or not x.ctx.same_clause(x.start, y.start):
        return None
    lo, hi = min(x.end, y.end), max(x.start, y.start)
    return next(
        (m for m in unit if m.field == x.field and m.tags & tags and lo <= m.start < hi), None
    )


def _governed(m: Mention, sides: frozenset[str], rule: Rule, story: Story) -> bool:
    return story.governed(m, sides, rule.governed_by)


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
