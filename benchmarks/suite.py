"""Every benchmark in one run, one JSON object on stdout (`benchmarks/run` calls this).

    benchmarks/run [--quick] [--rounds N] [--only poll,ingest,...] [--es-url URL]

Builds its own data: `feeds` synthetic RSS files (`entries` items each, text drawn from a word
list written for this benchmark, one item in ten a reworded copy of another outlet's), served by
localdev's FeedServer with 50 ms added to every response. Starts a localdev Elasticsearch unless
NEWSMON_BENCH_ES_URL (or --es-url) names one. Progress goes to stderr, the JSON to stdout.

Figures (medians over rounds; every ratio is taken from runs alternated within one round):

- poll: `monitor.pipeline.poll(settings, batch)` over every feed, in a fresh subprocess per
  measurement under a fresh index prefix (first poll, then the all-304 second poll), beside a
  sequential httpx + feedparser loop and a bare asyncio httpx + feedparser loop at concurrency 64
  over the same feeds (each in its own subprocess too: wall, CPU, peak RSS).
- process_vs_parse: CPU per story through normalise + dedupe (cluster) + events + tag over
  feedparser's own CPU for the same entries.
- ingest_vs_raw_bulk: the throughput of `store.stories.index` over `helpers.bulk` of the same
  documents into the same node (so: raw seconds / newsmon seconds).
- tagging_alias_scale_10x, dedupe_index_scale_100x: benchmarks/bench_tagging.py's and
  benchmarks/bench_dedupe.py's ratios.
- emails_100_s: benchmarks/bench_mail.py.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

__all__ = [
    "TARGETS",
    "Sizes",
    "generate_feeds",
    "judge",
    "main",
    "write_config",
]

# Targets of issue #14 on a two-core machine: (key, "<=" or ">=", bound).
TARGETS: dict[str, tuple[str, float]] = {
    "poll_1000_feeds_s": ("<=", 20.0),
    "poll_1000_feeds_304_s": ("<=", 3.0),
    "poll_speedup_vs_sequential": (">=", 3.0),
    "poll_vs_async_limit": ("<=", 1.5),
    "process_vs_parse": ("<=", 1.5),
    "ingest_vs_raw_bulk": (">=", 0.8),
    "dedupe_index_scale_100x": ("<=", 1.5),
    "tagging_alias_scale_10x": ("<=", 1.2),
    "emails_100_s": ("<=", 10.0),
    "peak_rss_mb": ("<=", 500.0),
}
BENCHMARKS = ("poll", "process", "ingest", "tagging", "dedupe", "mail")


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs: the full run and `--quick`'s smoke-test sizes."""

    feeds: int
    entries: int
    rounds: int
    process_feeds: int
    ingest_stories: int
    tagging_stories: int
    tagging_rounds: int
    dedupe_sizes: tuple[int, int]
    dedupe_probes: int
    emails: int


FULL = Sizes(1000, 20, 3, 100, 20_000, 2000, 7, (1000, 100_000), 400, 100)
QUICK = Sizes(60, 20, 1, 10, 1000, 200, 3, (100, 10_000), 60, 100)

# ---- synthetic feeds ---------------------------------------------------------------------------


# Plain words of a made-up newswire: nouns, verbs and function words, enough to give stories
# distinct bigrams while copies of one story still share most of theirs.
def _split(text: str) -> list[str]:
    return text.split()


