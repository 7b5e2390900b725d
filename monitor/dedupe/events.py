"""The event decision: which earlier event, if any, a new cluster's first story reports.

Clusters hold copies of one text; an event holds every report of one happening, reworded by
other desks or written in other languages. Reports of one event share rare evidence: the
entities they name (canonical names, the same in any script), numbers and dates, and within one
language a few rare content words. They are close in time. They do not disagree on the facts
that tell events apart (a different count, day, month or year).

Pure given an `EventLookup`: Elasticsearch in the pipeline, `MemoryEventLookup` elsewhere.

No chains: a story can only join an event whose first report is at most `span` (72 h by default)
before it, and a story bridging two events merges them only when the union still fits in `span`;
an event never grows by linking each report to the previous one. A title that recurs from one
outlet (a daily roundup, a live blog) is not evidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from monitor.dedupe.event_features import EventText, event_text, name_words
from monitor.dedupe.facts import _disagree
from monitor.dedupe.features import title_key
from monitor.models import Story

# ---- parameters ------------------------------------------------------------------------------
EVENT_SPAN = timedelta(hours=72)  # an event's reports come within three days of its first one
MAX_EVENT_CANDIDATES = 50  # what a lookup returns at most, best first

# Weighted Dice overlap of two stories' terms (see `score`). Reworded reports of one event in one
# language score about 0.2-0.6; stories on one subject but different events 0.1-0.35, and the
# difference is partly in time: the farther apart two reports are, the more they must share.
# Chosen on the development sets for precision first (a wrong merge hides an alert; a missed
# one sends a second): on real reworded English reports (realworld-dev) this finds about 60% of
# same-event pairs with about 0.89 precision; reports in four languages of our own fixture,
# and the look-alikes beside them, are all grouped right.
SAME_LANGUAGE_SCORE = 0.20
CROSS_LANGUAGE_SCORE = 0.30  # over entities, numbers and dates only
PER_DAY = 0.10  # added to the threshold per day between the two reports
SAME_OUTLET = 0.20  # added for two stories of one outlet: its second story is a new development
# Shared specific evidence: people, and terms rare enough to name an event. Countries and a
# common word ("Israel", "Hamas", "says") are a subject shared by thousands of stories.
MIN_SPECIFIC = 2
MIN_STORIES = 50  # below this many stored stories, document frequencies are padded (`Weights`)
# Each headline's words must mostly be found in the other report (weighted, geometric mean of
# both directions): a headline states the event, and two events on one subject share words
# in their summaries but not what their headlines say happened.
HEADLINE_COVER = 0.4


@dataclass
class EventCandidate:
    """An earlier story, as the event look-up returns it (fields of the stored document)."""

    id: str
    event_id: str
    event_start: datetime  # first-seen time of the first report of its event (span limit)
    outlet: str
    lang: str | None
    title: str
    summary: str
    title_key: str
    people: list[str]
    orgs: list[str]
    places: list[str]
    published: datetime | None
    first_seen: datetime  # the story's fetched_at
    # First-seen time of the latest report of its event, when the lookup knows it: lets a story
    # that arrives out of time order, or bridges two events, keep the union inside the span.
    event_end: datetime | None = None
    # Its event terms when the lookup stores them (`event_terms`): lets the decision drop a
    # candidate that cannot reach the threshold before building its whole text.
    terms: frozenset[str] | None = None

    @classmethod
    def from_story(cls, story: Story, event_start: datetime) -> EventCandidate:
        """The candidate view of a story that has been through `assign_event`."""
        return cls(
            id=story.id,
            event_id=story.event_id or story.cluster_id or story.id,
            event_start=event_start,
            outlet=story.outlet,
            lang=story.lang,
            title=story.title,
            summary=story.summary,
            title_key=story.title_key or title_key(story.title),
            people=list(story.people),
            orgs=list(story.orgs),
            places=list(story.places),
            published=story.published,
            first_seen=story.fetched_at,
        )


@dataclass
class TermStats:
    """How many stored stories there are, and how many hold each asked-for term."""

    stories: int
    doc_freq: dict[str, int] = field(default_factory=dict)


class EventLookup(Protocol):
    """Where earlier stories come from: Elasticsearch in the pipeline, memory elsewhere."""

    def event_candidates(self, story: Story, since: datetime) -> list[EventCandidate]:
        """Earlier stories first seen at or after `since` that could report the same event."""
        ...

    def term_stats(self, terms: list[str]) -> TermStats:
        """Stored stories in all, and per term how many hold it (the weights of evidence)."""
        ...


@dataclass
class EventDecision:
    """Which event a story joins. `reason`: new | event | seen."""

    event_id: str  # the event joined (the earliest-started one when it bridges several)
    matched_id: str | None
    reason: str
    score: float
    merged: list[str]  # other events this story bridges: merge them into event_id
    note: str = ""  # for the log: what matched, or why close candidates were refused


# ---- weights and scores ----------------------------------------------------------------------


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def event_terms(story: Story) -> list[str]:
    """The terms the event look-up indexes for a story (a keyword field, queried with `terms`)."""
    return sorted(_text_of(story).terms)


def event_term_set(story: Story) -> frozenset[str]:
    """`event_terms` as the set the decision compares (no sorting, no copy)."""
    return _text_of(story).terms


def _text_of(story: Story) -> EventText:
    return event_text(story.title, story.summary, story.people, story.orgs, story.places)


def _candidate_text(c: EventCandidate) -> EventText:
    # The in-memory look-up hands out the same candidate object decision after decision: its
    # text is found by identity, without rebuilding the key of `event_text`'s cache.
    hit = _CANDIDATE_TEXTS.get(id(c))
    if hit is not None and hit[0] is c:
        return hit[1]
    text = event_text(c.title, c.summary, c.people, c.orgs, c.places)
    if len(_CANDIDATE_TEXTS) >= _CANDIDATE_TEXTS_MAX:
        _CANDIDATE_TEXTS.clear()
    _CANDIDATE_TEXTS[id(c)] = (c, text)
    return text


# Candidate -> its event text, by identity (the candidate is held, so its id is not reused).
# Bounded: a grouping pass's stories and their candidates fit; cleared when full.
_CANDIDATE_TEXTS: dict[int, tuple[EventCandidate, EventText]] = {}
_CANDIDATE_TEXTS_MAX = 4096


def _candidate_covers(c: EventCandidate) -> frozenset[str]:
    """What the decision may weigh of a candidate: its stored terms and the words of its
    names, or its whole text's `covers` when no terms are stored (same as `event_text`)."""
    if c.terms is None:
        return _candidate_text(c).covers
    hit = _CANDIDATE_COVERS.get(id(c))
    if hit is not None and hit[0] is c:
        return hit[1]
    covers = c.terms | name_words(c.people, c.orgs, c.places)
    if len(_CANDIDATE_COVERS) >= _CANDIDATE_TEXTS_MAX:
        _CANDIDATE_COVERS.clear()
    _CANDIDATE_COVERS[id(c)] = (c, covers)
    return covers


