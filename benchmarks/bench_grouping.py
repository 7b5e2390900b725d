"""Cost per story of the grouping step (lease + batched look-ups + one decision per pass).

    .venv/bin/python benchmarks/bench_grouping.py --es-url http://127.0.0.1:9200 [--stories 2000]

Indexes `--stories` synthetic pending stories (one in five a reworded copy of an earlier one)
under a throw-away prefix, then times `group_pending` over them, and the same stories' index
call for scale. Prints JSON: seconds and microseconds per story for each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import secrets
import sys
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--stories", type=int, default=2000)
    args = ap.parse_args()
    prefix = f"bench-{secrets.token_hex(4)}"
    store = open_store(ElasticsearchSettings(url=args.es_url), prefix)
    store.lifecycle.install(NOW)
    batch = stories(args.stories, random.Random(7))
    t0 = time.perf_counter()
    store.stories.index(batch, now=NOW)
    t1 = time.perf_counter()
    report = group_pending(store, 7, NOW)
    t2 = time.perf_counter()
    local_es.delete_prefixed(store.es, prefix)
    n = args.stories
    print(
        json.dumps(
            {
                "stories": n,
                "index_seconds": round(t1 - t0, 2),
                "index_us_per_story": round((t1 - t0) / n * 1e6),
                "group_seconds": round(t2 - t1, 2),
                "group_us_per_story": round((t2 - t1) / n * 1e6),
                "grouped": report["grouped"],
                "passes": report["passes"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
