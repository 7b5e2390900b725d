"""benchmarks/run's pure pieces: the feed generator, the config it writes, the JSON verdicts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import suite  # noqa: E402
from suite import (  # noqa: E402
    POLL_PHASES,
    QUICK,
    TARGETS,
    es_endpoint,
    generate_feeds,
    judge,
    phase_owner,
    time_calls,
    write_config,
)

from monitor.config import load_settings  # noqa: E402

NOW = datetime(2026, 12, 31, 23, 47, tzinfo=UTC)


def test_generated_feeds_parse_with_the_asked_sizes(tmp_path: Path) -> None:
    names = generate_feeds(tmp_path, 5, 7, NOW)
    assert names == [f"feed-{i:04d}.xml" for i in range(5)]
    titles = []
    for name in names:
        parsed = feedparser.parse((tmp_path / name).read_bytes())
        assert not parsed.bozo
        assert len(parsed.entries) == 7
        titles += [e.title for e in parsed.entries]
    assert len(set(titles)) > 30  # synthetic text, not one line repeated


def test_generator_is_deterministic(tmp_path: Path) -> None:
    generate_feeds(tmp_path / "a", 3, 4, NOW)
    generate_feeds(tmp_path / "b", 3, 4, NOW)
    for name in ("feed-0000.xml", "feed-0002.xml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_config_dir_loads(tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:9/feed-{i}.xml" for i in range(3)]
    cfg = write_config(tmp_path / "cfg", urls)
    settings = load_settings(cfg, env={"NEWSMON_ALLOW_PRIVATE_FEEDS": "1"})
    assert [f.url for f in settings.feeds] == urls
    assert yaml.safe_load((cfg / "feeds.yaml").read_text())["feeds"][0]["id"] == "bench-0000"


def test_json_lists_every_target_with_its_verdict() -> None:
    figures = {"poll_1000_feeds_s": 25.0, "emails_100_s": 4.0, "ingest_vs_raw_bulk": 0.9}
    out = judge(figures)
    assert set(out["targets"]) == set(TARGETS)
    assert out["targets"]["poll_1000_feeds_s"]["holds"] is False
    assert out["targets"]["emails_100_s"]["holds"] is True
    assert out["targets"]["ingest_vs_raw_bulk"]["holds"] is True
    assert out["targets"]["peak_rss_mb"]["holds"] is None  # not measured: said, not guessed
    assert out["emails_100_s"] == 4.0


def test_quick_mode_is_small() -> None:
    assert QUICK.feeds * QUICK.entries <= 2000


def test_elasticsearch_requests_are_timed_by_their_endpoint() -> None:
    assert es_endpoint("/nm-stories-2026.12/_bulk?refresh=false") == "_bulk"
    assert es_endpoint("/_msearch") == "_msearch"
    assert es_endpoint("/nm-feeds/_doc/feed-1?if_seq_no=3&if_primary_term=1") == "_doc"
    assert es_endpoint("/nm-stories/") == "document"


def test_every_poll_phase_names_a_function_the_poll_calls() -> None:
    # A renamed stage must fail here, not leave a phase silently at zero in the benchmark.
    for module, path, _label in POLL_PHASES:
        owner, name = phase_owner(module, path)
        assert callable(getattr(owner, name)), (module, path)


def test_timed_calls_add_up_under_their_label(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(100))
    # Each reading of the clock one second after the last: every call lasts exactly one.
    monkeypatch.setattr(suite.time, "perf_counter", lambda: float(next(ticks)))

    class Stage:
        @staticmethod
        def run(n: int) -> int:
            return n * 2

    spent: dict[str, float] = {}
    time_calls(Stage, "run", "stage", spent)
    assert Stage.run(2) == 4
    assert spent == {"stage": 1.0}
    Stage.run(3)
    assert spent == {"stage": 2.0}


def test_a_call_can_be_timed_under_a_label_made_from_its_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = iter(range(100))
    monkeypatch.setattr(suite.time, "perf_counter", lambda: float(next(ticks)))

    class Transport:
        def perform_request(self, method: str, target: str) -> str:
            return method

    spent: dict[str, float] = {}
    time_calls(Transport, "perform_request", lambda _t, _m, target: es_endpoint(target), spent)
    assert Transport().perform_request("POST", "/s/_bulk") == "POST"
    Transport().perform_request("GET", "/s/_doc/1")
    Transport().perform_request("POST", "/s/_bulk?refresh=true")
    assert spent == {"_bulk": 2.0, "_doc": 1.0}
