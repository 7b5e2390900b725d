"""Plain typed records passed between the pipeline stages.

Stages hand these to each other; only `store` turns them into Elasticsearch documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Private-use characters around a matched term in `Story.highlight`: feed text does not use
# them and they survive HTML escaping, so the mail templates turn them into <mark> safely.
HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"


@dataclass
class Story:
    """One item from one feed, normalised. Enrichment fields are filled by later stages."""

    id: str  # stable hash of the canonical URL (or the feed GUID when there is no link)
    feed_id: str
    outlet: str
    url: str
    canonical_url: str
    title: str
    summary: str
    fetched_at: datetime  # UTC; when newsmon first fetched it
    published: datetime | None = None  # UTC; None when the feed gives no usable date
    guid: str | None = None
    content: str | None = None
    lang: str | None = None
    authors: list[str] = field(default_factory=list)
    # tagging
    topics: list[str] = field(default_factory=list)
    topic_scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    people: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    # dedupe
    title_key: str = ""  # normalised title, for exact-duplicate detection per outlet
    lsh_bands: list[str] = field(default_factory=list)
    cluster_id: str = ""  # id of the first-seen story of its cluster ("" until dedupe ran)
    is_primary: bool = True
    # Reports of one event (reworded, or in another language) share an event id: the id of the
    # event's first report. Copies of one text (one cluster) are always in one event.
    event_id: str = ""
    # Events merged into this one by a bridging report (their old ids): an alert already sent
    # under one of them counts as sent for this event.
    event_aliases: list[str] = field(default_factory=list)
    wire: str | None = None
    # Outlets that carried this story's cluster: kept on the primary by `store`, empty elsewhere.
    outlets: list[str] = field(default_factory=list)
    # The matched terms of an alert search, per field (title, summary), marked with
    # HIGHLIGHT_START/HIGHLIGHT_END by `store`; set only on alert search results, never stored.
    highlight: dict[str, str] = field(default_factory=dict)
    # Why a feed's opted-in full text is missing (robots.txt, timeout, nothing extracted):
    # the story is kept with its summary and the reason is stored for the operator.
    content_warning: str | None = None


@dataclass
class FetchResult:
    """What `fetch` learnt from one HTTP poll of one feed. Bytes only: never parsed here."""

    feed_id: str
    url: str
    ok: bool
    status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    error: str | None = None  # one line, for the operator
    elapsed_ms: float = 0.0
    final_url: str | None = None
    # What failed, as one of fetch.ERROR_CLASSES (back-off and the feed table go by it).
    error_class: str | None = None
    retry_after: str | None = None  # the Retry-After header as sent
    cache_control: str | None = None
    # Where the feed lives now when every redirect up to it was permanent (301/308).
    moved_to: str | None = None


@dataclass
class FeedState:
    """Per-feed polling state kept in `{prefix}-feeds`."""

    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    stories_total: int = 0
    # Scheduling and health (see monitor.pipeline.schedule).
    status: str = "ok"  # ok | failing | dead | gone
    next_due: datetime | None = None
    error_class: str | None = None
    failing_since: datetime | None = None  # first failure of the current streak
    # Where a permanent redirect moved the feed; polled instead of `url` while `url` is the
    # configured URL (a changed configuration starts over).
    effective_url: str | None = None
    body_sha256: str | None = None  # of the last body read in full
    conditional_polls: int = 0  # conditional requests since the last unconditional one
    ttl_minutes: int | None = None  # the feed's last <ttl>, still asked for on a 304
    # The streak start of the death this feed last came back from, and when it came back:
    # the revival notice is keyed by it.
    revived_from: datetime | None = None
    revived_at: datetime | None = None


@dataclass
class Delivery:
    """One alert e-mail in the ledger `{prefix}-deliveries`; its id makes a resend impossible."""

    id: str
    subscriber: str
    alert: str
    mode: str  # instant | digest | overflow (over a rule's cap) | notice (to the operator)
    story_ids: list[str]
    cluster_ids: list[str]
    # claimed | sending | sent | failed | ambiguous | given_up | covered (see store.ledger)
    status: str
    created_at: datetime
    sent_at: datetime | None = None
    event_ids: list[str] = field(default_factory=list)  # the events it mails (instant: one)
    period: str | None = None  # digest slot key, e.g. "2026-11-25" for a daily digest
    error: str | None = None
    attempts: int = 0
