"""Event figures on the labelled sets: pairwise precision and recall of `event_id`; prints JSON.

    .venv/bin/python benchmarks/eval_events.py [--corpus FILE.jsonl ...]

Each set is read in publish order (earliest first, as a poll would see it) and grouped by
`newsmon dedupe`'s code (`dedupe_records` with the tagger), which the pipeline's grouping step
shares. A pair is a true pair when both items carry the same `event` (or `dup_group`) label.
Precision is given twice: over every predicted pair, and over pairs touching a labelled group
(two unlabelled items make no claim: a set's unlabelled items are not judged unique).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.clock import utcnow  # noqa: E402
from monitor.dedupe import dedupe_records  # noqa: E402
from monitor.evaluation import event_pairs  # noqa: E402
from monitor.tagging import Tagger, load_taxonomy  # noqa: E402

SETS = [
    ROOT.parent / "shared" / "corpus" / "dev-stories.jsonl",
    ROOT.parent / "shared" / "corpus" / "realworld-dev.jsonl",
    ROOT / "tests" / "fixtures" / "events-multilingual.jsonl",
]


def score(rows: list[dict[str, Any]], events: dict[str, str]) -> dict[str, Any]:
    """Pairwise counts and ratios of predicted events against the labels."""
    return event_pairs(rows, events).as_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, action="append", help="a labelled JSON Lines set")
    args = ap.parse_args()
    tagger = Tagger(load_taxonomy(ROOT / "config" / "topics.yaml"))
    out: dict[str, Any] = {}
    for path in args.corpus or SETS:
        if not path.exists():
            out[path.name] = {"error": f"{path} not found"}
            continue
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
        rows.sort(key=lambda r: (str(r.get("published") or ""), str(r["id"])))
        events = {o["id"]: o["event_id"] for o in dedupe_records(rows, utcnow(), tagger)}
        out[path.name] = score(rows, events)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
