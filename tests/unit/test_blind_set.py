"""Generalisation check on tests/fixtures/blind-stories.jsonl.

That set was written by someone who never read the taxonomy or the rules (topic definitions and
canonical names only), with other events, spellings and hard negatives than the dev set. It is
a regression guard: do not tune rules to its individual stories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.evaluation import EvalReport, evaluate
from monitor.tagging import Tagger, load_taxonomy
from tests.factories import jsonl_rows

ROOT = Path(__file__).resolve().parents[2]
BLIND = ROOT / "tests" / "fixtures" / "blind-stories.jsonl"


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return jsonl_rows(BLIND)


@pytest.fixture(scope="module")
def report(records: list[dict[str, Any]]) -> EvalReport:
    return evaluate(Tagger(load_taxonomy(ROOT / "config" / "topics.yaml")), records)


def test_blind_topic_f1(report: EvalReport) -> None:
    d = report.as_dict()
    for topic in ("hamas_leadership", "turkey_israel"):
        assert d["topics"][topic]["f1"] >= 0.92, (topic, d["topics"][topic], d["misses"])


def test_blind_people_f1(report: EvalReport) -> None:
    d = report.as_dict()
    assert d["people"]["f1"] >= 0.92, d["people"]


def test_blind_language_f1(report: EvalReport) -> None:
    d = report.as_dict()
    for lang, row in d["languages"].items():
        if row["stories"] >= 5:
            assert row["overall"]["f1"] >= 0.85, (lang, row["overall"])
