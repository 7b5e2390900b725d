"""Tagging throughput, and its cost when the alias list grows 10x; prints JSON.

    .venv/bin/python benchmarks/bench_tagging.py [--corpus FILE.jsonl] [--stories 2000]
                                                 [--rounds 7] [--growth 10]

Two taggers are compiled: the shipped taxonomy, and the same taxonomy with every entity's alias
list grown `growth` times with synthetic aliases (random names in Latin, Arabic and Hebrew
script, like real ones). The same stories (the dev corpus repeated up to --stories) go through
both, alternating round by round so machine noise hits both alike. The figure that matters is
`ratio`: median seconds per round with the grown taxonomy over the shipped one (target <= 1.2).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.tagging import Tagger, parse_taxonomy  # noqa: E402

SCRIPTS = {
    "latin": ["ka", "lo", "mer", "tan", "si", "vu", "del", "ra", "no", "pe", "zor", "ti", "an"],
    "arabic": ["كا", "لو", "مر", "تن", "سي", "فو", "دل", "را", "نو", "بي", "زر", "تي", "ان"],
    "hebrew": ["קא", "לו", "מר", "תנ", "סי", "וו", "דל", "רא", "נו", "פה", "זר", "טי", "אנ"],
}
FALLBACK_STORIES = [
    ("Erdogan says Israel must stop the war", "The Turkish president spoke in Ankara."),
    ("Hamas political bureau meets in Doha", "Khalil al-Hayya led the talks."),
    ("תקיפה ברצועה", 'צה"ל אישר כי מפקד בכיר נהרג.'),
    ("تركيا تستدعي سفيرها", "قالت الخارجية التركية إن القرار جاء ردا على التصعيد."),
]


def synthetic_alias(rnd: random.Random) -> str:
    syll = SCRIPTS[rnd.choice(list(SCRIPTS))]
    words = ["".join(rnd.choice(syll) for _ in range(rnd.randint(2, 4))) for _ in range(2)]
    return " ".join(words).capitalize()


def grow(raw: dict[str, Any], factor: int, seed: int = 11) -> tuple[dict[str, Any], int, int]:
    """The taxonomy document with every entity's aliases grown `factor` times."""
    rnd = random.Random(seed)
    grown = copy.deepcopy(raw)
    before = after = 0
    for section in ("people", "orgs", "places"):
        for ent in grown.get(section) or []:
            aliases = ent["aliases"]
            n = sum(len(v) for v in aliases.values()) if isinstance(aliases, dict) else len(aliases)
            extra = [synthetic_alias(rnd) for _ in range(n * (factor - 1))]
            if isinstance(aliases, dict):
                aliases["synthetic"] = extra
            else:
                aliases.extend(extra)
            before += n
            after += n + len(extra)
    return grown, before, after


def load_stories(corpus: Path, count: int) -> list[tuple[str, str, str | None]]:
    base: list[tuple[str, str, str | None]] = []
    if corpus.is_file():
        for line in corpus.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                base.append((rec.get("title", ""), rec.get("summary", ""), rec.get("lang")))
    if not base:
        base = [(t, s, None) for t, s in FALLBACK_STORIES]
    return [base[i % len(base)] for i in range(count)]


def run(tagger: Tagger, stories: list[tuple[str, str, str | None]]) -> float:
    start = time.perf_counter()
    for title, summary, lang in stories:
        tagger.tag(title, summary, None, lang)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=Path, default=ROOT / "config" / "topics.yaml")
    ap.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "dev-stories.jsonl"
    )
    ap.add_argument("--stories", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--growth", type=int, default=10)
    args = ap.parse_args()

    raw = yaml.safe_load(args.topics.read_text(encoding="utf-8"))
    grown_raw, aliases_before, aliases_after = grow(raw, args.growth)

    t0 = time.perf_counter()
    base = Tagger(parse_taxonomy(raw, str(args.topics)))
    t1 = time.perf_counter()
    grown = Tagger(parse_taxonomy(grown_raw, "grown"))
    t2 = time.perf_counter()

    stories = load_stories(args.corpus, args.stories)
    # Same answers with the grown list: the synthetic aliases only add automaton states.
    same = all(
        base.tag(t, s, None, lang) == grown.tag(t, s, None, lang) for t, s, lang in stories[:200]
    )
    run(base, stories[:100])  # warm caches (per-character fold cache, allocator)
    run(grown, stories[:100])

    base_times: list[float] = []
    grown_times: list[float] = []
    for i in range(args.rounds):
        # Alternate which goes first so neither always runs on a warmer or cooler machine.
        order = [(base, base_times), (grown, grown_times)]
        for tagger, sink in order if i % 2 == 0 else order[::-1]:
            sink.append(run(tagger, stories))

    base_med = statistics.median(base_times)
    grown_med = statistics.median(grown_times)
    print(
        json.dumps(
            {
                "benchmark": "tagging",
                "stories_per_round": len(stories),
                "rounds": args.rounds,
                "aliases": {"shipped": aliases_before, "grown": aliases_after},
                "automaton_keys": {"shipped": base.pattern_count, "grown": grown.pattern_count},
                "compile_seconds": {"shipped": round(t1 - t0, 4), "grown": round(t2 - t1, 4)},
                "stories_per_second": {
                    "shipped": round(len(stories) / base_med, 1),
                    "grown": round(len(stories) / grown_med, 1),
                },
                "median_round_seconds": {
                    "shipped": round(base_med, 4),
                    "grown": round(grown_med, 4),
                },
                "ratio": round(grown_med / base_med, 3),
                "target_ratio": 1.2,
                "same_results": same,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
