"""pipeline.fulltext.fetch_articles (pages fetched by fetch.fetch_feeds) against a real HTTP
server on loopback: the feeds' SSRF guard, robots.txt read once per host, a missing robots.txt
meaning everything is allowed, one host's pages paced."""

from __future__ import annotations

from pathlib import Path

from localdev.feedserver import FeedServer
from monitor.pipeline.fulltext import ROBOTS_DISALLOWED, fetch_articles

PAGE = "<html><body><article><p>The quay reopens on Friday.</p></article></body></html>"


def test_private_address_is_refused_without_a_request(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(PAGE, encoding="utf-8")
    with FeedServer(tmp_path) as server:
        (res,) = fetch_articles([server.url_for("a.html")], allow_private=False, host_delay=0)
        assert server.requests == []
    assert not res.ok
    assert res.error is not None
    assert "private address" in res.error


def test_no_robots_txt_allows_all_and_is_asked_once(tmp_path: Path) -> None:
    for name in ("a.html", "b.html"):
        (tmp_path / name).write_text(PAGE, encoding="utf-8")
    with FeedServer(tmp_path) as server:
        urls = [server.url_for("a.html"), server.url_for("b.html"), server.url_for("c.html")]
        a, b, c = fetch_articles(urls, allow_private=True, host_delay=0)
        assert len(server.requests_for("robots.txt")) == 1
    assert a.ok
    assert b.ok
    assert a.body == PAGE.encode()
    assert not c.ok
    assert c.error == "HTTP 404"


def test_robots_txt_rules_for_our_agent(tmp_path: Path) -> None:
    (tmp_path / "robots.txt").write_text(
        "User-agent: newsmon\nDisallow: /drafts/\n\nUser-agent: *\nDisallow: /\n", encoding="utf-8"
    )
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "x.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "a.html").write_text(PAGE, encoding="utf-8")
    with FeedServer(tmp_path) as server:
        a, x = fetch_articles(
            [server.url_for("a.html"), server.url_for("drafts/x.html")],
            allow_private=True,
            host_delay=0,
        )
        assert server.requests_for("drafts/x.html") == []
    assert a.ok
    assert not x.ok
    assert x.error == ROBOTS_DISALLOWED


def test_pages_of_one_host_are_one_host_delay_apart(tmp_path: Path) -> None:
    """The pace, on a fake clock: one host's pages one `host_delay` apart, never together."""
    for name in ("a.html", "b.html", "c.html"):
        (tmp_path / name).write_text(PAGE, encoding="utf-8")
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with FeedServer(tmp_path) as server:
        urls = [server.url_for(n) for n in ("a.html", "b.html", "c.html")]
        results = fetch_articles(
            urls, allow_private=True, host_delay=5.0, sleep=sleep, clock=lambda: now[0]
        )
        paths = [r.path for r in server.requests]
    assert all(r.ok for r in results)
    assert paths == ["/robots.txt", "/a.html", "/b.html", "/c.html"]
    assert slept == [5.0, 5.0, 5.0]  # after robots.txt, then between pages
