"""Per-story dedupe time with few versus many stories already stored; prints JSON.

    .venv/bin/python benchmarks/bench_dedupe.py [--sizes 1000,100000] [--probes 400]

Synthetic stories (Zipf-distributed pseudo-words, some copies of earlier stories) are stored in
one lookup per size, all first seen inside the dedupe window (the worst case: every stored story
is a candidate source). Then the same probe stories are decided against each lookup, alternating
between lookups probe by probe so machine noise hits every size alike. The figure that matters is
the ratio of per-story times between the largest and the smallest size (target <= 1.5).

The lookup is pluggable: BACKENDS maps a name to a factory returning an object with
`add(story)` plus the `CandidateLookup` methods; an Elasticsearch backend can be registered there.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.dedupe import (  # noqa: E402
    CandidateLookup,
    MemoryLookup,
    annotate,
    apply_decision,
    assign_cluster,
)
from monitor.models import Story  # noqa: E402
from monitor.urls import canonical_url, story_id  # noqa: E402


class StoringLookup(CandidateLookup, Protocol):
    def add(self, story: Story) -> None: ...


BACKENDS: dict[str, Callable[[], StoringLookup]] = {"memory": MemoryLookup}

START = datetime(2025, 1, 1, tzinfo=UTC)
WINDOW = timedelta(days=7)


class Corpus:
    """Deterministic synthetic news: events, and copies of recent events by other outlets."""

    def __init__(self, seed: int = 7, vocab: int = 40_000) -> None:
        self.rnd = random.Random(seed)
        syll = ["ka", "lo", "mer", "tan", "si", "vu", "del", "ra", "no", "pe", "zor", "ti", "an"]
        words: set[str] = set()
        while len(words) < vocab:
            words.add("".join(self.rnd.choice(syll) for _ in range(self.rnd.randint(2, 4))))
        self.words = sorted(words)
        # Zipf-like weights: a few words are very common, as in real text.
        self.cum_weights = list(itertools.accumulate(1.0 / (i + 1) for i in range(vocab)))
        self.events: list[tuple[str, str]] = []
        self.n = 0

    def _text(self, k: int) -> list[str]:
        return self.rnd.choices(self.words, cum_weights=self.cum_weights, k=k)

    def story(self, at: datetime, copy_rate: float = 0.1) -> Story:
        self.n += 1
        outlet = f"outlet-{self.rnd.randint(1, 60)}"
        if self.events and self.rnd.random() < copy_rate:
            title, summary = self.rnd.choice(self.events[-500:])
            t = title.split()
            t[self.rnd.randrange(len(t))] = self.rnd.choice(self.words)
            title = " ".join(t)
            summary = " ".join(summary.split()[: self.rnd.randint(20, 45)])
        else:
            name = self.rnd.choice(self.words).capitalize()
            title = " ".join([name, *self._text(9)])
            summary = " ".join([*self._text(20), name, *self._text(25)]) + "."
            self.events.append((title, summary))
        url = canonical_url(f"https://{outlet}.example/news/{self.n}")
        s = Story(
            id=story_id(url),
            feed_id=outlet,
            outlet=outlet,
            url=url,
            canonical_url=url,
            title=title,
            summary=summary,
            fetched_at=at,
            published=at,
        )
        return s


def _stream(corpus: Corpus, n: int, start: datetime, span: timedelta) -> Iterator[Story]:
    step = span / max(1, n)
    for i in range(n):
        yield corpus.story(start + step * i)


def build(backend: str, corpus: Corpus, size: int) -> tuple[StoringLookup, float]:
    """A lookup holding `size` stories first seen within the last window; returns build seconds."""
    lookup = BACKENDS[backend]()
    t0 = time.perf_counter()
    # Stored stories fill the window right up to the probes' arrival time.
    for s in _stream(corpus, size, START, WINDOW - timedelta(hours=1)):
        annotate(s)
        s.cluster_id = s.id
        lookup.add(s)
    return lookup, time.perf_counter() - t0


def _summary(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "mean_ms": round(statistics.fmean(ms), 4),
        "median_ms": round(statistics.median(ms), 4),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 4),
    }


def run(backend: str, sizes: list[int], probes: int, seed: int) -> dict[str, Any]:
    lookups = {}
    build_s = {}
    for size in sizes:
        lookups[size], build_s[size] = build(backend, Corpus(seed), size)
    probe_corpus = Corpus(seed)
    # Warm the probe corpus with the same events as the stores, so probes include real copies.
    for _ in _stream(probe_corpus, min(sizes), START, WINDOW):
        pass
    arrive = START + WINDOW - timedelta(minutes=30)
    probe_stories = [probe_corpus.story(arrive, copy_rate=0.3) for _ in range(probes)]
    total: dict[int, list[float]] = {n: [] for n in sizes}
    decide: dict[int, list[float]] = {n: [] for n in sizes}
    merged = {n: 0 for n in sizes}
    for s in probe_stories:
        for size in sizes:
            story = Story(**{**s.__dict__, "lsh_bands": [], "title_key": ""})
            t0 = time.perf_counter()
            annotate(story)
            t1 = time.perf_counter()
            d = assign_cluster(story, lookups[size], window_days=WINDOW.days)
            t2 = time.perf_counter()
            apply_decision(story, d)
            total[size].append(t2 - t0)
            decide[size].append(t2 - t1)
            merged[size] += not d.is_primary
    small, large = min(sizes), max(sizes)
    result: dict[str, Any] = {
        "benchmark": "dedupe_per_story",
        "backend": backend,
        "probes": probes,
        "sizes": {
            str(n): {
                "stored": n,
                "build_s": round(build_s[n], 2),
                "annotate_and_assign": _summary(total[n]),
                "assign_only": _summary(decide[n]),
                "probes_joined_a_cluster": merged[n],
            }
            for n in sizes
        },
        "ratio_mean": round(statistics.fmean(total[large]) / statistics.fmean(total[small]), 3),
        "ratio_median": round(
            statistics.median(total[large]) / statistics.median(total[small]), 3
        ),
        "ratio_assign_only_median": round(
            statistics.median(decide[large]) / statistics.median(decide[small]), 3
        ),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="memory", choices=sorted(BACKENDS))
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--probes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    print(json.dumps(run(args.backend, sizes, args.probes, args.seed), indent=2))


if __name__ == "__main__":
    main()
