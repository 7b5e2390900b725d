"""`newsmon maintain`, `feeds` and the `run` loop on a real Elasticsearch: tables with readable
columns (no Python dict reprs), short local times, and one timestamped line per loop cycle."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from elasticsearch import Elasticsearch

from monitor.models import FeedState
from monitor.store import Store
from tests.factories import NOW, feed, write_config

ROOT = Path(__file__).resolve().parents[2]
NEWSMON = Path(sys.executable).parent / "newsmon"


def _env(cfg: Path, elasticsearch_url: str, index_prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return env | {
        "NEWSMON_CONFIG_DIR": str(cfg),
        "NEWSMON_ES_URL": elasticsearch_url,
        "NEWSMON_INDEX_PREFIX": index_prefix,
        "NEWSMON_ALLOW_PRIVATE_FEEDS": "true",
        "TZ": "Europe/Istanbul",
        "COLUMNS": "150",
    }


def test_maintain_and_feeds_print_tables(
    tmp_path: Path, es_client: Elasticsearch, elasticsearch_url: str, index_prefix: str
) -> None:
    cfg = write_config(
        tmp_path / "cfg",
        feeds=[feed("wire-a", "http://127.0.0.1:9/a.xml"), feed("wire-b", "http://127.0.0.1:9/b")],
    )
    store = Store(es_client, index_prefix)
    store.lifecycle.install(NOW)
    store.feeds.save(
        [
            FeedState(
                feed_id="wire-a",
                url="http://127.0.0.1:9/a.xml",
                last_polled=NOW,
                last_success=None,
                consecutive_failures=3,
                last_error="HTTP 503 [maintenance window]",
            )
        ]
    )
    env = _env(cfg, elasticsearch_url, index_prefix)
    feeds = subprocess.run(
        [str(NEWSMON), "feeds"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert feeds.returncode == 0, feeds.stderr
    assert "{'" not in feeds.stdout
    assert "[maintenance window]" in feeds.stdout
    # NOW is 23:47 UTC on 31 December: 02:47 on 1 January in Istanbul, shown short.
    assert "2027-01-01 02:47" in feeds.stdout
    assert "+00:00" not in feeds.stdout
    wire_b = next(line for line in feeds.stdout.splitlines() if "wire-b" in line)
    assert wire_b.count("never") == 2

    maintain = subprocess.run(
        [str(NEWSMON), "maintain"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert maintain.returncode == 0, maintain.stderr
    assert "{'" not in maintain.stdout
    assert "unhealthy feeds" in maintain.stdout
    rows = [line for line in maintain.stdout.splitlines() if "wire-" in line]
    assert any("wire-a" in r and "3 failures" in r for r in rows), maintain.stdout
    assert any("wire-b" in r and "never polled" in r for r in rows), maintain.stdout


def test_run_loop_prints_one_timestamped_line_per_cycle(
    tmp_path: Path, elasticsearch_url: str, index_prefix: str
) -> None:
    cfg = write_config(tmp_path / "cfg", feeds=[feed("wire-a", "http://127.0.0.1:9/a.xml")])
    env = _env(cfg, elasticsearch_url, index_prefix)
    proc = subprocess.Popen(
        [str(NEWSMON), "run", "--interval", "1s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    line_re = re.compile(
        r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} polled \d+ feeds \(\d+ failed\), \d+ new stories, "
        r"\d+ copies; alerts \d+ sent, \d+ failed; digests \d+ sent\n$"
    )
    for line in lines:
        assert line_re.match(line), repr(line)
    assert "polled 1 feeds (1 failed)" in lines[0]
