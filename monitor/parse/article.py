"""Article pages → the article's own text (no menus, footers or comments), with trafilatura."""

from __future__ import annotations

import logging

__all__ = ["article_text"]

# Characters of article text kept (the same bound as a feed's own content).
_MAX_CHARS = 200_000
# Fewer words than this is a menu or a caption trafilatura fell back to, not an article; the
# feed's summary says as much.
_MIN_WORDS = 25


def article_text(html: bytes, url: str | None = None) -> str | None:
    """The main text of an HTML page, whitespace tidied; None when nothing article-like is there."""
    # Imported here: trafilatura pulls in lxml and its own settings, which a poll of feeds
    # without full text (and every DAG parse) does not need.
    import trafilatura

    # trafilatura logs every page it finds too short at WARNING; the caller records that once.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, favor_precision=True
    )
    if not text:
        return None
    paragraphs = [" ".join(p.split()) for p in text.splitlines()]
    tidy = "\n".join(p for p in paragraphs if p)
    if len(tidy.split()) < _MIN_WORDS:
        return None
    return tidy[:_MAX_CHARS]
