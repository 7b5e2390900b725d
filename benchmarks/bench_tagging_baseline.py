"""Tagging throughput of this tree against an earlier commit's, side by side; prints JSON.

    .venv/bin/python benchmarks/bench_tagging_baseline.py [--ref 2a19102] [--pairs 5]
        [--corpus ../shared/corpus/dev-stories.jsonl] [--stories 2000] [--rounds 7]

The earlier tree is exported with `git archive` into a temporary directory. Each pair runs one
worker process per tree, in turn (baseline, then this tree), so drift in the machine's speed
hits both alike; a worker tags the same stories `rounds` times and reports its best round in
CPU seconds (`time.process_time`: other processes on a busy machine slow the wall clock far
more than they slow this process's own CPU time). The figure that matters is `ratio_median`:
this tree's stories per second over the baseline's (the issue's bar: at least 0.9).
The default ref is the last commit before the tagging rework (issue #8).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev-stories.jsonl"

# Runs inside the worker, with the tree to measure first on sys.path. Only the API both trees
# share: Tagger(parse_taxonomy(raw, source)) and Tagger.tag(title, summary, content, lang).
_WORKER = """
import json, sys, time
tree, corpus, count, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, tree)
import yaml
from monitor.tagging import Tagger, parse_taxonomy
topics = tree + "/config/topics.yaml"
with open(topics, encoding="utf-8") as fh:
    tagger = Tagger(parse_taxonomy(yaml.safe_load(fh), topics))
rows = []
with open(corpus, encoding="utf-8") as fh:
    for line in fh:
        if line.strip():
            r = json.loads(line)
            rows.append((r.get("title") or "", r.get("summary") or "", r.get("lang")))
stories = (rows * (count // max(1, len(rows)) + 1))[:count]
best = float("inf")
for _ in range(rounds):
    t0 = time.process_time()
    for title, summary, lang in stories:
        tagger.tag(title, summary, None, lang)
    best = min(best, time.process_time() - t0)
print(json.dumps({"stories_per_second": len(stories) / best}))
"""


def export(ref: str, into: Path) -> Path:
    """The tree of `ref` unpacked under `into` (no worktree left behind in the repository)."""
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "monitor", "config"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(tree: Path, corpus: Path, stories: int, rounds: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(tree), str(corpus), str(stories), str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)["stories_per_second"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="2a19102", help="the baseline commit (default: pre-#8)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--stories", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if not args.corpus.exists():
        sys.exit(f"bench_tagging_baseline: no corpus at {args.corpus}: pass --corpus FILE.jsonl")

    base_rates: list[float] = []
    head_rates: list[float] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="newsmon-baseline-") as tmp:
        base = export(args.ref, Path(tmp))
        for i in range(args.pairs):
            b = measure(base, args.corpus, args.stories, args.rounds)
            h = measure(ROOT, args.corpus, args.stories, args.rounds)
            base_rates.append(b)
            head_rates.append(h)
            ratios.append(h / b)
            print(f"pair {i + 1}/{args.pairs}: ratio {h / b:.3f}", file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "tagging_vs_baseline",
                "baseline_ref": args.ref,
                "corpus": args.corpus.name,
                "stories": args.stories,
                "baseline_stories_per_second": [round(x, 1) for x in base_rates],
                "stories_per_second": [round(x, 1) for x in head_rates],
                "ratios": [round(x, 3) for x in ratios],
                "ratio_median": round(statistics.median(ratios), 3),
                "target_min_ratio": 0.9,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
