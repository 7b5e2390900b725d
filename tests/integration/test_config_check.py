"""`newsmon config check` against a real Elasticsearch: rule queries go through the
validate-query API, so a query the server would refuse fails the check, one line per rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from monitor import pipeline
from monitor.config import load_settings
from tests.factories import NOW, instant_rule, subscriber, write_config

NEWSMON = Path(sys.executable).parent / "newsmon"


def check(cfg: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSMON), "config", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "NEWSMON_CONFIG_DIR": str(cfg)},
    )


def test_a_broken_query_fails_config_check_with_one_line_naming_subscriber_and_rule(
    tmp_path: Path, newsmon_env: dict[str, str]
) -> None:
    good = [subscriber(instant_rule('people:"Ismail Haniyeh" OR haniyeh', name="Haniyeh"))]
    ok_cfg = write_config(tmp_path / "ok", feeds=[], subscribers=good)
    pipeline.init(load_settings(ok_cfg, newsmon_env), NOW)
    ok = check(ok_cfg, newsmon_env)
    assert ok.returncode == 0, ok.stderr
    assert "elasticsearch" in ok.stdout  # validated by the server, not only parsed

    bad = [
        *good,
        subscriber(
            instant_rule("topics:(hamas_leadership OR", name="Leaders"),
            # Parses as Lucene, but the server cannot turn it into a query on a date field.
            instant_rule("grouped_at:yesterday-ish", name="Dates"),
            email="desk@example.org",
        ),
    ]
    bad_cfg = write_config(tmp_path / "bad", feeds=[], subscribers=bad)
    proc = check(bad_cfg, newsmon_env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert "subscribers[1].alerts[0] (desk@example.org / Leaders): invalid query" in lines[0]
    assert "subscribers[1].alerts[1] (desk@example.org / Dates): invalid query" in lines[1]
    assert "yesterday-ish" in lines[1]
