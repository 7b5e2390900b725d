"""Full text for feeds that opted in (`fulltext: true`): fetch each new story's article page,
extract its text as the story's `content`, so tagging and alert rules see the whole article.

Pages are fetched by `monitor.fetch.fetch_feeds`, so they pass the feeds' guards (SSRF check
on every redirect hop, address pinning, time and size caps); this module only decides what
to ask for and when: each host's robots.txt first (read once per poll, RFC 9309: none = all
allowed, unreadable = nothing this poll), then the allowed pages in rounds, at most one request
per host per `host_delay` seconds (or the host's Crawl-delay when longer).

A page that cannot be had (robots.txt says no, timeout, HTTP error, nothing extracted) never
costs the story: it is indexed with its summary and the reason in `content_warning`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from monitor.config import Settings
from monitor.fetch import DEFAULT_USER_AGENT, FeedRequest, fetch_feeds
from monitor.models import FetchResult, Story
from monitor.parse.article import article_text

__all__ = ["ROBOTS_DISALLOWED", "fetch_articles", "fill_content", "read_robots"]

log = logging.getLogger(__name__)

ROBOTS_DISALLOWED = "disallowed by robots.txt"
# A page larger than this is not an article (or not one worth a poll's memory).
_MAX_PAGE_BYTES = 5_000_000


def read_robots(res: FetchResult) -> Any:
    """A host's robots.txt as fetched: its parsed rules (protego), None when the host has none
    (a 4xx: everything allowed), or a one-line reason it could not be read (fetch nothing)."""
    from protego import Protego

    if res.ok and res.body is not None:
        return Protego.parse(res.body.decode("utf-8", "replace"))
    if res.status is not None and 400 <= res.status < 500:
        return None
    return f"robots.txt not readable ({res.error or 'no answer'})"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def fetch_articles(
    urls: Sequence[str],
    *,
    timeout: float = 20.0,
    concurrency: int = 4,
    allow_private: bool = False,
    host_delay: float = 1.0,
    user_agent: str = DEFAULT_USER_AGENT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[FetchResult]:
    """Article pages, one FetchResult per URL in order (never raises per page); a page its
    host's robots.txt forbids is not requested and comes back with ROBOTS_DISALLOWED."""

    def fetch(kind: str, targets: Sequence[str]) -> list[FetchResult]:
        reqs = [FeedRequest(feed_id=kind, url=u) for u in targets]
        return fetch_feeds(
            reqs,
            timeout=timeout,
            max_bytes=_MAX_PAGE_BYTES,
            concurrency=concurrency,
            allow_private=allow_private,
            user_agent=user_agent,
        )

    results: list[FetchResult | None] = [None] * len(urls)
    hosts: dict[str, list[int]] = {}
    for i, url in enumerate(urls):
        hosts.setdefault(_origin(url), []).append(i)
    started = clock()
    robots = fetch("robots.txt", [f"{origin}/robots.txt" for origin in hosts])
    queues: dict[str, list[int]] = {}
    delay: dict[str, float] = {}
    for (origin, indices), res in zip(hosts.items(), robots, strict=True):
        rules = read_robots(res)
        crawl_delay = (
            rules.crawl_delay(user_agent)
            if rules is not None and not isinstance(rules, str)
            else None
        )
        delay[origin] = max(host_delay, float(crawl_delay or 0))
        queues[origin] = []
        for i in indices:
            if isinstance(rules, str) or (
                rules is not None and not rules.can_fetch(urls[i], user_agent)
            ):
                error = rules if isinstance(rules, str) else ROBOTS_DISALLOWED
                results[i] = FetchResult(feed_id="article", url=urls[i], ok=False, error=error)
            else:
                queues[origin].append(i)
    next_at = {origin: started + delay[origin] for origin in hosts}  # robots.txt was one request
    # Rounds: every host whose pause is over gets its next page; hosts never wait on each other.
    while any(queues.values()):
        now = clock()
        ready = [o for o, q in queues.items() if q and next_at[o] <= now]
        if not ready:
            sleep(min(next_at[o] for o, q in queues.items() if q) - now)
            continue
        batch = [(o, queues[o].pop(0)) for o in ready]
        round_start = clock()
        for (origin, i), res in zip(
            batch, fetch("article", [urls[i] for _, i in batch]), strict=True
        ):
            results[i] = res
            next_at[origin] = round_start + delay[origin]
    return [
        r if r is not None else FetchResult("article", u, ok=False)
        for r, u in zip(results, urls, strict=True)
    ]


def fill_content(stories: Sequence[Story], settings: Settings) -> dict[str, Any]:
    """Fetch and extract the article of every story from a full-text feed; returns counts and
    one warning line per story left with its summary only."""
    fulltext = {f.id for f in settings.feeds if f.fulltext}
    wanted = [s for s in stories if s.feed_id in fulltext and s.url]
    report: dict[str, Any] = {"requested": len(wanted), "extracted": 0, "warnings": []}
    if not wanted:
        return report
    pages = fetch_articles(
        [s.url for s in wanted],
        timeout=settings.fetch_timeout,
        concurrency=settings.fetch_concurrency,
        allow_private=settings.allow_private_feeds,
        host_delay=settings.fulltext_host_delay,
    )
    for s, page in zip(wanted, pages, strict=True):
        if page.ok and page.body is not None:
            text = article_text(page.body, page.final_url or s.url)
            if text and len(text) > len(s.content or ""):
                s.content = text
                report["extracted"] += 1
                continue
            s.content_warning = None if text else "full text: nothing article-like on the page"
        else:
            s.content_warning = f"full text: {page.error or 'not fetched'}"
        if s.content_warning:
            report["warnings"].append(f"{s.feed_id}: {s.url}: {s.content_warning}")
    for w in report["warnings"]:
        log.warning("%s", w)
    return report
