"""Leases in Elasticsearch: one holder at a time for a named job, across processes and hosts.

A lease is a document ``lease:{name}`` in ``{prefix}-feeds``. Taking a free lease is a
``create`` (only one writer can win); taking an expired one, renewing and releasing are
compare-and-set writes on its sequence number. A holder that dies loses the lease when it
expires, so nothing waits forever. Used for the grouping step (stories are grouped by one
process at a time, so concurrent polls cannot split a group) and for `newsmon run --interval`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from monitor.store.documents import iso, parse_dt
from monitor.store.errors import StoreError, translated
from monitor.store.names import IndexNames

__all__ = ["LeaseBusy", "Leases"]


class LeaseBusy(StoreError):
    """Another holder has the lease and did not give it up in time."""


class Leases:
    def __init__(
        self, client: Elasticsearch, names: IndexNames, url: str, clock: Callable[[], datetime]
    ) -> None:
        self.es, self.names, self.url = client, names, url
        # Leases measure real time between processes, so they read a clock of their own
        # rather than the instant a unit of work was started with.
        self.clock = clock

    def _id(self, name: str) -> str:
        return f"lease:{name}"

    def _doc(self, holder: str, ttl: timedelta) -> dict[str, Any]:
        now = self.clock()
        return {"kind": "lease", "holder": holder, "since": iso(now), "expires": iso(now + ttl)}

    @translated
    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take the lease if it is free, expired or already ours; False if someone holds it."""
        try:
            self.es.create(
                index=self.names.feeds, id=self._id(name), document=self._doc(holder, ttl)
            )
            return True
        except ConflictError:
            pass
        try:
            cur = self.es.get(index=self.names.feeds, id=self._id(name))
        except NotFoundError:  # released between our create and get: try again later
            return False
        src = cur["_source"]
        expires = parse_dt(src.get("expires"))
        if src.get("holder") != holder and expires is not None and expires > self.clock():
            return False
        try:
            self.es.index(
                index=self.names.feeds,
                id=self._id(name),
                document=self._doc(holder, ttl),
                if_seq_no=cur["_seq_no"],
                if_primary_term=cur["_primary_term"],
            )
            return True
        except ConflictError:  # another process took it over first
            return False

    @translated
    def release(self, name: str, holder: str) -> None:
        """Give the lease up if we still hold it (a lease taken over after expiry is left)."""
        try:
            cur = self.es.get(index=self.names.feeds, id=self._id(name))
        except NotFoundError:
            return
        if cur["_source"].get("holder") != holder:
            return
        with suppress(ConflictError, NotFoundError):
            self.es.delete(
                index=self.names.feeds,
                id=self._id(name),
                if_seq_no=cur["_seq_no"],
                if_primary_term=cur["_primary_term"],
            )

    @translated
    def holder(self, name: str) -> str | None:
        """Who holds the lease now (None when free or expired)."""
        try:
            src = self.es.get(index=self.names.feeds, id=self._id(name))["_source"]
        except NotFoundError:
            return None
        expires = parse_dt(src.get("expires"))
        return str(src.get("holder")) if expires and expires > self.clock() else None

    @contextmanager
    def held(
        self, name: str, holder: str, *, ttl: timedelta, wait: timedelta, poll: float = 0.2
    ) -> Iterator[None]:
        """Hold the lease for the block, waiting up to `wait` for it; raises LeaseBusy."""
        deadline = time.monotonic() + wait.total_seconds()
        while not self.acquire(name, holder, ttl):
            if time.monotonic() >= deadline:
                raise LeaseBusy(
                    f"lease {name!r} is held by {self.holder(name) or 'another process'}; "
                    "it is released when that run ends or expires"
                )
            time.sleep(poll)
        try:
            yield
        finally:
            self.release(name, holder)
