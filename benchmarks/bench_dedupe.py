"""Per-story dedupe time with few versus many stories already stored; prints JSON.

    .venv/bin/python benchmarks/bench_dedupe.py [--sizes 1000,100000] [--probes 400]

Synthetic stories (Zipf-distributed pseudo-words, some copies of earlier stories) are stored in
one lookup per size, all first seen inside the dedupe window (the worst case: every stored story
is a candidate source). Then the same probe stories are decided against each lookup, alternating
between lookups probe by probe so machine noise hits every size alike. The figure that matters is
the ratio of per-story times between the largest and the smallest size (target <= 1.5).

The lookup is pluggable: BACKENDS maps a name to a factory returning an object with
`add(story)` plus the `CandidateLookup` methods; an Elasticsearch backend can be registered there.

With events on (the default; `--no-events` skips it) the same probes are also decided to the
end: cluster, then event (`assign_event` against a `MemoryEventLookup` holding the same number
of stories, all inside the event span), and the per-story cost of both levels is compared
between the sizes the same way ("events" in the output).
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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.dedupe import (
    EVENT_SPAN,
    CandidateLookup,
    MemoryEventLookup,
    MemoryLookup,
    annotate,
    assign_cluster,
    assign_event,
)
from monitor.dedupe import (
    clear_caches as clear_caches,  # re-exported: bench_dedupe_es.py wraps it
)
from monitor.dedupe.event_features import clear_event_caches
from monitor.models import Story
from monitor.urls import canonical_url, story_id


class StoringLookup(CandidateLookup, Protocol):
    def add(self, story: Story) -> None: ...


BACKENDS: dict[str, Callable[[], StoringLookup]] = {"memory": MemoryLookup}

START = datetime(2025, 1, 1, tzinfo=UTC)
WINDOW = timedelta(days=7)


class Corpus:
    """Deterministic synthetic news: events, and copies of recent events by other outlets.

    Word frequencies follow Zipf's law. The 100 most frequent words are two or three letters
    long, like real function words (about half of all tokens), so the dedupe filter drops them as
    it drops "the" or "في"; each story also draws a quarter of its words from one of 30 topic
    vocabularies, so stories on one topic share word pairs the way real ones on Gaza or Syria do.
    """

    def __init__(self, seed: int = 7, vocab: int = 40_000, prefix: str = "news") -> None:
        self.rnd = random.Random(seed)
        self.prefix = prefix
        letters = "abdeiklmnorstuvz"
        short: set[str] = set()
        while len(short) < 100:
            short.add("".join(self.rnd.choice(letters) for _ in range(self.rnd.randint(2, 3))))
        syll = ["ka", "lo", "mer", "tan", "si", "vu", "del", "ra", "no", "pe", "zor", "ti", "an"]
        long: set[str] = set()
        while len(long) < vocab:
            long.add("".join(self.rnd.choice(syll) for _ in range(self.rnd.randint(2, 5))))
        self.words = sorted(short) + sorted(long - short)
        self.cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(self.words))))
        pool = self.words[100:]
        self.topics = [self.rnd.sample(pool, 150) for _ in range(30)]
        self.topic_cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(150)))
        self.events: list[tuple[str, str]] = []
        self.n = 0

    def _text(self, k: int, topic: list[str]) -> list[str]:
        general = self.rnd.choices(self.words, cum_weights=self.cum, k=k)
        topical = self.rnd.choices(topic, cum_weights=self.topic_cum, k=k)
        return [t if self.rnd.random() < 0.25 else g for g, t in zip(general, topical, strict=True)]

    def story(
        self, at: datetime, copy_rate: float = 0.1, pool: list[tuple[str, str]] | None = None
    ) -> Story:
        self.n += 1
        outlet = f"outlet-{self.rnd.randint(1, 60)}"
        events = pool if pool is not None else self.events[-500:]
        if events and self.rnd.random() < copy_rate:
            title, summary = self.rnd.choice(events)
            t = title.split()
            t[self.rnd.randrange(len(t))] = self.rnd.choice(self.words)
            title = " ".join(t)
            summary = " ".join(summary.split()[: self.rnd.randint(20, 45)])
        else:
            topic = self.rnd.choice(self.topics)
            name = self.rnd.choice(self.words[100:]).capitalize()
            title = " ".join([name, *self._text(9, topic)])
            summary = " ".join([*self._text(20, topic), name, *self._text(25, topic)]) + "."
            self.events.append((title, summary))
        url = canonical_url(f"https://{outlet}.example/{self.prefix}/{self.n}")
        return Story(
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
    arrive = START + WINDOW - timedelta(minutes=30)
    # Every store ends with the same batch of recent stories (the last two hours), which the
    # probes copy: copies arrive within hours of their original, as in real feeds.
    recent_corpus = Corpus(seed + 1, prefix="recent")
    recent = [
        annotate(recent_corpus.story(arrive - timedelta(hours=2) + timedelta(seconds=30 * i), 0.0))
        for i in range(200)
    ]
    lookups = {}
    build_s = {}
    for size in sizes:
        lookups[size], build_s[size] = build(backend, Corpus(seed), size - len(recent))
        for s in recent:
            s.cluster_id = s.id
            lookups[size].add(s)
    probe_corpus = Corpus(seed + 2, prefix="probe")
    probe_stories = [
        probe_corpus.story(arrive, copy_rate=0.3, pool=recent_corpus.events) for _ in range(probes)
    ]
    total: dict[int, list[float]] = {n: [] for n in sizes}
    decide: dict[int, list[float]] = {n: [] for n in sizes}
    merged = {n: 0 for n in sizes}
    for k, s in enumerate(probe_stories):
        # Alternate which size goes first, and start every decision with cold caches, so that
        # neither order nor a warm cache favours one size.
        for size in sizes if k % 2 == 0 else sizes[::-1]:
            story = replace(s, lsh_bands=[], title_key="")
            clear_caches()
            t0 = time.perf_counter()
            annotate(story)
            t1 = time.perf_counter()
            d = assign_cluster(story, lookups[size], window_days=WINDOW.days)
            t2 = time.perf_counter()
            total[size].append(t2 - t0)
            decide[size].append(t2 - t1)
            merged[size] += not d.is_primary
    small, large = min(sizes), max(sizes)
    return {
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
        "ratio_median": round(statistics.median(total[large]) / statistics.median(total[small]), 3),
        "ratio_assign_only_median": round(
            statistics.median(decide[large]) / statistics.median(decide[small]), 3
        ),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


# ---- events ----------------------------------------------------------------------------------

# Stand-ins for the tagger's entities: a few names every other story carries (like "Israel",
# "Hamas") and many that few stories share.
_COMMON_ENTITIES = ["Israel", "Gaza", "Turkey", "Hamas"]


def _tag(s: Story, rnd: random.Random, names: list[str]) -> Story:
    s.places = rnd.sample(_COMMON_ENTITIES, rnd.randint(0, 2))
    s.people = rnd.sample(names, rnd.randint(0, 2))
    return s


def _decide(story: Story, lookup: MemoryLookup, events: MemoryEventLookup) -> None:
    d = assign_cluster(story, lookup, window_days=WINDOW.days)
    story.cluster_id, story.is_primary = d.cluster_id, d.is_primary
    primary = None if d.is_primary else events.event_of(d.cluster_id)
    if primary is None:
        e = assign_event(story, events)
        story.event_id = e.event_id
    else:
        story.event_id = primary


def run_events(sizes: list[int], probes: int, seed: int) -> dict[str, Any]:
    """Per-story cost of both levels (cluster, then event) against `sizes` stored stories."""
    rnd = random.Random(seed)
    names = [f"Person {i}" for i in range(2000)]
    arrive = START + EVENT_SPAN - timedelta(minutes=30)
    recent_corpus = Corpus(seed + 1, prefix="recent")
    recent = [
        _tag(
            annotate(
                recent_corpus.story(arrive - timedelta(hours=2) + timedelta(seconds=30 * i), 0.0)
            ),
            rnd,
            names,
        )
        for i in range(200)
    ]
    stores: dict[int, tuple[MemoryLookup, MemoryEventLookup]] = {}
    build_s: dict[int, float] = {}
    for size in sizes:
        lookup, events = MemoryLookup(), MemoryEventLookup()
        t0 = time.perf_counter()
        stream = _stream(Corpus(seed), size - len(recent), START, EVENT_SPAN - timedelta(hours=3))
        for s in itertools.chain(stream, recent):
            annotate(s)
            _tag(s, rnd, names)
            s.cluster_id = s.event_id = s.id
            lookup.add(s)
            events.add(s, s.fetched_at)
        build_s[size] = time.perf_counter() - t0
        stores[size] = (lookup, events)
    probe_corpus = Corpus(seed + 2, prefix="probe")
    probe_stories = [
        _tag(probe_corpus.story(arrive, copy_rate=0.3, pool=recent_corpus.events), rnd, names)
        for _ in range(probes)
    ]
    total: dict[int, list[float]] = {n: [] for n in sizes}
    joined = {n: 0 for n in sizes}
    for k, s in enumerate(probe_stories):
        for size in sizes if k % 2 == 0 else sizes[::-1]:
            story = replace(s, lsh_bands=[], title_key="", event_id="", cluster_id="")
            clear_caches()
            clear_event_caches()
            t0 = time.perf_counter()
            annotate(story)
            _decide(story, *stores[size])
            total[size].append(time.perf_counter() - t0)
            joined[size] += story.event_id != story.id
    small, large = min(sizes), max(sizes)
    return {
        "sizes": {
            str(n): {
                "stored": n,
                "build_s": round(build_s[n], 2),
                "annotate_cluster_and_event": _summary(total[n]),
                "probes_joined_an_event": joined[n],
            }
            for n in sizes
        },
        "ratio_mean": round(statistics.fmean(total[large]) / statistics.fmean(total[small]), 3),
        "ratio_median": round(statistics.median(total[large]) / statistics.median(total[small]), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="memory", choices=sorted(BACKENDS))
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--probes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-events", action="store_true", help="measure clusters only")
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    result = run(args.backend, sizes, args.probes, args.seed)
    if not args.no_events:
        result["events"] = run_events(sizes, args.probes, args.seed)
        result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
