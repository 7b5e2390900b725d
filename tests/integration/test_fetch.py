"""monitor.fetch against a real HTTP server on 127.0.0.1 (localdev.feedserver); no mocks."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.feedserver import FeedServer
from monitor.fetch import FeedRequest, fetch_feeds
from monitor.models import FetchResult
from monitor.parse import parse_feed
from tests.factories import NOW

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    # A copy, so tests may rewrite a feed without touching the fixtures.
    directory = tmp_path_factory.mktemp("feeds")
    for path in FEEDS.iterdir():
        shutil.copy2(path, directory / path.name)
    with FeedServer(directory) as running:
        yield running


@pytest.fixture
def feeds(server: FeedServer) -> FeedServer:
    server.clear_log()
    return server


def fetch_one(url: str, **kwargs: object) -> FetchResult:
    options: dict[str, object] = {"allow_private": True, "timeout": 5.0}
    options.update(kwargs)
    (result,) = fetch_feeds([FeedRequest("f", url)], **options)  # type: ignore[arg-type]
    return result


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_line(error: str | None) -> str:
    assert error, "expected an error"
    assert "\n" not in error
    assert len(error) <= 300
    return error


def test_200_returns_body_and_validators(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("wire-a.xml"))
    assert result.ok
    assert result.error is None
    assert result.status == 200
    assert result.body == (FEEDS / "wire-a.xml").read_bytes()
    assert result.content_type == "application/rss+xml"
    assert result.etag
    assert result.etag.startswith('"')
    assert result.last_modified
    assert result.last_modified.endswith("GMT")
    assert result.not_modified is False
    assert result.final_url == feeds.url_for("wire-a.xml")
    (seen,) = feeds.requests_for("wire-a.xml")
    assert seen.user_agent == "newsmon/0.1 (+https://github.com/newsmon)"
    assert seen.if_none_match is None
    assert seen.if_modified_since is None


def test_fetched_body_parses_into_stories(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("outlet-c.xml"))
    assert result.body is not None
    parsed = parse_feed(
        result.body,
        feed_id="outlet-c",
        outlet="Outlet C",
        base_url=result.final_url or result.url,
        fetched_at=NOW,
        content_type=result.content_type,
    )
    assert parsed.error is None
    assert parsed.warnings == []
    assert len(parsed.stories) == 2


def test_second_request_with_etag_gets_304(feeds: FeedServer) -> None:
    first = fetch_one(feeds.url_for("outlet-b.xml"))
    assert first.ok
    assert first.etag
    request = FeedRequest("b", feeds.url_for("outlet-b.xml"), etag=first.etag)
    (second,) = fetch_feeds([request], allow_private=True)
    assert second.ok
    assert second.not_modified
    assert second.status == 304
    assert second.body is None
    assert second.etag == first.etag
    assert [r.status for r in feeds.requests_for("outlet-b.xml")] == [200, 304]
    assert feeds.requests_for("outlet-b.xml")[1].if_none_match == first.etag


def test_last_modified_alone_gets_304(feeds: FeedServer) -> None:
    first = fetch_one(feeds.url_for("hebrew-he.xml"))
    request = FeedRequest("h", feeds.url_for("hebrew-he.xml"), last_modified=first.last_modified)
    (second,) = fetch_feeds([request], allow_private=True)
    assert second.not_modified
    assert second.status == 304
    # The server omitted nothing, but the state the caller keeps must survive a 304 either way.
    assert second.last_modified == first.last_modified
    seen = feeds.requests_for("hebrew-he.xml")[1]
    assert seen.if_modified_since == first.last_modified
    assert seen.if_none_match is None


def test_changed_feed_is_fetched_again_despite_old_validators(feeds: FeedServer) -> None:
    first = fetch_one(feeds.url_for("arabic-ar.xml"))
    path = feeds.directory / "arabic-ar.xml"
    path.write_bytes(path.read_bytes().replace(b"</feed>", b"<!-- updated --></feed>"))
    # A whole second later than the first version, for Last-Modified's one-second resolution.
    mtime = path.stat().st_mtime + 5
    os.utime(path, (mtime, mtime))
    request = FeedRequest(
        "a", feeds.url_for("arabic-ar.xml"), etag=first.etag, last_modified=first.last_modified
    )
    (second,) = fetch_feeds([request], allow_private=True)
    assert second.ok
    assert not second.not_modified
    assert second.status == 200
    assert second.body is not None
    assert second.body.endswith(b"<!-- updated --></feed>\n")
    assert second.etag != first.etag


@pytest.mark.parametrize("code", [404, 500, 503, 410])
def test_http_errors_are_one_line_failures(feeds: FeedServer, code: int) -> None:
    result = fetch_one(feeds.url_for(f"_/status/{code}"))
    assert not result.ok
    assert result.status == code
    assert assert_one_line(result.error) == f"HTTP {code}"
    assert result.body is None


def test_missing_file_is_http_404(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("no-such-feed.xml"))
    assert (result.ok, result.status, result.error) == (False, 404, "HTTP 404")


def test_hanging_server_times_out(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("_/hang/20"), timeout=0.5)
    assert not result.ok
    assert assert_one_line(result.error) == "timed out after 0.5s"
    # It gave up at its own deadline, not when the server finally answered.
    assert result.elapsed_ms < 20_000


def test_trickling_server_hits_the_overall_deadline(feeds: FeedServer) -> None:
    # A byte every 0.2 s never trips a per-read timeout; only a whole-poll deadline stops it.
    result = fetch_one(feeds.url_for("_/trickle/20"), timeout=1.0)
    assert not result.ok
    assert result.error == "timed out after 1s"
    assert result.elapsed_ms < 20_000


@pytest.mark.parametrize("route", ["big", "big-unsized"])
def test_oversize_body_is_refused(feeds: FeedServer, route: str) -> None:
    result = fetch_one(feeds.url_for(f"_/{route}/300000"), max_bytes=100_000)
    assert not result.ok
    assert result.body is None
    assert assert_one_line(result.error) == "response body larger than 100000 bytes; not read"


def test_body_at_the_cap_is_accepted(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("_/big-unsized/100000"), max_bytes=100_000)
    assert result.ok
    assert result.body is not None
    assert len(result.body) == 100_000


def test_gzip_body_is_decoded(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("_/gzip/outlet-b.xml"))
    assert result.ok
    assert result.body == (FEEDS / "outlet-b.xml").read_bytes()
    (seen,) = feeds.requests_for("_/gzip/outlet-b.xml")
    assert seen.accept_encoding is not None
    assert "gzip" in seen.accept_encoding


def test_redirect_is_followed(feeds: FeedServer) -> None:
    result = fetch_one(feeds.redirect_url(feeds.url_for("wire-a.xml"), code=301))
    assert result.ok
    assert result.status == 200
    assert result.final_url == feeds.url_for("wire-a.xml")
    assert result.body == (FEEDS / "wire-a.xml").read_bytes()


def test_redirect_loop_stops(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("_/redirect-loop/1"))
    assert not result.ok
    assert assert_one_line(result.error).startswith("too many redirects (more than 5)")
    assert len(feeds.requests_for("_/redirect-loop/1")) == 6


def test_private_feed_is_refused_without_any_request(feeds: FeedServer) -> None:
    result = fetch_one(feeds.url_for("wire-a.xml"), allow_private=False)
    assert not result.ok
    assert result.error == (
        "refused: 127.0.0.1 is a private address (loopback; set NEWSMON_ALLOW_PRIVATE_FEEDS=true "
        "to allow)"
    )
    assert feeds.requests == []


def test_redirect_to_a_private_address_is_refused(feeds: FeedServer) -> None:
    # The first hop is exempted by name (as an operator would an intranet host); the redirect
    # then points at another name for the same loopback interface, which must be re-checked.
    target = feeds.url_for("wire-a.xml").replace("127.0.0.1", "localhost")
    result = fetch_one(feeds.redirect_url(target), allow_private=False, allowed_hosts={"127.0.0.1"})
    assert not result.ok
    error = assert_one_line(result.error)
    assert error.startswith("refused: localhost resolves to ")
    assert "a private address (loopback; set NEWSMON_ALLOW_PRIVATE_FEEDS=true" in error
    assert [r.path.split("?")[0] for r in feeds.requests] == ["/_/redirect"]


def test_redirect_to_cloud_metadata_is_refused(feeds: FeedServer) -> None:
    result = fetch_one(
        feeds.redirect_url("http://169.254.169.254/latest/meta-data/"),
        allow_private=False,
        allowed_hosts={"127.0.0.1"},
    )
    assert result.error is not None
    assert result.error.startswith("refused: 169.254.169.254 is a private address (link-local")


def test_redirect_to_another_scheme_is_refused_even_when_private_is_allowed(
    feeds: FeedServer,
) -> None:
    result = fetch_one(feeds.redirect_url("file:///etc/passwd"), allow_private=True)
    assert result.error == "refused: only http and https URLs are fetched, not file:"


def test_closed_port_is_connection_refused() -> None:
    result = fetch_one(f"http://127.0.0.1:{closed_port()}/feed.xml")
    assert not result.ok
    assert result.status is None
    assert assert_one_line(result.error) == "connection refused by 127.0.0.1"


def test_unknown_host_is_a_dns_failure() -> None:
    for allow_private in (True, False):
        result = fetch_one("http://feeds.invalid/rss.xml", allow_private=allow_private)
        assert result.error == "DNS lookup failed for host feeds.invalid"


def test_one_failing_feed_never_stops_the_others(feeds: FeedServer) -> None:
    requests = [
        FeedRequest("good-a", feeds.url_for("wire-a.xml")),
        FeedRequest("http-500", feeds.url_for("_/status/500")),
        FeedRequest("hangs", feeds.url_for("_/hang/20")),
        FeedRequest("closed", f"http://127.0.0.1:{closed_port()}/x.xml"),
        FeedRequest("bad-scheme", "ftp://feeds.example.com/x.xml"),
        FeedRequest("no-dns", "http://feeds.invalid/x.xml"),
        FeedRequest("too-big", feeds.url_for("_/big/500000")),
        FeedRequest("good-b", feeds.url_for("outlet-b.xml")),
        FeedRequest("good-c", feeds.url_for("outlet-c.xml")),
    ]
    results = fetch_feeds(
        requests, allow_private=True, timeout=1.0, max_bytes=100_000, concurrency=3
    )
    assert [r.feed_id for r in results] == [r.feed_id for r in requests]
    outcome = {r.feed_id: r for r in results}
    for good in ("good-a", "good-b", "good-c"):
        assert outcome[good].ok
        assert outcome[good].body
    for bad in ("http-500", "hangs", "closed", "bad-scheme", "no-dns", "too-big"):
        assert not outcome[bad].ok
        assert_one_line(outcome[bad].error)
    assert outcome["hangs"].error == "timed out after 1s"


def test_fetch_feeds_works_inside_a_running_event_loop(feeds: FeedServer) -> None:
    async def caller() -> list[FetchResult]:
        return fetch_feeds([FeedRequest("a", feeds.url_for("wire-a.xml"))], allow_private=True)

    (result,) = asyncio.run(caller())
    assert result.ok
    assert result.body


def test_empty_request_list() -> None:
    assert fetch_feeds([]) == []


def test_a_name_rebound_to_loopback_after_the_check_is_never_connected(
    feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the name answers a public address to the guard, then loopback to whoever
    # asks next. The resolver is the one thing faked here; the feed server is real and must
    # see no request, because the fetch connects to the address the guard checked.
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: object, port: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        if name == "rebind.newsmon.test":
            address = "93.184.215.14" if not answers else "127.0.0.1"
            answers.append(address)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.newsmon.test:{feeds.port}/wire-a.xml"
    result = fetch_one(url, allow_private=False, timeout=3.0)
    assert not result.ok
    assert answers == ["93.184.215.14"]  # looked up once, by the guard
    assert feeds.requests == []
