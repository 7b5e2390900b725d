"""The JSON Lines adapter of `newsmon tag`: one input record in, one output line out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.tagging.tagger import Tagger


def tag_record(tagger: Tagger, record: Mapping[str, Any]) -> dict[str, Any]:
    """Tag one input record; returns the `newsmon tag` output line (DESIGN contract)."""
    result = tagger.tag(
        str(record.get("title") or ""),
        str(record.get("summary") or ""),
        record.get("content") or None,
        record.get("lang") or None,
    )
    return {
        "id": record.get("id"),
        "topics": result.topics,
        "people": result.people,
        "orgs": result.orgs,
        "places": result.places,
        "lang": result.lang,
        "evidence": {**result.evidence, "scores": result.scores},
    }
