"""Reading a store's folder with no ParqueDB in the loop, as docs/guides/open-tables.md tells an
outside reader to: the newest checkpoint plus the commits after it name the live data files
and the rows still inlined in the log; the newest version of each ``$id`` wins; tombstones and
soft-deleted rows are left out. Random histories of writes and compactions: the reader must
see exactly what ``find({})`` returns."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.testing import tune

# -- the outside reader: json and duckdb only, as the guide shows it -----------------------------
# (each rule of the recipe can be switched off, to show that leaving it out is caught)
RULES = ("fold", "newest", "tomb", "deleted")
RULES_ON: set[str] = set(RULES)
OTHER_ACTIONS = ("events", "add_file", "remove_file", "fold", "meta")


def commits_after(root: Path, seq: int) -> Any:
    """Commits seq+1, seq+2, ... until the first missing one: lines of the log segments
    _log/<block>.log (commit k is in block (k-1)//1024*1024+1), or files _log/<seq>.json."""
    blocks: dict[int, dict[int, Any]] = {}
    while True:
        seq += 1
        block = (seq - 1) // 1024 * 1024 + 1
        if block not in blocks:
            path = root / "_log" / f"{block:020d}.log"
            # a last line without its newline is still being written: not a commit yet
            lines = path.read_bytes().split(b"\n")[:-1] if path.exists() else []
            blocks[block] = {c["seq"]: c for c in map(json.loads, lines)}
        commit = blocks[block].get(seq)
        if commit is None:
            path = root / "_log" / f"{seq:020d}.json"
            if not path.exists():
                return
            commit = json.loads(path.read_bytes())
        yield commit

def log_state(root: Path, collection: str) -> tuple[dict[str, int], dict[str, tuple[int, list]]]:
    """The live data files (path -> seq of the commit that added it) and the rows inlined in
    the log (``$id`` -> (seq, row list)) of ``collection`` at the newest commit."""
    files: dict[str, int] = {}
    inline: dict[str, tuple[int, list]] = {}
    seq = 0
    checkpoints = sorted((root / "_checkpoints").glob("*.json"))  # fixed-width names
    if checkpoints:
        state = json.loads(checkpoints[-1].read_bytes())
        seq = state["seq"]
        c = state["collections"].get(collection, {})
        files = {f["key"]: f["seq"] for f in c.get("files", [])}
        inline = {r[1]: (r[0], r[1:]) for r in c.get("rows", [])}
    for commit in commits_after(root, seq):
        seq = commit["seq"]
        for a in commit["actions"]:
            if a.get("c") != collection:
                continue
            if a["a"] == "rows":
                inline.update((r[0], (seq, r)) for r in a["rows"])
            elif a["a"] == "add_file" and a["kind"] == "data":
                files[a["key"]] = seq
            elif a["a"] == "remove_file" and a["kind"] == "data":
                files.pop(a["key"])
            elif a["a"] == "fold" and a["what"] == "rows":
                if "fold" in RULES_ON:
                    inline = {i: v for i, v in inline.items() if v[0] > a["upto"]}
            elif a["a"] not in OTHER_ACTIONS:
                raise ValueError(f"commit {seq}: unknown action {a['a']!r}")
    return {str(root / key): s for key, s in files.items()}, inline


def live_rows(root: Path, collection: str) -> dict[str, tuple[int, str | None]]:
    """``$id`` -> (version, ``_doc``) of each live entity of ``collection``."""
    files, inline = log_state(root, collection)
    con = duckdb.connect()
    con.execute("CREATE TABLE versions (id VARCHAR, seq BIGINT, version BIGINT,"
                " deleted BOOLEAN, tomb BOOLEAN, doc VARCHAR)")
    if inline:
        con.executemany("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                        [(r[0], s, r[2], r[7] is not None, r[9] == 1, r[10])
                         for s, r in inline.values()])
    if files:
        con.execute("CREATE TABLE live_files (path VARCHAR, seq BIGINT)")
        con.executemany("INSERT INTO live_files VALUES (?, ?)", list(files.items()))
        con.execute("""
            INSERT INTO versions
            SELECT "$id", coalesce(_seq, f.seq), version, deletedAt IS NOT NULL, _tomb, _doc
            FROM read_parquet(?, filename = true, union_by_name = true) AS p
            JOIN live_files AS f ON p.filename = f.path""", [list(files)])
    keep = ["row_number() OVER (PARTITION BY id ORDER BY seq DESC) "
            + ("= 1" if "newest" in RULES_ON else ">= 1")]
    if "tomb" in RULES_ON:
        keep.append("NOT tomb")
    if "deleted" in RULES_ON:
        keep.append("NOT deleted")
    rows = con.execute(f"SELECT id, version, doc FROM versions QUALIFY {' AND '.join(keep)} "
                       "ORDER BY id").fetchall()
    con.close()
    out = {i: (v, d) for i, v, d in rows}
    assert len(out) == len(rows), "an id twice"
    return out


def untag(v: Any) -> Any:
    """The tagged JSON of ``_doc`` back to Python values (datetimes, bytes, NaN and ±inf)."""
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == "$d":
                return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=x)
            if k == "$b":
                return base64.b64decode(x)
            if k == "$f":
                return float(x.replace("Infinity", "inf").replace("NaN", "nan"))
        return {k: untag(x) for k, x in v.items()}
    if isinstance(v, list):
        return [untag(x) for x in v]
    return v


