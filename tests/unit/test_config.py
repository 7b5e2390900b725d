from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_settings, parse_duration

FEEDS_OK = """
default_interval: 5m
feeds:
  - id: wire-a
    url: https://example.org/rss.xml
    name: Wire A
    interval: 15m
  - id: wire-b
    url: https://example.org/b.xml
    name: Wire B
"""


def make(tmp_path: Path, feeds: str = FEEDS_OK, subscribers: str | None = None) -> Path:
    (tmp_path / "feeds.yaml").write_text(feeds, encoding="utf-8")
    if subscribers is not None:
        (tmp_path / "subscribers.yaml").write_text(subscribers, encoding="utf-8")
    return tmp_path


def test_loads_feeds_and_env(tmp_path: Path) -> None:
    env = {
        "NEWSMON_ES_URL": "https://es.internal:9200",
        "NEWSMON_ES_API_KEY": "k",
        "NEWSMON_INDEX_PREFIX": "nm-test",
        "NEWSMON_SMTP_SECURITY": "tls",
        "NEWSMON_ALLOW_PRIVATE_FEEDS": "true",
    }
    s = load_settings(make(tmp_path), env)
    assert [f.id for f in s.feeds] == ["wire-a", "wire-b"]
    assert s.feeds[0].interval == 900
    assert s.feeds[1].interval is None
    assert s.default_interval == 300
    assert s.es.url == "https://es.internal:9200"
    assert s.es.api_key == "k"
    assert s.index_prefix == "nm-test"
    assert s.smtp.security == "tls"
    assert s.smtp.port == 465
    assert s.allow_private_feeds is True
    assert s.subscribers == []


@pytest.mark.parametrize(
    ("feeds", "expected"),
    [
        ("feeds:\n  - {id: Bad_Id, url: 'https://x.org/', name: X}\n", "feeds.yaml: feeds[0].id:"),
        ("feeds:\n  - {id: a, url: 'ftp://x.org/', name: X}\n", "feeds[0].url: not an http(s) URL"),
        (
            "feeds:\n  - {id: a, url: 'https://x.org/', name: X, interval: soon}\n",
            "feeds[0].interval",
        ),
        (
            "feeds:\n  - {id: a, url: 'https://x.org/', name: X}\n"
            "  - {id: a, url: 'https://y.org/', name: Y}\n",
            "duplicate feed id 'a'",
        ),
        ("feeds:\n  - {id: a, url: 'https://x.org/', name: X, colour: red}\n", "feeds[0].colour"),
        ("feeds: [\n", "invalid YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_feed_errors_are_one_line_naming_file_and_key(
    tmp_path: Path, feeds: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(make(tmp_path, feeds), {})
    msg = str(e.value)
    assert expected in msg
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path / "feeds.yaml"))


@pytest.mark.parametrize(
    ("subs", "expected"),
    [
        ("subscribers:\n  - email: not-an-address\n", "subscribers[0].email"),
        ("subscribers:\n  - email: a@example.org\n    timezone: Mars/Base\n", "unknown time zone"),
        (
            "subscribers:\n  - email: a@example.org\n    alerts:\n"
            "      - {name: x, query: y, mode: digest, digest: 'sometimes'}\n",
            "subscribers[0].alerts[0].digest",
        ),
        (
            "subscribers:\n  - email: a@example.org\n    alerts:\n"
            "      - {name: x, query: y, mode: weekly}\n",
            "subscribers[0].alerts[0].mode",
        ),
        (  # a CR/LF in a name would reach the To and List-Id headers
            'subscribers:\n  - email: a@example.org\n    name: "Desk\\r\\nBcc: x@evil.example"\n',
            "subscribers[0].name: must be one line with no control characters",
        ),
        (
            "subscribers:\n  - email: a@example.org\n    alerts:\n"
            '      - {name: "watch\\nBcc: x@evil.example", query: y}\n',
            "subscribers[0].alerts[0].name",
        ),
    ],
)
def test_subscriber_errors(tmp_path: Path, subs: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"subscribers\.yaml") as e:
        load_settings(make(tmp_path, subscribers=subs), {})
    assert expected in str(e.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"NEWSMON_SMTP_SECURITY": "ssl3"}, "NEWSMON_SMTP_SECURITY"),
        ({"NEWSMON_ALLOW_PRIVATE_FEEDS": "maybe"}, "NEWSMON_ALLOW_PRIVATE_FEEDS"),
        ({"NEWSMON_INDEX_PREFIX": "Bad Prefix"}, "NEWSMON_INDEX_PREFIX"),
        ({"NEWSMON_SMTP_PORT": "twenty-five"}, "NEWSMON_SMTP_PORT"),
    ],
)
def test_env_errors(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(make(tmp_path), env)


def test_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration directory not found"):
        load_settings(tmp_path / "nope", {})
    with pytest.raises(ConfigError, match=r"feeds\.yaml: file not found"):
        load_settings(tmp_path, {})


def test_shipped_configuration_is_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    s = load_settings(root, {})
    assert len(s.feeds) >= 10
    langs = {f.language for f in s.feeds}
    assert {"en", "he", "tr", "ar"} <= langs


def test_example_subscribers_are_valid(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    example = (root / "subscribers.example.yaml").read_text(encoding="utf-8")
    s = load_settings(make(tmp_path, subscribers=example), {})
    assert s.subscribers
    assert all(sub.alerts for sub in s.subscribers)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), (45, 45)]
)
def test_durations(raw: str | int, seconds: int) -> None:
    assert parse_duration(raw) == seconds


