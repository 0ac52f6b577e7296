"""Random histories of writes, compactions and republishes: every reader of every published
table holds exactly what ``find({})`` returns at that commit."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb

from helpers.opentables import (
    assert_matches,
    delta_rows,
    delta_rows_duckdb,
    expected_kind,
    iceberg_rows,
    iceberg_rows_duckdb,
    kind_of,
)

IDS = [f"e{i}" for i in range(6)]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    st.binary(max_size=4),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                 timezones=st.just(UTC)),
)
values = st.one_of(
    scalars,
    st.lists(st.integers(-5, 5), max_size=3),
    st.fixed_dictionaries({}, optional={"a": st.integers(0, 9), "b": st.text(max_size=3),
                                        "c": st.lists(st.booleans(), max_size=2)}),
)
docs = st.dictionaries(st.sampled_from(["f", "g", "h", "id", "tags"]), values, max_size=3)
ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from(IDS), docs),
    st.tuples(st.just("bulk"), st.lists(docs, min_size=1, max_size=3)),
    st.tuples(st.just("soft"), st.sampled_from(IDS)),
    st.tuples(st.just("hard"), st.sampled_from(IDS)),
    st.tuples(st.just("compact")),
    st.tuples(st.just("publish"), st.sampled_from(["delta", "iceberg"])),
), min_size=1, max_size=12)


def _apply(db, op) -> None:
    coll = db.things
    kind = op[0]
    if kind == "put":
        if coll.get(op[1], include_deleted=True) is not None:
            coll.delete(op[1], hard=True)
        coll.create({"$id": op[1], **op[2]})
    elif kind == "bulk":
        coll.create_many(list(op[1]))
    elif kind in ("soft", "hard"):
        coll.delete(op[1], hard=kind == "hard")
    elif kind == "compact":
        db.compact("things")


def _check(db, fmt: str, full: bool = False) -> str | None:
    out = db.publish("things", format=fmt, full=full)
    expected = list(db.things.find({}))
    renamed = out["renamed"] if out["written"] else None
    if fmt == "delta":
        tables = [delta_rows(out["uri"]), delta_rows_duckdb(out["uri"]),
                  pl.read_delta(out["uri"]).to_arrow()]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tables = [iceberg_rows(out["uri"]), iceberg_rows_duckdb(out["uri"]),
                      pl.scan_iceberg(out["uri"] + "/metadata/" + _hint(out["uri"]))
                      .collect().to_arrow()]
    for table in tables:
        if renamed is None:  # an unchanged republish: take the names from the table
            renamed = {k: "user_" + k for k in ("id",) if "user_id" in table.schema.names}
        assert_matches(table, expected, renamed)
        for field in ("f", "g", "h", "tags"):
            want = expected_kind([e[field] for e in expected if field in e])
            if want is not None and field in table.schema.names:
                got = kind_of(table.schema.field(field).type)
                # only sub-documents that are all empty have nothing to make a struct of
                ok = got == want or (want == "struct" and got == "string")
                if out["mode"] != "full":  # a merge never narrows a column's type
                    ok = ok or got == "string" or (want == "int64" and got == "double")
                assert ok, (field, want, got, out["mode"])
    return out["mode"]


def _hint(uri: str) -> str:
    with open(uri + "/metadata/version-hint.text") as f:
        return f"v{f.read().strip()}.metadata.json"  # Iceberg's file-system table layout


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=ops)
def test_published_tables_follow_find(tmp_path_factory, history):
    root = tmp_path_factory.mktemp("store")
    with parquedb.connect(root) as db:
        db.things.create({"$id": "seed", "f": 1})
        for op in history:
            if op[0] == "publish":
                _check(db, op[1])
            else:
                _apply(db, op)
        _check(db, "delta")
        _check(db, "iceberg")
        db.things.create({"brand_new": 1})  # a new column: a merge adds it
        assert _check(db, "delta") == "merge"
        db.things.create({"brand_new": 2})
        assert _check(db, "delta", full=True) == "full"
