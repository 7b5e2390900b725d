"""Parse-stage figures for #11; prints JSON.

    .venv/bin/python benchmarks/bench_parse.py [--rounds 5]

- `dates`: the date strings of tests/fixtures/dates/feed-dates.jsonl (taken from feedparser's,
  gofeed's and Miniflux's own test suites, plus the issue's), read by feedparser alone (before
  #11) and by `monitor.parse.dates.parse_date` (after): how many come out right, wrong (a
  different instant, or an instant for a string that names none) and dropped (no instant for
  one that names one).
- `language`: the per-story detector against the labelled corpora in ../shared/corpus, beside
  `monitor.text.guess_lang`; and the detector's and the tagger's cost per story in one run
  (medians over rounds), so its share of the pipeline's per-story work is visible.
"""

from __future__ import annotations

import argparse
import calendar
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser.datetimes  # noqa: E402
import yaml  # noqa: E402

from monitor.parse.dates import parse_date  # noqa: E402
from monitor.parse.language import detect, story_language  # noqa: E402
from monitor.tagging import Tagger, parse_taxonomy  # noqa: E402
from monitor.text import guess_lang  # noqa: E402

DATES = ROOT / "tests" / "fixtures" / "dates" / "feed-dates.jsonl"
CORPORA = [
    ROOT.parent / "shared" / "corpus" / n for n in ("dev-stories.jsonl", "realworld-dev.jsonl")
]


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _before(raw: str) -> str | None:
    parsed: Any = feedparser.datetimes._parse_date(raw)
    if parsed is None:
        return None
    try:
        return _iso(datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC))
    except (OverflowError, ValueError, OSError):  # what newsmon's reader did with these
        return None


def _score(rows: list[dict[str, Any]], read: Any) -> dict[str, Any]:
    counts = {"right": 0, "wrong": 0, "dropped": 0}
    wrong: list[str] = []
    for row in rows:
        got = read(row)
        if got == row["utc"]:
            counts["right"] += 1
        elif got is None:
            counts["dropped"] += 1
        else:
            counts["wrong"] += 1
            wrong.append(f"{row['raw'].strip()} -> {got} (want {row['utc']})")
    return {**counts, "wrong_examples": wrong[:12]}


def _counts(score: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in score.items() if k != "wrong_examples"}


def dates() -> dict[str, Any]:
    rows = [json.loads(line) for line in DATES.read_text(encoding="utf-8").splitlines()]
    suites = [r for r in rows if "issue" not in r["source"]]

    def after(r: dict[str, Any]) -> str | None:
        return _iso(parse_date(r["raw"], lang=r.get("lang")))

    return {
        "strings": len(rows),
        "naming_no_instant": sum(r["utc"] is None for r in rows),
        "before_feedparser": _score(rows, lambda r: _before(r["raw"])),
        "after_parse_date": _score(rows, after),
        # The same, for the strings of the three parsers' own test suites only.
        "suites_only": {
            "strings": len(suites),
            "before": _counts(_score(suites, lambda r: _before(r["raw"]))),
            "after": _counts(_score(suites, after)),
        },
    }


def _median_us(fn: Any, items: list[Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            fn(item)
        times.append((time.perf_counter() - start) / len(items) * 1e6)
    return round(statistics.median(times), 1)


def language(rounds: int) -> dict[str, Any]:
    stories = [
        json.loads(line)
        for path in CORPORA
        if path.exists()
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    texts = [f"{s.get('title', '')}\n{s.get('summary', '')}" for s in stories]
    labels = [s.get("lang") for s in stories]
    detected = [story_language(t, None) for t in texts]
    guessed = [guess_lang(t) for t in texts]
    # A feed that declares English: how often the text overrules it, and rightly.
    overruled = [story_language(t, "en") for t in texts]
    topics = ROOT / "config" / "topics.yaml"
    tagger = Tagger(parse_taxonomy(yaml.safe_load(topics.read_text(encoding="utf-8")), str(topics)))
    detect(texts[0])  # load the models once, outside the timing
    return {
        "stories": len(texts),
        "by_label": {lang: labels.count(lang) for lang in sorted({str(x) for x in labels})},
        "detector_right": sum(d == lab for d, lab in zip(detected, labels, strict=True)),
        "detector_none": detected.count(None),
        "guess_lang_right": sum(g == lab for g, lab in zip(guessed, labels, strict=True)),
        "declared_en_kept_for_en": sum(
            o == "en" for o, lab in zip(overruled, labels, strict=True) if lab == "en"
        ),
        "declared_en_overruled_rightly": sum(
            o == lab != "en" for o, lab in zip(overruled, labels, strict=True)
        ),
        "detect_us_per_story": _median_us(detect, texts, rounds),
        # What parse adds per story: the guesser's gate plus the detector.
        "story_language_us_per_story": _median_us(lambda t: story_language(t, "en"), texts, rounds),
        "tagger_us_per_story": _median_us(lambda t: tagger.tag(t, ""), texts, rounds),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(
        json.dumps(
            {"dates": dates(), "language": language(args.rounds)}, ensure_ascii=False, indent=2
        )
    )


if __name__ == "__main__":
    main()
