from __future__ import annotations

import json

from monitor.kibana import objects_for_prefix
from monitor.resources import kibana_saved_objects


def test_default_prefix_is_shipped_unchanged() -> None:
    text = kibana_saved_objects()
    assert objects_for_prefix(text, "newsmon") == text


def test_other_prefix_retitles_the_data_view_only() -> None:
    text = kibana_saved_objects()
    moved = [json.loads(line) for line in objects_for_prefix(text, "desk2").splitlines()]
    original = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(moved) == len(original)
    views = [o for o in moved if o["type"] == "index-pattern"]
    assert views
    assert all(v["attributes"]["title"] == "desk2-stories*" for v in views)
    # Everything else, ids and references included, is untouched.
    for a, b in zip(original, moved, strict=True):
        if a["type"] != "index-pattern":
            assert a == b
        assert a["id"] == b["id"]
        assert a.get("references") == b.get("references")
