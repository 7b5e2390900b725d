"""`make up` for real: airflow standalone runs the DAGs on the offline demo and e-mails alerts.

The stack is started by the same code `make up` runs (localdev.stack.up), in a throw-away run
directory on free ports, against the session's Elasticsearch with an index prefix of its own.
After the runs the scheduler starts by itself at start-up have finished, the demo feed server
is told to reveal its next two steps, which bring a story of a new event (a senior Hamas
official on the movement's vote). `newsmon_poll` is then triggered through the REST API with
`force` (every feed, due or not), must succeed, and `newsmon_alerts`, scheduled on the Asset
the poll updates, must deliver exactly one e-mail about that story to the demo subscriber's
mail folder. Then the poll task of that run is cleared: it runs again, the Asset fires again,
`newsmon_alerts` runs again, and no e-mail arrives. Everything started is stopped, also when
the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from elasticsearch import Elasticsearch

from localdev import elasticsearch as local_es
from localdev.celery_stack import free_port
from localdev.stack import AirflowApi, StackConfig, StackError, down, up

pytestmark = [pytest.mark.standalone, pytest.mark.integration, pytest.mark.timeout(900)]

T = TypeVar("T")
TERMINAL = {"success", "failed"}
# The story of step 2 (config/demo/stories.yaml, e3-wire): a new event, so a new alert.
NEW_STORY_TITLE = "Senior Hamas official Osama Hamdan says leadership vote will go ahead"
STEP_1_TITLE = "טורקיה סוגרת את נמליה בפני אוניות שמובילות מטען לישראל"
DEMO_OUTLETS = ("al-manara", "bogaz-gazetesi", "demo-wire", "harbour-times", "yom-yom")


def _eventually(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, StackError):
            found = probe()
            if found:
                return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s", pytrace=False)
        time.sleep(1)


def _subjects(mail_dir: Path) -> dict[str, str]:
    found = {}
    for path in sorted(mail_dir.glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes(), headersonly=True)
        found[path.name] = str(msg["Subject"])
    return found


def _settled(api: AirflowApi) -> bool:
    """The poll ran at least once and no poll or alerts run is queued or running."""
    poll_runs = api.runs("newsmon_poll")
    runs = poll_runs + api.runs("newsmon_alerts")
    return bool(poll_runs) and all(r["state"] in TERMINAL for r in runs)


@pytest.fixture
def stack(
    tmp_path: Path, elasticsearch_url: str, es_client: Elasticsearch
) -> Iterator[tuple[StackConfig, dict[str, Any]]]:
    cfg = StackConfig(
        run_dir=tmp_path / "var",
        es_url=elasticsearch_url,
        smtp_port=free_port(),
        api_port=free_port(),
        demo_port=free_port(),
        # Only step 0 is shown until the test asks for more (SIGUSR1).
        reveal_every=86_400,
        index_prefix=f"t-{secrets.token_hex(4)}",
    )
    try:
        try:
            state = up(cfg)
        except StackError as err:
            pytest.fail(f"the stack did not start: {err}", pytrace=False)
        yield cfg, state
    finally:
        down(cfg.run_dir)
        local_es.delete_prefixed(es_client, cfg.index_prefix)


def test_make_up_polls_alerts_once_and_a_cleared_poll_sends_nothing_again(
    stack: tuple[StackConfig, dict[str, Any]],
) -> None:
    cfg, state = stack
    api = AirflowApi(state["airflow_url"], cfg.run_dir / "airflow")
    mail_dir = cfg.run_dir / "mail"
    assert sorted(api.active_dags()) == [
        "newsmon_alerts",
        "newsmon_digest",
        "newsmon_maintenance",
        "newsmon_poll",
    ]

    # The runs the scheduler starts by itself (the last tick of each schedule) go first.
    _eventually("the start-up runs finished", lambda: _settled(api), 300)
    before = _subjects(mail_dir)
    assert not any(NEW_STORY_TITLE in s for s in before.values())

    # One SIGUSR1 per step, each awaited: two signals sent at once may arrive as one.
    demo_pid = state["pids"]["demofeeds"]
    demo = f"http://127.0.0.1:{cfg.demo_port}"
    for feed, shows in (("yom-yom.xml", STEP_1_TITLE), ("demo-wire.xml", NEW_STORY_TITLE)):
        os.kill(demo_pid, signal.SIGUSR1)

        def revealed(feed: str = feed, shows: str = shows) -> bool:
            return shows in httpx.get(f"{demo}/{feed}", timeout=10).text

        _eventually(f"the demo feed {feed} shows the next step", revealed, 30)

    alerts_before = len(api.runs("newsmon_alerts"))
    run_id = api.trigger("newsmon_poll", {"force": True})
    api.wait_for_run("newsmon_poll", run_id, timeout=300)
    xcom = api.call(
        "GET",
        f"/api/v2/dags/newsmon_poll/dagRuns/{run_id}/taskInstances/feed_batches"
        "/xcomEntries/return_value",
    )
    # force: every demo outlet is polled although each was polled minutes ago.
    raw = xcom["value"]
    batches = json.loads(raw) if isinstance(raw, str) else raw
    assert sorted(f for b in batches for f in b) == sorted(DEMO_OUTLETS)

    def new_mail() -> list[str] | None:
        fresh = [s for n, s in _subjects(mail_dir).items() if n not in before]
        return fresh if any(NEW_STORY_TITLE in s for s in fresh) else None

    fresh = _eventually("the alert e-mail in the mail folder", new_mail, 180)
    assert sum(NEW_STORY_TITLE in s for s in fresh) == 1, fresh
    assert _eventually(
        "newsmon_alerts ran on the Asset",
        lambda: len(api.runs("newsmon_alerts")) > alerts_before and _settled(api),
        120,
    )
    after_first = _subjects(mail_dir)

    # Clear the poll task: it runs again, the Asset fires again, the alerts DAG runs again.
    alerts_before = len(api.runs("newsmon_alerts"))
    cleared = api.clear("newsmon_poll", run_id, ["poll"])
    assert [t["task_id"] for t in cleared] == ["poll"]
    _eventually(
        "the cleared poll ran again and newsmon_alerts after it",
        lambda: len(api.runs("newsmon_alerts")) > alerts_before and _settled(api),
        300,
    )
    rerun = api.call("GET", f"/api/v2/dags/newsmon_poll/dagRuns/{run_id}")
    assert rerun["state"] == "success"
    assert [r["state"] for r in api.runs("newsmon_alerts")][-1] == "success"
    assert _subjects(mail_dir) == after_first
