"""The Elasticsearch a benchmark runs against: the one NEWSMON_BENCH_ES_URL names, or a
localdev node started for the run and stopped after it (one helper for every benchmark)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["bench_elasticsearch"]


@contextmanager
def bench_elasticsearch(url: str | None = None) -> Iterator[str]:
    """Yield the URL of an Elasticsearch to benchmark against (`url`, else the environment's,
    else a localdev node started here)."""
    url = url or os.environ.get("NEWSMON_BENCH_ES_URL")
    if url:
        yield url
        return
    from localdev import elasticsearch as local_es

    print(
        "starting a localdev Elasticsearch (set NEWSMON_BENCH_ES_URL to use a running one)",
        file=sys.stderr,
    )
    node = local_es.start(name="bench")
    try:
        yield node.url
    finally:
        node.stop()
