"""`newsmon run --interval`: a second loop on the same index prefix refuses to start; the loop
outlives an Elasticsearch outage and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pytest
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from localdev.faultproxy import FaultProxy
from tests.factories import write_config

NEWSMON = Path(sys.executable).parent / "newsmon"


def _lease_holder(es: Elasticsearch, prefix: str) -> str | None:
    try:
        return str(es.get(index=f"{prefix}-feeds", id="lease:run-loop")["_source"]["holder"])
    except NotFoundError:
        return None
    except ApiError as e:  # the first loop is creating the index: its shard is still starting
        if e.meta.status == 503:
            return None
        raise


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_second_loop_on_one_prefix_refuses_in_one_line(
    tmp_path: Path, newsmon_env: dict[str, str], es_client: Elasticsearch
) -> None:
    cfg = write_config(tmp_path / "cfg", feeds=[])
    env = {**os.environ, **newsmon_env, "NEWSMON_CONFIG_DIR": str(cfg)}
    first = subprocess.Popen(
        [str(NEWSMON), "run", "--interval", "1h", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # The loop is stopped with Ctrl-C (SIGINT) below; a suite started in the background of
        # a non-interactive shell (`make test &`) hands its children SIGINT ignored.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while _lease_holder(es_client, newsmon_env["NEWSMON_INDEX_PREFIX"]) is None:
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first loop never took its lease"
            time.sleep(0.2)
        second = subprocess.run(
            [str(NEWSMON), "run", "--interval", "1h"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert second.stderr.strip().count("\n") == 0
        assert "already works on index prefix" in second.stderr
        # --once is a single cycle, not a loop: it may run beside the loop.
        once = subprocess.run(
            [str(NEWSMON), "run", "--once", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert once.returncode == 0, once.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    # Stopped with Ctrl-C, the loop gives its lease back: a new loop could start at once.
    assert _lease_holder(es_client, newsmon_env["NEWSMON_INDEX_PREFIX"]) is None


class _Lines:
    """A child's stdout or stderr read line by line on a thread, with a deadline per wait."""

    def __init__(self, stream: IO[str]) -> None:
        self._q: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._q.put(line)

    def wait_for(self, needle: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no line with {needle!r} in {timeout} s; saw {self.seen[-5:]}")

    def last(self, n: int) -> list[str]:
        """The last `n` lines read so far, waited for or not: what a failure should show."""
        while not self._q.empty():
            self.seen.append(self._q.get_nowait())
        return self.seen[-n:]


@pytest.mark.timeout(300)
def test_loop_outlives_an_elasticsearch_outage_and_stops_on_sigterm(
    tmp_path: Path, newsmon_env: dict[str, str], es_client: Elasticsearch, elasticsearch_url: str
) -> None:
    cfg = write_config(tmp_path / "cfg", feeds=[])
    prefix = newsmon_env["NEWSMON_INDEX_PREFIX"]
    target = urlsplit(elasticsearch_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 9200) as proxy:
        env = {
            **os.environ,
            **newsmon_env,
            "NEWSMON_ES_URL": proxy.url,
            "NEWSMON_CONFIG_DIR": str(cfg),
        }
        loop = subprocess.Popen(
            [str(NEWSMON), "run", "--interval", "1s", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert loop.stdout is not None
            assert loop.stderr is not None
            out, err = _Lines(loop.stdout), _Lines(loop.stderr)
            assert json.loads(out.wait_for('"at"'))["poll"]["feeds_polled"] == 0
            # Elasticsearch goes away: each cycle says so in one line and the loop goes on.
            proxy.mode = "refuse"
            line = err.wait_for("retrying next cycle")
            assert line.startswith("error:"), line
            assert "Elasticsearch" in line, line
            err.wait_for("retrying next cycle")  # a second failed cycle: still looping
            assert loop.poll() is None
            # Back: cycles run again.
            proxy.mode = "pass"
            after = len(out.seen)
            out.wait_for('"at"')
            assert len(out.seen) > after
            assert _lease_holder(es_client, prefix) is not None
            # A configuration edit that does not parse: the cycle says so and runs with the
            # last good configuration.
            (cfg / "feeds.yaml").write_text("feeds: [unclosed\n", encoding="utf-8")
            assert "feeds.yaml" in err.wait_for("configuration not reloaded")
            after = len(out.seen)
            out.wait_for('"at"')
            assert len(out.seen) > after
            # `docker stop`, systemd and `make down` send SIGTERM: the loop stops at once, says
            # so in one line, exits 0 and gives its lease back (a restart need not wait).
            loop.send_signal(signal.SIGTERM)
            try:
                code = loop.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"no exit 60 s after SIGTERM; its stderr ended {err.last(10)}")
            assert code == 0, err.last(10)
            err.wait_for("stopped (SIGTERM)")
        finally:
            if loop.poll() is None:
                loop.kill()
                loop.wait(timeout=30)
    assert _lease_holder(es_client, prefix) is None
