"""Test data built once: fixed instants (never the wall clock), stories, configuration."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from monitor.alerts import StoryHit
from monitor.models import Story

if TYPE_CHECKING:
    from localdev.feedserver import FeedServer

# The instant tests run "at". It sits at the edge of an hour, a day, a month and a year, so a
# test that quietly depends on the real clock, or on a window that should not cross a boundary,
# fails here instead of in some minutes of some hours.
NOW = datetime(2026, 12, 31, 23, 47, tzinfo=UTC)

REPO_ROOT = Path(__file__).resolve().parent.parent
TOPICS_YAML = REPO_ROOT / "config" / "topics.yaml"

# One entry of feeds.yaml, one alert rule and one subscriber of subscribers.yaml, as YAML data.
FeedEntry = dict[str, object]
RuleEntry = dict[str, str]
SubscriberEntry = dict[str, object]


# ---- stories ---------------------------------------------------------------------------------


def make_story(n_or_id: int | str, *, when: datetime = NOW, **overrides: Any) -> Story:
    """A plain stored story fetched at `when`; any other `Story` field can be overridden.

    An int `n` gives id "id{n}", a string is the id itself; the URL (and, unless given, the
    canonical URL) is https://x.org/{n_or_id}, the title "Title {n_or_id}".
    """
    story_id = f"id{n_or_id}" if isinstance(n_or_id, int) else n_or_id
    url = overrides.pop("url", f"https://x.org/{n_or_id}")
    story = Story(
        id=story_id,
        feed_id="f",
        outlet="Outlet",
        url=url,
        canonical_url=overrides.pop("canonical_url", url),
        title=f"Title {n_or_id}",
        summary="s",
        fetched_at=when,
    )
    return dataclasses.replace(story, **overrides)


def make_hit(n_or_id: int | str, **overrides: Any) -> StoryHit:
    """A story as an alert lists it, its own cluster's primary; ids and URL as `make_story`'s."""
    hit_id = f"id{n_or_id}" if isinstance(n_or_id, int) else n_or_id
    hit = StoryHit(
        id=hit_id,
        cluster_id=hit_id,
        title=f"Title {n_or_id}",
        summary="",
        url=f"https://x.org/{n_or_id}",
        outlet="Outlet",
        published=None,
    )
    return dataclasses.replace(hit, **overrides)


# ---- configuration directories ---------------------------------------------------------------


def feed(feed_id: str, url: str, *, name: str | None = None, **options: object) -> FeedEntry:
    """A feeds.yaml entry; the name defaults to the id in title case ("wire-a" -> "Wire-A").

    `options` are further keys of the entry as written in YAML: interval="15m", enabled=False.
    """
    return {"id": feed_id, "name": name or feed_id.title(), "url": url, **options}


def served_feed(
    server: FeedServer, filename: str, *, feed_id: str | None = None, name: str | None = None
) -> FeedEntry:
    """The feed of one file `server` serves; the id defaults to the file name without ".xml"."""
    return feed(feed_id or filename.removesuffix(".xml"), server.url_for(filename), name=name)


def served_feeds(server: FeedServer, *filenames: str) -> list[FeedEntry]:
    """One feed per file `server` serves, with the default ids and names of `served_feed`."""
    return [served_feed(server, filename) for filename in filenames]


def three_outlets(server: FeedServer) -> list[FeedEntry]:
    """Wire A, Outlet B and Outlet C: fixture feeds of 3 + 2 + 2 items sharing one wire story."""
    return [
        served_feed(server, "wire-a.xml", name="Wire A"),
        served_feed(server, "outlet-b.xml", name="Outlet B"),
        served_feed(server, "outlet-c.xml", name="Outlet C"),
    ]


def instant_rule(query: str, *, name: str = "watch") -> RuleEntry:
    """An alert rule that mails each new matching cluster at once."""
    return {"name": name, "query": query, "mode": "instant"}


def digest_rule(query: str, *, name: str = "digest", every: str = "hourly") -> RuleEntry:
    """An alert rule that mails the matching stories once per slot: "hourly", "daily 07:00"..."""
    return {"name": name, "query": query, "mode": "digest", "digest": every}


def subscriber(
    *alerts: RuleEntry,
    email: str = "analyst@example.org",
    name: str | None = None,
    timezone: str | None = None,
) -> SubscriberEntry:
    """A subscribers.yaml entry with these alert rules; unset keys are left to their defaults."""
    entry: SubscriberEntry = {"email": email}
    if name is not None:
        entry["name"] = name
    if timezone is not None:
        entry["timezone"] = timezone
    entry["alerts"] = list(alerts)
    return entry


def hamas_in_turkey_subscriber() -> SubscriberEntry:
    """The analyst with one instant rule, which the wire story of `three_outlets` matches."""
    return subscriber(
        instant_rule(
            "topics:hamas_leadership AND topics:turkey_israel", name="Hamas leaders in Turkey"
        ),
        name="Analyst",
    )


def write_config(
    cfg: Path,
    *,
    feeds: Sequence[FeedEntry] = (),
    subscribers: Sequence[SubscriberEntry] | None = None,
    default_interval: str | None = None,
    topics: bool = True,
) -> Path:
    """Write a configuration directory at `cfg` (created if needed) and return it.

    feeds.yaml lists `feeds` (with `default_interval` when given); subscribers.yaml is written
    only when `subscribers` is given; topics.yaml is the repository's own unless `topics` is
    False. Files already there are overwritten, so a test can change its configuration.
    """
    cfg.mkdir(parents=True, exist_ok=True)
    if topics:
        if not TOPICS_YAML.exists():
            pytest.fail("config/topics.yaml is missing: the taxonomy ships with the repository")
        shutil.copy(TOPICS_YAML, cfg / "topics.yaml")
    feeds_doc: dict[str, object] = {}
    if default_interval is not None:
        feeds_doc["default_interval"] = default_interval
    feeds_doc["feeds"] = list(feeds)
    _write_yaml(cfg / "feeds.yaml", feeds_doc)
    if subscribers is not None:
        _write_yaml(cfg / "subscribers.yaml", {"subscribers": list(subscribers)})
    return cfg


def _write_yaml(path: Path, doc: object) -> None:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    path.write_text(text, encoding="utf-8")


# ---- Airflow connections ---------------------------------------------------------------------


def airflow_connections(
    *,
    es_url: str | None = None,
    es_ca_certs: str | None = None,
    smtp_host: str | None = None,
    smtp_port: int = 25,
    mail_from: str = "newsmon@example.org",
) -> dict[str, str]:
    """AIRFLOW_CONN_* variables (JSON form) for the Elasticsearch and SMTP connections given.

    The Elasticsearch connection takes host, port (default 9200), scheme and credentials from
    `es_url`; the SMTP one speaks plain SMTP (no SSL, no STARTTLS), as the test catcher does.
    """
    env: dict[str, str] = {}
    if es_url is not None:
        es = urlsplit(es_url)
        conn: dict[str, object] = {
            "conn_type": "elasticsearch",
            "host": es.hostname,
            "port": es.port or 9200,
            "schema": es.scheme,
            "login": es.username,
            "password": es.password,
        }
        if es_ca_certs is not None:
            conn["extra"] = {"ca_certs": es_ca_certs}
        env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"] = json.dumps(conn)
    if smtp_host is not None:
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
            {
                "conn_type": "smtp",
                "host": smtp_host,
                "port": smtp_port,
                "extra": {"from_email": mail_from, "disable_ssl": True, "disable_tls": True},
            }
        )
    return env


# ---- generated feeds -------------------------------------------------------------------------

# Words for generated stories, written for these tests: random sentences over a few hundred
# words share almost no word pairs, so generated stories are unrelated unless copied.
_WORDS = tuple(
    """
    harbour council budget vote river bridge festival museum orchestra library tram winter
    farmers harvest wheat prices exporters shipping port strike union wages teachers schools
    hospital nurses clinic vaccine research university students campus exam rail signals
    airport runway delay storm flooding coast village mayor election ballot turnout coalition
    minister treasury bonds inflation bank lending mortgage housing rents tenants landlords
    court appeal verdict judge jury prosecutor lawyer prison parole police patrol traffic
    cyclists helmet marathon stadium league coach striker goal referee transfer contract
    satellite launch rocket telescope planet comet observatory laboratory chemist enzyme bakery
    market cheese vineyard olive orchard beekeepers honey drought reservoir canal factory
    robots assembly batteries charging grid solar turbine offshore pipeline refinery theatre
    premiere novelist poetry gallery sculptor exhibition auction painting restoration
""".split()  # noqa: SIM905 - a word list reads better as prose
)


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file (a corpus or a fixture), blank lines skipped. A missing
    file fails the test, saying where it was looked for: a test on a corpus never skips."""
    if not path.is_file():
        pytest.fail(f"{path} is missing: the shared corpus must be beside the repository")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def synthetic_text(rng: Any, words: int) -> str:
    """A sentence-like run of random words: unrelated to any other unless copied."""
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def rss_feed(title: str, items: Sequence[dict[str, str]]) -> str:
    """An RSS 2.0 document; each item needs guid, title, link, summary and pubDate."""
    from xml.sax.saxutils import escape

    body = "".join(
        "<item>"
        f"<title>{escape(i['title'])}</title><link>{escape(i['link'])}</link>"
        f'<guid isPermaLink="false">{escape(i["guid"])}</guid>'
        f"<pubDate>{i['pubDate']}</pubDate>"
        f"<description>{escape(i['summary'])}</description>"
        "</item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>generated</description>{body}</channel></rss>"
    )
