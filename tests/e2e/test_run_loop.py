"""`newsmon run --interval`: a second loop on the same index prefix refuses to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from elasticsearch import ApiError, Elasticsearch, NotFoundError

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
