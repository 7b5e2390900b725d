"""Cost per story of the grouping step (lease + batched look-ups + one decision per pass).

    .venv/bin/python benchmarks/bench_grouping.py --es-url http://127.0.0.1:9200 \
        [--stories 2000 | --feeds 250] [--profile out.prof]

Indexes pending stories under a throw-away prefix, then times `group_pending` over them, and
the same stories' index call for scale. `--stories N`: N synthetic stories from an eleven-word
vocabulary (one in five a reworded copy of an earlier one; every story shares bands with most
others, the worst case for band look-ups). `--feeds N`: the stories of N feeds of 20 entries
from benchmarks/suite.py's generator (what `benchmarks/run` polls), parsed and tagged as a poll
does. Prints JSON: seconds and microseconds per story for each, the look-up requests, and the
`top` functions by cumulative time when `--profile` is given (the pstats file is kept there).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import json
import pstats
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localdev import elasticsearch as local_es  # noqa: E402
from monitor.config import ElasticsearchSettings  # noqa: E402
from monitor.dedupe import annotate  # noqa: E402
from monitor.models import Story  # noqa: E402
from monitor.pipeline.grouping import group_pending  # noqa: E402
from monitor.store import open_store  # noqa: E402

NOW = datetime(2026, 12, 31, 23, 47, tzinfo=UTC)
WORDS = [
    "corridor",
    "harbour",
    "ministry",
    "council",
    "tariff",
    "envoy",
    "summit",
    "border",
    "drought",
    "grain",
    "vote",
]


def stories(n: int, rng: random.Random) -> list[Story]:
    out: list[Story] = []
    for i in range(n):
        if out and i % 5 == 0:
            base = rng.choice(out)
            title, summary = base.title + " update", base.summary
        else:
            title = " ".join(rng.choice(WORDS) for _ in range(7)) + f" {i}"
            summary = " ".join(rng.choice(WORDS) for _ in range(30))
        url = f"https://o{i % 20}.example/{i}"
        s = Story(
            id=f"s{i}",
            feed_id=f"f{i % 20}",
            outlet=f"Outlet {i % 20}",
            url=url,
            canonical_url=url,
            title=title,
            summary=summary,
            fetched_at=NOW - timedelta(seconds=n - i),
        )
        out.append(annotate(dataclasses.replace(s)))
    return out


def feed_stories(feeds: int) -> list[Story]:
    """The stories of `feeds` generated feeds, parsed, annotated and tagged as a poll does."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from suite import generate_feeds, tagged_stories

    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        directory = Path(tmp)
        generate_feeds(directory, feeds, 20, NOW, seed=5)
        return tagged_stories(directory, NOW, base_url="https://bench.example/", default_lang="en")


def _top(path: str, n: int = 25) -> list[dict[str, object]]:
    stats = pstats.Stats(path)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])  # type: ignore[attr-defined]
    return [
        {"function": f"{Path(file).name}:{line}({name})", "calls": nc, "cum_s": round(ct, 2)}
        for (file, line, name), (_cc, nc, _tt, ct, _callers) in rows[:n]
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--stories", type=int, default=2000)
    ap.add_argument("--feeds", type=int, help="generated feeds of 20 entries instead")
    ap.add_argument("--profile", help="write a cProfile of group_pending here")
    args = ap.parse_args()
    prefix = f"bench-{secrets.token_hex(4)}"
    store = open_store(ElasticsearchSettings(url=args.es_url), prefix)
    store.lifecycle.install(NOW)
    batch = feed_stories(args.feeds) if args.feeds else stories(args.stories, random.Random(7))
    n = len(batch)
    t0 = time.perf_counter()
    store.stories.index(batch, now=NOW)
    t1 = time.perf_counter()
    c1 = time.process_time()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    report = group_pending(store, 7, NOW)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    t2 = time.perf_counter()
    c2 = time.process_time()
    grouped = store.stories.get([s.id for s in batch])
    local_es.delete_prefixed(store.es, prefix)
    result: dict[str, object] = {
        "corpus": f"{args.feeds} feeds" if args.feeds else "synthetic",
        "stories": n,
        "index_seconds": round(t1 - t0, 2),
        "index_us_per_story": round((t1 - t0) / n * 1e6),
        "group_seconds": round(t2 - t1, 2),
        "group_us_per_story": round((t2 - t1) / n * 1e6),
        # This process's CPU alone: steadier than the wall time on a shared machine, and
        # what the grouping step's own code costs (the server's share is the difference).
        "group_cpu_us_per_story": round((c2 - c1) / n * 1e6),
        "grouped": report["grouped"],
        "passes": report["passes"],
        "copies": sum(1 for s in grouped if not s.is_primary),
        "clusters": len({s.cluster_id for s in grouped}),
        "events": len({s.event_id for s in grouped}),
        # Equal digests on two code versions: the same clusters and events for the same input.
        "decisions_sha256": hashlib.sha256(
            json.dumps(
                sorted((s.id, s.cluster_id, s.is_primary, s.event_id) for s in grouped)
            ).encode()
        ).hexdigest(),
    }
    if args.profile:
        result["top"] = _top(args.profile)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
