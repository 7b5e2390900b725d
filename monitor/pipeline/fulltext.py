"""Full text for feeds that opted in (`fulltext: true`): fetch each new story's article page,
extract its text as the story's `content`, so tagging and alert rules see the whole article.

A page that cannot be had (robots.txt says no, timeout, HTTP error, nothing extracted) never
costs the story: it is indexed with its summary and the reason in `content_warning`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from monitor.config import Settings
from monitor.fetch import fetch_articles
from monitor.models import Story
from monitor.parse.article import article_text

__all__ = ["fill_content"]

log = logging.getLogger(__name__)

# A page larger than this is not an article (or not one worth a poll's memory).
_MAX_PAGE_BYTES = 5_000_000


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
        max_bytes=_MAX_PAGE_BYTES,
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