def _candidate_evidence(c: EventCandidate, terms: frozenset[str]) -> frozenset[str]:
    """The stored terms of a candidate less its words (what counts across languages)."""
    hit = _CANDIDATE_EVIDENCE.get(id(c))
    if hit is not None and hit[0] is c:
        return hit[1]
    evidence = frozenset(t for t in terms if _is_evidence(t))
    if len(_CANDIDATE_EVIDENCE) >= _CANDIDATE_TEXTS_MAX:
        _CANDIDATE_EVIDENCE.clear()
    _CANDIDATE_EVIDENCE[id(c)] = (c, evidence)
    return evidence


# The same, by identity, for a candidate's covers and its stored evidence terms: a candidate
# comes back for many stories of one pass, and its name words are not in `event_text`'s cache.
_CANDIDATE_COVERS: dict[int, tuple[EventCandidate, frozenset[str]]] = {}
_CANDIDATE_EVIDENCE: dict[int, tuple[EventCandidate, frozenset[str]]] = {}


class _Table(dict[str, float]):
    """Term -> weight: the counted terms' computed at once, a term nobody holds on first use
    (a dict lookup after that, not a call)."""

    def __init__(self, n: int, df: dict[str, int]) -> None:
        # Smoothed so a term nobody holds yet weighs a little more than one held once, and
        # a term every story holds still weighs a little (log(1 + 1) at worst). The counted
        # terms are the ones a decision asked about, and it reads most of them: one
        # comprehension costs a fraction of a `__missing__` call per term.
        n1 = n + 1
        log = math.log
        super().__init__({t: log(1.0 + n1 / (d + 1)) for t, d in df.items()})
        self.n1 = n1
        self.df = df

    def __missing__(self, term: str) -> float:
        w = self[term] = math.log(1.0 + self.n1 / (self.df.get(term, 0) + 1))
        return w


