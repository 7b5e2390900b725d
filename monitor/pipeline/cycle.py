"""Setting up, and one whole cycle as `newsmon run` does it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.clock import utcnow
from monitor.config import Settings
from monitor.pipeline.context import open_store, tagger_for
from monitor.pipeline.delivery import send_alerts, send_digests
from monitor.pipeline.grouping import holder_id
from monitor.pipeline.polling import poll
from monitor.store import LeaseBusy

__all__ = ["LOOP_LEASE", "config_summary", "exclusive_loop", "init", "run_once"]

LOOP_LEASE = "run-loop"


def init(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Install index templates, create the first indices, load Kibana objects (idempotent)."""
    report = open_store(settings).lifecycle.install(now or utcnow())
    if settings.kibana_url:
        from monitor.kibana import import_saved_objects

        report["kibana"] = import_saved_objects(
            settings.kibana_url, settings.index_prefix, settings.es
        )
    return report


def run_once(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """One full cycle: make sure indices exist, poll due feeds, send due alerts and digests.

    One instant for the whole cycle: the alert window ends exactly where this poll's stories
    were indexed, and the digest slot is the one this cycle's stories belong to.
    """
    now = now or utcnow()
    init(settings, now)
    return {
        "poll": poll(settings, now=now),
        "alerts": send_alerts(settings, now=now),
        "digests": send_digests(settings, now=now),
    }


def config_summary(settings: Settings) -> dict[str, Any]:
    """What `newsmon config check` prints: the configuration as newsmon understood it."""
    tagger = tagger_for(settings)
    return {
        "config_dir": str(Path(settings.config_dir)),
        "feeds": len(settings.feeds),
        "subscribers": len(settings.subscribers),
        "alert_rules": sum(len(s.alerts) for s in settings.subscribers),
        "taxonomy": str(settings.topics_path),
        "topics": tagger.taxonomy.topic_ids,
        "entities": len(tagger.taxonomy.entities),
    }


@contextmanager
def exclusive_loop(settings: Settings, interval: timedelta) -> Iterator[Callable[[], None]]:
    """Hold the `newsmon run --interval` lease for the index prefix; yields a renew function.

    Two loops on one prefix would poll every feed twice and race for every alert; the second
    one refuses to start (LeaseBusy, one line). The lease outlives a few missed cycles, so a
    crashed loop's host frees it without anyone's help.
    """
    store = open_store(settings)
    holder = holder_id()
    ttl = max(3 * interval, timedelta(minutes=5))
    if not store.leases.acquire(LOOP_LEASE, holder, ttl):
        other = store.leases.holder(LOOP_LEASE) or "another process"
        raise LeaseBusy(
            f"another newsmon run loop ({other}) already works on index prefix "
            f"{settings.index_prefix!r}: stop it first, or wait for its lease to expire"
        )

    def renew() -> None:
        if not store.leases.acquire(LOOP_LEASE, holder, ttl):
            raise LeaseBusy(
                f"this loop lost its lease on index prefix {settings.index_prefix!r} to "
                f"{store.leases.holder(LOOP_LEASE) or 'another process'}; stopping"
            )

    try:
        yield renew
    finally:
        store.leases.release(LOOP_LEASE, holder)
