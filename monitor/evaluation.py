"""Precision, recall and F1 of the tagger against labelled corpora (`newsmon eval`), and the
pairwise precision and recall of events (`event_pairs`, shared by tests and benchmarks).

A corpus line carries `labels: {topic: bool}` and `people: [canonical names]` (see
../shared/corpus/README.md); it may also carry `borderline: true`, a call a second reader could
make the other way. Topics are scored per story; people as (story, person) pairs.

Borderline items are counted apart, because an alert product is judged on both readings:

- strict precision counts a tagged borderline negative as a false positive;
- lenient precision counts it as right (the label could have gone either way);
- recall is over the labelled positives, and separately over the clear and the borderline ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from monitor.tagging import Tagger, TagResult
from monitor.text import guess_lang, norm_lang

__all__ = [
    "CORPUS_PEOPLE",
    "EvalReport",
    "EventPairs",
    "LanguageReport",
    "Miss",
    "Score",
    "evaluate",
    "event_gold",
    "event_pairs",
    "fired_rules",
    "render_comparison",
    "render_eval",
]

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


def _ratio(num: int, den: int) -> float:
    """num / den; 1.0 when there was nothing to count (no prediction, no positive)."""
    return num / den if den else 1.0


@dataclass
class Score:
    """True positives, false positives and false negatives, with how many were borderline."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    bl_tp: int = 0  # of tp, fp, fn: the items labelled borderline
    bl_fp: int = 0
    bl_fn: int = 0

    def add(self, expected: bool, got: bool, borderline: bool = False) -> None:
        """Count one binary decision."""
        if expected and got:
            self.tp += 1
            self.bl_tp += borderline
        elif got:
            self.fp += 1
            self.bl_fp += borderline
        elif expected:
            self.fn += 1
            self.bl_fn += borderline

    def merge(self, other: Score) -> None:
        """Add another score's counts to this one."""
        for name in ("tp", "fp", "fn", "bl_tp", "bl_fp", "bl_fn"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def precision(self) -> float:
        """Strict: tp / (tp + fp), a tagged borderline negative counting as an error."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def precision_lenient(self) -> float:
        """Lenient: a tagged borderline negative counts as right, not as an error."""
        return _ratio(self.tp + self.bl_fp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """tp / (tp + fn) over every labelled positive, clear or borderline."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def recall_clear(self) -> float:
        """Recall over the positives not labelled borderline."""
        tp = self.tp - self.bl_tp
        return _ratio(tp, tp + self.fn - self.bl_fn)

    @property
    def recall_borderline(self) -> float:
        """Recall over the positives labelled borderline."""
        return _ratio(self.bl_tp, self.bl_tp + self.bl_fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of strict precision and recall (1.0 with nothing to find or found)."""
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
            "precision_lenient": round(self.precision_lenient, 4),
            "recall": round(self.recall, 4),
            "recall_clear": round(self.recall_clear, 4),
            "recall_borderline": round(self.recall_borderline, 4),
            "f1": round(self.f1, 4),
            "borderline": {"tp": self.bl_tp, "fp": self.bl_fp, "fn": self.bl_fn},
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
    borderline: bool = False
    # For a topic: the rules that fired (id, weight, the text each matched and why).
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error(self) -> str:
        """FN for something expected and not given, FP for the reverse."""
        return "FN" if self.expected else "FP"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d: dict[str, Any] = {
            "id": self.id,
            "lang": self.lang,
            "kind": self.kind,
            "name": self.name,
            "expected": self.expected,
            "error": self.error,
            "borderline": self.borderline,
            "title": self.title,
        }
        if self.score is not None:
            d["score"] = self.score
        if self.kind == "topic":
            d["evidence"] = self.evidence
        return d


@dataclass
class EvalReport:
    """Everything `newsmon eval` prints for one corpus."""

    stories: int
    topics: dict[str, Score]
    languages: dict[str, LanguageReport]
    people: Score
    misses: list[Miss]
    people_universe: list[str]
    corpus: str = ""
    borderline: int = 0  # stories labelled borderline

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (what `newsmon eval --json` writes, one line per corpus)."""
        return {
            "corpus": self.corpus,
            "stories": self.stories,
            "borderline_stories": self.borderline,
            "topics": {t: s.as_dict() for t, s in self.topics.items()},
            "languages": {lang: r.as_dict() for lang, r in sorted(self.languages.items())},
            "people": self.people.as_dict(),
            "misses": [m.as_dict() for m in self.misses],
            "people_universe": self.people_universe,
        }


def fired_rules(result: TagResult, topic: str) -> list[dict[str, Any]]:
    """The rules that fired for `topic`, compact: id, weight, matched text and why."""
    fired = result.evidence.get("topics", {}).get(topic, {}).get("rules", [])
    out = []
    for f in fired:
        row: dict[str, Any] = {
            "rule": f["rule"],
            "weight": f["weight"],
            "matched": [m["text"] for m in f["matches"]],
        }
        if f.get("why"):
            row["why"] = f["why"]
        out.append(row)
    return out


def evaluate(
    tagger: Tagger,
    records: Iterable[dict[str, Any]],
    people_universe: Collection[str] | None = None,
    corpus: str = "",
) -> EvalReport:
    """Tag every labelled record and score topics (per topic, per language) and people."""
    universe = set(CORPUS_PEOPLE if people_universe is None else people_universe)
    topic_ids = tagger.taxonomy.topic_ids
    report = EvalReport(
        stories=0,
        topics={t: Score() for t in topic_ids},
        languages={},
        people=Score(),
        misses=[],
        people_universe=sorted(universe),
        corpus=corpus,
    )
    for rec in records:
        report.stories += 1
        _score_record(tagger, rec, report, universe, topic_ids)
    return report


def _score_record(
    tagger: Tagger,
    rec: dict[str, Any],
    report: EvalReport,
    universe: set[str],
    topic_ids: list[str],
) -> None:
    """Tag one labelled record and add its decisions to the report."""
    title, summary = str(rec.get("title") or ""), str(rec.get("summary") or "")
    result = tagger.tag(title, summary, rec.get("content") or None, rec.get("lang") or None)
    lang = norm_lang(rec.get("lang")) or result.lang or guess_lang(title) or "unknown"
    by_lang = report.languages.setdefault(lang, LanguageReport())
    by_lang.stories += 1
    rid = str(rec.get("id", report.stories))
    borderline = rec.get("borderline") is True
    report.borderline += borderline
    labels = rec.get("labels") or {}
    for t in topic_ids:
        if t not in labels:
            continue
        expected, got = bool(labels[t]), t in result.topics
        report.topics[t].add(expected, got, borderline)
        by_lang.topics.setdefault(t, Score()).add(expected, got, borderline)
        if expected != got:
            report.misses.append(
                Miss(
                    rid,
                    lang,
                    "topic",
                    t,
                    expected,
                    title,
                    result.scores.get(t),
                    borderline,
                    fired_rules(result, t),
                )
            )
    if "people" in rec:
        want = set(rec.get("people") or []) & universe
        have = set(result.people) & universe
        for person in sorted(want | have):
            expected, got = person in want, person in have
            report.people.add(expected, got)
            by_lang.people.add(expected, got)
            if expected != got:
                report.misses.append(
                    Miss(rid, lang, "person", person, expected, title, borderline=borderline)
                )


_COLS = ("support", "tp", "fp", "fp bl", "fn", "P strict", "P lenient", "R", "R clear", "R bl")


def _score_row(name: str, s: Score, *extra: str) -> list[str]:
    return [
        name,
        *extra,
        str(s.tp + s.fn),
        str(s.tp),
        str(s.fp),
        str(s.bl_fp),
        str(s.fn),
        f"{s.precision:.3f}",
        f"{s.precision_lenient:.3f}",
        f"{s.recall:.3f}",
        f"{s.recall_clear:.3f}",
        f"{s.recall_borderline:.3f}",
    ]


def _evidence_text(m: Miss) -> str:
    parts = []
    for f in m.evidence:
        why = f" ({f['why']})" if f.get("why") else ""
        parts.append(f"{f['rule']} {f['weight']:+g}: {' / '.join(f['matched'])}{why}")
    return "; ".join(parts)


def render_eval(report: EvalReport) -> list[Table]:
    """Rich tables: per topic and people, per language, and every error with its evidence."""
    name = f" in {report.corpus}" if report.corpus else ""
    main = Table(
        title=f"Tagging quality on {report.stories} stories{name} "
        f"({report.borderline} labelled borderline)"
    )
    main.add_column("measure")
    for c in _COLS:
        main.add_column(c, justify="right")
    for t, s in report.topics.items():
        main.add_row(*_score_row(t, s))
    main.add_row(*_score_row("people (story, person)", report.people))

    by_lang = Table(title="Per language (topics micro-averaged; per topic; people)")
    by_lang.add_column("lang")
    by_lang.add_column("measure")
    by_lang.add_column("stories", justify="right")
    for c in _COLS:
        by_lang.add_column(c, justify="right")
    for lang, r in sorted(report.languages.items(), key=lambda kv: (-kv[1].stories, kv[0])):
        by_lang.add_row(*_score_row(lang, r.overall, "all topics", str(r.stories)))
        for t, s in r.topics.items():
            by_lang.add_row(*_score_row("", s, t, ""))
        by_lang.add_row(*_score_row("", r.people, "people", ""), end_section=True)

    misses = Table(title=f"Misses ({len(report.misses)})")
    for c in ("id", "lang", "kind", "name", "error", "borderline", "score", "evidence", "title"):
        misses.add_column(c, overflow="fold")
    for m in report.misses:
        misses.add_row(
            m.id,
            m.lang,
            m.kind,
            m.name,
            m.error,
            "yes" if m.borderline else "",
            "" if m.score is None else f"{m.score:.2f}",
            _evidence_text(m),
            m.title[:80],
        )
    return [main, by_lang, misses]


def render_comparison(reports: list[EvalReport]) -> Table:
    """One table with every corpus side by side: per topic, strict and lenient figures."""
    table = Table(title="Corpora side by side")
    table.add_column("corpus")
    table.add_column("measure")
    for c in _COLS:
        table.add_column(c, justify="right")
    for report in reports:
        rows = [*report.topics.items(), ("people", report.people)]
        for i, (t, s) in enumerate(rows):
            table.add_row(
                *_score_row(report.corpus if i == 0 else "", s, t),
                end_section=i == len(rows) - 1,
            )
    return table


# ---- events: pairwise counts against labelled groups ----------------------------------------


def event_gold(row: dict[str, Any]) -> str | None:
    """A labelled item's event: its `event` label, else its `dup_group`; None when unlabelled."""
    value = row.get("event", row.get("dup_group"))
    return None if value is None else str(value)


@dataclass(frozen=True)
class EventPairs:
    """Pairs of items put in one event, counted against the labels.

    Two unlabelled items put together make no claim either way (a set's unlabelled items are not
    judged unique), so precision is given over every predicted pair and over labelled ones.
    """

    items: int
    events: int
    found: int  # true pairs put in one event
    wrong_labelled: int  # pairs put together of which at least one item is labelled
    wrong_unlabelled: int  # pairs put together of two unlabelled items
    missed: int  # true pairs kept apart

    @property
    def precision(self) -> float:
        return _ratio(self.found, self.found + self.wrong_labelled + self.wrong_unlabelled)

    @property
    def precision_labelled(self) -> float:
        return _ratio(self.found, self.found + self.wrong_labelled)

    @property
    def recall(self) -> float:
        return _ratio(self.found, self.found + self.missed)

    def as_dict(self) -> dict[str, Any]:
        """The counts and ratios as JSON-ready values (ratios to four places)."""
        return {
            "items": self.items,
            "true_pairs": self.found + self.missed,
            "found": self.found,
            "wrong_labelled": self.wrong_labelled,
            "wrong_unlabelled": self.wrong_unlabelled,
            "precision": round(self.precision, 4),
            "precision_labelled": round(self.precision_labelled, 4),
            "recall": round(self.recall, 4),
            "events": self.events,
        }


def event_pairs(rows: list[dict[str, Any]], events: dict[str, str]) -> EventPairs:
    """Count every pair of `rows` (by `id`) as put in one event by `events` or not."""
    found = wrong = wrong_unlabelled = missed = 0
    for a, b in itertools.combinations(rows, 2):
        ga, gb = event_gold(a), event_gold(b)
        gold = ga is not None and ga == gb
        pred = events[a["id"]] == events[b["id"]]
        found += gold and pred
        missed += gold and not pred
        if pred and not gold:
            if ga is None and gb is None:
                wrong_unlabelled += 1
            else:
                wrong += 1
    return EventPairs(
        items=len(rows),
        events=len({events[r["id"]] for r in rows}),
        found=found,
        wrong_labelled=wrong,
        wrong_unlabelled=wrong_unlabelled,
        missed=missed,
    )
