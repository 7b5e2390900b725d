"""Per-story dedupe time against real Elasticsearch with 1,000 vs 100,000 stories indexed.

    .venv/bin/python benchmarks/bench_dedupe_es.py [--sizes 1000,100000] [--probes 200]

The same synthetic corpus and probe procedure as bench_dedupe.py (probes alternate between the
two indices so machine noise hits both alike), but candidates come from the pipeline's own
`monitor.store.BatchLookup`, each probe prefetched as a grouping pass of one story: exact-key
and LSH-band `terms` queries over `{prefix}-stories`. Starts its own Elasticsearch node unless
NEWSMON_BENCH_ES_URL points at one (benchmarks/bench_es.py). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dedupe
from bench_es import bench_elasticsearch
from elasticsearch import Elasticsearch

from localdev import elasticsearch as local_es
from monitor.clock import utcnow
from monitor.dedupe import Candidate
from monitor.models import Story
from monitor.store import Store


class EsBackend:
    """Buffers added stories, bulk-indexes them before the first lookup, then asks ES."""

    def __init__(self, client: Elasticsearch) -> None:
        self.store = Store(client, f"bench-{secrets.token_hex(3)}")
        self.store.lifecycle.install(utcnow())
        self.lookup = self.store.lookup()
        self.pending: list[Story] = []
        self.stored = 0

    def add(self, story: Story) -> None:
        self.pending.append(story)
        if len(self.pending) >= 5000:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            report = self.store.stories.index(self.pending, now=utcnow())
            if report.errors:
                raise RuntimeError(f"indexing failed: {report.errors[0]}")
            # Stored stories are candidates only once grouped, as after a grouping pass.
            errors = self.store.stories.apply_groups(self.pending, now=utcnow())
            if errors:
                raise RuntimeError(f"grouping failed: {errors[0]}")
            self.stored += len(report.created)
            print(
                f"  indexed {self.stored} stories into {self.store.names.prefix}", file=sys.stderr
            )
            self.pending = []
            self.store.refresh()
            self.settle()

    def settle(self) -> None:
        """Wait for background merges to finish: measure the index at rest, not mid-merge."""
        while True:
            stats = self.store.es.nodes.stats(metric="indices", index_metric="merge")
            if all(n["indices"]["merges"]["current"] == 0 for n in stats["nodes"].values()):
                return
            time.sleep(0.5)

    def segments(self) -> int:
        rows = self.store.es.cat.segments(index=self.store.names.stories_pattern, format="json")
        return len(rows)

    # A grouping pass prefetches its stories' candidates (`BatchLookup.prefetch`); here each
    # probe is a pass of one story, asked for what assign_cluster asks next.
    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        self.flush()
        probe = Story(
            id="probe",
            feed_id="probe",
            outlet=outlet,
            url=canonical_url,
            canonical_url=canonical_url,
            guid=guid,
            title="",
            summary="",
            fetched_at=utcnow(),
            title_key=title_key,
            lsh_bands=[],
        )
        self.lookup = self.store.lookup()
        self.lookup.prefetch([probe], {probe.id: probe.fetched_at})
        return self.lookup.exact(canonical_url, guid, title_key, outlet)

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        self.flush()
        probe = Story(
            id="probe",
            feed_id="probe",
            outlet="",
            url="",
            canonical_url="",
            title="",
            summary="",
            fetched_at=since,
            lsh_bands=list(bands),
        )
        self.lookup = self.store.lookup()
        self.lookup.prefetch([probe], {probe.id: since})
        return self.lookup.by_bands(bands, since)

    def drop(self) -> None:
        self.store.es.indices.delete(index=f"{self.store.names.prefix}-*")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))

    with bench_elasticsearch() as url:
        _measure(args, sizes, Elasticsearch(url, request_timeout=120))


def _measure(args: argparse.Namespace, sizes: list[int], client: Elasticsearch) -> None:
    backends: list[EsBackend] = []

    def factory() -> EsBackend:
        backends.append(EsBackend(client))
        return backends[-1]

    bench_dedupe.BACKENDS["elasticsearch"] = factory
    # run() clears caches right before each timed decision: index whatever is still buffered
    # there, so bulk indexing never lands inside a timing.
    clear = bench_dedupe.clear_caches

    def clear_and_flush(*, keep_parsed: bool = False) -> None:
        clear(keep_parsed=keep_parsed)
        for b in backends:
            b.flush()

    bench_dedupe.clear_caches = clear_and_flush
    try:
        result = bench_dedupe.run("elasticsearch", sizes, args.probes, args.seed)
        result["elasticsearch"] = local_es.ES_VERSION
        # Lookups pay per Lucene segment (one term-dictionary probe per band and segment), so
        # the segment counts explain most of the difference between the sizes.
        result["segments"] = {str(b.stored): b.segments() for b in backends}
        print(json.dumps(result, indent=2))
    finally:
        for b in backends:
            b.drop()


if __name__ == "__main__":
    main()