class _Specific(dict[str, bool]):
    """Term -> whether it is specific to an event (a person, or distinctive), memoised."""

    def __init__(self, table: _Table, cut: float) -> None:
        super().__init__()
        self.table = table
        self.cut = cut

    def __missing__(self, term: str) -> bool:
        v = self[term] = term.startswith("p:") or self.table[term] >= self.cut
        return v


class Weights:
    """Inverse document frequency of terms over the stored stories."""

    def __init__(self, stats: TermStats) -> None:
        # A few stored stories say nothing about how common a term is: until there are
        # MIN_STORIES, the missing ones count as stories that hold none of the terms.
        self.n = max(stats.stories, MIN_STORIES)
        self.df = stats.doc_freq
        self._table = _Table(self.n, self.df)
        # Half the weight of a term nobody holds: held by about sqrt(n) stories at most, which
        # scales from a few hundred stories (a test set) to a month of a real stream.
        self._cut = 0.5 * math.log(2.0 + self.n)
        self._specific = _Specific(self._table, self._cut)
        self._totals: dict[int, tuple[frozenset[str], float]] = {}
        # The last pair of term sets intersected: callers of `score` and `shared` often read
        # the same pair one after another, so it is intersected and summed once.
        self._pair: tuple[frozenset[str], frozenset[str], frozenset[str], float] | None = None

    def __call__(self, term: str) -> float:
        return self._table[term]

    def total(self, terms: frozenset[str]) -> float:
        """The summed weight of a set of terms (memoised: one story's set recurs per pair)."""
        key = id(terms)
        hit = self._totals.get(key)
        if hit is None or hit[0] is not terms:
            hit = self._totals[key] = (terms, sum(map(self._table.__getitem__, terms)))
        return hit[1]

    def shared(self, a: frozenset[str], b: frozenset[str]) -> tuple[frozenset[str], float]:
        """The terms `a` and `b` share and their summed weight (the last pair is remembered)."""
        p = self._pair
        if p is None or p[0] is not a or p[1] is not b:
            common = a & b
            p = self._pair = (a, b, common, sum(map(self._table.__getitem__, common)))
        return p[2], p[3]

    def sum(self, terms: Iterable[str]) -> float:
        """The summed weight of some terms, in their order."""
        return sum(map(self._table.__getitem__, terms))

    def specific(self, terms: Iterable[str]) -> int:
        """How many of the terms are specific to an event: people, and distinctive terms."""
        return sum(map(self._specific.__getitem__, terms))

    def distinctive(self, term: str) -> bool:
        """Rare enough to tell one event from another on the same subject."""
        return self._table[term] >= self._cut


def score(mine: EventText, other: EventText, weights: Weights, same_lang: bool) -> float:
    """Weighted Dice overlap of the two stories' terms, in [0, 1].

    Across languages content words cannot meet, so only entities, numbers and dates count.
    """
    if same_lang:
        a, b = mine.terms, other.terms
    else:
        a, b = mine.evidence, other.evidence
    shared = weights.shared(a, b)[1]
    total = weights.total(a) + weights.total(b)
    return 2 * shared / total if total else 0.0


def headline_cover(mine: EventText, other: EventText, weights: Weights) -> float:
    """How much of each headline the other report covers (geometric mean of both ways)."""

    def cover(a: EventText, b: EventText) -> float:
        total = weights.total(a.title)
        return weights.sum(a.title & b.covers) / total if total else 0.0

    return math.sqrt(cover(mine, other) * cover(other, mine))


