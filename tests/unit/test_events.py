"""Events: reports of one happening grouped across rewording and languages, without chains."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.dedupe import (
    EVENT_SPAN,
    EventCandidate,
    MemoryEventLookup,
    TermStats,
    annotate,
    assign_event,
    dedupe_records,
    event_terms,
)
from monitor.dedupe.event_features import event_text
from monitor.dedupe.events import Weights, headline_cover, score
from monitor.evaluation import event_pairs
from monitor.models import Story
from monitor.tagging import Tagger, load_taxonomy
from tests.factories import NOW, TOPICS_YAML, jsonl_rows, make_story

MULTILINGUAL = Path(__file__).resolve().parents[1] / "fixtures" / "events-multilingual.jsonl"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "corpus"
DEV_SET = SHARED / "dev-stories.jsonl"
REALWORLD = SHARED / "realworld-dev.jsonl"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_taxonomy(TOPICS_YAML))


def _pairwise(rows: list[dict[str, Any]], events: dict[str, str]) -> tuple[int, int, int, int]:
    """(true pairs found, false pairs touching a labelled group, false pairs of two unlabelled
    items, true pairs missed): the counting `benchmarks/eval_events.py` reports."""
    p = event_pairs(rows, events)
    return p.found, p.wrong_labelled, p.wrong_unlabelled, p.missed


def _events(rows: list[dict[str, Any]], tagger: Tagger) -> dict[str, str]:
    return {o["id"]: o["event_id"] for o in dedupe_records(rows, NOW, tagger)}


# ---- the multilingual fixture (written for these tests, in four languages) -------------------


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_multilingual_reports_of_one_event_join_and_lookalikes_stay_apart(
    tagger: Tagger, seed: int | None
) -> None:
    rows = jsonl_rows(MULTILINGUAL)
    assert {r["lang"] for r in rows} == {"en", "ar", "he", "tr"}
    order = rows[:]
    if seed is not None:
        random.Random(seed).shuffle(order)
    tp, fp, fp_u, fn = _pairwise(rows, _events(order, tagger))
    # Every pair of a look-alike (same people, another day, count or place) stays apart.
    assert fp == fp_u == 0, (tp, fp, fn)
    assert tp / (tp + fn) >= 0.95, (tp, fp, fn)


def test_an_arabic_and_a_hebrew_report_join_the_english_one(tagger: Tagger) -> None:
    rows = [r for r in jsonl_rows(MULTILINGUAL) if r["event"] == "F"]
    events = _events(rows, tagger)
    assert len(set(events.values())) == 1
    # The earliest report's id names the event.
    assert set(events.values()) == {min(rows, key=lambda r: r["published"])["id"]}


# ---- the labelled development sets (../shared; a missing one fails) ---------------------------


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_dev_set_events(tagger: Tagger, seed: int | None) -> None:
    rows = jsonl_rows(DEV_SET)
    order = rows[:]
    if seed is not None:
        random.Random(seed).shuffle(order)
    tp, fp, fp_u, fn = _pairwise(rows, _events(order, tagger))
    assert tp / (tp + fp + fp_u) >= 0.99, (tp, fp, fp_u, fn)
    assert tp / (tp + fn) >= 0.95, (tp, fp, fp_u, fn)


def test_realworld_events_floor(tagger: Tagger) -> None:
    """A floor under today's figures on real reworded English reports (0.89 / 0.61, see the
    parameters in monitor/dedupe/events.py): precision over pairs touching a labelled group
    (two unlabelled items make no claim: the set's nulls are not judged unique), and recall.
    The issue's 0.99 / 0.95 is not reached by this evidence; a floor catches regressions."""
    rows = jsonl_rows(REALWORLD)
    tp, fp, fp_u, fn = _pairwise(rows, _events(rows, tagger))
    assert tp / (tp + fp) >= REALWORLD_PRECISION_FLOOR, (tp, fp, fp_u, fn)
    assert tp / (tp + fn) >= REALWORLD_RECALL_FLOOR, (tp, fp, fp_u, fn)


REALWORLD_PRECISION_FLOOR = 0.85
REALWORLD_RECALL_FLOOR = 0.55


# ---- no chains -------------------------------------------------------------------------------


def _rec(i: int, outlet: str, when: datetime, title: str, summary: str) -> dict[str, Any]:
    return {
        "id": f"{outlet}-{i}",
        "url": f"https://{outlet}.example/{i}",
        "outlet": outlet,
        "published": when.isoformat(),
        "title": title,
        "summary": summary,
        "lang": "en",
    }


def test_a_daily_roundup_with_one_title_gives_one_event_a_day(tagger: Tagger) -> None:
    start = datetime(2024, 2, 1, 7, tzinfo=UTC)
    recs = [
        _rec(
            d,
            "gulfdesk",
            start + timedelta(days=d),
            "Middle East morning briefing: Gaza talks, Turkey and Israel",
            f"Today's briefing, number {100 + d}: what happened overnight in Gaza, Ankara and "
            "Jerusalem, and what to watch as ceasefire talks with Hamas go on.",
        )
        for d in range(30)
    ]
    events = _events(recs, tagger)
    assert len(set(events.values())) == 30


def test_a_live_blog_on_two_days_gives_two_events(tagger: Tagger) -> None:
    t0 = datetime(2024, 4, 13, 20, tzinfo=UTC)
    title = "Live: Iran launches drones and missiles at Israel"
    summary = (
        "Follow our live coverage as Iran launches drones and missiles at Israel, with "
        "air defences over Jerusalem and reactions from Washington and Ankara."
    )
    recs = [
        _rec(1, "livedesk", t0, title, summary),
        _rec(2, "livedesk", t0 + timedelta(days=1, hours=2), title, summary + " Day two."),
    ]
    events = _events(recs, tagger)
    assert len(set(events.values())) == 2


def test_a_verdict_and_a_sentencing_days_later_stay_apart(tagger: Tagger) -> None:
    t0 = datetime(2024, 6, 3, 9, tzinfo=UTC)
    recs = [
        _rec(
            1,
            "courtwire",
            t0,
            "Istanbul court convicts seven of spying for Mossad",
            "An Istanbul court on Monday convicted seven people of selling information on "
            "Palestinians in Turkey to Israel's Mossad intelligence agency.",
        ),
        _rec(
            2,
            "bosphorus",
            t0 + timedelta(days=4),
            "Seven jailed in Istanbul for spying for Mossad",
            "An Istanbul court on Friday sentenced seven people convicted of spying for "
            "Israel's Mossad to prison terms of up to 12 years.",
        ),
    ]
    events = _events(recs, tagger)
    assert events["courtwire-1"] != events["bosphorus-2"]


def _story(n: int, when: datetime, **kw: Any) -> Story:
    s = make_story(n, when=when, title=kw.pop("title"), summary=kw.pop("summary"), **kw)
    annotate(s)
    s.cluster_id = s.id
    return s


def test_an_event_never_spans_more_than_its_limit() -> None:
    """Each report resembles the one before it; none may stretch the first report's event."""
    lookup = MemoryEventLookup()
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    starts: dict[str, datetime] = {}
    for i in range(12):
        when = t0 + timedelta(hours=12 * i)
        s = _story(
            i,
            when,
            title=f"Hakan Fidan meets Ismail Haniyeh on truce, day {i} of the Doha round",
            summary="Fidan and Haniyeh discussed the Doha truce round and the hostage exchange.",
            people=["Hakan Fidan", "Ismail Haniyeh"],
            places=["Qatar"],
            outlet=f"outlet-{i % 3}",
        )
        d = assign_event(s, lookup)
        s.event_id = d.event_id
        lookup.merge_events(d.event_id, d.merged)
        start = starts.setdefault(s.event_id, when)
        lookup.add(s, start)
        assert when - start <= EVENT_SPAN
    for eid in {lookup.event_of(f"id{i}") for i in range(12)}:
        assert eid is not None
        bounds = lookup.event_bounds(eid)
        assert bounds is not None
        assert bounds[1] - bounds[0] <= EVENT_SPAN
    assert len({lookup.event_of(f"id{i}") for i in range(12)}) >= 12 * 12 // 72


def test_a_bridging_story_merges_two_events_into_the_earliest() -> None:
    lookup = MemoryEventLookup()
    t0 = datetime(2024, 8, 7, 8, tzinfo=UTC)
    ents: dict[str, Any] = {"people": ["Hakan Fidan"], "places": ["South Africa", "Israel"]}
    a = _story(
        1,
        t0,
        title="Turkey joins genocide case against Israel at the world court",
        summary="Turkey filed its intervention in the genocide case at the world court.",
        outlet="A",
        **ents,
    )
    b = _story(
        2,
        t0 + timedelta(hours=1),
        title="Fidan: South Africa case deserves support from every state",
        summary="Hakan Fidan said the South Africa case deserves support from every state.",
        outlet="B",
        **ents,
    )
    for s in (a, b):
        s.event_id = s.id
        lookup.add(s, s.fetched_at)
    bridge = _story(
        3,
        t0 + timedelta(hours=2),
        title="Turkey joins South Africa genocide case at the world court, Fidan says",
        summary="Turkey filed its intervention in the South Africa genocide case at the world "
        "court; Hakan Fidan said the case deserves support from every state.",
        outlet="C",
        **ents,
    )
    d = assign_event(bridge, lookup)
    assert d.reason == "event"
    assert d.event_id == a.id
    assert d.merged == [b.id]
    lookup.merge_events(d.event_id, d.merged)
    assert lookup.event_of(b.id) == a.id
    # Merging again changes nothing.
    lookup.merge_events(d.event_id, d.merged)
    assert lookup.event_of(b.id) == lookup.event_of(a.id) == a.id


def test_a_bridge_is_refused_when_the_union_would_exceed_the_span() -> None:
    lookup = MemoryEventLookup()
    t0 = datetime(2024, 8, 1, tzinfo=UTC)
    kw: dict[str, Any] = {
        "title": "Hakan Fidan and Ismail Haniyeh discuss Doha truce plan",
        "summary": "Hakan Fidan and Ismail Haniyeh discussed the Doha truce plan and hostages.",
        "people": ["Hakan Fidan", "Ismail Haniyeh"],
    }
    old = _story(1, t0, outlet="A", **kw)
    old.event_id = old.id
    lookup.add(old, t0)
    late = _story(2, t0 + timedelta(hours=60), outlet="B", **kw)
    late.event_id = late.id
    lookup.add(late, late.fetched_at)
    # The event of `old` ends at hour 0 and `late` starts at hour 60: a story at hour 70 fits
    # both spans alone, but their union would run from hour 0 to hour 70 only: allowed; at
    # hour 80 the old event is out of reach and nothing is merged.
    d = assign_event(_story(3, t0 + timedelta(hours=80), outlet="C", **kw), lookup)
    assert d.event_id == late.id
    assert d.merged == []


# ---- the decision's parts --------------------------------------------------------------------


def test_a_recurring_title_from_one_outlet_is_not_evidence() -> None:
    lookup = MemoryEventLookup()
    t0 = datetime(2024, 3, 1, 6, tzinfo=UTC)
    kw: dict[str, Any] = {
        "title": "Hakan Fidan Ismail Haniyeh Doha truce talks",
        "summary": "Hakan Fidan Ismail Haniyeh Doha truce talks.",
        "people": ["Hakan Fidan", "Ismail Haniyeh"],
    }
    first = _story(1, t0, outlet="Same", **kw)
    first.event_id = first.id
    lookup.add(first, t0)
    again = _story(2, t0 + timedelta(hours=3), outlet="Same", **kw)
    assert assign_event(again, lookup).reason == "new"
    other = _story(3, t0 + timedelta(hours=3), outlet="Other", **kw)
    assert assign_event(other, lookup).event_id == first.id


def test_conflicting_numbers_refuse_a_merge() -> None:
    lookup = MemoryEventLookup()
    t0 = datetime(2024, 6, 6, 8, tzinfo=UTC)
    a = _story(
        1,
        t0,
        title="Strike on Nuseirat school kills 22",
        summary="At least 22 people were killed when a strike hit a school in Nuseirat.",
        outlet="A",
        places=["Gaza"],
    )
    a.event_id = a.id
    lookup.add(a, t0)
    b = _story(
        2,
        t0 + timedelta(hours=5),
        title="Strike on Nuseirat school kills 31",
        summary="At least 31 people were killed when a strike hit a school in Nuseirat.",
        outlet="B",
        places=["Gaza"],
    )
    d = assign_event(b, lookup)
    assert d.reason == "new"
    assert "numbers differ" in d.note


class _AskedLookup(MemoryEventLookup):
    """Records every term whose weight is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def term_stats(self, terms: list[str]) -> TermStats:
        self.asked.update(terms)
        return super().term_stats(terms)


def test_candidates_without_enough_shared_evidence_are_never_weighed() -> None:
    """A candidate sharing a single name (and words) cannot match: its own terms' weights are
    not asked for; one sharing two names is weighed and joins."""
    lookup = _AskedLookup()
    t0 = datetime(2024, 4, 2, 9, tzinfo=UTC)
    thin = _story(
        1,
        t0,
        title="Harbour pilots strike over night shifts in Istanbul",
        summary="Pilots at the Istanbul harbour walked out over night shifts and overtime.",
        outlet="A",
        places=["Istanbul"],
    )
    rich = _story(
        2,
        t0 + timedelta(hours=1),
        title="Hakan Fidan meets Ismail Haniyeh in Istanbul on truce terms",
        summary="Fidan and Haniyeh discussed truce terms and a hostage exchange in Istanbul.",
        outlet="B",
        people=["Hakan Fidan", "Ismail Haniyeh"],
        places=["Istanbul"],
    )
    for c in (thin, rich):
        c.event_id = c.id
        lookup.add(c, c.fetched_at)
    story = _story(
        3,
        t0 + timedelta(hours=2),
        title="Fidan and Haniyeh hold truce talks in Istanbul",
        summary="Hakan Fidan and Ismail Haniyeh held talks on the truce terms in Istanbul.",
        outlet="C",
        people=["Hakan Fidan", "Ismail Haniyeh"],
        places=["Istanbul"],
    )
    lookup.asked.clear()
    d = assign_event(story, lookup)
    assert d.reason == "event"
    assert d.event_id == rich.id
    # The thin one's own words are never asked for; the rich one's are.
    assert not {t for t in lookup.asked if t.startswith(("w:harbou", "w:pilot"))}
    assert {t for t in lookup.asked if t.startswith("w:hostag")}


def test_event_terms_are_keyword_strings_by_kind() -> None:
    s = make_story(
        1,
        title="Erdoğan, Netanyahu'yu 90 kişinin öldüğü saldırı nedeniyle eleştirdi",
        summary="Cumartesi günü yapılan açıklama.",
        people=["Recep Tayyip Erdogan", "Benjamin Netanyahu"],
        places=["Israel"],
        lang="tr",
    )
    terms = event_terms(s)
    assert terms == sorted(set(terms))
    assert {"p:recep tayyip erdogan", "p:benjamin netanyahu", "l:israel", "n:90", "d:6"} <= set(
        terms
    )
    # A name is one entity term, not three words as well.
    assert not {"w:erdoga", "w:netany", "w:recep"} & set(terms)
    assert all(t[:2] in {"p:", "o:", "l:", "n:", "y:", "d:", "m:", "w:"} for t in terms)


def test_scores_are_bounded_and_symmetric() -> None:
    a = event_text("Fidan meets Haniyeh in Doha", "Talks on a truce.", ["Hakan Fidan"], [], [])
    b = event_text("Haniyeh and Fidan talk truce", "In Doha.", ["Hakan Fidan"], [], ["Qatar"])
    w = Weights(TermStats(100, {"p:hakan fidan": 10}))
    for same in (True, False):
        assert 0.0 <= score(a, b, w, same) == score(b, a, w, same) <= 1.0
    assert headline_cover(a, b, w) == headline_cover(b, a, w)
    assert score(a, a, w, True) == pytest.approx(1.0)


def test_candidate_from_story_keeps_what_the_decision_reads() -> None:
    s = make_story(5, people=["Hakan Fidan"], orgs=["Hamas"], places=["Qatar"], lang="en")
    s.cluster_id = "c"
    c = EventCandidate.from_story(s, NOW - timedelta(hours=1))
    assert (c.id, c.event_id, c.event_start, c.first_seen) == (
        "id5",
        "c",
        NOW - timedelta(hours=1),
        NOW,
    )
    assert (c.people, c.orgs, c.places, c.lang) == (["Hakan Fidan"], ["Hamas"], ["Qatar"], "en")


def test_the_lookup_reads_a_bounded_slice_of_a_common_terms_postings() -> None:
    lookup = MemoryEventLookup(per_term=50)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(400):
        s = _story(i, t0 + timedelta(minutes=i), title=f"Gaza item {i}", summary=f"text {i}")
        s.places = ["Gaza"]
        s.event_id = s.id
        lookup.add(s, s.fetched_at)
    probe = _story(999, t0 + timedelta(minutes=500), title="Gaza probe", summary="x")
    probe.places = ["Gaza"]
    found = lookup.event_candidates(probe, t0)
    assert 0 < len(found) <= lookup.max_candidates
    # Newest first within the slice: the latest stories are the ones read.
    assert all(int(c.id[2:]) >= 350 for c in found)


def test_re_adding_a_story_replaces_it_and_keeps_document_frequencies() -> None:
    lookup = MemoryEventLookup()
    s = _story(1, NOW, title="Fidan visits Doha", summary="Talks.", people=["Hakan Fidan"])
    s.event_id = s.id
    lookup.add(s, NOW)
    lookup.add(s, NOW)
    assert len(lookup) == 1
    assert lookup.term_stats(["p:hakan fidan"]) == TermStats(1, {"p:hakan fidan": 1})


def test_the_lookup_ranks_ties_by_id_and_leaves_out_stories_before_since() -> None:
    """Equal scores past the candidate limit are decided by id; older stories never count."""
    lookup = MemoryEventLookup(max_candidates=3)
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    for i in range(8):
        s = _story(i, t0 + timedelta(hours=i), title=f"Ferry item {i}", summary="Harbour note.")
        s.places = ["Qatar"]
        s.event_id = s.id
        lookup.add(s, s.fetched_at)
    probe = _story(99, t0 + timedelta(hours=10), title="Ferry probe", summary="Nothing else.")
    probe.places = ["Qatar"]
    since = t0 + timedelta(hours=2)  # stories 0 and 1 came before it
    found = lookup.event_candidates(probe, since)
    later = sorted(make_story(i).id for i in range(2, 8))
    assert [c.id for c in found] == later[:3]
    # Asked again, the same candidates come back, with the events they belong to now.
    lookup.merge_events(later[0], [later[1]])
    again = {c.id: c.event_id for c in lookup.event_candidates(probe, since)}
    assert again == {later[0]: later[0], later[1]: later[0], later[2]: later[2]}


def test_the_lookup_counts_over_every_row_or_sorts_its_postings_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small indices count with `bincount` over every row, large ones sort their postings
    (`event_memory._DENSE_PER_POSTING`): the same candidates, scores and order either way,
    removed rows and stories before `since` left out in both."""
    from monitor.dedupe import event_memory

    rnd = random.Random(5)
    words = [f"harbour{i}" for i in range(200)]
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    # Room for every story found, so rows found through a single posting count too.
    lookup = MemoryEventLookup(max_candidates=1000)
    for i in range(300):
        s = _story(
            i,
            t0 + timedelta(minutes=7 * i),
            title=" ".join(rnd.sample(words, 5)),
            summary=" ".join(rnd.sample(words, 8)),
        )
        s.places = [rnd.choice(["Qatar", "Gaza", "Ankara"])]
        s.event_id = s.id
        lookup.add(s, s.fetched_at)
    lookup.add(_story(17, t0, title="Replaced", summary="Gone."), t0)  # leaves a dead row
    probes = []
    for k in range(25):
        p = _story(
            1000 + k,
            t0 + timedelta(days=1),
            title=" ".join(rnd.sample(words, 6)),
            summary=" ".join(rnd.sample(words, 8)),
        )
        p.places = ["Gaza"]
        probes.append(p)
    since = t0 + timedelta(hours=3)

    def found(dense_per_posting: int) -> list[list[str]]:
        monkeypatch.setattr(event_memory, "_DENSE_PER_POSTING", dense_per_posting)
        return [[c.id for c in lookup.event_candidates(p, since)] for p in probes]

    counted, sorted_ = found(10**9), found(0)
    assert counted == sorted_
    assert all(ids for ids in counted)
    assert all(make_story(17).id not in ids for ids in counted)


def test_weights_of_counted_and_uncounted_terms_follow_the_formula() -> None:
    """Counted terms' weights are computed up front and the others on first use: both are
    log(1 + (n + 1) / (df + 1)) to the bit."""
    import math

    w = Weights(TermStats(500, {"p:hakan fidan": 3, "l:gaza": 420}))
    assert w("p:hakan fidan") == math.log(1.0 + 501 / 4)
    assert w("l:gaza") == math.log(1.0 + 501 / 421)
    assert w("w:harbour") == math.log(1.0 + 501 / 1)
    both = frozenset({"l:gaza", "w:harbour"})
    assert w.total(both) == sum(w(t) for t in both)