def test_check_config_reports_every_problem_one_line_each(tmp_path: Path) -> None:
    from monitor.config import check_config

    cfg = make(
        tmp_path,
        feeds=FEEDS_OK.replace("https://example.org/b.xml", "ftp://example.org/b.xml"),
        subscribers="""
subscribers:
  - email: no-at-sign
    alerts: [{name: a, query: x}]
  - email: desk@example.org
    timezone: Mars/Olympus
    alerts: [{name: b, query: y}]
  - email: ok@example.org
    alerts: [{name: kept, query: z}]
""",
    )
    env = {
        "NEWSMON_ES_URL": "http://127.0.0.1:9200,htp://es2:9200",
        "NEWSMON_KIBANA_URL": "http://:5601",
        "NEWSMON_MAIL_FROM": "newsmon@@example.org",
        "NEWSMON_OPERATOR_EMAIL": "Ops <ops@example.org>",
        "NEWSMON_SMTP_PORT": "70000",
    }
    check = check_config(cfg, env)
    assert all("\n" not in p for p in check.problems)
    assert len(check.problems) == 7, check.problems
    text = "\n".join(check.problems)
    assert "feeds.yaml: feeds[1].url: not an http(s) URL" in text
    assert "subscribers.yaml: subscribers[0].email:" in text
    assert "subscribers.yaml: subscribers[1].timezone: unknown time zone 'Mars/Olympus'" in text
    assert "environment: NEWSMON_ES_URL: 'htp://es2:9200' is not an http(s) URL" in text
    assert "environment: NEWSMON_KIBANA_URL: 'http://:5601' has no host name" in text
    assert "environment: NEWSMON_MAIL_FROM: 'newsmon@@example.org' is not a valid address" in text
    assert "environment: NEWSMON_SMTP_PORT: 70000 is not a port" in text
    # The valid subscriber's rules are still there to be checked.
    assert [s.email for s in check.subscribers] == ["ok@example.org"]
    assert check.settings is None


def test_check_config_loads_settings_when_all_is_well(tmp_path: Path) -> None:
    from monitor.config import check_config

    check = check_config(make(tmp_path), {"NEWSMON_MAIL_FROM": "Desk <desk@example.org>"})
    assert check.problems == []
    assert check.settings is not None
    assert len(check.settings.feeds) == 2


def test_a_bad_service_url_is_reported_without_its_password() -> None:
    from monitor.config import url_problem

    problem = url_problem("ftp://elastic:s3cret@search.example.org:9200")
    assert problem is not None
    assert "s3cret" not in problem
    assert "elastic:***@search.example.org" in problem