_FUNCTION = _split("the a of to in on for with by at from and but as after before over under")
_WORDS = _split("""
harbour council ministry envoy summit border drought grain vote tariff corridor bridge river
railway pipeline mayor governor senate cabinet budget strike union factory farmers fishermen
court judge ruling appeal protest march crowd police ferry airport runway storm flood heatwave
wildfire orchard vineyard quarry mine refinery market prices wages rent housing school teachers
hospital nurses vaccine clinic museum library festival stadium league coach striker match final
treaty talks delegation mediator ceasefire convoy aid shelter village valley coast island
province district capital suburb tunnel highway canal dam reservoir turbine solar grid outage
report audit inquiry probe leak memo statement spokesperson minister president premier deputy
opposition coalition party election ballot turnout recount campaign rally pledge reform bill law
agreed rejected delayed announced warned urged blocked approved signed cancelled expanded cut
raised lowered reopened closed launched suspended resumed criticised praised questioned
defended visited hosted welcomed left arrived returned met said told asked promised denied
quiet sudden long brief northern southern eastern western new old local national regional
foreign rural urban early late record modest sharp fresh second third final annual
""")
_NAMES = _split("""
Aldermoor Brisk Calloway Dunmere Elstow Farrowby Galloway Hesketh Ilbury Jessop Kettering
Lowther Marden Norwood Oakhurst Pemberly Quillan Redfern Saltash Thornbury Upwood Vantry
Westcott Yarrow Zennor
""")


# Names the tagger knows, as a real wire names them: most stories carry a place or two, many a
# person or an organisation, and some a number. Without them the event decision would never
# find evidence to weigh (made-up names are no entity), and its cost here would not be the cost
# it has on real news.
_PLACES = [
    *_split("""
    Ankara Istanbul Jerusalem Cairo Doha Beirut Berlin Paris Moscow Tehran Amman Baghdad Athens
    Baku Riyadh Cyprus Jordan Egypt Qatar Lebanon Syria Iran Iraq Greece
    """),
    "Tel Aviv",
    "West Bank",
]
_PEOPLE = [
    "Recep Tayyip Erdogan",
    "Benjamin Netanyahu",
    "Ismail Haniyeh",
    "Yahya Sinwar",
    "Hakan Fidan",
    "Isaac Herzog",
    "Khaled Mashal",
    "Yoav Gallant",
]
_ORGS = _split("Hezbollah Mossad Fatah")


def _sentence(rnd: random.Random, n: int) -> list[str]:
    return [rnd.choice(_FUNCTION) if rnd.random() < 0.3 else rnd.choice(_WORDS) for _ in range(n)]


def _named(rnd: random.Random) -> list[str]:
    """One to three entities for a story's summary, and sometimes a number."""
    pools = (_PLACES, _PLACES, _PEOPLE, _ORGS)
    out = [rnd.choice(rnd.choice(pools)) for _ in range(rnd.randint(1, 3))]
    if rnd.random() < 0.4:
        out.append(str(rnd.randint(2, 900)))
    return out


