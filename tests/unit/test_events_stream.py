"""`dedupe_records` over a long mixed stream: no event outgrows its span, groups still score."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.dedupe import EVENT_SPAN, dedupe_records
from monitor.tagging import Tagger, load_taxonomy
from tests.factories import NOW, TOPICS_YAML, jsonl_rows

REALWORLD = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "realworld-dev.jsonl"
START = datetime(2023, 10, 1, tzinfo=UTC)
DAYS = 92


def synthetic_stream(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """Made-up stories over three months: one-off items, and daily roundups from six outlets
    under one fixed title each (the pattern that chained into month-long groups)."""
    rnd = random.Random(seed)
    syll = ["ka", "lo", "mer", "tan", "si", "vu", "del", "ra", "no", "pe", "zor", "ti", "an"]
    vocab = sorted({"".join(rnd.choices(syll, k=rnd.randint(2, 4))) for _ in range(6000)})
    out: list[dict[str, Any]] = []
    roundups = [f"roundup-{k}" for k in range(6)]
    for day in range(DAYS):
        for k, outlet in enumerate(roundups):
            when = START + timedelta(days=day, hours=6 + k)
            out.append(
                {
                    "id": f"{outlet}-{day}",
                    "url": f"https://{outlet}.example/{day}",
                    "outlet": outlet,
                    "published": when.isoformat(),
                    "title": f"Morning briefing {k}: the stories that matter today",
                    "summary": " ".join(rnd.choices(vocab, k=20)),
                    "lang": "en",
                }
            )
    for i in range(n - len(out)):
        when = START + timedelta(seconds=rnd.randrange(DAYS * 86400))
        out.append(
            {
                "id": f"syn-{i}",
                "url": f"https://s{i % 40}.example/{i}",
                "outlet": f"s{i % 40}",
                "published": when.isoformat(),
                "title": " ".join(rnd.choices(vocab, k=9)).capitalize(),
                "summary": " ".join(rnd.choices(vocab, k=24)) + ".",
                "lang": "en",
            }
        )
    return out


def _when(rec: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(rec["published"].replace("Z", "+00:00"))


@pytest.mark.slow
def test_mixed_stream_keeps_spans_and_groups() -> None:
    real = jsonl_rows(REALWORLD)
    stream = sorted(real + synthetic_stream(10_000), key=lambda r: (_when(r), r["id"]))
    tagger = Tagger(load_taxonomy(TOPICS_YAML))
    out = list(dedupe_records(stream, NOW, tagger))
    assert len(out) == len(stream)
    events = {o["id"]: o["event_id"] for o in out}
    members: dict[str, list[datetime]] = defaultdict(list)
    for rec in stream:
        members[events[rec["id"]]].append(_when(rec))
    for eid, times in members.items():
        assert max(times) - min(times) <= EVENT_SPAN, eid
    # The daily roundups are 92 editions each: 92 events, not a chain.
    for k in range(6):
        ids = {events[f"roundup-{k}-{d}"] for d in range(DAYS)}
        assert len(ids) == DAYS
    tp = fp = fn = 0
    for a, b in itertools.combinations(real, 2):
        gold = a["dup_group"] is not None and a["dup_group"] == b["dup_group"]
        pred = events[a["id"]] == events[b["id"]]
        tp += gold and pred
        fn += gold and not pred
        fp += pred and not gold and (a["dup_group"] or b["dup_group"]) is not None
    # Nothing synthetic joins a real event.
    real_ids = {r["id"] for r in real}
    real_events = {events[i] for i in real_ids}
    assert not [o for o in out if o["id"] not in real_ids and o["event_id"] in real_events]
    assert tp / (tp + fp) >= 0.85, (tp, fp, fn)
    assert tp / (tp + fn) >= 0.55, (tp, fp, fn)
