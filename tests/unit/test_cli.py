"""The `newsmon` command's contracts: JSON Lines in/out, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.factories import feed, write_config

ROOT = Path(__file__).resolve().parents[2]
NEWSMON = Path(sys.executable).parent / "newsmon"


def run(args: list[str], stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSMON), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NEWSMON_CONFIG_DIR": str(ROOT / "config"), **env},
        cwd=ROOT,
    )


def test_tag_keeps_good_lines_and_reports_bad_ones_in_one_line_each() -> None:
    stdin = "\n".join(
        [
            json.dumps({"id": "a", "title": "Haniyeh meets Erdoğan in Istanbul", "summary": ""}),
            "{broken",
            json.dumps({"title": "no id"}),
            json.dumps({"id": "b", "title": "Rain expected in Lisbon", "summary": "Showers."}),
        ]
    )
    proc = run(["tag"], stdin)
    assert proc.returncode == 2
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert set(out[0]) >= {"id", "topics", "people", "orgs", "places", "lang", "evidence"}
    assert "Ismail Haniyeh" in out[0]["people"]
    assert out[1]["topics"] == []
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("line 2: not valid JSON")
    assert errors[1] == "line 3: missing field(s) id"


def test_dedupe_writes_one_cluster_line_per_story() -> None:
    base = {
        "summary": "Ministers met in Ankara on Monday to discuss the new trade corridor "
        "and customs rules for the coming year.",
        "published": "2026-01-05T10:00:00Z",
    }
    recs = [
        {
            "id": "1",
            "url": "https://a.example/x?utm_source=rss",
            "title": "Trade corridor talks",
            "outlet": "A",
            **base,
        },
        {
            "id": "2",
            "url": "https://a.example/x",
            "title": "Trade corridor talks",
            "outlet": "A",
            **base,
        },
        {
            "id": "3",
            "url": "https://c.example/z",
            "title": "Floods in the north",
            "outlet": "C",
            "summary": "Rivers burst their banks.",
            "published": "2026-01-05T11:00:00Z",
        },
    ]
    proc = run(["dedupe"], "\n".join(json.dumps(r) for r in recs))
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out == [
        {"id": "1", "cluster_id": "1", "event_id": "1"},
        {"id": "2", "cluster_id": "1", "event_id": "1"},
        {"id": "3", "cluster_id": "3", "event_id": "3"},
    ]


def test_config_check_passes_on_shipped_config_and_fails_in_one_line(tmp_path: Path) -> None:
    ok = run(["config", "check", "--json"])
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["feeds"] >= 10
    cfg = write_config(tmp_path, feeds=[feed("x", "gopher://x")], topics=False)
    bad = run(["config", "check"], NEWSMON_CONFIG_DIR=str(cfg))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "feeds.yaml: feeds[0].url: not an http(s) URL" in bad.stderr


def test_unreachable_elasticsearch_is_one_line_exit_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(["feeds"], NEWSMON_ES_URL=f"http://127.0.0.1:{port}")
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "cannot reach Elasticsearch" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_check_names_subscriber_and_rule_of_a_broken_query_without_elasticsearch(
    tmp_path: Path,
) -> None:
    from tests.factories import instant_rule, subscriber

    subs = [
        subscriber(
            instant_rule("topics:turkey_israel", name="fine"),
            instant_rule("topics:(hamas_leadership OR", name="Broken one"),
            email="desk@example.org",
        ),
        subscriber(instant_rule('"unclosed phrase', name="Other"), email="b@example.org"),
    ]
    cfg = write_config(tmp_path, feeds=[], subscribers=subs)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(
        ["config", "check"], NEWSMON_CONFIG_DIR=str(cfg), NEWSMON_ES_URL=f"http://127.0.0.1:{port}"
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert "subscribers[0].alerts[1] (desk@example.org / Broken one): invalid query" in lines[0]
    assert "subscribers[1].alerts[0] (b@example.org / Other): invalid query" in lines[1]
