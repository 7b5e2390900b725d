"""`newsmon search` on a real Elasticsearch: Lucene query, filters, folded spellings, one row per
event, newest first; and `newsmon init` importing the Kibana objects for the test's prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from monitor.models import Story
from monitor.store import SearchRequest, Store
from tests.factories import NOW, make_story
from tests.recorder import RecordingServer

ROOT = Path(__file__).resolve().parents[2]
NEWSMON = Path(sys.executable).parent / "newsmon"
HOUR = timedelta(hours=1)

# Three reports of one event (two outlets in English, one in Turkish), a copy of the first
# report, another event, and a story about something else. Written for this test.
STORIES: list[Story] = [
    make_story(
        "talks-a",
        outlet="Harbour Daily",
        title="Erdoğan and Israeli envoy agree to reopen trade talks",
        summary="The Turkish president met the envoy in Ankara on Tuesday.",
        lang="en",
        published=NOW - 1 * HOUR,
        topics=["turkey_israel"],
        people=["Recep Tayyip Erdogan"],
        places=["Ankara"],
        event_id="talks-a",
        outlets=["Harbour Daily", "Morning Ledger"],
    ),
    make_story(
        "talks-a-copy",
        outlet="Morning Ledger",
        title="Erdoğan and Israeli envoy agree to reopen trade talks",
        summary="The Turkish president met the envoy in Ankara on Tuesday.",
        lang="en",
        published=NOW - 90 * timedelta(minutes=1),
        topics=["turkey_israel"],
        people=["Recep Tayyip Erdogan"],
        cluster_id="talks-a",
        is_primary=False,
        event_id="talks-a",
    ),
    make_story(
        "talks-b",
        outlet="Coastline Post",
        title="Ankara and Israel to resume trade negotiations, says president",
        summary="Erdogan told reporters the two sides would meet again next month.",
        lang="en",
        published=NOW - 3 * HOUR,
        topics=["turkey_israel"],
        people=["Recep Tayyip Erdogan"],
        event_id="talks-a",
    ),
    make_story(
        "talks-tr",
        outlet="Bosphorus Gazette",
        title="Erdoğan'ın İsrail ile ticaret görüşmeleri yeniden başlıyor",
        summary="Cumhurbaşkanı, heyetin Ankara'da bir araya geldiğini söyledi.",
        lang="tr",
        published=NOW - 2 * HOUR,
        topics=["turkey_israel"],
        people=["Recep Tayyip Erdogan"],
        event_id="talks-a",
    ),
    make_story(
        "haniyeh",
        outlet="Harbour Daily",
        title="Haniyeh meets mediators over ceasefire proposal",
        summary="The Hamas political chief held talks with mediators in Doha.",
        lang="en",
        published=NOW - 5 * HOUR,
        topics=["hamas_leadership"],
        people=["Ismail Haniyeh"],
        places=["Doha"],
        event_id="haniyeh",
    ),
    make_story(
        "old-weather",
        outlet="Coastline Post",
        title="Storm [amber warning] closes the coastal road",
        summary="Heavy rain is expected until the weekend.",
        lang="en",
        published=NOW - 40 * 24 * HOUR,
        event_id="old-weather",
    ),
]


@pytest.fixture
def indexed(es_client: Elasticsearch, index_prefix: str) -> Store:
    store = Store(es_client, index_prefix)
    store.lifecycle.install(NOW)
    report = store.stories.index(STORIES, now=NOW)
    assert not report.errors, report.errors
    assert store.stories.apply_groups(STORIES, now=NOW) == []
    # The primary keeps its cluster's outlets, as the grouping step leaves it.
    store.stories.refresh_clusters(["talks-a"])
    store.refresh()
    return store


@pytest.fixture
def cli_env(elasticsearch_url: str, index_prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env |= {
        "NEWSMON_CONFIG_DIR": str(ROOT / "config"),
        "NEWSMON_ES_URL": elasticsearch_url,
        "NEWSMON_INDEX_PREFIX": index_prefix,
        "TZ": "Europe/Istanbul",
        "COLUMNS": "160",
    }
    return env


def search(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSMON), "search", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def search_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = search(env, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert isinstance(result, dict)
    return result


def ids(result: dict[str, Any]) -> list[str]:
    return [h["id"] for h in result["hits"]]


def test_query_finds_folded_spelling_newest_first_with_highlight(
    indexed: Store, cli_env: dict[str, str]
) -> None:
    result = search_json(cli_env, "erdogan")
    # "erdogan" finds the English "Erdoğan", the Turkish "Erdoğan'ın" and the plain "Erdogan".
    assert ids(result) == ["talks-a", "talks-a-copy", "talks-tr", "talks-b"]
    assert result["total"] == 4
    assert result["events"] == 1
    first = result["hits"][0]
    # The folded match is marked in the text people read, accents and suffixes intact.
    assert first["highlight"] == (
        "<mark>Erdoğan</mark> and Israeli envoy agree to reopen trade talks"
    )
    turkish = result["hits"][2]["highlight"]
    assert turkish.startswith("<mark>Erdoğan'ın</mark> İsrail"), turkish
    assert result["hits"][3]["highlight"].startswith("<mark>Erdogan</mark> told reporters")
    assert first["published"] == (NOW - HOUR).isoformat()
    assert result["kibana"] is None  # no Kibana configured


def test_filters_topic_person_language(indexed: Store, cli_env: dict[str, str]) -> None:
    assert ids(search_json(cli_env, "--topic", "hamas_leadership")) == ["haniyeh"]
    # A person is the canonical name; case does not matter.
    assert ids(search_json(cli_env, "--person", "ismail haniyeh")) == ["haniyeh"]
    assert ids(search_json(cli_env, "--lang", "tr")) == ["talks-tr"]
    both = search_json(cli_env, "talks", "--topic", "turkey_israel", "--lang", "en")
    assert ids(both) == ["talks-a", "talks-a-copy"]
    # Lucene syntax on the keyword fields, as in Kibana and alert rules.
    assert ids(search_json(cli_env, 'people:"Ismail Haniyeh" AND ceasefire')) == ["haniyeh"]
    assert search_json(cli_env, "--topic", "no_such_topic")["hits"] == []


def test_unique_shows_one_row_per_event(indexed: Store, cli_env: dict[str, str]) -> None:
    every = search_json(cli_env, "--topic", "turkey_israel")
    assert len(every["hits"]) == 4
    unique = search_json(cli_env, "--topic", "turkey_israel", "--unique")
    [row] = unique["hits"]
    assert row["event_id"] == "talks-a"
    assert row["id"] == "talks-a"  # the newest report stands for the event
    assert row["reports"] == 4
    assert row["outlets"] == [
        "Bosphorus Gazette",
        "Coastline Post",
        "Harbour Daily",
        "Morning Ledger",
    ]
    all_unique = search_json(cli_env, "--unique")
    assert ids(all_unique) == ["talks-a", "haniyeh", "old-weather"]
    assert all_unique["events"] == 3


def test_since_counts_from_publish_time(indexed: Store) -> None:
    # The store call with a fixed cutoff (the CLI's --since counts back from the wall clock).
    recent = indexed.search.run(SearchRequest(since=NOW - timedelta(days=7), unique=True))
    assert [h.id for h in recent.hits] == ["talks-a", "haniyeh"]
    limited = indexed.search.run(SearchRequest(limit=2))
    assert [h.id for h in limited.hits] == ["talks-a", "talks-a-copy"]
    assert limited.total == len(STORIES)


def test_table_keeps_brackets_and_links_to_kibana(
    indexed: Store, cli_env: dict[str, str], index_prefix: str
) -> None:
    env = {**cli_env, "NEWSMON_KIBANA_PUBLIC_URL": "https://kibana.example.org"}
    proc = search(env, "amber", "--limit", "5")
    assert proc.returncode == 0, proc.stderr
    assert "[amber warning]" in proc.stdout  # data is never read as Rich markup
    assert "Coastline Post" in proc.stdout
    # Stored in UTC, shown in the reader's zone (TZ=Europe/Istanbul, UTC+3), short.
    published = (NOW - 40 * 24 * HOUR + 3 * HOUR).strftime("%Y-%m-%d %H:%M")
    assert published in proc.stdout
    link = next(line for line in proc.stdout.splitlines() if line.startswith("Kibana: "))
    assert link.startswith("Kibana: https://kibana.example.org/app/discover#/?_g=")
    assert f"dataViewId:{index_prefix}-stories" in link
    assert "query:'(amber)'" in link
    assert "language:lucene" in link


def test_bad_query_is_one_line_exit_1(indexed: Store, cli_env: dict[str, str]) -> None:
    proc = search(cli_env, 'title:"unclosed')
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "is not valid Lucene syntax" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_init_imports_kibana_objects_for_the_prefix(
    elasticsearch_url: str, index_prefix: str, cli_env: dict[str, str]
) -> None:
    """`newsmon init` with a Kibana URL posts the objects moved to this installation's prefix."""
    with RecordingServer(body=b'{"success": true, "successCount": 14}') as kibana:
        proc = subprocess.run(
            [str(NEWSMON), "init", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**cli_env, "NEWSMON_KIBANA_URL": kibana.url},
            cwd=ROOT,
        )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kibana"] == {"success": True, "imported": 14}
    [req] = kibana.requests
    assert req.method == "POST"
    assert req.path == "/api/saved_objects/_import"
    upload = req.form_parts()["file"].get_payload(decode=True)
    assert isinstance(upload, bytes)
    objs = [json.loads(line) for line in upload.decode().splitlines()]
    assert objs
    assert all(o["id"].startswith(f"{index_prefix}-") for o in objs)
    titles = {o["attributes"]["title"] for o in objs if o["type"] == "index-pattern"}
    assert titles == {f"{index_prefix}-stories*", f"{index_prefix}-feeds"}
