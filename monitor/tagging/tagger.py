"""The Tagger: one story in, topics with score and evidence, people, orgs and places out.

It finds the story's mentions with the compiled matcher, adds up the weights of each topic's
firing rules, and sorts the entities named into the watched fields and the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.tagging.matching import Matcher, Mention, RuledOut
from monitor.tagging.rules import Story, evaluate
from monitor.tagging.schema import Taxonomy, Topic
from monitor.text import guess_lang, norm_lang


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


class Tagger:
    """A taxonomy compiled into one Aho-Corasick automaton; `tag` scores one story."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._entities = taxonomy.entities
        self._names = [e.name for e in taxonomy.entities]
        self._matcher = Matcher(taxonomy)
        self.pattern_count = self._matcher.pattern_count

    def tag(
        self, title: str, summary: str, content: str | None = None, lang: str | None = None
    ) -> TagResult:
        """Tag one story: topics with score and evidence, people, orgs, places, language."""
        title, summary, content = title or "", summary or "", content or ""
        lang = norm_lang(lang) or guess_lang(f"{title}\n{summary}\n{content[:2000]}")
        mentions, lead, ruled_out = self._matcher.find(title, summary, content, lang)
        story = Story(mentions, lead, lang)

        topics: list[str] = []
        scores: dict[str, float] = {}
        topic_ev: dict[str, Any] = {}
        for topic in self.taxonomy.topics:
            score, fired = self._score(topic, story)
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
        found = self._entities_found(mentions)
        for kind, key in (
            ("person", "other_people"),
            ("org", "other_orgs"),
            ("place", "other_places"),
        ):
            if found.get((False, kind)):
                evidence[key] = found[(False, kind)]
        if ruled_out:
            evidence["ruled_out"] = [_ruled_out_evidence(r) for r in ruled_out]
        return TagResult(
            topics=topics,
            scores=scores,
            evidence=evidence,
            people=found.get((True, "person"), []),
            orgs=found.get((True, "org"), []),
            places=found.get((True, "place"), []),
            lang=lang,
        )

    def _score(self, topic: Topic, story: Story) -> tuple[float, list[dict[str, Any]]]:
        """A topic's score (the weights of its firing rules added up) and what fired."""
        score = 0.0
        fired: list[dict[str, Any]] = []
        for rule in topic.rules:
            hit = evaluate(rule, story)
            if hit is None:
                continue
            score += rule.weight
            row: dict[str, Any] = {
                "rule": rule.id,
                "weight": rule.weight,
                "matches": [m.evidence(self._names) for m in hit.matches],
            }
            if hit.why:
                row["why"] = hit.why
            fired.append(row)
        return round(score, 3), fired

    def _entities_found(self, mentions: list[Mention]) -> dict[tuple[bool, str], list[str]]:
        """Entity names by (watched, kind), in order of first mention."""
        found: dict[tuple[bool, str], list[str]] = {}
        for m in mentions:
            if m.entity >= 0:
                ent = self._entities[m.entity]
                bucket = found.setdefault((ent.watch, ent.kind), [])
                if ent.name not in bucket:
                    bucket.append(ent.name)
        return found


def _ruled_out_evidence(r: RuledOut) -> dict[str, Any]:
    """A match a sense dropped: where, which entity it was not, and why."""
    return {
        "text": r.mention.text,
        "field": r.mention.field,
        "start": r.mention.ostart,
        "end": r.mention.oend,
        "entity": r.entity,
        "why": r.sense.why,
    }
