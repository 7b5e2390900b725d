"""The public surface of monitor.dedupe is what other code imports; the rest stays in submodules."""

from __future__ import annotations

from types import ModuleType

import monitor.dedupe

PUBLIC = [
    "BANDS",
    "Candidate",
    "CandidateLookup",
    "EVENT_SPAN",
    "EventCandidate",
    "EventDecision",
    "EventLookup",
    "MERGE_SCORE",
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


def test_public_names_are_pinned_and_importable() -> None:
    assert sorted(PUBLIC) == PUBLIC
    # `__all__` itself is kept in ruff's isort-style order (constants, classes, functions).
    assert sorted(monitor.dedupe.__all__) == PUBLIC
    assert len(set(monitor.dedupe.__all__)) == len(monitor.dedupe.__all__)
    for name in PUBLIC:
        obj = getattr(monitor.dedupe, name, None)
        # Not None, and not a submodule that happens to share the name.
        assert obj is not None, name
        assert not isinstance(obj, ModuleType), name
