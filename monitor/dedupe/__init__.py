"""Cross-outlet deduplication: exact keys, MinHash/LSH near-duplicates, and the cluster decision.

A story joins the cluster of an earlier story when they share a canonical URL, a feed GUID (same
outlet) or a normalised title (same outlet), or when their text is close enough AND they do not
disagree on the facts that tell events apart (numbers, years, dates, leading names). Otherwise it
starts its own cluster, whose id is its own id (the first-seen story).

The decision is pure given a `CandidateLookup`: the Elasticsearch lookup (store) and the in-memory
one here (`newsmon dedupe`, tests, benchmarks) run exactly the same code and thresholds.

Modules, each importing only the ones listed before it:

- `features`: one text's tokens and shingles, `headline`, `title_key`, `detect_wire`.
- `minhash`: the MinHash `signature` and its LSH band strings.
- `facts`: what tells events apart: numbers, dates, leading names, template headline slots.
- `compare`: two texts side by side: `similarity`, the conflicts that refuse a merge.
- `decision`: `Candidate`, the `CandidateLookup` interface, `assign_cluster`, `annotate`.
- `memory`: `MemoryLookup`, the in-memory lookup and its band index.
- `event_features`: one story's event evidence: entities, numbers, dates, weighted words.
- `events`: `EventCandidate`, the `EventLookup` interface, `assign_event`, `event_terms`.
- `event_memory`: `MemoryEventLookup`, the in-memory event lookup and its term index.
- `records`: `dedupe_records`, the JSON Lines adapter of `newsmon dedupe`.

Two levels: `cluster_id` groups copies of one text; `event_id` groups the reports of one event
(reworded, or in other languages). Every cluster is in one event; a copy takes its cluster's.
"""

from monitor.dedupe.compare import clear_caches, similarity
from monitor.dedupe.decision import (
    MERGE_SCORE,
    Candidate,
    CandidateLookup,
    annotate,
    apply_decision,
    assign_cluster,
)
from monitor.dedupe.event_memory import MemoryEventLookup
from monitor.dedupe.events import (
    EVENT_SPAN,
    EventCandidate,
    EventDecision,
    EventLookup,
    TermStats,
    assign_event,
    event_terms,
)
from monitor.dedupe.features import detect_wire, headline, title_key
from monitor.dedupe.memory import MemoryLookup
from monitor.dedupe.minhash import BANDS, signature
from monitor.dedupe.records import dedupe_records

__all__ = [
    "BANDS",
    "EVENT_SPAN",
    "MERGE_SCORE",
    "Candidate",
    "CandidateLookup",
    "EventCandidate",
    "EventDecision",
    "EventLookup",
    "MemoryEventLookup",
    "MemoryLookup",
    "TermStats",
    "annotate",
    "apply_decision",
    "assign_cluster",
    "assign_event",
    "clear_caches",
    "dedupe_records",
    "detect_wire",
    "event_terms",
    "headline",
    "signature",
    "similarity",
    "title_key",
]
