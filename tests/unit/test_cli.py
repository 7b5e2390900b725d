"""The `newsmon` command's contracts: JSON Lines in/out, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from monitor.cli import guarded, unit_errors
from monitor.config import load_settings
from monitor.store import StoreError
from monitor.tagging import TaxonomyError
from tests.factories import feed, write_config
from tests.recorder import RecordingServer

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


# ---- the CLI defects of issue 12 -----------------------------------------------------------


def test_brackets_survive_in_validation_errors(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, feeds=[feed("Bad_ID", "https://x.org/rss")], topics=False)
    proc = run(["config", "check"], NEWSMON_CONFIG_DIR=str(cfg))
    assert proc.returncode == 2
    assert "feeds[0].id: String should match pattern '^[a-z0-9][a-z0-9-]*$'" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_brackets_survive_in_help() -> None:
    proc = run(["init", "--help"])
    assert proc.returncode == 0, proc.stderr
    # Help text wraps at the terminal width: compare with whitespace collapsed.
    assert "[env NEWSMON_CONFIG_DIR, ./config]" in " ".join(proc.stdout.split())
    top = run(["--help"])
    assert "search" in top.stdout
    assert "kibana" in top.stdout


def test_bad_duration_is_one_line_not_a_traceback() -> None:
    for args in (["run", "--interval", "5x"], ["retag", "--since", "soon"]):
        proc = run(args)
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "is not a duration like 30s, 10m, 2h or 1d" in proc.stderr
    assert "--interval: '5x'" in run(["run", "--interval", "5x"]).stderr


def test_another_web_server_at_the_es_url_is_one_short_line() -> None:
    page = (
        b"<!DOCTYPE html>\n<html>\n<head><title>Not Found</title></head>\n<body>\n"
        + b"<p>This is some other web server.</p>\n" * 40
        + b"</body>\n</html>\n"
    )
    for status in (404, 200):
        with RecordingServer(status=status, body=page, content_type="text/html") as web:
            proc = run(["feeds"], NEWSMON_ES_URL=web.url)
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "<html" not in proc.stderr.lower()
        assert f"{web.url} answered HTTP {status} with an HTML page, not Elasticsearch" in (
            proc.stderr
        )
        assert "NEWSMON_ES_URL" in proc.stderr
        assert len(proc.stderr) < 200


def test_version_and_python_dash_m() -> None:
    from importlib.metadata import version

    proc = run(["--version"])
    assert proc.returncode == 0
    assert proc.stdout == f"newsmon {version('newsmon')}\n"
    module = subprocess.run(
        [sys.executable, "-m", "monitor", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert module.returncode == 0, module.stderr
    assert module.stdout == proc.stdout
    config = subprocess.run(
        [sys.executable, "-m", "monitor", "config", "check", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "NEWSMON_CONFIG_DIR": str(ROOT / "config")},
    )
    assert config.returncode == 0, config.stderr
    assert json.loads(config.stdout)["feeds"] >= 10


def test_report_tables_show_records_as_rows_not_dict_reprs() -> None:
    from rich.console import Console

    from monitor.display import report_tables

    report = {
        "dropped_indices": [],
        "compacted_indices": ["newsmon-stories-2026.11"],
        "unhealthy_feeds": [
            {"feed": "wire-a", "problem": "3 failures: HTTP 503 [retry later]"},
            {"feed": "wire-b", "problem": "never polled"},
        ],
        "stuck_deliveries": [],
        "grouping": {"events": 2, "passes": 1},
    }
    console = Console(width=120, record=True, color_system=None)
    console.print(report_tables("Maintenance", report))
    text = console.export_text()
    assert "{'" not in text
    assert "[retry later]" in text
    assert "unhealthy feeds" in text
    assert "wire-b" in text
    assert "never polled" in text
    assert "events: 2, passes: 1" in text


def test_times_are_short_and_local() -> None:
    code = (
        "from monitor.display import local_time, cycle_line\n"
        "from datetime import datetime, UTC\n"
        "print(local_time('2026-12-31T23:47:00+00:00'))\n"
        "print(local_time(None) == '')\n"
        "r = {'poll': {'feeds_polled': 3, 'feeds_failed': 1, 'stories_new': 7,"
        " 'duplicates_clustered': 2}, 'alerts': {'sent': 1, 'failed': []},"
        " 'digests': {'sent': 0}}\n"
        "print(cycle_line(datetime(2026, 12, 31, 23, 47, 5, tzinfo=UTC), r))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "Europe/Istanbul"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "2027-01-01 02:47",
        "True",
        "2027-01-01 02:47:05 polled 3 feeds (1 failed), 7 new stories, 2 copies; "
        "alerts 1 sent, 0 failed; digests 0 sent",
    ]


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


def test_guarded_turns_each_unit_error_into_its_exit_code_and_lets_bugs_through() -> None:
    # `newsmon run`'s loop retries on exactly these (`run_cli._cycle`); a bug is not one.
    settings = load_settings(ROOT / "config")
    assert set(unit_errors().values()) == {1, 2}
    for kind, code in unit_errors().items():

        def boom(kind: type[Exception] = kind) -> None:
            raise kind("away")

        with pytest.raises(typer.Exit) as exit_info:
            guarded(boom, settings)
        assert exit_info.value.exit_code == code, kind
    assert unit_errors()[StoreError] == 1
    assert unit_errors()[TaxonomyError] == 2

    def bug() -> None:
        raise KeyError("not a service error")

    with pytest.raises(KeyError):
        guarded(bug, settings)


def test_a_sigterm_whose_raise_a_finaliser_swallowed_still_stops_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python runs a signal handler at any bytecode, a finaliser's included, and drops what a
    finaliser raises: the loop must still stop at its next check, not run on forever."""
    from monitor import run_cli

    dropped: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    stop = run_cli._Stop()

    class Response:  # as a garbage-collected HTTP response closes itself
        def __del__(self) -> None:
            stop.handle(15, None)

    Response()
    assert dropped == [run_cli._Terminated]
    with pytest.raises(run_cli._Terminated):
        stop.pause(60)  # returns at once: the flag is already set
    with pytest.raises(run_cli._Terminated):
        stop.check()
    # A second SIGTERM while the lease is being released does not interrupt the release.
    stop.handle(15, None)
