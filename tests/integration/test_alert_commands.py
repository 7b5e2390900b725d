"""`newsmon alerts preview` and `newsmon mail test` on real Elasticsearch and SMTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import load_settings
from monitor.pipeline.context import open_store
from tests.factories import NOW, instant_rule, make_story, subscriber, write_config

NEWSMON = Path(sys.executable).parent / "newsmon"


def newsmon(args: list[str], cfg: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSMON), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "NEWSMON_CONFIG_DIR": str(cfg)},
    )


def test_preview_lists_what_a_rule_would_send_and_sends_nothing(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    subs = [subscriber(instant_rule("summary:corridor", name="Corridor"))]
    cfg = write_config(tmp_path / "cfg", feeds=[], subscribers=subs)
    s = load_settings(cfg, newsmon_env)
    when = NOW
    pipeline.init(s, when)
    store = open_store(s)
    stories = [
        make_story(n, when=when, summary="A corridor story", cluster_id=f"id{n}") for n in (1, 2)
    ]
    stories.append(make_story(3, when=when, summary="Unrelated", cluster_id="id3"))
    store.stories.index(stories, now=when)
    assert store.stories.apply_groups(stories, now=when) == []
    report = pipeline.preview_alert(s, "Corridor", timedelta(days=2), now=NOW + timedelta(hours=1))
    assert (report["events"], report["would_send"]) == (2, 2)
    assert sorted(m["url"] for m in report["matches"]) == ["https://x.org/1", "https://x.org/2"]
    assert smtp_server.messages == []
    assert store.ledger.list() == []
    # The command itself (its window ends at the wall clock, so only its shape is checked).
    proc = newsmon(["alerts", "preview", "Corridor", "--since", "2d", "--json"], cfg, newsmon_env)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) >= {"rule", "events", "would_send", "matches"}
    unknown = newsmon(["alerts", "preview", "Nope"], cfg, newsmon_env)
    assert unknown.returncode == 2
    assert "no alert rule named 'Nope' (rules: Corridor)" in unknown.stderr


def test_mail_test_sends_one_message_and_refuses_a_bad_address(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    cfg = write_config(tmp_path / "cfg", feeds=[])
    proc = newsmon(["mail", "test", "desk@example.org", "--json"], cfg, newsmon_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sent_to"] == "desk@example.org"
    [msg] = smtp_server.wait_for(1)
    assert msg.rcpt_tos == ["desk@example.org"]
    assert str(msg["From"]) == "newsmon alerts <newsmon@example.org>"
    bad = newsmon(["mail", "test", "not-an-address"], cfg, newsmon_env)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
