"""Test data built once: fixed instants (never the wall clock), stories, configuration."""

from __future__ import annotations

from datetime import UTC, datetime

# The instant tests run "at". It sits at the edge of an hour, a day, a month and a year, so a
# test that quietly depends on the real clock, or on a window that should not cross a boundary,
# fails here instead of in some minutes of some hours.
NOW = datetime(2026, 12, 31, 23, 47, tzinfo=UTC)
