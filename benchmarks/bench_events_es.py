"""Per-story cost of the grouping step's decisions with events on, against real Elasticsearch
holding 1,000 vs 100,000 grouped stories; prints JSON.

    NEWSMON_BENCH_ES_URL=http://127.0.0.1:9200 .venv/bin/python benchmarks/bench_events_es.py \
        [--sizes 1000,100000] [--passes 8] [--pass-size 50]

The stored stories and the probes come from bench_dedupe.py's synthetic corpus (Zipf words,
topic vocabularies, tagger stand-in entities), all inside the event span, the probes one in
three a reworded copy of a recent story. Each size lives under its own prefix. A pass of
`--pass-size` new probes goes through `decide_groups` exactly as a grouping pass does (cluster
and event look-ups prefetched in `_msearch` requests, decisions in memory; nothing is written),
alternating between the sizes pass by pass so machine noise hits both alike. The figure that
matters is `ratio_median` (100,000 ÷ 1,000 per-story time; target ≤ 1.5). Starts its own node
unless NEWSMON_BENCH_ES_URL points at one.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dedupe
from bench_es import bench_elasticsearch
from elasticsearch import Elasticsearch, helpers

from localdev import elasticsearch as local_es
from monitor.dedupe import EVENT_SPAN, annotate, clear_caches
from monitor.dedupe.event_features import clear_event_caches
from monitor.models import Story
from monitor.pipeline.grouping import decide_groups
from monitor.store import Store
from monitor.store.documents import group_fields, story_to_doc


def _stored(size: int, seed: int, names: list[str], recent: list[Story]) -> list[Story]:
    """`size` stories inside the event span, ending with the same `recent` ones in every size
    (the probes copy those: copies arrive within hours of their original)."""
    rnd = random.Random(seed)
    corpus = bench_dedupe.Corpus(seed)
    span = EVENT_SPAN - timedelta(hours=3)
    out = []
    for s in bench_dedupe._stream(corpus, size - len(recent), bench_dedupe.START, span):
        annotate(s)
        bench_dedupe._tag(s, rnd, names)
        out.append(s)
    for s in [*out, *recent]:
        s.cluster_id = s.event_id = s.id
    return [*out, *recent]


def _index(store: Store, stories: list[Story]) -> float:
    t0 = time.perf_counter()
    now = bench_dedupe.START + EVENT_SPAN
    actions = (
        {
            "_index": store.names.stories_for(s.fetched_at),
            "_id": s.id,
            "_source": story_to_doc(s, now) | group_fields(s, now),
        }
        for s in stories
    )
    _ok, errors = helpers.bulk(store.es, actions, chunk_size=2000, raise_on_error=False)
    if errors:
        raise RuntimeError(f"indexing failed: {str(errors)[:300]}")
    store.es.indices.refresh(index=store.names.stories)
    store.es.indices.forcemerge(index=store.names.stories, max_num_segments=1)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--passes", type=int, default=8)
    ap.add_argument("--pass-size", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    with bench_elasticsearch() as url:
        _measure(args, sizes, Elasticsearch(url, request_timeout=300))


def _measure(args: argparse.Namespace, sizes: list[int], client: Elasticsearch) -> None:
    names = [f"Person {i}" for i in range(2000)]
    stores: dict[int, Store] = {}
    result: dict[str, Any] = {"sizes": {}}
    try:
        arrive = bench_dedupe.START + EVENT_SPAN - timedelta(minutes=30)
        recent_corpus = bench_dedupe.Corpus(args.seed + 1, prefix="recent")
        rnd = random.Random(args.seed + 1)
        recent = [
            bench_dedupe._tag(
                annotate(recent_corpus.story(arrive - timedelta(hours=2, seconds=-30 * i), 0.0)),
                rnd,
                names,
            )
            for i in range(200)
        ]
        for size in sizes:
            _progress(f"building and indexing {size:,} grouped stories")
            store = stores[size] = Store(client, f"bench-{secrets.token_hex(3)}")
            store.lifecycle.install(bench_dedupe.START)
            stored = _stored(size, args.seed, names, [replace(s) for s in recent])
            result["sizes"][str(size)] = {"index_s": round(_index(store, stored), 1)}
        probe_corpus = bench_dedupe.Corpus(args.seed + 2, prefix="probe")
        times: dict[int, list[float]] = {n: [] for n in sizes}
        joined = {n: 0 for n in sizes}
        searches = {n: 0 for n in sizes}
        for k in range(args.passes):
            _progress(f"pass {k + 1}/{args.passes} of {args.pass_size} probes at every size")
            batch = [
                bench_dedupe._tag(
                    probe_corpus.story(arrive, copy_rate=0.3, pool=recent_corpus.events), rnd, names
                )
                for _ in range(args.pass_size)
            ]
            for size in sizes if k % 2 == 0 else sizes[::-1]:
                stories = [replace(s, lsh_bands=[], title_key="", event_id="") for s in batch]
                clear_caches()
                clear_event_caches()
                store = stores[size]
                lookup, events = store.lookup(), store.event_lookup()
                t0 = time.perf_counter()
                decide_groups(stories, lookup, 7, events)
                times[size].append((time.perf_counter() - t0) / len(stories))
                joined[size] += sum(1 for s in stories if s.event_id != s.id)
                searches[size] += lookup.searches + events.searches
        for n in sizes:
            us = [t * 1e6 for t in times[n]]
            result["sizes"][str(n)] |= {
                "per_story_us_median": round(statistics.median(us)),
                "per_story_us_mean": round(statistics.fmean(us)),
                "probes_joined_an_event": joined[n],
                "sub_searches_per_story": round(searches[n] / (args.passes * args.pass_size), 2),
            }
        small, large = min(sizes), max(sizes)
        result["ratio_median"] = round(
            statistics.median(times[large]) / statistics.median(times[small]), 3
        )
        result["target_ratio"] = 1.5
        result["elasticsearch"] = local_es.ES_VERSION
        print(json.dumps(result, indent=2))
    finally:
        for store in stores.values():
            local_es.delete_prefixed(client, store.names.prefix)


def _progress(message: str) -> None:
    print(f"[bench_events_es {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
