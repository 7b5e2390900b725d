"""`newsmon feeds import FILE.opml` and `newsmon feeds check URL` as a user runs them: the
installed command, a real configuration directory, a real HTTP server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from localdev.feedserver import FeedServer
from monitor.feeds_cli import feed_id_for
from tests.factories import feed, rss_feed, write_config

NEWSMON = Path(sys.executable).parent / "newsmon"

OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>Reading list</title></head>
  <body>
    <outline text="Coast">
      <outline text="Harbour Times" type="rss" xmlUrl="https://harbour-times.example.org/rss.xml"/>
      <outline text="Inland">
        <outline text="Valley Courier" type="rss" xmlUrl="https://valley.example.net/feed/"/>
        <outline text="Valley Courier" type="rss" xmlUrl="https://valley.example.net/sport/"/>
      </outline>
    </outline>
    <outline text="Known already" type="rss" xmlUrl="HTTPS://Known.example.com/rss/"/>
    <outline text="صحيفة الميناء" type="rss" xmlUrl="https://www.mina.example.com/rss?lang=ar"/>
    <outline text="Gopher hole" type="rss" xmlUrl="gopher://old.example.org/feed"/>
  </body>
</opml>
"""
FEEDS_YAML = """# Our feeds: keep this comment.
default_interval: 10m
feeds:
  # The one we had
  - {id: known, name: Known, url: "https://known.example.com/rss", language: en}
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSMON), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    d = write_config(tmp_path / "cfg")
    (d / "feeds.yaml").write_text(FEEDS_YAML, encoding="utf-8")
    (tmp_path / "list.opml").write_text(OPML, encoding="utf-8")
    return d


def test_import_adds_nested_outlines_skips_duplicates_and_keeps_the_file(cfg: Path) -> None:
    opml = cfg.parent / "list.opml"
    proc = run(["feeds", "import", str(opml), "--config-dir", str(cfg), "--json"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["added"], report["duplicates"], report["invalid"]) == (4, 1, 1)
    actions = {r["url"]: (r["action"], r["id"]) for r in report["feeds"]}
    assert actions["https://valley.example.net/sport/"] == ("added", "valley-courier-2")
    assert actions["https://www.mina.example.com/rss?lang=ar"] == ("added", "mina-example-com")
    assert actions["HTTPS://Known.example.com/rss/"][0] == "duplicate"
    assert actions["gopher://old.example.org/feed"][0] == "invalid"

    text = (cfg / "feeds.yaml").read_text(encoding="utf-8")
    assert text.startswith(FEEDS_YAML)  # comments and the existing entry untouched
    feeds = yaml.safe_load(text)["feeds"]
    assert [f["id"] for f in feeds] == [
        "known",
        "harbour-times",
        "valley-courier",
        "valley-courier-2",
        "mina-example-com",
    ]
    assert run(["config", "check", "--config-dir", str(cfg)]).stderr.count("feeds.yaml") == 0

    again = json.loads(
        run(["feeds", "import", str(opml), "--config-dir", str(cfg), "--json"]).stdout
    )
    assert again["added"] == 0
    assert (cfg / "feeds.yaml").read_text(encoding="utf-8") == text


def test_import_dry_run_writes_nothing(cfg: Path) -> None:
    proc = run(
        ["feeds", "import", str(cfg.parent / "list.opml"), "--config-dir", str(cfg), "--dry-run"]
    )
    assert proc.returncode == 0, proc.stderr
    assert "would add" in proc.stdout
    assert "harbour-times" in proc.stdout
    assert (cfg / "feeds.yaml").read_text(encoding="utf-8") == FEEDS_YAML


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this is not xml", "not a valid OPML file"),
        ("<rss version='2.0'><channel/></rss>", "not a valid OPML file"),
        (None, "cannot read the file"),
    ],
)
def test_import_of_a_bad_file_is_one_line(cfg: Path, content: str | None, expected: str) -> None:
    bad = cfg.parent / "bad.opml"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    proc = run(["feeds", "import", str(bad), "--config-dir", str(cfg)])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert expected in proc.stderr
    assert (cfg / "feeds.yaml").read_text(encoding="utf-8") == FEEDS_YAML


def test_feed_ids_are_safe_and_unique() -> None:
    taken = {"harbour-times"}
    assert feed_id_for("Harbour Times", "https://h.example.org/", taken) == "harbour-times-2"
    assert feed_id_for("Hürriyet Dünya", "https://h.example.org/", set()) == "hurriyet-dunya"
    assert feed_id_for("../../etc", "https://x.example.org/", set()) == "etc"
    assert feed_id_for("", "https://www.news.example.org/rss", set()) == "news-example-org"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    items = [
        {
            "guid": "envoy-1",
            "link": "https://harbour-times.example.org/envoy",
            "title": "Turkish foreign minister calls Israeli envoy over Gaza",
            "summary": "Ankara summoned the ambassador of Israel after the strike.",
            "pubDate": "Mon, 05 Jun 2023 09:00:00 +0000",
        },
        {
            "guid": "tides-2",
            "link": "https://harbour-times.example.org/tides",
            "title": "Spring tide tables published",
            "summary": "The harbour office printed the tables for the season.",
            "pubDate": "2023-xx-05",
        },
    ]
    (root / "harbour.xml").write_text(rss_feed("Harbour Times", items), encoding="utf-8")
    (root / "broken.xml").write_text("<html><body><p>Moved.</p></body></html>", encoding="utf-8")
    with FeedServer(root) as server:
        yield server


def test_check_shows_what_would_be_indexed(tmp_path: Path, served: FeedServer) -> None:
    cfg = write_config(tmp_path / "cfg2", feeds=[feed("x", "https://x.example.org/rss")])
    env = {"NEWSMON_CONFIG_DIR": str(cfg), "NEWSMON_ALLOW_PRIVATE_FEEDS": "true"}
    proc = run(["feeds", "check", served.url_for("harbour.xml"), "--json"], **env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["feed_title"] == "Harbour Times"
    envoy, tides = report["items"]
    assert envoy["topics"] == ["turkey_israel"]
    assert envoy["published"] == "2023-06-05T09:00:00+00:00"
    assert envoy["lang"] == "en"
    assert tides["published"] is None  # a date no parser recognises is not guessed
    assert any("2023-xx-05" in w for w in report["warnings"])

    table = run(["feeds", "check", served.url_for("harbour.xml")], **env, COLUMNS="200")
    assert table.returncode == 0
    assert "Spring tide tables published" in table.stdout
    assert "warnings" in table.stdout


@pytest.mark.parametrize(
    ("path", "expected"),
    [("missing.xml", "HTTP 404"), ("broken.xml", "malformed feed")],
)
def test_check_failure_is_one_line_and_non_zero(
    tmp_path: Path, served: FeedServer, path: str, expected: str
) -> None:
    cfg = write_config(tmp_path / "cfg3", feeds=[feed("x", "https://x.example.org/rss")])
    env = {"NEWSMON_CONFIG_DIR": str(cfg), "NEWSMON_ALLOW_PRIVATE_FEEDS": "true"}
    proc = run(["feeds", "check", served.url_for(path)], **env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert expected in proc.stderr
    assert proc.stdout == ""


def test_check_keeps_the_ssrf_guard(tmp_path: Path, served: FeedServer) -> None:
    cfg = write_config(tmp_path / "cfg4", feeds=[feed("x", "https://x.example.org/rss")])
    proc = run(
        ["feeds", "check", served.url_for("harbour.xml")],
        NEWSMON_CONFIG_DIR=str(cfg),
        NEWSMON_ALLOW_PRIVATE_FEEDS="false",
    )
    assert proc.returncode == 1
    assert "private address" in proc.stderr
    assert served.requests == []


def test_enable_an_unknown_feed_is_one_line_exit_2(cfg: Path) -> None:
    proc = run(["feeds", "enable", "nope", "--config-dir", str(cfg)])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "no feed with id 'nope'" in proc.stderr