# -- what find({}) says ---------------------------------------------------------------------------
SYSTEM = {"$id", "$type", "name", "version", "createdAt", "createdBy", "updatedAt", "updatedBy",
          "deletedAt", "deletedBy"}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check(db: Any, root: Path) -> None:
    expected = {e["$id"]: e for e in db.things.find({})}
    got = live_rows(root, "things")
    assert sorted(got) == sorted(expected)
    for eid, ent in expected.items():
        version, doc = got[eid]
        assert version == ent["version"], eid
        fields = untag(json.loads(doc)) if doc else {}
        want = {k: v for k, v in ent.items() if k not in SYSTEM}
        assert same(fields, want), (eid, fields, want)


# -- random histories ------------------------------------------------------------------------
IDS = [f"e{i}" for i in range(8)]
values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.binary(max_size=3),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                 timezones=st.just(UTC)),
    st.lists(st.integers(-3, 3), max_size=2),
    st.fixed_dictionaries({}, optional={"a": st.integers(0, 9), "b": st.text(max_size=2)}),
)
docs = st.dictionaries(st.sampled_from(["f", "g", "h"]), values, max_size=3)
ops = st.lists(st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS), docs),
    st.tuples(st.just("bulk"), st.lists(st.tuples(st.sampled_from(IDS), docs), min_size=1,
                                        max_size=5, unique_by=lambda t: t[0])),
    st.tuples(st.just("set"), st.sampled_from(IDS), docs),
    st.tuples(st.just("set_many"), st.lists(st.sampled_from(IDS), min_size=1, max_size=5), docs),
    st.tuples(st.just("soft"), st.sampled_from(IDS)),
    st.tuples(st.just("hard"), st.sampled_from(IDS)),
    st.tuples(st.just("delete_many"), st.lists(st.sampled_from(IDS), min_size=1, max_size=5),
              st.booleans()),
    st.tuples(st.just("compact")),
    st.tuples(st.just("check")),
), min_size=1, max_size=20)


def _apply(db: Any, op: tuple) -> None:
    coll = db.things
    kind = op[0]
    if kind == "create":
        if coll.get(op[1], include_deleted=True) is None:   # new, or hard-deleted before
            coll.create({"$id": op[1], **op[2]})
    elif kind == "bulk":  # more than inline_max_rows: a data file written by the commit
        new = [(i, d) for i, d in op[1] if coll.get(i, include_deleted=True) is None]
        if new:
            coll.create_many([{"$id": i, **d} for i, d in new])
    elif kind == "set":
        if coll.get(op[1]) is not None and op[2]:
            coll.update(op[1], {"$set": op[2]})
    elif kind == "set_many":  # a data file too when it changes more than two
        if op[2]:
            coll.update_many({"$id": {"$in": ["things/" + i for i in op[1]]}}, {"$set": op[2]})
    elif kind == "delete_many":  # hard: tombstones in a data file
        coll.delete_many({"$id": {"$in": ["things/" + i for i in op[1]]}}, hard=op[2])
    elif kind == "soft":
        if coll.get(op[1]) is not None:
            coll.delete(op[1])
    elif kind == "hard":
        if coll.get(op[1], include_deleted=True) is not None:
            coll.delete(op[1], hard=True)
    elif kind == "compact":
        db.compact("things")


def run_history(root: Path, history: list[tuple], checkpoint_interval: int = 3) -> None:
    with parquedb.connect(root) as db:
        # small thresholds: bulk writes to data files, frequent checkpoints, automatic
        # (partial) compactions after a few inlined rows or small files
        tune(db, inline_max_rows=2, checkpoint_interval=checkpoint_interval,
             compact_inline_rows=6, compact_small_files=2)
        db.things.create({"$id": "seed", "f": 1})
        for op in history:
            if op[0] == "check":
                check(db, root)
            else:
                _apply(db, op)
        check(db, root)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=ops)
def test_the_folder_read_directly_agrees_with_find(tmp_path_factory, history):
    run_history(tmp_path_factory.mktemp("native"), history)


# -- the recipe's rules are all needed ---------------------------------------------------------
FIXED = [
    ("create", "e1", {"f": 1}), ("create", "e2", {"f": 2}),
    ("bulk", [("e3", {"g": "x"}), ("e4", {}), ("e5", {"h": 1.5})]),   # a data file
    ("set", "e1", {"f": 10}), ("soft", "e2"), ("hard", "e3"), ("set", "e5", {"h": 2.5}),
    ("check",), ("compact",),
    ("set", "e1", {"f": 11}), ("hard", "e4"), ("check",),   # newer versions inlined again
    ("soft", "e5"), ("create", "e3", {"f": 3}), ("create", "e6", {}), ("create", "e7", {}),
    ("compact",), ("create", "e8", {}),
    ("delete_many", ["e6", "e7", "e8"], True),   # tombstones in a data file
    ("compact",),                                # drops them, and folds e8's inlined row
]


def test_a_fixed_history_agrees(tmp_path: Path) -> None:
    run_history(tmp_path / "store", FIXED)
    run_history(tmp_path / "rare-checkpoints", FIXED, checkpoint_interval=1000)


def test_each_rule_of_the_recipe_is_needed(tmp_path: Path) -> None:
    for n, rule in enumerate(RULES):
        RULES_ON.discard(rule)
        try:
            failed = False
            try:
                # one checkpoint (the first commit's): every later commit is replayed
                run_history(tmp_path / f"store{n}", FIXED, checkpoint_interval=1000)
            except AssertionError:
                failed = True
            assert failed, f"leaving out {rule!r} went unnoticed"
        finally:
            RULES_ON.add(rule)
