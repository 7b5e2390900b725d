"""Shared fixtures: a real Elasticsearch per test session, a real SMTP catcher per test.

Set ``NEWSMON_TEST_ES_URL`` to run against an already-running Elasticsearch 9.x instead of
starting one. When no server can be fetched or started the fixture fails with the reason: the
integration tests are never skipped silently.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run (derandomize) and have no per-example
# deadline: a result must not depend on the run or on how loaded the machine is. New
# counterexamples are looked for by hand: `pytest --hypothesis-profile=explore tests/unit`.
hypothesis_settings.register_profile("newsmon", derandomize=True, deadline=None)
hypothesis_settings.register_profile("explore", deadline=None, max_examples=1000)
hypothesis_settings.load_profile("newsmon")

REPO_ROOT = Path(__file__).resolve().parent.parent
# localdev/ is a dev-only package at the repository root that is not installed with newsmon;
# make it importable however pytest was launched.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from localdev import elasticsearch as local_es  # noqa: E402
from localdev.mailcatcher import MailCatcher  # noqa: E402

_MARKERS_BY_DIR = {
    "integration": "integration",
    "e2e": "integration",
    "airflow": "airflow",
    "celery": "celery",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests/integration and tests/e2e ``integration``, tests/airflow ``airflow``, tests/celery
    ``celery``; under ``NEWSMON_TEST_SHARD`` keep only that shard of the service tests."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            top = item.path.resolve().relative_to(tests_dir).parts[0]
        except (ValueError, IndexError):
            continue
        marker = _MARKERS_BY_DIR.get(top)
        if marker:
            item.add_marker(marker)
    shard = os.environ.get("NEWSMON_TEST_SHARD")
    if shard:
        kept, dropped = shard_items(items, shard, tests_dir)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


def shard_items(
    items: list[pytest.Item], shard: str, tests_dir: Path
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Split `items` for shard ``"K/N"``: every test in tests/unit, and the K-th of N slices of
    the others (by a stable hash of the test id, so a test stays in its slice from run to run).

    The shifted-clock reruns (localdev/clockshift.py) give each instant one slice: the pure
    tests meet every instant on every run, each service test one instant per run.
    """
    k, sep, n = shard.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise pytest.UsageError(f"NEWSMON_TEST_SHARD={shard!r}: expected K/N with 0 <= K < N")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        pure = item.path.resolve().is_relative_to(tests_dir / "unit")
        mine = zlib.crc32(item.nodeid.encode()) % int(n) == int(k)
        (kept if pure or mine else dropped).append(item)
    return kept, dropped


@contextlib.contextmanager
def _visible_output(config: pytest.Config) -> Iterator[None]:
    """Let the harness's progress lines (download, start) reach the terminal while tests run."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


@pytest.fixture(scope="session")
def elasticsearch_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a real Elasticsearch: ``NEWSMON_TEST_ES_URL`` or a node started for this session."""
    external = os.environ.get("NEWSMON_TEST_ES_URL")
    if external:
        yield external.rstrip("/")
        return
    failure = None
    try:
        with _visible_output(request.config):
            node = local_es.start(name="pytest")
    except local_es.ElasticsearchStartError as err:
        failure = str(err)
    if failure is not None:
        # Outside the except block, so the report shows the reason and not a chained traceback.
        pytest.fail(f"test Elasticsearch could not be started: {failure}", pytrace=False)
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def es_client(elasticsearch_url: str) -> Iterator[Elasticsearch]:
    """An Elasticsearch client on the test server."""
    client = Elasticsearch(elasticsearch_url, request_timeout=30)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def index_prefix(es_client: Elasticsearch) -> Iterator[str]:
    """A prefix unique to this test; its indices and templates are deleted afterwards."""
    prefix = f"t-{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        local_es.delete_prefixed(es_client, prefix)


@pytest.fixture
def smtp_server() -> Iterator[MailCatcher]:
    """A real SMTP server on 127.0.0.1 that keeps every message it receives."""
    with MailCatcher(host="127.0.0.1", port=0) as catcher:
        yield catcher


@pytest.fixture
def newsmon_env(
    elasticsearch_url: str, index_prefix: str, smtp_server: MailCatcher
) -> dict[str, str]:
    """The NEWSMON_* variables pointing the CLI at the test services (merge into os.environ)."""
    return {
        "NEWSMON_ES_URL": elasticsearch_url,
        "NEWSMON_INDEX_PREFIX": index_prefix,
        "NEWSMON_SMTP_HOST": smtp_server.host,
        "NEWSMON_SMTP_PORT": str(smtp_server.port),
        "NEWSMON_SMTP_SECURITY": "none",
        "NEWSMON_MAIL_FROM": "newsmon@example.org",
        "NEWSMON_ALLOW_PRIVATE_FEEDS": "true",
    }
