"""Setting up, and one whole cycle as `newsmon run` does it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.clock import utcnow
from monitor.config import Settings
from monitor.pipeline.context import open_store, tagger_for
from monitor.pipeline.delivery import send_alerts, send_digests
from monitor.pipeline.polling import poll

__all__ = ["config_summary", "init", "run_once"]


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
