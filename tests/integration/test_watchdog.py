"""The dead man's switch (#15): `maintain` tells the operator once when nothing has been
indexed for NEWSMON_STALE_HOURS and once when indexing resumes, on real Elasticsearch and
SMTP, at fixed instants. Two maintainers at once send each e-mail once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import Settings, load_settings
from monitor.pipeline.context import open_store
from tests.factories import NOW, make_story, write_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OPERATOR = "ops@example.org"


def _settings(tmp_path: Path, env: dict[str, str]) -> Settings:
    cfg = write_config(tmp_path / "cfg", feeds=[])
    s = load_settings(cfg, {**env, "NEWSMON_OPERATOR_EMAIL": OPERATOR, "NEWSMON_STALE_HOURS": "6"})
    pipeline.init(s, NOW)
    return s


def _index(s: Settings, story_id: str, at: Any) -> None:
    open_store(s).stories.index([make_story(story_id, when=at)], now=at)


def test_operator_is_told_once_when_indexing_stops_and_once_when_it_resumes(
    tmp_path: Path, newsmon_env: dict[str, str], smtp_server: MailCatcher
) -> None:
    s = _settings(tmp_path, newsmon_env)
    _index(s, "before", NOW)

    quiet = pipeline.maintain(s, now=NOW + timedelta(hours=5))
    assert (quiet["indexing_stale"], quiet["operator_told"]) == (False, None)
    assert smtp_server.messages == []

    silent = [pipeline.maintain(s, now=NOW + timedelta(hours=h)) for h in (7, 8, 30)]
    assert [r["indexing_stale"] for r in silent] == [True, True, True]
    assert [r["operator_told"] for r in silent] == ["stale", None, None]
    [alarm] = smtp_server.wait_for(1)
    assert alarm.rcpt_tos == [OPERATOR]
    assert "no story indexed since 2026-12-31 23:47 UTC" in str(alarm["Subject"])

    _index(s, "after", NOW + timedelta(hours=31))
    back = [pipeline.maintain(s, now=NOW + timedelta(hours=h)) for h in (32, 33)]
    assert [r["operator_told"] for r in back] == ["resumed", None]
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    assert "indexing resumed" in str(mails[1]["Subject"])


def test_two_maintainers_at_once_send_the_stale_alarm_once(
    tmp_path: Path, newsmon_env: dict[str, str], smtp_server: MailCatcher
) -> None:
    s = _settings(tmp_path, newsmon_env)
    _index(s, "before", NOW)
    at = NOW + timedelta(hours=7)
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: pipeline.maintain(s, now=at), range(4)))
    assert sorted(str(r["operator_told"]) for r in reports) == ["None", "None", "None", "stale"]
    assert len(smtp_server.wait_for(1)) == 1
    assert len(smtp_server.wait_for(2, timeout=1.0)) == 1  # and no second copy
