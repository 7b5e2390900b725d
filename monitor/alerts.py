"""Subscriber rules: which stories go to whom, when digests are due, and the ledger keys.

Pure: the pipeline runs the searches (via `store`) and the sending (via `mail`). A delivery id
is a hash of who, which rule and what (the event, or the digest period), so the ledger refuses a
second send of the same thing whatever retries, overlapping windows or another outlet's or
language's report of the event do.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from monitor.config import AlertRule, Subscriber
from monitor.models import Story


@dataclass(frozen=True)
class Report:
    """One outlet's report of an event, as linked in an alert."""

    outlet: str
    url: str
    lang: str | None = None


@dataclass
class StoryHit:
    """A story as shown in an alert: one per event, with every outlet and language that
    reported it (`reports`, the shown story first)."""

    id: str
    cluster_id: str
    title: str
    summary: str
    url: str
    outlet: str
    published: str | None
    topics: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    also_reported_by: list[str] = field(default_factory=list)
    lang: str | None = None
    event_id: str = ""
    # Title and summary fragment with the matched terms marked (models.HIGHLIGHT_START/END).
    highlight: dict[str, str] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)

    def add_reports(self, stories: Sequence[Story]) -> None:
        """Add the reports of these stories not listed yet (one per URL), and their outlets."""
        seen = {r.url for r in self.reports}
        for s in stories:
            if s.url and s.url not in seen:
                seen.add(s.url)
                self.reports.append(Report(s.outlet, s.url, s.lang))
        outlets = {r.outlet for r in self.reports} | set(self.also_reported_by)
        self.also_reported_by = sorted(outlets - {self.outlet, ""})

    @property
    def languages(self) -> list[str]:
        return sorted(
            {r.lang for r in self.reports if r.lang} | ({self.lang} if self.lang else set())
        )


@dataclass
class PlannedMail:
    """One e-mail to send: its ledger id, recipient, rule and the stories it lists."""

    delivery_id: str
    subscriber: Subscriber
    rule: AlertRule
    mode: str
    stories: list[StoryHit]
    period: str | None = None
    window: tuple[datetime, datetime] | None = None
    # mode "overflow": how many more matches this run than the rule's cap allowed to send,
    # the ledger ids of the instant mails it stands for, and where to see them all.
    more: int = 0
    covers: list[str] = field(default_factory=list)
    link: str | None = None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def instant_delivery_id(email: str, rule: str, event_id: str) -> str:
    """The instant mail's ledger key: one per (subscriber, rule, event).

    Earlier versions keyed it by cluster; an event's id is its first report's id, as a
    cluster's is, and every story grouped before events existed has ``event_id ==
    cluster_id``, so the keys of mails already sent are the same and nothing is resent.
    """
    return "i-" + _digest(email.lower(), rule, event_id)


def digest_delivery_id(email: str, rule: str, period: str) -> str:
    return "d-" + _digest(email.lower(), rule, period)


def event_key(s: Story) -> str:
    return s.event_id or s.cluster_id or s.id


def hits_by_cluster(stories: Sequence[Story]) -> list[StoryHit]:
    """One hit per event (reports of one event, copies or rewordings in any language, are
    listed once), shown by its first primary story, in first-seen order."""
    chosen: dict[str, Story] = {}
    members: dict[str, list[Story]] = {}
    for s in stories:
        key = event_key(s)
        members.setdefault(key, []).append(s)
        if key not in chosen or (s.is_primary and not chosen[key].is_primary):
            chosen[key] = s
    hits = []
    for key, s in chosen.items():
        hit = StoryHit(
            id=s.id,
            cluster_id=s.cluster_id or s.id,
            title=s.title,
            summary=s.summary,
            url=s.url,
            outlet=s.outlet,
            published=s.published.isoformat() if s.published else None,
            topics=list(s.topics),
            people=list(s.people),
            also_reported_by=sorted(set(s.outlets) - {s.outlet}),
            lang=s.lang,
            event_id=key,
            highlight=dict(s.highlight),
        )
        hit.add_reports([s, *members[key]])
        hits.append(hit)
    return hits


def instant_rules(subscribers: Sequence[Subscriber]) -> list[tuple[Subscriber, AlertRule]]:
    return [(s, r) for s in subscribers for r in s.alerts if r.mode == "instant"]


def digest_rules(subscribers: Sequence[Subscriber]) -> list[tuple[Subscriber, AlertRule]]:
    return [(s, r) for s in subscribers for r in s.alerts if r.mode == "digest"]


def plan_instant(
    pairs: Sequence[tuple[Subscriber, AlertRule]], results: Sequence[Sequence[Story]]
) -> list[PlannedMail]:
    """One mail per (subscriber, rule, event) found by that rule's search."""
    mails = []
    for (sub, rule), sources in zip(pairs, results, strict=True):
        for hit in hits_by_cluster(sources):
            mails.append(
                PlannedMail(
                    delivery_id=instant_delivery_id(sub.email, rule.name, hit.event_id),
                    subscriber=sub,
                    rule=rule,
                    mode="instant",
                    stories=[hit],
                )
            )
    return mails


