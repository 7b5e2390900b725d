"""The only package that talks to Elasticsearch, and the only code that knows what a
document or a query looks like. Everything above it works with typed records.

Modules:

- `names`: index and alias names (``{prefix}-stories-YYYY.MM`` behind ``{prefix}-stories``,
  ``{prefix}-feeds``, ``{prefix}-deliveries``), monthly index and retention arithmetic.
- `documents`: records to and from documents (Story, Candidate, FeedState, Delivery).
- `errors`: `StoreError`, the one error raised for any Elasticsearch failure.
- `lifecycle`: templates and first indices, retention by month, merging finished months.
- `stories`: creating stories, look-ups by id, cluster counts, alert searches, re-tagging.
- `lookup`: dedupe candidates (exact keys and LSH bands) for a whole batch, in `_msearch` calls.
- `events`: merging events into the earliest (bridges) and each event's counts on its primary.
- `event_lookup`: event candidates (shared evidence terms) and term weights for a whole pass.
- `leases`: one holder at a time for a named job (grouping, the `run --interval` loop).
- `feeds`: feed polling state and alert cursors.
- `ledger`: the delivery ledger (claim before send, mark after).
- `search`: searches for people (`newsmon search`): Lucene query, filters, one row per event.
- `client`: `connect`, and `Store`, which holds one of each of the above.
"""

from monitor.store.client import Store, connect, open_store
from monitor.store.documents import GroupCounts
from monitor.store.errors import StoreError
from monitor.store.event_lookup import StoreEventLookup
from monitor.store.leases import LeaseBusy
from monitor.store.lookup import BatchLookup
from monitor.store.names import IndexNames, monthly_index, retention_cutoff
from monitor.store.search import SearchHit, SearchRequest, SearchResult
from monitor.store.stories import IndexReport

__all__ = [
    "BatchLookup",
    "GroupCounts",
    "IndexNames",
    "IndexReport",
    "LeaseBusy",
    "SearchHit",
    "SearchRequest",
    "SearchResult",
    "Store",
    "StoreError",
    "StoreEventLookup",
    "connect",
    "monthly_index",
    "open_store",
    "retention_cutoff",
]
