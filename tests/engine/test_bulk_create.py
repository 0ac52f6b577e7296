"""The bulk create path: ``create_many`` writes what documents created one by one write.

The bulk path checks documents in batches and shreds a data file's fields a whole column at a
time (types and nested shapes from sets of value types), so it is checked here against the
per-document route: documents read back exactly (through row blocks, Parquet scans and
history), the shredded types and shapes equal a value-by-value reference, and a bad document
raises the same coded error as ``create`` with nothing written.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.engine import datafiles, nested, rowblocks, shred
from parquedb.engine.format import Event, events_to_table
from parquedb.errors import ValidationError
from parquedb.model.entity import Row
from parquedb.model.values import decode_doc, encode_doc, validate_document
from parquedb.testing import live_files, tune

from helpers import SYSTEM_KEYS, same

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
keys = st.sampled_from(["a", "b", "name", "tags", "x", "é", "k k", ""]) | st.text(max_size=4)
keys = keys.filter(lambda k: not k.startswith("$") and "." not in k)
awkward = st.sampled_from([-0.0, 0.0, math.nan, math.inf, -math.inf, 1e16, INT64_MAX, INT64_MIN,
                           True, False, None, "", "nulla", "a:null", '"q"', b"", b"\x00\xff",
                           datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)])
scalars = (st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | st.floats()
           | st.text(max_size=12) | st.binary(max_size=6) | awkward
           | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 31),
                          timezones=st.none() | st.just(UTC)
                          | st.just(timezone(timedelta(hours=-5)))))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
documents = st.dictionaries(keys, values, max_size=5)
# documents sharing a layout (the bulk case), whose values still vary in type
layout = st.lists(st.tuples(st.sampled_from(["s", "n", "l", "d", "t"]), scalars, scalars),
                  min_size=1, max_size=12).map(
    lambda rows: [{"s": a, "n": b, "l": [a, b] if i % 3 else [a], "d": {"p": a, "q": [b]},
                   "t": i} for i, (_, a, b) in enumerate(rows)])


def _valid(doc: dict[str, Any]) -> bool:
    try:
        validate_document(doc)
    except ValidationError:
        return False
    return "name" not in doc or isinstance(doc["name"], str)


def _expected(doc: dict[str, Any]) -> dict[str, Any]:
    """What reading ``doc`` back gives: the decoded form of its encoding."""
    return decode_doc(encode_doc(validate_document(doc)))


def _user(entity: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The user fields of ``entity`` (``name`` kept when the document set it)."""
    return {k: v for k, v in entity.items() if k not in SYSTEM_KEYS or (k == "name" and k in doc)}


def _read_back(col: Any, ids: list[str], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_user(col.get(i), d) for i, d in zip(ids, docs, strict=True)]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(documents, min_size=1, max_size=8) | layout)
def test_create_many_reads_back_like_one_by_one(tmp_path_factory: Any,
                                                docs: list[dict[str, Any]]) -> None:
    docs = [d for d in docs if _valid(d)]
    if not docs:
        return
    with parquedb.connect(str(tmp_path_factory.mktemp("db"))) as db:
        tune(db, inline_max_rows=1)  # every batch of two or more becomes a data file
        ids = db.bulk.create_many(docs, progress=False)
        singles = [db.single.create(d)["$id"] for d in docs]
        got = _read_back(db.bulk, ids, docs)
        assert all(same(g, _expected(d)) for g, d in zip(got, docs, strict=True))
        assert all(same(g, s) for g, s in
                   zip(got, _read_back(db.single, singles, docs), strict=True))
        scanned = {e["$id"]: e for e in db.bulk.find({})}
        assert all(same(_user(scanned[i], d), g) for i, d, g in zip(ids, docs, got, strict=True))