def overflow_delivery_id(email: str, rule: str, covered: Sequence[str]) -> str:
    """The over-cap e-mail's ledger key: the same set of matches never gets it twice."""
    return "o-" + _digest(email.lower(), rule, *sorted(covered))


def _rison(text: str) -> str:
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def search_link(
    query: str, start: datetime, end: datetime, *, kibana_url: str | None, data_view: str
) -> str:
    """Where to see every match of a rule in a window: Kibana Discover when a Kibana URL is
    configured (Lucene query, the window on the data view's time field with an hour's slack
    for stories fetched before they were grouped), else the `newsmon search` command line."""
    if kibana_url:
        t0 = (start - timedelta(hours=1)).astimezone(UTC).isoformat(timespec="seconds")
        t1 = end.astimezone(UTC).isoformat(timespec="seconds")
        g = f"(time:(from:{_rison(t0)},to:{_rison(t1)}))"
        a = (
            f"(dataSource:(dataViewId:{_rison(data_view)},type:dataView),"
            f"query:(language:lucene,query:{_rison(query)}))"
        )
        safe = "()':,!*/-"
        return (
            f"{kibana_url.rstrip('/')}/app/discover#/?_g={quote(g, safe=safe)}"
            f"&_a={quote(a, safe=safe)}"
        )
    hours = max(1, -(-int((end - start).total_seconds()) // 3600))
    return f"newsmon search {shlex.quote(query)} --since {hours}h"


def cap_instant(
    mails: Sequence[PlannedMail],
    cap_for: Callable[[AlertRule], int],
    link_for: Callable[[AlertRule], str],
) -> list[PlannedMail]:
    """At most `cap_for(rule)` instant mails per subscriber and rule; the matches past the cap
    are announced by one "overflow" mail saying how many and where to see them."""
    by_rule: dict[tuple[str, str], list[PlannedMail]] = {}
    for m in mails:
        by_rule.setdefault((m.subscriber.email, m.rule.name), []).append(m)
    out: list[PlannedMail] = []
    for group in by_rule.values():
        cap = cap_for(group[0].rule)
        out += group[:cap]
        rest = group[cap:]
        if not rest:
            continue
        first = rest[0]
        covers = [m.delivery_id for m in rest]
        out.append(
            PlannedMail(
                delivery_id=overflow_delivery_id(first.subscriber.email, first.rule.name, covers),
                subscriber=first.subscriber,
                rule=first.rule,
                mode="overflow",
                stories=[],
                more=len(rest),
                covers=covers,
                link=link_for(first.rule),
            )
        )
    return out


def digest_slot(spec: str, tz_name: str, now: datetime) -> tuple[str, datetime, datetime]:
    """The latest digest slot at or before `now`: (period key, window start, window end), UTC.

    'daily HH:MM' and 'weekdays HH:MM' are in the subscriber's time zone; the window runs from
    the previous slot to this one, so consecutive digests neither overlap nor leave gaps, also
    across daylight-saving changes (a 23- or 25-hour day is one window).
    """
    tz = ZoneInfo(tz_name)
    local = now.astimezone(tz)
    kind, _, hhmm = spec.partition(" ")
    if kind == "hourly":
        # Hours are counted in UTC, not on the local wall clock: the repeated hour of an autumn
        # DST change is two slots, not one slot twice. Floor to the local hour so zones with
        # a half-hour offset get their digests on their own hour.
        end = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        start = end - timedelta(hours=1)
        # The offset keeps the keys of the repeated local hour apart.
        key = end.astimezone(tz).isoformat(timespec="minutes")
        return key, start, end
    h, m = (int(x) for x in hhmm.split(":"))
    at = time(h, m)
    weekdays_only = kind == "weekdays"

    def slot_on(day: date) -> datetime:
        # A time skipped by a spring-forward change resolves to the instant it would have been
        # on the old offset (zoneinfo's fold=0), i.e. just after the change: never lost.
        return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)

    def previous(day: date) -> date:
        day -= timedelta(days=1)
        while weekdays_only and day.weekday() >= 5:
            day -= timedelta(days=1)
        return day

    day = local.date()
    while weekdays_only and day.weekday() >= 5:
        day = previous(day)
    # Compare instants, not wall-clock times: on a spring-forward day a slot inside the skipped
    # hour lies after a wall-clock time that reads later than it.
    while slot_on(day) > now:
        day = previous(day)
    return day.isoformat(), slot_on(previous(day)), slot_on(day)


def query_syntax_problem(query: str) -> str | None:
    """Why a rule's Lucene query does not parse (one line), or None. Used when Elasticsearch
    is not reachable to validate it for real (its validate-query API is the authority)."""
    from luqum.exceptions import ParseError
    from luqum.parser import parser

    if not query.strip():
        return "the query is empty"
    try:
        parser.parse(query)
    except ParseError as e:
        return " ".join(str(e).split())
    return None


def window_start(
    cursor: datetime | None, now: datetime, *, overlap: timedelta, first_run: timedelta
) -> datetime:
    """Start of an instant-alert window: last cursor minus an overlap (the ledger makes it safe).

    The overlap catches stories that were indexed just before the previous run but became
    searchable only after it (Elasticsearch refresh), at no risk of a second e-mail.
    """
    return (cursor - overlap) if cursor else (now - first_run)
