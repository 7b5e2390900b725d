"""Precision, recall and F1 of the tagger against a labelled corpus (`newsmon eval`).

A corpus line carries `labels: {topic: bool}` and `people: [canonical names]` (see
../shared/corpus/README.md). Topics are scored per story; people as (story, person) pairs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from monitor.tagging import Tagger
from monitor.text import guess_lang, norm_lang

# The people the corpora label (corpus README). The taxonomy knows more people (other Hamas
# figures, ministers); naming them is not an error, so people are scored within this list.
CORPUS_PEOPLE: tuple[str, ...] = (
    "Ismail Haniyeh",
    "Yahya Sinwar",
    "Saleh al-Arouri",
    "Khaled Mashal",
    "Mohammed Deif",
    "Khalil al-Hayya",
    "Mousa Abu Marzouk",
    "Mohammed Sinwar",
    "Zaher Jabarin",
    "Osama Hamdan",
    "Marwan Issa",
    "Recep Tayyip Erdogan",
    "Hakan Fidan",
    "Ibrahim Kalin",
    "Benjamin Netanyahu",
    "Isaac Herzog",
    "Israel Katz",
    "Yoav Gallant",
    "Ronen Bar",
    "David Barnea",
    "Gideon Saar",
    "Hassan Nasrallah",
)


@dataclass
class Score:
    """Counts of true positives, false positives and false negatives, with P/R/F1."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, expected: bool, got: bool) -> None:
        """Count one binary decision."""
        if expected and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif expected:
            self.fn += 1

    def merge(self, other: Score) -> None:
        """Add another score's counts to this one."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when nothing was expected."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (1.0 when there was nothing to find or find)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able counts and rates."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "support": self.tp + self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class LanguageReport:
    """Scores within one language: per topic, all topics together (micro), and people."""

    stories: int = 0
    topics: dict[str, Score] = field(default_factory=dict)
    people: Score = field(default_factory=Score)

    @property
    def overall(self) -> Score:
        """Micro-average over the topics."""
        total = Score()
        for s in self.topics.values():
            total.merge(s)
        return total

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "stories": self.stories,
            "overall": self.overall.as_dict(),
            "topics": {t: s.as_dict() for t, s in self.topics.items()},
            "people": self.people.as_dict(),
        }


@dataclass
class Miss:
    """One wrong decision: a topic or a person expected and missed, or given and not expected."""

    id: str
    lang: str
    kind: str  # "topic" | "person"
    name: str
    expected: bool
    title: str
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d: dict[str, Any] = {
            "id": self.id,
            "lang": self.lang,
            "kind": self.kind,
            "name": self.name,
            "expected": self.expected,
            "title": self.title,
        }
        if self.score is not None:
            d["score"] = self.score
        return d


@dataclass
class EvalReport:
    """Everything `newsmon eval` prints."""

    stories: int
    topics: dict[str, Score]
    languages: dict[str, LanguageReport]
    people: Score
    misses: list[Miss]
    people_universe: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (what `newsmon eval --json` writes)."""
        return {
            "stories": self.stories,
            "topics": {t: s.as_dict() for t, s in self.topics.items()},
            "languages": {lang: r.as_dict() for lang, r in sorted(self.languages.items())},
            "people": self.people.as_dict(),
            "misses": [m.as_dict() for m in self.misses],
            "people_universe": self.people_universe,
        }


def evaluate(
    tagger: Tagger,
    records: Iterable[dict[str, Any]],
    people_universe: Collection[str] | None = None,
) -> EvalReport:
    """Tag every labelled record and score topics (per topic, per language) and people."""
    universe = set(CORPUS_PEOPLE if people_universe is None else people_universe)
    topic_ids = tagger.taxonomy.topic_ids
    topics = {t: Score() for t in topic_ids}
    languages: dict[str, LanguageReport] = {}
    people = Score()
    misses: list[Miss] = []
    n = 0
    for rec in records:
        n += 1
        title, summary = str(rec.get("title") or ""), str(rec.get("summary") or "")
        result = tagger.tag(title, summary, rec.get("content") or None, rec.get("lang") or None)
        lang = norm_lang(rec.get("lang")) or result.lang or guess_lang(title) or "unknown"
        report = languages.setdefault(lang, LanguageReport())
        report.stories += 1
        rid = str(rec.get("id", n))
        labels = rec.get("labels") or {}
        for t in topic_ids:
            if t not in labels:
                continue
            expected, got = bool(labels[t]), t in result.topics
            topics[t].add(expected, got)
            report.topics.setdefault(t, Score()).add(expected, got)
            if expected != got:
                misses.append(Miss(rid, lang, "topic", t, expected, title, result.scores.get(t)))
        if "people" in rec:
            want = set(rec.get("people") or []) & universe
            have = set(result.people) & universe
            for person in sorted(want | have):
                expected, got = person in want, person in have
                people.add(expected, got)
                report.people.add(expected, got)
                if expected != got:
                    misses.append(Miss(rid, lang, "person", person, expected, title))
    return EvalReport(
        stories=n,
        topics=topics,
        languages=languages,
        people=people,
        misses=misses,
        people_universe=sorted(universe),
    )


def _score_row(name: str, s: Score, *extra: str) -> list[str]:
    return [
        name,
        *extra,
        str(s.tp + s.fn),
        str(s.tp),
        str(s.fp),
        str(s.fn),
        f"{s.precision:.3f}",
        f"{s.recall:.3f}",
        f"{s.f1:.3f}",
    ]


def render_eval(report: EvalReport) -> list[Table]:
    """Rich tables: per topic and people, per language, and the misses."""
    cols = ("support", "tp", "fp", "fn", "precision", "recall", "F1")
    main = Table(title=f"Tagging quality on {report.stories} stories")
    main.add_column("measure")
    for c in cols:
        main.add_column(c, justify="right")
    for t, s in report.topics.items():
        main.add_row(*_score_row(t, s))
    main.add_row(*_score_row("people (story, person)", report.people))

    by_lang = Table(title="Per language (topics micro-averaged; per topic; people)")
    by_lang.add_column("lang")
    by_lang.add_column("measure")
    by_lang.add_column("stories", justify="right")
    for c in cols:
        by_lang.add_column(c, justify="right")
    for lang, r in sorted(report.languages.items(), key=lambda kv: (-kv[1].stories, kv[0])):
        by_lang.add_row(*_score_row(lang, r.overall, "all topics", str(r.stories)))
        for t, s in r.topics.items():
            by_lang.add_row(*_score_row("", s, t, ""))
        by_lang.add_row(*_score_row("", r.people, "people", ""), end_section=True)

    misses = Table(title=f"Misses ({len(report.misses)})")
    for c in ("id", "lang", "kind", "name", "expected", "got", "score", "title"):
        misses.add_column(c)
    for m in report.misses:
        misses.add_row(
            m.id,
            m.lang,
            m.kind,
            m.name,
            "yes" if m.expected else "no",
            "no" if m.expected else "yes",
            "" if m.score is None else f"{m.score:.2f}",
            m.title[:80],
        )
    return [main, by_lang, misses]