def _conflict(mine: EventText, other: EventText) -> str | None:
    """Why two reports that look alike are different events, or None."""
    fa, fb = mine.facts, other.facts
    if _disagree(fa.numbers, fb.numbers):
        return "numbers differ"
    if _disagree(fa.years, fb.years):
        return "years differ"
    if _disagree(fa.weekdays, fb.weekdays):
        return "weekdays differ"
    if _disagree(fa.months, fb.months):
        return "months differ"
    return None


def _threshold(same_lang: bool, same_outlet: bool, gap: timedelta) -> float:
    base = SAME_LANGUAGE_SCORE if same_lang else CROSS_LANGUAGE_SCORE
    base += SAME_OUTLET if same_outlet else 0.0
    return base + PER_DAY * abs(gap.total_seconds()) / 86400


# ---- the decision ----------------------------------------------------------------------------


@dataclass
class _Match:
    candidate: EventCandidate
    score: float


def _eligible(story: Story, key: str, when: datetime, c: EventCandidate, span: timedelta) -> bool:
    """Inside the event's span, and not the same recurring title (`key`, the story's title
    key) from the same outlet."""
    if c.id == story.id:
        return False
    start = _utc(c.event_start) or when
    end = max(_utc(c.event_end) or start, _utc(c.first_seen) or start)
    if max(end, when) - min(start, when) > span:
        return False
    return not (c.outlet == story.outlet and key and c.title_key == key)


def _when(story: Story) -> datetime:
    # fetched_at is required; a naive one is read as UTC, like every stored time.
    return story.fetched_at if story.fetched_at.tzinfo else story.fetched_at.replace(tzinfo=UTC)


def assign_event(
    story: Story, lookup: EventLookup, *, span: timedelta = EVENT_SPAN
) -> EventDecision:
    """Decide the event of a new cluster's first story from earlier ones. Pure given the lookup."""
    when = _when(story)
    candidates = lookup.event_candidates(story, when - span)
    seen = next((c for c in candidates if c.id == story.id), None)
    if seen is not None:
        return EventDecision(seen.event_id, None, "seen", 1.0, [], note="already stored")
    key = story.title_key or title_key(story.title)
    eligible = [c for c in candidates if _eligible(story, key, when, c, span)]
    if not eligible:
        return EventDecision(story.id, None, "new", 0.0, [])
    mine = _text_of(story)
    if not mine.evidence:
        # No name, number or date: no candidate can pass `_matches`'s evidence rule.
        return EventDecision(story.id, None, "new", 0.0, [])
    # Most candidates share too little specific evidence to match (about nine in ten on real
    # news, nearly all in a first poll). Which shared terms are specific needs the weights of
    # the story's own terms only, so those are asked first, and the candidates that fail the
    # two rules are dropped before the weights of all their terms are asked and summed. Each
    # term's weight is the same in both asks (its count and the stories stored), so the
    # matches are exactly those of weighing every candidate.
    own = Weights(lookup.term_stats(sorted(mine.covers)))
    possible = _possible(story, mine, eligible, own)
    if not possible:
        return EventDecision(story.id, None, "new", 0.0, [])
    # Every term the score, the bound and the headline check can read: a text's `covers` are
    # its event terms plus the words of its tagged names.
    wanted = set(mine.covers)
    wanted.update(*map(_candidate_covers, possible))
    weights = Weights(lookup.term_stats(sorted(wanted)))
    matches, refused = _matches(story, mine, possible, weights, when)
    if not matches:
        return EventDecision(story.id, None, "new", 0.0, [], note="; ".join(refused))
    return _join(matches, span, when)


def _possible(
    story: Story, mine: EventText, eligible: list[EventCandidate], own: Weights
) -> list[EventCandidate]:
    """The candidates sharing evidence and at least `MIN_SPECIFIC` specific terms with the
    story (two of `_matches`'s rules, which read only the story's own terms' weights)."""
    specific = own._specific.__getitem__
    out = []
    for c in eligible:
        terms, evidence, _ = _sides(c)
        if not mine.evidence & evidence:
            # Common words alone never make one event: two reports of one happening name
            # at least one of its people, organisations, places, numbers or dates.
            continue
        common = mine.terms & terms if _same_language(story, c) else mine.evidence & evidence
        if sum(map(specific, common)) >= MIN_SPECIFIC:
            out.append(c)
    return out


