"""Deterministic blog-post dataset for the benchmarks.

Every system in a run loads exactly the same documents (same seed, same order), so result
counts can be cross-checked and ratios compare like with like. Speed matters because each
benchmark worker regenerates the data: text comes from slices of one pre-built pool of words
instead of per-character random calls, which keeps 1,000,000 documents at a few seconds.
"""

from __future__ import annotations

import gc
import random
from typing import Any

STATUSES: tuple[str, ...] = ("published", "draft", "review", "archived", "flagged")
STATUS_WEIGHTS: tuple[int, ...] = (70, 15, 8, 5, 2)
RAREST_STATUS = "flagged"
VIEWS_MAX = 1_000_000
# status == "flagged" (2%) AND views > 750,000 (25% of uniform 0..1e6) matches ~0.5% of docs.
SELECTIVE_VIEWS_GT = 750_000
# range + sort + limit: views in [RANGE_LO, RANGE_HI), sort views desc, limit 20.
RANGE_LO, RANGE_HI = 250_000, 750_000

TAGS: tuple[str, ...] = tuple(f"tag{i:02d}" for i in range(50))
COUNTRIES: tuple[str, ...] = ("US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "NL", "SE",
                              "ES", "IT", "PL", "KR", "AU", "MX", "NG", "ZA", "AR", "CH")
_WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
          "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna",
          "aliqua", "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco",
          "laboris", "nisi", "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure",
          "in", "reprehenderit", "voluptate", "velit", "esse", "cillum", "fugiat", "nulla",
          "pariatur", "excepteur", "sint", "occaecat", "cupidatat", "non", "proident", "sunt",
          "culpa", "qui", "officia", "deserunt", "mollit", "anim", "id", "est", "parquet", "column",
          "storage", "query", "index", "merge", "compaction", "snapshot", "durable", "commit"]
_FIRST = ("Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Edsger", "Donald", "Frances",
          "John", "Margaret", "Dennis", "Radia", "Tim", "Sophie", "Guido", "Anders", "Yukihiro")
_LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Dijkstra", "Knuth",
         "Allen", "McCarthy", "Hamilton", "Ritchie", "Perlman", "Berners-Lee", "Wilson", "Rossum")

TITLE_LEN, BODY_LEN = 40, 300
_POOL_CHARS = 1 << 18


def _text_pool(rng: random.Random) -> str:
    """A long random string of words; documents take slices of it at random offsets."""
    out: list[str] = []
    size = 0
    while size < _POOL_CHARS + BODY_LEN:
        w = rng.choice(_WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def generate(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """Return ``n`` blog-post dicts without ``$id`` (the database assigns ids on load).

    Field shapes: title ~40 chars, status skewed 70/15/8/5/2, views int 0..1e6, score float,
    tags 1-4 of 50, author {name, country}, body ~300 chars.
    """
    rng = random.Random(seed)
    pool = _text_pool(rng)
    authors = [{"name": f"{first} {last}", "country": c}
               for first in _FIRST for last in _LAST for c in COUNTRIES[:3]]
    # Pre-drawn pools: a random.sample() per document is the slowest part otherwise.
    tag_sets = [rng.sample(TAGS, 1 + rng.randrange(4)) for _ in range(4096)]
    statuses = rng.choices(STATUSES, weights=STATUS_WEIGHTS, k=n)
    rand = rng.random
    n_authors, n_tags, last_off = len(authors), len(tag_sets), _POOL_CHARS
    docs: list[dict[str, Any]] = []
    append = docs.append
    gc_was_on = gc.isenabled()
    gc.disable()  # millions of new dicts make the cyclic GC rescan the list over and over
    try:
        for i in range(n):
            t = int(rand() * last_off)
            b = int(rand() * last_off)
            a = authors[int(rand() * n_authors)]
            append({
                "title": pool[t:t + TITLE_LEN].strip().capitalize(),
                "status": statuses[i],
                "views": int(rand() * (VIEWS_MAX + 1)),
                "score": round(rand() * 5.0, 3),
                "tags": list(tag_sets[int(rand() * n_tags)]),
                "author": {"name": a["name"], "country": a["country"]},
                "body": pool[b:b + BODY_LEN],
            })
    finally:
        if gc_was_on:
            gc.enable()
    return docs


def fresh_copies(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies a system may mutate freely (so one system's load can't leak into another's)."""
    return [{**d, "tags": list(d["tags"]), "author": dict(d["author"])} for d in docs]


if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    t0 = time.perf_counter()
    d = generate(n)
    dt = time.perf_counter() - t0
    print(f"generated {n:,} docs in {dt:.2f}s; first: {d[0]}")
    sel = sum(1 for x in d if x["status"] == RAREST_STATUS and x["views"] > SELECTIVE_VIEWS_GT)
    print(f"selective matches: {sel} ({sel / n:.3%})")
