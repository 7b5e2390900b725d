"""Scoring the tagger against labelled stories (monitor.evaluation), and the dev-set targets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from monitor.evaluation import (
    CORPUS_PEOPLE,
    EvalReport,
    Score,
    evaluate,
    event_pairs,
    render_eval,
)
from monitor.tagging import Tagger, load_taxonomy, parse_taxonomy
from tests.factories import jsonl_rows

ROOT = Path(__file__).resolve().parents[2]
DEV_CORPUS = Path(
    os.environ.get("NEWSMON_DEV_CORPUS", ROOT.parent / "shared" / "corpus" / "dev-stories.jsonl")
)


def test_score_arithmetic() -> None:
    s = Score()
    for expected, got in [(True, True), (True, True), (True, False), (False, True), (False, False)]:
        s.add(expected, got)
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.as_dict()["support"] == 3


def test_empty_score_is_perfect_and_all_wrong_is_zero() -> None:
    assert Score().f1 == 1.0
    wrong = Score(tp=0, fp=2, fn=3)
    assert wrong.precision == 0.0
    assert wrong.recall == 0.0
    assert wrong.f1 == 0.0


def _tiny_tagger() -> Tagger:
    doc: dict[str, Any] = {
        "tags": {"red": "red things"},
        "people": [
            {"name": "Ada Stone", "tags": ["red"], "aliases": ["Ada Stone", "Stone"]},
            {"name": "Bo Lake", "aliases": ["Bo Lake"]},
            {"name": "Cy Extra", "aliases": ["Cy Extra"]},
        ],
        "topics": {
            "red_topic": {
                "rules": [{"id": "red_named", "kind": "mention", "any": ["red"], "weight": 1.0}]
            }
        },
    }
    return Tagger(parse_taxonomy(doc, "tiny.yaml"))


def _records() -> list[dict[str, Any]]:
    return [
        {"id": "a", "lang": "en", "title": "Ada Stone speaks", "summary": "",
         "labels": {"red_topic": True}, "people": ["Ada Stone"]},
        {"id": "b", "lang": "en", "title": "Bo Lake and Cy Extra", "summary": "",
         "labels": {"red_topic": True}, "people": ["Bo Lake"]},
        {"id": "c", "lang": "fr", "title": "Stone et la pluie", "summary": "",
         "labels": {"red_topic": False}, "people": ["Ada Stone"]},
        {"id": "d", "lang": "fr", "title": "Rien", "summary": "",
         "labels": {"red_topic": False}, "people": []},
    ]  # fmt: skip


def test_evaluate_counts_topics_languages_people_and_misses() -> None:
    report = evaluate(_tiny_tagger(), _records(), people_universe=["Ada Stone", "Bo Lake"])
    t = report.topics["red_topic"]
    assert (t.tp, t.fp, t.fn) == (1, 1, 1)
    assert report.languages["en"].stories == 2
    assert report.languages["fr"].topics["red_topic"].fp == 1
    assert report.languages["en"].overall.fn == 1
    # Cy Extra is outside the labelled universe: naming him is not counted against the tagger.
    p = report.people
    assert (p.tp, p.fp, p.fn) == (3, 0, 0)
    assert {(m.id, m.kind, m.name, m.expected) for m in report.misses} == {
        ("b", "topic", "red_topic", True),
        ("c", "topic", "red_topic", False),
    }


def test_people_outside_the_universe_count_when_the_universe_includes_them() -> None:
    report = evaluate(
        _tiny_tagger(), _records(), people_universe=["Ada Stone", "Bo Lake", "Cy Extra"]
    )
    assert report.people.fp == 1
    assert any(m.kind == "person" and m.name == "Cy Extra" for m in report.misses)


def test_report_is_json_and_renders() -> None:
    report = evaluate(_tiny_tagger(), _records(), people_universe=["Ada Stone", "Bo Lake"])
    d = json.loads(json.dumps(report.as_dict()))
    assert d["stories"] == 4
    assert d["topics"]["red_topic"]["f1"] == 0.5
    assert set(d["languages"]) == {"en", "fr"}
    assert len(d["misses"]) == 2
    console = Console(record=True, width=160)
    for table in render_eval(report):
        console.print(table)
    text = console.export_text()
    assert "red_topic" in text
    assert "Misses (2)" in text
    assert "fr" in text


def test_default_people_universe_is_the_corpus_list() -> None:
    report = evaluate(_tiny_tagger(), [])
    assert report.people_universe == sorted(CORPUS_PEOPLE)
    assert len(CORPUS_PEOPLE) == 22


# ---- the development set targets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_report() -> EvalReport:
    records = jsonl_rows(DEV_CORPUS)  # NEWSMON_DEV_CORPUS may point elsewhere
    tagger = Tagger(load_taxonomy(ROOT / "config" / "topics.yaml"))
    return evaluate(tagger, records)


def test_dev_set_topic_f1(dev_report: EvalReport) -> None:
    for topic, score in dev_report.topics.items():
        assert score.f1 >= 0.92, (topic, score.as_dict())


def test_dev_set_language_f1(dev_report: EvalReport) -> None:
    big = {lang: r for lang, r in dev_report.languages.items() if r.stories >= 5}
    assert {"en", "ar", "he", "tr"} <= set(big)
    for lang, r in big.items():
        assert r.overall.f1 >= 0.85, (lang, r.as_dict())
        for topic, score in r.topics.items():
            if score.tp + score.fn:
                assert score.f1 >= 0.85, (lang, topic, score.as_dict())


def test_dev_set_people_f1(dev_report: EvalReport) -> None:
    assert dev_report.people.f1 >= 0.92, dev_report.people.as_dict()


def test_event_pairs_count_labelled_and_unlabelled_pairs_apart() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a", "event": "E"},
        {"id": "b", "event": "E"},
        {"id": "c", "dup_group": 7},
        {"id": "d", "dup_group": 7},
        {"id": "e"},
        {"id": "f"},
    ]
    # a+b right, c+d missed, c joined to a wrongly, e+f two unlabelled items together.
    p = event_pairs(rows, {"a": "1", "b": "1", "c": "1", "d": "2", "e": "3", "f": "3"})
    assert (p.found, p.wrong_labelled, p.wrong_unlabelled, p.missed) == (1, 2, 1, 1)
    assert (p.events, p.items) == (3, 6)
    assert p.precision == 1 / 4
    assert p.precision_labelled == 1 / 3
    assert p.recall == 1 / 2
    assert p.as_dict()["true_pairs"] == 2