def _old_field_types(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The value-by-value reference of ``shred.field_types`` (how it was computed before)."""
    mixed, number, none = object(), object(), type(None)
    seen: dict[str, Any] = {}
    for d in docs:
        for k, v in d.items():
            t, prev = type(v), seen.get(k)
            if prev is None:
                seen[k] = t
            elif prev is not t and prev is not mixed:
                if prev is none:
                    seen[k] = t
                elif t is none:
                    pass
                elif (prev is number or prev is int or prev is float) and t in (int, float):
                    seen[k] = number
                else:
                    seen[k] = mixed
    out: dict[str, str] = {}
    for k, t in seen.items():
        if t is none:
            out[k] = "null"
        elif t is number:
            out[k] = "number" if shred.shreddable(k) else "json"
        else:
            scalar = shred._SCALAR.get(t) if t is not mixed else None
            out[k] = scalar[0] if scalar and shred.shreddable(k) else "json"
    return out


def _old_shape(values: list[Any]) -> Any:
    cur = nested.NULL
    for v in values:
        if v is not None:
            s = nested.shape_of(v)
            if cur != s:
                cur = nested.merge(cur, s)
    return cur


@settings(max_examples=200, deadline=None)
@given(st.lists(documents, max_size=10) | layout)
def test_column_wise_types_and_shapes_match_value_by_value(docs: list[dict[str, Any]]) -> None:
    docs = [validate_document(d) for d in docs if _valid(d)]
    types = shred.field_types(docs)
    assert types == _old_field_types(docs)
    assert list(types) == list(dict.fromkeys(k for d in docs for k in d))
    for f in types:
        column = [d.get(f) for d in docs]
        assert nested.infer_values(column) == _old_shape(column)
    assert nested.infer(iter(docs), list(types)) == {
        f: _old_shape([d.get(f) for d in docs]) for f in types}


def test_bad_document_raises_like_create_and_writes_nothing(tmp_path: Any) -> None:
    bad = [{"a": 1}, {"a": 2, "b": {"c.d": 1}}, {"a": 3}]
    with parquedb.connect(str(tmp_path / "db")) as db:
        with pytest.raises(ValidationError) as one:
            db.posts.create(bad[1])
        with pytest.raises(ValidationError) as many:
            db.posts.create_many(bad)
        assert (many.value.code, str(many.value)) == (one.value.code, str(one.value))
        for doc, field in (({"version": 1}, "version"), ({"n": 2**63}, "n"),
                           ({"name": 5}, "name"), ({"x": (1, 2)}, "x")):
            with pytest.raises(ValidationError) as err:
                db.posts.create_many([{"ok": 1}] * 1500 + [doc])
            assert err.value.context.get("field") == field
        with pytest.raises(ValidationError):
            db.posts.create_many([{"ok": 1}, "not a dict"])  # type: ignore[list-item]
        assert db.posts.count() == 0


def test_ids_out_of_order_are_sorted_in_the_file(tmp_path: Any) -> None:
    rng = random.Random(5)
    lids = [f"k{i:04d}" for i in range(3000)]
    rng.shuffle(lids)
    docs = [{"$id": lid, "v": i, "when": datetime(2024, 1, 1, tzinfo=UTC), "b": bytes([i % 256])}
            for i, lid in enumerate(lids)]
    with parquedb.connect(str(tmp_path / "db")) as db:
        db.posts.create_many(docs, progress=False)
        (key,) = live_files(db, "posts")
        ids = pq.read_table(str(tmp_path / "db" / key), columns=["$id"]).column(0).to_pylist()
        assert ids == sorted(ids)
        for i in rng.sample(range(3000), 50):
            got = db.posts.get(lids[i])
            assert got is not None and got["v"] == i and got["b"] == bytes([i % 256])
        assert db.posts.count({"v": {"$gte": 2990}}) == 10


def _rows(n: int) -> list[Row]:
    return [Row(f"c/{i:06d}", "T", 1, 5, "a", 5, "a", None if i % 3 else 7, None, i % 4,
                i % 7 == 0, None if i % 7 == 0 else f'{{"x":{i},"s":"\\"q\\""}}')
            for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 64, 65, 3000])
def test_bulk_events_table_is_events_to_table(n: int) -> None:
    creates = [Event(3, 9, f"E{i:06d}", "create", r.id, 1, "a", None, r.to_list())
               for i, r in enumerate(_rows(n)) if not r.tomb]
    mixed = [*creates, Event(3, 9, "F", "delete", "c/x", 2, "a", _rows(1)[0].to_list(), None)]
    for events in (creates, mixed):
        for keep in (False, True):
            want = events_to_table(events, keep_seq=keep)
            got = datafiles._events_table(events, keep)
            assert got.equals(want) and got.schema.equals(want.schema, check_metadata=True)


def test_row_blocks_same_bytes_however_rows_arrive() -> None:
    rows = _rows(5000)  # more blocks than one hand-over to the compressing thread
    whole = rowblocks.BlockWriter(False)
    whole.add(rows)
    data = whole.finish()
    parts = rowblocks.BlockWriter(False)
    for start in range(0, len(rows), 777):
        parts.add(rows[start:start + 777])
    assert parts.finish() == data
    blocks = rowblocks.parse_footer(data, len(data))
    assert isinstance(blocks, rowblocks.Blocks) and blocks.rows == 5000
    for i in (0, 31, 32, 4999):
        b = i // blocks.block
        start, end, size = blocks.span(b)
        got = rowblocks.row_of(rowblocks.decode_block(data[start:end], size,
                                                         blocks.codec).fields(i % 32), 0)
        assert (got.id, got.doc, got.tomb) == (rows[i].id, rows[i].doc, rows[i].tomb)
