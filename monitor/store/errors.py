"""The one error `store` raises, made in one place from whatever the client raised.

Callers (the pipeline, the CLI, the DAGs) catch `StoreError` and never a class of the
Elasticsearch client: the message is one line that says what failed and what to do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, Protocol, TypeVar

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, UnsupportedProductError
from elasticsearch.helpers import BulkIndexError, ScanError

__all__ = ["StoreError", "translated", "translated_iter"]

P = ParamSpec("P")
R = TypeVar("R")


class StoreError(RuntimeError):
    """Elasticsearch refused a request or could not be reached; the message is one line.

    ``unreachable`` is true when no answer came at all (down, wrong URL, timeout): retrying
    later may help. Otherwise the server answered and refused.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class _HasUrl(Protocol):
    url: str


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe(exc: BaseException, url: str) -> StoreError:
    """The StoreError for a client exception raised while talking to `url`."""
    if isinstance(exc, TransportConnectionError | ConnectionTimeout):
        return StoreError(
            f"cannot reach Elasticsearch at {url}: {type(exc).__name__} "
            "(start it or set NEWSMON_ES_URL)",
            unreachable=True,
        )
    if isinstance(exc, UnsupportedProductError) or (
        isinstance(exc, ApiError) and not isinstance(exc.body, dict)
    ):
        # Another web server (or a proxy's error page) answered: its body may be a whole HTML
        # page, which says nothing useful on one line.
        return StoreError(
            f"{url} answered HTTP {exc.meta.status} with {_what(exc.body)}, not Elasticsearch: "
            "check NEWSMON_ES_URL (host, port, http/https)"
        )
    if isinstance(exc, ApiError):
        reason = exc.message
        if isinstance(exc.body, dict):
            err = exc.body.get("error")
            if isinstance(err, dict):
                causes = err.get("root_cause") or [err]
                reason = str(causes[0].get("reason") or err.get("type") or reason)
        return StoreError(
            f"Elasticsearch at {url} refused the request: {_one_line(reason)} "
            f"({exc.meta.status}); check the server log and NEWSMON_ES_* credentials"
        )
    if isinstance(exc, BulkIndexError | ScanError):
        return StoreError(f"Elasticsearch at {url}: {_one_line(exc)}")
    return StoreError(f"Elasticsearch at {url}: {type(exc).__name__}: {_one_line(exc)}")


def _what(body: object) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        return "an HTML page"
    if not text.strip():
        return "an empty body"
    line = _one_line(text)
    return repr(line[:80] + ("…" if len(line) > 80 else ""))


_CLIENT_ERRORS = (TransportError, ApiError, BulkIndexError, ScanError)


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Turn client exceptions raised by a store method into StoreError (the method's owner
    must have a ``url`` attribute)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except _CLIENT_ERRORS as e:
            owner: _HasUrl = args[0]  # type: ignore[assignment]
            raise describe(e, owner.url) from e

    return wrapper


def translated_iter(method: Callable[P, Iterator[R]]) -> Callable[P, Iterator[R]]:
    """`translated` for generator methods: errors surface while iterating, not at the call."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        owner: _HasUrl = args[0]  # type: ignore[assignment]
        try:
            yield from method(*args, **kwargs)
        except _CLIENT_ERRORS as e:
            raise describe(e, owner.url) from e

    return wrapper
