"""The in-memory `CandidateLookup` (`newsmon dedupe`, tests, benchmarks) and its band index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np

from monitor.dedupe.decision import MAX_CANDIDATES, Candidate, _seen_key, _utc, annotate
from monitor.models import Story

# ---- in-memory lookup ------------------------------------------------------------------------

_KEY_MASK = (1 << 48) - 1


def _band_key(band: str) -> int:
    """A band string "bXX:<12 hex>" as one 56-bit integer (band index in the top bits)."""
    head, _, digest = band.partition(":")
    return (int(head[1:], 16) << 48) | (int(digest, 16) & _KEY_MASK)


def _band_keys(bands: list[str]) -> list[int]:
    """`_band_key` of every band; a story's 128 parsed in one `bytes.fromhex`, which costs a
    fraction of 128 `int` calls (adding a story to the in-memory index was mostly this)."""
    if all(len(b) == 16 and b[3] == ":" for b in bands):
        raw = bytes.fromhex("".join(f"00{b[1:3]}{b[4:]}" for b in bands))
        keys: list[int] = np.frombuffer(raw, dtype=">u8").tolist()
        return keys
    return [_band_key(b) for b in bands]


_KEY_BITS = 56  # band index (8 bits) above a 48-bit digest
_MIN_WIDTH = 16  # entries a look-up reads per key at least (buckets hold about eight)


class _BandIndex:
    """Band key -> story slots: one sorted numpy array plus a dict of recent postings.

    Hand-written because 100,000 stories carry 12.8 million band postings: as Python dicts and
    sets that is gigabytes, as sorted uint64/int32 arrays about 150 MB. Digests are uniform, so
    the top bits of a key say where it sits in the array: a bucket table of offsets sends each
    lookup to a handful of neighbouring entries, and lookups cost the same at 1,000 stories as at
    100,000 (a binary search would pay a cache miss per level on a large array). The buffer is
    merged into the array when it fills, so adding stays cheap on average.
    """

    def __init__(self, buffer_limit: int = 1 << 19) -> None:
        self._keys: np.ndarray[Any, Any] = np.empty(0, dtype=np.uint64)
        self._vals: np.ndarray[Any, Any] = np.empty(0, dtype=np.int32)
        self._offsets: np.ndarray[Any, Any] = np.zeros(2, dtype=np.int64)
        self._shift = _KEY_BITS
        self._width = 0
        # The buffer: a key's first slot, and the rare further ones. Mostly a key is new, so
        # adding a story stores 128 ints and makes no list (millions of small lists also cost
        # the garbage collector's passes over them).
        self._first: dict[int, int] = {}
        self._more: dict[int, list[int]] = {}
        self._buf_n = 0
        self._limit = buffer_limit

    def add(self, keys: Iterable[int], slot: int) -> None:
        first, more = self._first, self._more
        n = 0
        for k in keys:
            if k in first:
                more.setdefault(k, []).append(slot)
            else:
                first[k] = slot
            n += 1
        self._buf_n += n
        if self._buf_n >= self._limit:
            self._flush()

    def _flush(self) -> None:
        more = self._more
        ks = np.fromiter(
            (*self._first.keys(), *(k for k, slots in more.items() for _ in slots)),
            dtype=np.uint64,
            count=self._buf_n,
        )
        vs = np.fromiter(
            (*self._first.values(), *(s for slots in more.values() for s in slots)),
            dtype=np.int32,
            count=self._buf_n,
        )
        self._first.clear()
        self._more.clear()
        self._buf_n = 0
        ks = np.concatenate((self._keys, ks))
        vs = np.concatenate((self._vals, vs))
        order = np.argsort(ks, kind="stable")
        self._keys, self._vals = ks[order], vs[order]
        # About eight postings per bucket.
        bits = max(4, (len(self._keys) // 8).bit_length())
        self._shift = _KEY_BITS - bits
        bounds = np.arange((1 << bits) + 1, dtype=np.uint64) << np.uint64(self._shift)
        self._offsets = np.searchsorted(self._keys, bounds).astype(np.int64)
        self._offsets[-1] = len(self._keys)
        # A look-up reads `_width` entries per key. A band key that many stories share (a
        # common phrase, a name in every story of a beat) makes one bucket hundreds long, and
        # reading that many for every key was most of a look-up's cost: the width covers all
        # but the longest buckets, whose rest is binary-searched (`slots`).
        sizes = np.diff(self._offsets)
        self._width = int(min(sizes.max(), max(_MIN_WIDTH, 2 * np.quantile(sizes, 0.999))))

    def slots(self, keys: list[int]) -> list[int]:
        """Slots posted under any of the keys, once per matching key."""
        out: list[int] = []
        first, more = self._first, self._more
        for k in keys:
            s = first.get(k)
            if s is not None:
                out.append(s)
                if k in more:
                    out.extend(more[k])
        if not self._width or not keys:
            return out
        q = np.asarray(keys, dtype=np.uint64)
        bucket = (q >> np.uint64(self._shift)).astype(np.int64)
        lo, hi = self._offsets[bucket], self._offsets[bucket + 1]
        pos = lo[:, None] + np.arange(self._width)[None, :]
        inside = pos < hi[:, None]
        pos = np.where(inside, pos, 0)
        match = inside & (self._keys[pos] == q[:, None])
        out.extend(self._vals[pos[match]].tolist())
        for i in np.flatnonzero(hi - lo > self._width).tolist():
            # A long bucket: its entries past the width, where equal keys sit side by side.
            start = int(lo[i]) + self._width
            rest = self._keys[start : hi[i]]
            a = int(np.searchsorted(rest, q[i], "left"))
            b = int(np.searchsorted(rest, q[i], "right"))
            out.extend(self._vals[start + a : start + b].tolist())
        return out


class MemoryLookup:
    """An in-memory CandidateLookup with the same semantics as the Elasticsearch one."""

    def __init__(self, max_candidates: int = MAX_CANDIDATES) -> None:
        self.max_candidates = max_candidates
        # Rows hold candidates without their band strings, which were most of a story's size
        # here: the band index holds the bands, and `by_bands` counts the shared ones
        # (`Candidate.shared_bands`), all the decision reads of them.
        self._rows: list[Candidate | None] = []
        self._slot: dict[str, int] = {}
        self._by_url: dict[str, set[str]] = {}
        self._by_guid: dict[str, set[str]] = {}
        self._by_title: dict[tuple[str, str], set[str]] = {}
        self._index = _BandIndex()
        # The bands last parsed into keys: a grouping run looks a story's bands up and then
        # adds the story, so they are parsed once. Held by reference (the list is not changed
        # in place once annotated), so its identity cannot pass to another list meanwhile.
        self._parsed_bands: tuple[list[str], list[int]] | None = None

    def _keys(self, bands: list[str]) -> list[int]:
        last = self._parsed_bands
        if last is not None and last[0] is bands:
            return last[1]
        keys = _band_keys(bands)
        self._parsed_bands = (bands, keys)
        return keys

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._slot

    def get(self, story_id: str) -> Candidate | None:
        """The stored candidate with this id."""
        slot = self._slot.get(story_id)
        return None if slot is None else self._candidate(slot)

    def _candidate(self, slot: int, shared: int | None = None) -> Candidate:
        row = self._rows[slot]
        assert row is not None
        # A plain copy of the instance dict (`dataclasses.replace` re-runs `__init__`, several
        # times the cost): a candidate is handed out per look-up, with its own shared count.
        made = object.__new__(Candidate)
        made.__dict__.update(vars(row))
        made.shared_bands = shared
        return made

    def add(self, story: Story) -> None:
        """Store a story after its decision; adding the same id again replaces it."""
        if not story.lsh_bands or not story.title_key:
            annotate(story)
        c = Candidate.from_story(story)
        old = self._slot.get(c.id)
        if old is not None:
            # The old slot stays in the band index as a dead posting, skipped at lookup.
            prev = self._rows[old]
            assert prev is not None
            self._by_url.get(prev.canonical_url, set()).discard(c.id)
            if prev.guid:
                self._by_guid.get(prev.guid, set()).discard(c.id)
            self._by_title.get((prev.outlet, prev.title_key), set()).discard(c.id)
            self._rows[old] = None
        slot = len(self._rows)
        keys = self._keys(story.lsh_bands)
        self._rows.append(replace(c, lsh_bands=[]))
        self._slot[c.id] = slot
        if c.canonical_url:
            self._by_url.setdefault(c.canonical_url, set()).add(c.id)
        if c.guid:
            self._by_guid.setdefault(c.guid, set()).add(c.id)
        if c.title_key:
            self._by_title.setdefault((c.outlet, c.title_key), set()).add(c.id)
        self._index.add(keys, slot)

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        """Stories with this canonical URL, or this GUID, or this title key from this outlet."""
        ids: set[str] = set()
        if canonical_url:
            ids |= self._by_url.get(canonical_url, set())
        if guid:
            ids |= self._by_guid.get(guid, set())
        if title_key:
            ids |= self._by_title.get((outlet, title_key), set())
        return sorted((self._candidate(self._slot[i]) for i in ids), key=_seen_key)

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Up to `max_candidates` stories first seen since `since` sharing a band, best first."""
        # Each band once: a slot's count is then the bands it shares with `bands`.
        # (Bands name their index, so a well-formed story's are distinct already.)
        unique = bands if len(set(bands)) == len(bands) else list(dict.fromkeys(bands))
        hits = Counter(self._index.slots(self._keys(unique)))
        since = _utc(since) or since
        live = []
        for slot, n in hits.items():
            row = self._rows[slot]
            if row is None:
                continue
            first = _utc(row.first_seen)
            if first is not None and first < since:
                continue
            live.append((-n, _recency(row), slot))
        # Most shared bands first, then the most recent: copies arrive close together.
        live.sort()
        return [self._candidate(slot, -n) for n, _r, slot in live[: self.max_candidates]]


def _recency(c: Candidate) -> tuple[float, str]:
    first = _utc(c.first_seen)
    return (-(first.timestamp() if first else 0.0), c.id)
