"""The public surface of monitor.tagging is kept narrow on purpose: what other code imports."""

from __future__ import annotations

import monitor.tagging

PUBLIC = [
    "TagResult",
    "Tagger",
    "TaxonomyError",
    "load_taxonomy",
    "parse_taxonomy",
    "tag_record",
]


def test_public_names_are_pinned_and_importable() -> None:
    assert sorted(PUBLIC) == PUBLIC
    assert monitor.tagging.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(monitor.tagging, name, None) is not None, name
