"""A wheel of newsmon, installed outside the repository, finds its own files and does its job.

The Docker image builds and installs a wheel (`pip install /opt/newsmon/src[airflow]`), while the
rest of the suite runs an editable install, which hides any file read from the repository rather
than from the package. So this test builds a wheel from the same inputs the Dockerfile copies,
installs it with its runtime dependencies (not the airflow/dev extras) into a fresh virtual
environment in a temporary directory, and runs that environment's `newsmon init` and
`newsmon run --once` from a directory outside the repository against the session's real
Elasticsearch, a local feed server and an SMTP catcher.

Build and install need the package index (PyPI) or uv's cache; when either step fails the test
fails with the tool's own message, it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from tests.factories import hamas_in_turkey_subscriber, three_outlets, write_config

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "tests" / "fixtures" / "feeds"
RESOURCES = ROOT / "monitor" / "resources"
UV = Path(sys.executable).parent / "uv"
# What the Dockerfile copies into /opt/newsmon/src before `pip install`: the wheel is built from
# exactly these, so a file the package needs but the image lacks fails here too.
BUILD_INPUTS = ("pyproject.toml", "README.md", "monitor")
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 300
CLI_TIMEOUT = 180
# Variables that would make the installed copy see the repository or the dev venv instead.
LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    env.update(extra)
    return env


def _run(
    what: str, cmd: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; a timeout or non-zero exit fails the test with the command's own output."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env if env is not None else _clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: no result after {timeout:.0f} s: {' '.join(cmd)}", pytrace=False)
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip())[-3000:]
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{output}", pytrace=False
        )
    return proc


def _copy_build_inputs(dest: Path) -> None:
    dest.mkdir()
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding newsmon installed from a freshly built wheel."""
    if not UV.is_file():
        pytest.fail(f"uv not found at {UV}: install the dev extra (make setup)", pytrace=False)
    base = tmp_path_factory.mktemp("wheel")
    # Building from a copy keeps build/ and *.egg-info out of the working tree, where other
    # runs may be reading them.
    src = base / "src"
    _copy_build_inputs(src)
    dist = base / "dist"
    _run(
        "building the wheel",
        [str(UV), "build", "--wheel", "--out-dir", str(dist), str(src)],
        cwd=base,
        timeout=BUILD_TIMEOUT,
    )
    wheels = sorted(dist.glob("newsmon-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"

    env_dir = base / "venv"
    # This interpreter by path: uv must not go looking for (or downloading) another Python.
    _run(
        "creating the virtual environment",
        [str(UV), "venv", "--python", sys.executable, str(env_dir)],
        cwd=base,
        timeout=INSTALL_TIMEOUT,
    )
    python = env_dir / "bin" / "python"
    _run(
        "installing the wheel",
        [str(UV), "pip", "install", "--python", str(python), str(wheels[0])],
        cwd=base,
        timeout=INSTALL_TIMEOUT,
    )
    return env_dir


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer(FEEDS) as server:
        yield server


def _json_report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no JSON report on stdout; stderr:\n{proc.stderr}"
    report = json.loads(lines[-1])
    assert isinstance(report, dict), report
    return report


def test_dockerfile_builds_from_the_same_inputs() -> None:
    copied = re.findall(
        r"^COPY\s+(?:--\S+\s+)*(.+?)\s+/opt/newsmon/src/\S*$",
        (ROOT / "Dockerfile").read_text(encoding="utf-8"),
        re.M,
    )
    assert sorted(p for line in copied for p in line.split()) == sorted(BUILD_INPUTS)


def test_installed_wheel_finds_its_files(
    venv: Path,
    tmp_path: Path,
    feed_server: FeedServer,
    smtp_server: Any,
    newsmon_env: dict[str, str],
    es_client: Elasticsearch,
    index_prefix: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # A rule that matches, so the installed copy must also find its mail templates.
    cfg = write_config(
        work / "config",
        feeds=three_outlets(feed_server),
        subscribers=[hamas_in_turkey_subscriber()],
    )
    python = venv / "bin" / "python"
    newsmon = venv / "bin" / "newsmon"

    # The package the commands run is the installed one, not the repository's.
    where = _run(
        "locating the installed package",
        [
            str(python),
            "-c",
            "import json, sysconfig, monitor, monitor.resources as r;"
            "print(json.dumps({'file': monitor.__file__,"
            " 'purelib': sysconfig.get_paths()['purelib'],"
            " 'templates': {k: r.index_template(k) for k in r.INDEX_TEMPLATE_KINDS},"
            " 'kibana': r.kibana_saved_objects()}))",
        ],
        cwd=work,
        timeout=CLI_TIMEOUT,
    )
    facts = json.loads(where.stdout)
    module_file = Path(facts["file"]).resolve()
    assert module_file.is_relative_to(Path(facts["purelib"]).resolve()), facts["file"]
    assert module_file.is_relative_to(venv.resolve()), facts["file"]
    assert not module_file.is_relative_to(ROOT), facts["file"]
    # Every shipped resource is in the wheel, byte for byte the repository's single copy.
    for kind, body in facts["templates"].items():
        expected = json.loads((RESOURCES / "elasticsearch" / f"{kind}.json").read_text("utf-8"))
        assert body == expected, kind
    assert facts["kibana"] == (RESOURCES / "kibana" / "newsmon.ndjson").read_text("utf-8")

    env = _clean_env(**newsmon_env, NEWSMON_CONFIG_DIR=str(cfg))
    init = _json_report(
        _run(
            "newsmon init", [str(newsmon), "init", "--json"], cwd=work, timeout=CLI_TIMEOUT, env=env
        )
    )
    assert sorted(init["templates"]) == ["deliveries", "feeds", "stories"], init

    found = es_client.indices.get_index_template(name=f"{index_prefix}-*")["index_templates"]
    templates = {t["name"]: t["index_template"] for t in found}
    assert set(templates) == {f"{index_prefix}-{k}" for k in ("stories", "feeds", "deliveries")}
    shipped = facts["templates"]["stories"]["template"]["mappings"]["properties"]
    installed = templates[f"{index_prefix}-stories"]["template"]["mappings"]["properties"]
    assert installed.keys() == shipped.keys()
    for index in (f"{index_prefix}-feeds", f"{index_prefix}-deliveries"):
        assert es_client.indices.exists(index=index), index
    assert es_client.indices.exists_alias(name=f"{index_prefix}-stories")

    run = _json_report(
        _run(
            "newsmon run --once",
            [str(newsmon), "run", "--once", "--json"],
            cwd=work,
            timeout=CLI_TIMEOUT,
            env=env,
        )
    )
    assert run["poll"]["stories_new"] == 7, run["poll"]  # 3 + 2 + 2 items
    es_client.indices.refresh(index=f"{index_prefix}-stories")
    assert es_client.count(index=f"{index_prefix}-stories")["count"] == 7
    # The mail templates are package data too: an alert rendered and went out.
    assert run["alerts"]["sent"] == 1, run["alerts"]
    assert len(smtp_server.wait_for(1)) == 1