def _item(rnd: random.Random, earlier: list[tuple[str, str]]) -> tuple[str, str]:
    if earlier and rnd.random() < 0.1:
        # Another outlet's story, reworded a little: one title word swapped, summary cut short.
        title, summary = rnd.choice(earlier)
        words = title.split()
        words[rnd.randrange(len(words))] = rnd.choice(_WORDS)
        cut = summary.split()
        return " ".join(words), " ".join(cut[: max(12, len(cut) * 3 // 4)]) + "."
    name = rnd.choice(_NAMES)
    lead = [rnd.choice(_PLACES)] if rnd.random() < 0.5 else []
    title = " ".join([name, *_sentence(rnd, rnd.randint(7, 11)), *lead])
    summary = " ".join(
        [*_sentence(rnd, rnd.randint(15, 30)), name, *_named(rnd), *_sentence(rnd, 20)]
    )
    summary += "."
    return title.capitalize(), summary.capitalize()


def generate_feeds(
    directory: Path, feeds: int, entries: int, now: datetime, seed: int = 14
) -> list[str]:
    """Write `feeds` RSS 2.0 files of `entries` items into `directory`; their file names."""
    rnd = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    earlier: list[tuple[str, str]] = []
    names = []
    for i in range(feeds):
        items = []
        for j in range(entries):
            title, summary = _item(rnd, earlier[-400:])
            earlier.append((title, summary))
            when = format_datetime(now - timedelta(minutes=7 * j + i % 60), usegmt=True)
            link = f"https://outlet-{i:04d}.example/news/{i}-{j}"
            items.append(
                f"<item><title>{escape(title)}</title><link>{link}</link>"
                f'<guid isPermaLink="true">{link}</guid><pubDate>{when}</pubDate>'
                f"<description>{escape(summary)}</description></item>"
            )
        name = f"feed-{i:04d}.xml"
        (directory / name).write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Outlet {i}</title><link>https://outlet-{i:04d}.example/</link>"
            f"<description>Synthetic benchmark feed {i}</description><language>en</language>"
            + "".join(items)
            + "</channel></rss>\n",
            encoding="utf-8",
        )
        names.append(name)
    return names


def write_config(directory: Path, urls: Sequence[str]) -> Path:
    """A configuration directory polling `urls` (ids bench-0000…) with the shipped topics."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["feeds:"]
    for i, url in enumerate(urls):
        lines += [
            f"  - id: bench-{i:04d}",
            f"    url: {url}",
            f"    name: Outlet {i}",
            "    language: en",
        ]
    (directory / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(ROOT / "config" / "topics.yaml", directory / "topics.yaml")
    return directory


# ---- the JSON ----------------------------------------------------------------------------------


def judge(figures: dict[str, Any]) -> dict[str, Any]:
    """`figures` plus, for every target, the bound and whether it holds (None: not measured)."""
    out = dict(figures)
    out["targets"] = {
        key: {
            "target": f"{op} {bound:g}",
            "value": figures.get(key),
            "holds": None
            if figures.get(key) is None
            else (figures[key] <= bound if op == "<=" else figures[key] >= bound),
        }
        for key, (op, bound) in TARGETS.items()
    }
    return out


def _say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _med(xs: Sequence[float]) -> float:
    return round(statistics.median(xs), 4)


# ---- subprocess measurements ------------------------------------------------------------------


def _peak_rss_kb() -> int:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of the big
    # benchmark process would report the parent's size.
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def es_endpoint(target: str) -> str:
    """The endpoint a request path names ("/stories/_bulk?refresh=false" -> "_bulk"), or
    "document" for a path without one ("/stories/" + an id)."""
    path = target.split("?", 1)[0].split("/")
    return next((p for p in path if p.startswith("_")), "document")


def time_calls(
    owner: Any, name: str, label: str | Callable[..., str], spent: dict[str, float]
) -> None:
    """Add the wall seconds of every call of `owner.name` to `spent[label]` from now on (a
    module function looked up by its callers at call time, or a method). `label` may be a
    function of the call's arguments."""
    real = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            key = label if isinstance(label, str) else label(*args, **kwargs)
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - t

    setattr(owner, name, timed)


def _time_es_requests() -> dict[str, float]:
    """Wall seconds this process spends inside Elasticsearch requests, by endpoint ("_bulk",
    "_msearch", ...), from now on: what a poll waits for, beside its own CPU."""
    import elastic_transport

    def endpoint(_transport: Any, _method: str, target: str, *_args: Any, **_kw: Any) -> str:
        return es_endpoint(target)

    waited: dict[str, float] = {}
    time_calls(elastic_transport.Transport, "perform_request", endpoint, waited)
    return waited


# Where a poll's wall time goes, by stage: (module, function, label). The labels nest:
# "parse" and "tag_index" are the steps, "decide" and "wait_for_writes" parts of "group".
POLL_PHASES = (
    ("monitor.pipeline.polling", "fetch_feeds", "fetch"),
    ("monitor.pipeline.polling", "parse_feed", "parse"),
    ("monitor.pipeline.polling", "_index_new", "tag_index"),
    ("monitor.pipeline.polling", "group_pending", "group"),
    ("monitor.pipeline.grouping", "decide_groups", "decide"),
    ("monitor.pipeline.grouping", "_Writer.wait", "wait_for_writes"),
)


def phase_owner(module: str, path: str) -> tuple[Any, str]:
    """What holds a `POLL_PHASES` function (its module, or its class), and its name."""
    owner: Any = importlib.import_module(module)
    *classes, name = path.split(".")
    for c in classes:
        owner = getattr(owner, c)
    return owner, name


def _time_poll_phases() -> dict[str, float]:
    spent: dict[str, float] = {}
    for module, path, label in POLL_PHASES:
        time_calls(*phase_owner(module, path), label, spent)
    return spent


def _child(mode: str, urls_file: str | None) -> None:
    """Run in a fresh process: one measurement, its figures as JSON on stdout."""
    t0, c0 = time.perf_counter(), time.process_time()
    figures: dict[str, Any] = {}
    if mode in ("init", "poll"):
        from monitor import pipeline
        from monitor.config import load_settings

        settings = load_settings()
        if mode == "init":
            pipeline.init(settings)
        else:
            ids = [f.id for f in settings.feeds]
            waited = _time_es_requests()
            phases = _time_poll_phases()
            t0, c0 = time.perf_counter(), time.process_time()
            report = pipeline.poll(settings, ids)
            rows = report["feeds"]
            figures = {
                "stories_new": report["stories_new"],
                "stories_seen": report["stories_seen"],
                "feeds_failed": report["feeds_failed"],
                "not_modified": sum(1 for r in rows if r["status"] == "not modified"),
                "clustered": report["duplicates_clustered"],
                "es_request_s": {
                    "all": round(sum(waited.values()), 2),
                    **{k: round(v, 2) for k, v in sorted(waited.items(), key=lambda kv: -kv[1])},
                },
                "phase_wall_s": {k: round(v, 2) for k, v in phases.items()},
            }
    else:
        import feedparser
        import httpx

        urls = Path(urls_file or "").read_text(encoding="utf-8").split()
        t0, c0 = time.perf_counter(), time.process_time()
        entries = 0
        if mode == "sequential":
            with httpx.Client(timeout=30) as client:
                for url in urls:
                    entries += len(feedparser.parse(client.get(url).content).entries)
        else:

            async def loop() -> int:
                sem = asyncio.Semaphore(64)
                limits = httpx.Limits(max_connections=64)
                async with httpx.AsyncClient(timeout=30, limits=limits) as client:

                    async def one(url: str) -> int:
                        async with sem:
                            body = (await client.get(url)).content
                        return len(feedparser.parse(body).entries)

                    return sum(await asyncio.gather(*(one(u) for u in urls)))

            entries = asyncio.run(loop())
        figures = {"entries": entries}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures |= {
        "wall_s": round(time.perf_counter() - t0, 3),
        "cpu_s": round(time.process_time() - c0, 3),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(_peak_rss_kb() / 1024, 1),
    }
    print(json.dumps(figures))


def _run_child(mode: str, env: dict[str, str], urls_file: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    if urls_file is not None:
        cmd += ["--urls", str(urls_file)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT, timeout=3600
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {mode!r} failed:\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process_wall_s"] = round(wall, 3)
    return figures


def bench_poll(es_url: str, feed_dir: Path, sizes: Sizes, work: Path) -> dict[str, Any]:
    """First and all-304 polls through the pipeline beside the two bare loops, alternated."""
    from localdev import elasticsearch as local_es
    from localdev.feedserver import FeedServer
    from monitor.config import ElasticsearchSettings
    from monitor.store import open_store

    names = sorted(p.name for p in feed_dir.glob("*.xml"))
    results: dict[str, list[dict[str, Any]]] = {
        "newsmon_first": [],
        "newsmon_304": [],
        "sequential": [],
        "async64": [],
    }
    with FeedServer(feed_dir, latency=0.05) as server:
        urls = [server.url_for(n) for n in names]
        cfg = write_config(work / "config", urls)
        urls_file = work / "urls.txt"
        urls_file.write_text("\n".join(urls), encoding="utf-8")
        for r in range(sizes.rounds):
            prefix = f"bench-{secrets.token_hex(4)}"
            env = dict(
                os.environ,
                NEWSMON_CONFIG_DIR=str(cfg),
                NEWSMON_ES_URL=es_url,
                NEWSMON_INDEX_PREFIX=prefix,
                NEWSMON_ALLOW_PRIVATE_FEEDS="1",
            )

            def newsmon(env: dict[str, str] = env) -> None:
                _run_child("init", env)
                first = _run_child("poll", env)
                _say(f"  newsmon first poll: {first}")
                results["newsmon_first"].append(first)
                again = _run_child("poll", env)
                _say(f"  newsmon 304 poll: {again}")
                results["newsmon_304"].append(again)

            def sequential(env: dict[str, str] = env) -> None:
                results["sequential"].append(_run_child("sequential", env, urls_file))
                _say(f"  sequential loop: {results['sequential'][-1]}")

            def async64(env: dict[str, str] = env) -> None:
                results["async64"].append(_run_child("async", env, urls_file))
                _say(f"  async loop at 64: {results['async64'][-1]}")

            steps: list[Callable[[], None]] = [newsmon, sequential, async64]
            _say(f"poll round {r + 1}/{sizes.rounds} ({len(urls)} feeds)")
            for step in steps if r % 2 == 0 else steps[::-1]:
                step()
            local_es.delete_prefixed(
                open_store(ElasticsearchSettings(url=es_url), prefix).es, prefix
            )

    def med(kind: str, key: str) -> float:
        return _med([m[key] for m in results[kind]])

    first, again = med("newsmon_first", "wall_s"), med("newsmon_304", "wall_s")
    seq, asy = med("sequential", "wall_s"), med("async64", "wall_s")
    return {
        "poll_1000_feeds_s": first,
        "poll_1000_feeds_304_s": again,
        "poll_speedup_vs_sequential": round(seq / first, 3),
        "poll_vs_async_limit": round(first / asy, 3),
        "peak_rss_mb": max(m["peak_rss_mb"] for m in results["newsmon_first"]),
        "poll": {
            "feeds": len(names),
            "latency_s": 0.05,
            "rounds": sizes.rounds,
            "median": {
                kind: {k: med(kind, k) for k in ("wall_s", "cpu_s", "peak_rss_mb")}
                for kind in results
            },
            "runs": results,
        },
    }


# ---- in-process measurements ------------------------------------------------------------------


def _bodies(feed_dir: Path, count: int) -> list[tuple[str, bytes]]:
    paths = sorted(feed_dir.glob("*.xml"))[:count]
    return [(p.stem, p.read_bytes()) for p in paths]


def bench_process(feed_dir: Path, sizes: Sizes, now: datetime) -> dict[str, Any]:
    """CPU per story after parsing (normalise + cluster + event + tag) over feedparser's CPU."""
    import feedparser
    from bench_dedupe import _decide

    from monitor.dedupe import MemoryEventLookup, MemoryLookup
    from monitor.dedupe import clear_caches as clear_dedupe
    from monitor.dedupe.event_features import clear_event_caches
    from monitor.parse import parse_feed
    from monitor.pipeline.polling import tag_stories
    from monitor.tagging import Tagger, load_taxonomy
    from monitor.urls import clear_canonical_cache

    bodies = _bodies(feed_dir, sizes.process_feeds)
    tagger = Tagger(load_taxonomy(ROOT / "config" / "topics.yaml"))
    parts: dict[str, list[float]] = {"feedparser": [], "parse_feed": [], "tag": [], "decide": []}
    stories_n = 0
    for r in range(max(3, sizes.rounds)):
        clear_dedupe()
        clear_event_caches()
        clear_canonical_cache()  # a poll's links are new ones: no round may find them known

        def fp() -> None:
            c = time.process_time()
            for _, body in bodies:
                feedparser.parse(body)
            parts["feedparser"].append(time.process_time() - c)

        stories: list[Any] = []

        def ours(stories: list[Any] = stories) -> None:
            c = time.process_time()
            for fid, body in bodies:
                stories.extend(
                    parse_feed(
                        body,
                        feed_id=fid,
                        outlet=fid,
                        base_url=f"https://{fid}.example/",
                        fetched_at=now,
                        default_lang="en",
                    ).stories
                )
            c1 = time.process_time()
            stories.sort(key=lambda s: (s.published or s.fetched_at, s.id))
            tag_stories(stories, tagger)
            c2 = time.process_time()
            lookup, events = MemoryLookup(), MemoryEventLookup()
            for s in stories:
                _decide(s, lookup, events)
                lookup.add(s)
                events.add(s, s.published or s.fetched_at)
            c3 = time.process_time()
            parts["parse_feed"].append(c1 - c)
            parts["tag"].append(c2 - c1)
            parts["decide"].append(c3 - c2)

        for step in (fp, ours) if r % 2 == 0 else (ours, fp):
            step()
        stories_n = len(stories)
    fp_s = statistics.median(parts["feedparser"])
    after = [
        p - f + t + d
        for p, f, t, d in zip(
            parts["parse_feed"], parts["feedparser"], parts["tag"], parts["decide"], strict=True
        )
    ]
    per = {k: round(statistics.median(v) / stories_n * 1e6, 1) for k, v in parts.items()}
    per["normalise"] = round(per["parse_feed"] - per["feedparser"], 1)
    return {
        "process_vs_parse": round(statistics.median(after) / fp_s, 3),
        "process": {"stories": stories_n, "cpu_us_per_story": per},
    }


def tagged_stories(
    feed_dir: Path,
    now: datetime,
    *,
    limit: int | None = None,
    base_url: str = "https://x.example/",
    default_lang: str | None = None,
) -> list[Any]:
    """The stories of the generated feeds in `feed_dir` (file order, at most `limit`), parsed
    and tagged as a poll does; benchmarks and the same-output test share this."""
    from monitor.parse import parse_feed
    from monitor.pipeline.polling import tag_stories
    from monitor.tagging import Tagger, load_taxonomy

    out: list[Any] = []
    for p in sorted(feed_dir.glob("*.xml")):
        if limit is not None and len(out) >= limit:
            break
        out += parse_feed(
            p.read_bytes(),
            feed_id=p.stem,
            outlet=p.stem,
            base_url=base_url,
            fetched_at=now,
            default_lang=default_lang,
        ).stories
    out = out[:limit]
    tag_stories(out, Tagger(load_taxonomy(ROOT / "config" / "topics.yaml")))
    return out


def bench_ingest(es_url: str, feed_dir: Path, sizes: Sizes, now: datetime) -> dict[str, Any]:
    """`store.stories.index` versus `helpers.bulk` of the same documents, alternated."""
    from elasticsearch import helpers

    from localdev import elasticsearch as local_es
    from monitor.config import ElasticsearchSettings
    from monitor.store import open_store
    from monitor.store.documents import story_to_doc

    stories = tagged_stories(feed_dir, now, limit=sizes.ingest_stories)
    times: dict[str, list[float]] = {"newsmon": [], "raw_bulk": []}
    for r in range(max(3, sizes.rounds)):

        def fresh() -> tuple[Any, str]:
            prefix = f"bench-{secrets.token_hex(4)}"
            store = open_store(ElasticsearchSettings(url=es_url), prefix)
            store.lifecycle.install(now)
            return store, prefix

        def ours() -> None:
            store, prefix = fresh()
            t = time.perf_counter()
            store.stories.index(stories, now=now)
            times["newsmon"].append(time.perf_counter() - t)
            local_es.delete_prefixed(store.es, prefix)

        def raw() -> None:
            store, prefix = fresh()
            actions = [
                {
                    "_op_type": "create",
                    "_index": store.names.stories_for(s.fetched_at),
                    "_id": s.id,
                    "_source": story_to_doc(s, now),
                }
                for s in stories
            ]
            t = time.perf_counter()
            helpers.bulk(store.es, actions)
            times["raw_bulk"].append(time.perf_counter() - t)
            local_es.delete_prefixed(store.es, prefix)

        for step in (ours, raw) if r % 2 == 0 else (raw, ours):
            step()
    ours_s, raw_s = statistics.median(times["newsmon"]), statistics.median(times["raw_bulk"])
    return {
        "ingest_vs_raw_bulk": round(raw_s / ours_s, 3),
        "ingest": {
            "documents": len(stories),
            "newsmon_s": round(ours_s, 3),
            "raw_bulk_s": round(raw_s, 3),
            "runs": times,
        },
    }


def bench_tagging(sizes: Sizes) -> dict[str, Any]:
    """benchmarks/bench_tagging.py's alternated ratio: 10x aliases over the shipped taxonomy."""
    import yaml
    from bench_tagging import grow, load_stories
    from bench_tagging import run as tag_run

    from monitor.tagging import Tagger, parse_taxonomy

    topics = ROOT / "config" / "topics.yaml"
    raw = yaml.safe_load(topics.read_text(encoding="utf-8"))
    base = Tagger(parse_taxonomy(raw, str(topics)))
    grown = Tagger(parse_taxonomy(grow(raw, 10)[0], "grown"))
    stories = load_stories(
        ROOT.parent / "shared" / "corpus" / "dev-stories.jsonl", sizes.tagging_stories
    )
    tag_run(base, stories[:100])
    tag_run(grown, stories[:100])
    b: list[float] = []
    g: list[float] = []
    for i in range(sizes.tagging_rounds):
        order = [(base, b), (grown, g)]
        for tagger, sink in order if i % 2 == 0 else order[::-1]:
            sink.append(tag_run(tagger, stories))
    return {
        "tagging_alias_scale_10x": round(statistics.median(g) / statistics.median(b), 3),
        "tagging": {"stories": len(stories), "shipped_s": _med(b), "grown_s": _med(g)},
    }


def bench_dedupe(sizes: Sizes) -> dict[str, Any]:
    """benchmarks/bench_dedupe.py's per-story ratio between 100x and 1x stored stories."""
    from bench_dedupe import run as dedupe_run

    res = dedupe_run("memory", list(sizes.dedupe_sizes), sizes.dedupe_probes, 7)
    return {"dedupe_index_scale_100x": res["ratio_median"], "dedupe": res}


def bench_mail(es_url: str, sizes: Sizes) -> dict[str, Any]:
    """benchmarks/bench_mail.py: seconds for 100 instant alerts to a real SMTP server."""
    from bench_mail import measure

    res = measure(es_url, sizes.emails)
    return {"emails_100_s": res["send_seconds"], "mail": res}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    ap.add_argument("--rounds", type=int, help="poll/ingest rounds (default 3; 1 with --quick)")
    ap.add_argument("--feeds", type=int, help="feeds to generate (default 1000)")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--es-url", default=os.environ.get("NEWSMON_BENCH_ES_URL"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--urls", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from bench_es import bench_elasticsearch

    if args.child:
        _child(args.child, args.urls)
        return
    sizes = QUICK if args.quick else FULL
    if args.rounds or args.feeds:
        from dataclasses import replace

        sizes = replace(sizes, rounds=args.rounds or sizes.rounds, feeds=args.feeds or sizes.feeds)
    only = set(args.only.split(",")) if args.only else set(BENCHMARKS)
    now = datetime.now(UTC).replace(microsecond=0)
    figures: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": now.isoformat(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        work = Path(tmp)
        feed_dir = work / "feeds"
        _say(f"generating {sizes.feeds} feeds x {sizes.entries} entries")
        generate_feeds(feed_dir, sizes.feeds, sizes.entries, now)
        needs_es = only & {"poll", "ingest", "mail"}
        with bench_elasticsearch(args.es_url if needs_es else "unused") as es_url:
            if "process" in only:
                _say("process_vs_parse")
                figures |= bench_process(feed_dir, sizes, now)
            if "tagging" in only:
                _say("tagging_alias_scale_10x")
                figures |= bench_tagging(sizes)
            if "dedupe" in only:
                _say("dedupe_index_scale_100x")
                figures |= bench_dedupe(sizes)
            if "mail" in only:
                _say("emails_100_s")
                figures |= bench_mail(es_url, sizes)
            if "ingest" in only:
                _say("ingest_vs_raw_bulk")
                figures |= bench_ingest(es_url, feed_dir, sizes, now)
            if "poll" in only:
                _say("poll")
                figures |= bench_poll(es_url, feed_dir, sizes, work)
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(judge(figures), indent=2))


if __name__ == "__main__":
    main()
