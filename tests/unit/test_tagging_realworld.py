"""The tagger on real news: ../shared/corpus/realworld-dev.jsonl (hand-labelled real items).

That file is third-party evaluation data: it is read where it lies and never copied into this
repository. The thresholds are the product's bar for an alerting tagger (precision first):
per topic, precision >= 0.95 when a tagged borderline item is not counted as an error, >= 0.9
when it is, and recall >= 0.9 over every labelled positive.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.evaluation import EvalReport, evaluate
from monitor.tagging import Tagger, load_taxonomy
from tests.factories import jsonl_rows

ROOT = Path(__file__).resolve().parents[2]
REALWORLD = ROOT.parent / "shared" / "corpus" / "realworld-dev.jsonl"


@pytest.fixture(scope="module")
def report() -> EvalReport:
    rows = jsonl_rows(REALWORLD)
    return evaluate(Tagger(load_taxonomy(ROOT / "config" / "topics.yaml")), rows)


@pytest.mark.parametrize("topic", ["hamas_leadership", "turkey_israel"])
def test_precision_and_recall_on_real_news(report: EvalReport, topic: str) -> None:
    score = report.topics[topic]
    errors = [(m.error, m.id, m.title) for m in report.misses if m.name == topic]
    assert score.tp + score.fn >= 30, "the real-world set lost its labelled positives"
    assert score.precision_lenient >= 0.95, errors
    assert score.precision >= 0.9, errors
    assert score.recall >= 0.9, errors


def test_every_error_is_listed(report: EvalReport) -> None:
    """`newsmon eval` lists every error: one miss per false positive and false negative."""
    wrong = sum(s.fp + s.fn for s in report.topics.values())
    topic_misses = [m for m in report.misses if m.kind == "topic"]
    assert len(topic_misses) == wrong
