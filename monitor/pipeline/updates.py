"""Updated entries: a known item that comes back with a materially changed title or summary.

The new text is stored, the old one goes onto the story's `history`, and the story is
re-tagged. It is not alerted again: alert windows select on `grouped_at`, which an update
leaves alone, so a story that already matched (and was sent) stays out of later windows. Only
when the new text makes an alert rule match for the first time is `grouped_at` moved to the
poll's `now` (and the rules recorded in `new_match`), so the next alert run sends it once; a
rule that matched before is still kept from sending twice by its ledger key.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.config import Settings
from monitor.models import Story
from monitor.revisions import Version, material_change, push_history
from monitor.store import Store
from monitor.store.revisions import StoredStory, revision_fields
from monitor.tagging import Tagger

__all__ = ["apply_updates"]

log = logging.getLogger(__name__)

# Conditional writes lost to a concurrent poll before giving up on one story this poll.
_ATTEMPTS = 3


def _changed(stored: StoredStory, seen: Story) -> bool:
    return material_change(stored.story.title, stored.story.summary, seen.title, seen.summary)


def _new_version(stored: StoredStory, seen: Story, tagger: Tagger) -> Story:
    from monitor.pipeline.polling import tag_stories

    new = dataclasses.replace(
        stored.story,
        title=seen.title or stored.story.title,
        summary=seen.summary or stored.story.summary,
        # Text the feed no longer carries (or full text fetched earlier) is kept.
        content=seen.content or stored.story.content,
        lang=seen.lang or stored.story.lang,
    )
    tag_stories([new], tagger)
    return new


def apply_updates(
    store: Store, settings: Settings, seen: Sequence[Story], tagger: Tagger, now: datetime
) -> dict[str, Any]:
    """Record a new version of every stored story in `seen` whose text materially changed.

    Returns counts: `updated` (new versions written), `new_match` (updated stories put back
    into the alert window because a rule matches them for the first time), `conflicts`
    (stories another writer kept changing; tried again next poll).
    """
    report: dict[str, Any] = {"updated": 0, "new_match": 0, "conflicts": 0}
    first: dict[str, Story] = {}
    for s in seen:
        first.setdefault(s.id, s)  # the same item in two feeds of one outlet
    texts = store.revisions.texts(list(first))
    changed = [
        i
        for i in first
        if i in texts and material_change(*texts[i], first[i].title, first[i].summary)
    ]
    if not changed:
        return report
    stored = store.revisions.current(changed)
    rules = [(sub.email, r.name, r.query) for sub in settings.subscribers for r in sub.alerts]
    queries = [q for _, _, q in rules]
    grouped_before = [i for i in changed if i in stored and stored[i].grouped]
    before = store.revisions.matching(queries, grouped_before)
    updated: list[str] = []
    for sid in changed:
        for _ in range(_ATTEMPTS):
            cur = stored.get(sid)
            if cur is None or not _changed(cur, first[sid]):
                break  # another poll recorded this text (or the story went with retention)
            new = _new_version(cur, first[sid], tagger)
            old = Version(cur.story.title, cur.story.summary, cur.seen_at)
            if store.revisions.revise(
                cur, revision_fields(new, push_history(cur.history, old), now)
            ):
                updated.append(sid)
                break
            stored.update(store.revisions.current([sid]))
        else:
            report["conflicts"] += 1
            log.warning(
                "story %s: changed by another writer %d times; left for next poll", sid, _ATTEMPTS
            )
    report["updated"] = len(updated)
    grouped = [i for i in updated if stored[i].grouped]
    after = store.revisions.matching(queries, grouped)
    newly: dict[str, list[str]] = {}
    for (_, name, _), was, now_matches in zip(rules, before, after, strict=True):
        for sid in now_matches - was:
            newly.setdefault(sid, []).append(name)
    for sid, names in newly.items():
        store.revisions.mark_new_match(stored[sid], names, now)
    report["new_match"] = len(newly)
    return report
