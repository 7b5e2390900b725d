"""The shipped configuration on a machine without internet: every feed fails in one line,
the cycle still completes and the command exits 0."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NEWSMON = Path(sys.executable).parent / "newsmon"


def _online() -> bool:
    try:
        socket.getaddrinfo("www.aljazeera.com", 443)
    except OSError:
        return False
    return True


@pytest.mark.faults  # DNS failures: I/O, not the calendar
def test_shipped_feeds_unreachable_are_reported_one_line_each(
    tmp_path: Path, newsmon_env: dict[str, str]
) -> None:
    if _online():  # this test is about the offline case; it must not poll real sites
        pytest.skip("this machine resolves public hosts: the offline case cannot be shown here")
    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    env = {**os.environ, **newsmon_env, "NEWSMON_CONFIG_DIR": str(cfg)}
    env["NEWSMON_ALLOW_PRIVATE_FEEDS"] = "false"
    env["NEWSMON_FETCH_TIMEOUT"] = "5"
    proc = subprocess.run(
        [str(NEWSMON), "run", "--once", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    feed_ids = [f["id"] for f in yaml.safe_load((cfg / "feeds.yaml").read_text())["feeds"]]
    assert report["poll"]["feeds_polled"] == len(feed_ids)
    assert report["poll"]["feeds_failed"] == len(feed_ids)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("feed ")]
    assert sorted(line.split(":")[0].removeprefix("feed ") for line in lines) == sorted(feed_ids)
    assert "Traceback" not in proc.stderr
