"""The taxonomy's typed records: entities, senses, cue groups, topics and their rules.

Built by `taxonomy.parse_taxonomy` (which validates config/topics.yaml into them) and read by the
matcher and the rules. The rule language itself is documented for analysts in the header of
config/topics.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from monitor.text import match_key, script_of_text


class TaxonomyError(ValueError):
    """The taxonomy file is invalid; the message is one line naming the file and the place."""


KINDS = ("person", "org", "place")
MENTION_SCOPES = ("title", "lead", "body", "story")
PAIR_SCOPES = ("title", "sentence", "story")
BINDINGS = ("owner", "object")


@dataclass(frozen=True)
class Guard:
    """Conditions under which some aliases of an entity do not count."""

    aliases: frozenset[str]  # match keys; empty = every alias of the entity
    case: str | None = None  # "capitalized" | "upper": how a Latin alias must be written
    no_article: bool = False  # Arabic: not with the article (المشعل is "the torch")
    not_near: tuple[str, ...] = ()  # phrases that veto the alias within `window` words
    window: int = 10
    only_with_full_name: bool = False  # counts only if the entity is named unambiguously too
    not_in_story: tuple[str, ...] = ()  # phrases that veto the alias anywhere in the story


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
class Sense:
    """Words next to an alias that show it means something else (a hospital, another person).

    Applies to the aliases of the entities selected by `tags` or `entities` (and, when given,
    only to the aliases listed, or only to bare one-word aliases of longer names).
    """

    why: str
    tags: frozenset[str] = frozenset()
    entities: frozenset[str] = frozenset()  # entity names
    aliases: frozenset[str] = frozenset()  # match keys
    bare: bool = False
    before: tuple[str, ...] = ()  # phrases right before the alias that rule it out
    after: tuple[str, ...] = ()  # phrases right after the alias that rule it out
    capitalized_after: bool = False  # a capitalised word right after, in running text


@dataclass(frozen=True)
class Rule:
    """One scoring rule of a topic (see the kinds documented in topics.yaml)."""

    id: str
    kind: str  # mention | near | pair | head
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
    # head rules: how a word attaches to the entity it is about
    bind: str = "owner"
    through: frozenset[str] = frozenset()
    qualified: frozenset[str] = frozenset()
    outside: frozenset[str] = frozenset()
    # pair rules: third parties that take a side's mention over, and tags the unit must lack
    governed_by: frozenset[str] = frozenset()
    without: frozenset[str] = frozenset()
    between: frozenset[str] = frozenset()  # a mention that must stand between the pair
    # any rule: a mention with one of these tags must also appear in scope `also_in`
    also: frozenset[str] = frozenset()
    also_in: str = "story"

    @cached_property
    def needs(self) -> tuple[frozenset[str], ...]:
        """Tag sets a story must each touch for this rule to fire at all (a cheap first test)."""
        needs = [self.a, self.b] if self.kind == "pair" else [self.any]
        if self.kind in ("near", "head"):
            needs.append(self.anchor)
        needs += [t for t in (self.with_, self.between, self.also) if t]
        return tuple(needs)


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
    senses: tuple[Sense, ...] = ()

    @property
    def topic_ids(self) -> list[str]:
        """Topic ids in file order."""
        return [t.id for t in self.topics]


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