def _sides(c: EventCandidate) -> tuple[frozenset[str], frozenset[str], EventText | None]:
    """A candidate's terms and evidence terms, and its whole text when that had to be built
    for them (no stored terms): its stored terms are what the rules and the score read."""
    if c.terms is None:
        text = _candidate_text(c)
        return text.terms, text.evidence, text
    return c.terms, _candidate_evidence(c, c.terms), None


def _same_language(story: Story, c: EventCandidate) -> bool:
    # An unknown language is compared as if it were the same: the words decide then.
    return not story.lang or not c.lang or story.lang == c.lang


def _matches(
    story: Story,
    mine: EventText,
    possible: list[EventCandidate],
    weights: Weights,
    when: datetime,
) -> tuple[list[_Match], list[str]]:
    # The candidates are `_possible`'s: they share evidence and enough specific terms. One
    # loop over them with the story's sides looked up once: the bound and the score read the
    # same shared terms, so they are intersected and summed once per candidate (the same
    # sums, in the same order, as `score` and `Weights.shared`). A candidate's whole text
    # (headline, facts) is built only for the few that pass the score: its stored terms are
    # what the score reads (`retag` rewrites them with its entities), and building texts was
    # most of the decision's cost.
    matches: list[_Match] = []
    refused: list[str] = []
    table = weights._table.__getitem__
    total = weights.total
    sides = {True: mine.terms, False: mine.evidence}
    totals = {True: total(mine.terms), False: total(mine.evidence)}
    log2 = math.log(2.0)
    for c in possible:
        terms, evidence, other = _sides(c)
        same_lang = _same_language(story, c)
        gap = when - (_utc(c.first_seen) or when)
        needed = _threshold(same_lang, c.outlet == story.outlet, gap)
        a = sides[same_lang]
        b = terms if same_lang else evidence
        common = a & b
        shared = sum(map(table, common))
        # A cheap upper bound on the score first: every term weighs at least log(2), so the
        # other side weighs at least that many times; most candidates stop here.
        low = totals[same_lang] + log2 * len(b)
        if not low or 2 * shared / low < needed:
            continue
        both = totals[same_lang] + total(b)
        s = 2 * shared / both if both else 0.0
        if s < needed:
            continue
        if other is None:
            other = _candidate_text(c)
        if same_lang and headline_cover(mine, other, weights) < HEADLINE_COVER:
            continue
        why = _conflict(mine, other)
        if why:
            refused.append(f"{c.id}: {why}")
            continue
        matches.append(_Match(c, s))
    return matches, refused


def _is_evidence(term: str) -> bool:
    return not term.startswith("w:")


def _join(matches: list[_Match], span: timedelta, when: datetime) -> EventDecision:
    """Join the best-scoring match's event; merge the other matched events that fit the span."""
    best = max(matches, key=lambda m: (m.score, -_ts(m.candidate.first_seen), m.candidate.id))
    bounds: dict[str, tuple[datetime, datetime]] = {}
    for m in matches:
        c = m.candidate
        start = _utc(c.event_start) or when
        end = max(_utc(c.event_end) or start, _utc(c.first_seen) or start)
        lo, hi = bounds.get(c.event_id, (start, end))
        bounds[c.event_id] = (min(lo, start), max(hi, end))
    # The union of the bridged events must still fit in one span, or the bridge is a chain.
    keep = [best.candidate.event_id]
    lo, hi = bounds[keep[0]]
    lo, hi = min(lo, when), max(hi, when)
    for eid, (s, e) in sorted(bounds.items(), key=lambda kv: (kv[1][0], kv[0])):
        if eid in keep:
            continue
        if max(hi, e) - min(lo, s) <= span:
            keep.append(eid)
            lo, hi = min(lo, s), max(hi, e)
    keep.sort(key=lambda eid: (bounds[eid][0], eid))
    target, merged = keep[0], keep[1:]
    c = best.candidate
    note = f"event of {c.id}" + (f"; merges {', '.join(merged)}" if merged else "")
    return EventDecision(target, c.id, "event", round(best.score, 4), merged, note=note)


def _ts(dt: datetime | None) -> float:
    d = _utc(dt)
    return d.timestamp() if d else float("inf")
