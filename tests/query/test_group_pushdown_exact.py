"""$group in DuckDB keeps the pipeline's integer semantics at the edges: sums past 64 bits
become doubles (never an overflow error), averages of huge ints are divided exactly."""

from __future__ import annotations

from typing import Any

import parquedb
from parquedb.query.aggregate import run_pipeline
from parquedb.testing import live_files, tune

BIG = 2**63 - 1


def _db(tmp_path: Any, values: list[int]) -> parquedb.Database:
    db = parquedb.connect(str(tmp_path / "db"))
    tune(db, inline_max_rows=2)  # bulk writes go to data files, so DuckDB answers
    db.nums.create_many([{"g": i % 2, "v": v} for i, v in enumerate(values)])
    assert live_files(db, "nums")
    return db


def test_sums_past_64_bits_and_exact_averages(tmp_path: Any) -> None:
    values = [BIG, BIG, BIG, 3, -(2**62), BIG - 7, 2**53 + 1, 2**53 + 3]
    with _db(tmp_path, values) as db:
        current = list(db.nums.find())
        for spec in ({"_id": "$g", "s": {"$sum": "$v"}, "a": {"$avg": "$v"}},
                     {"_id": None, "s": {"$sum": "$v"}, "n": {"$sum": BIG}},
                     {"_id": "$g", "lo": {"$min": "$v"}, "hi": {"$max": "$v"},
                      "c": {"$count": {}}}):
            pipeline = [{"$group": spec}, {"$sort": {"_id": 1}}]
            got = db.nums.aggregate(pipeline)
            want = run_pipeline(current, pipeline)
            assert got == want, spec
            for g, w in zip(got, want, strict=True):
                assert {k: type(v) for k, v in g.items()} == {k: type(v) for k, v in w.items()}
        total = db.nums.aggregate([{"$group": {"_id": None, "s": {"$sum": "$v"}}}])[0]["s"]
        assert isinstance(total, float) and total == float(sum(values))
