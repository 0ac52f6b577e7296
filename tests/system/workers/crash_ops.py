"""The deterministic write scripts of tests/system/test_crash.py, shared by child and parent.

Operation number ``i`` of a mode is always the same operation, so the parent, knowing the
number of the last operation the child acknowledged before it was killed, knows exactly which
operations must be in the store (all up to it), which one may be (the one in flight) and which
must not (all after it). The parent keeps a model of the expected documents and applies the
same operations to it.
"""

from __future__ import annotations

import copy
from typing import Any

BULK = 1050       # > Settings.inline_max_rows: create_many goes to a data file
GEN_DOCS = 1100   # update_many over all of them also writes a data file
SEED_DOCS = 5000  # compaction mode: enough rows that a full compaction takes a while

SLOW = ("compact", "create_many", "inc_all")  # the child announces these before running them

Model = dict[str, dict[str, dict[str, Any]]]  # collection -> $id -> {"doc":…, "v":…, "del":…}


def seed_ops(mode: str) -> list[tuple[Any, ...]]:
    """What the parent writes before the first child starts."""
    if mode == "update":
        return ([("create", "u", f"u{k}", {"v": -1}) for k in range(10)]
                + [("create_many", "g", [(f"g{j:04d}", {"gen": 0, "j": j})
                                         for j in range(GEN_DOCS)])])
    if mode == "compact":
        return [("create_many", "k", [(f"seed{j:05d}", {"j": j, "pad": "x" * 40})
                                      for j in range(SEED_DOCS)])]
    return []


def op(mode: str, i: int) -> tuple[Any, ...]:
    """Operation ``i`` (0, 1, 2, ...) of ``mode``."""
    if mode == "create":
        r = i % 10
        if r == 9:
            return ("delete", "c", f"c{i - 1:06d}", True)            # hard delete op i-1's
        if r == 7:
            return ("delete", "c", f"c{i - 1:06d}", False)           # soft delete op i-1's
        if r == 5:
            return ("set", "c", f"c{i - 2:06d}", {"v": i})           # update op i-2's
        return ("create", "c", f"c{i:06d}", {"i": i, "pad": "p" * (i % 37)})
    if mode == "bulk":
        if i % 2 == 0:
            return ("create_many", "b", [(f"b{i:04d}-{j:04d}", {"i": i, "j": j})
                                         for j in range(BULK)])
        return ("create", "s", f"s{i:04d}", {"i": i})
    if mode == "update":
        if i % 4 == 3:
            return ("inc_all", "g", "gen")
        return ("set", "u", f"u{i % 10}", {"v": i, "w": [i, str(i)]})
    if mode == "compact":
        r = i % 8
        if r == 7:
            return ("compact",)
        if r == 3:
            return ("set", "k", f"seed{(i * 37) % SEED_DOCS:05d}", {"upd": i})
        if r == 5:
            return ("set", "k", f"n{i - 1:05d}", {"upd": i})          # op i-1 created it
        return ("create", "k", f"n{i:05d}", {"i": i})
    raise ValueError(mode)


def apply(model: Model, o: tuple[Any, ...], *, copy_first: bool = False) -> Model:
    """Apply operation ``o`` to the model (in place, or to a copy with ``copy_first``)."""
    m = copy.deepcopy(model) if copy_first else model
    kind = o[0]
    if kind == "create":
        m.setdefault(o[1], {})[o[2]] = {"doc": dict(o[3]), "v": 1, "del": False}
    elif kind == "create_many":
        coll = m.setdefault(o[1], {})
        for eid, doc in o[2]:
            coll[eid] = {"doc": dict(doc), "v": 1, "del": False}
    elif kind == "set":
        e = m[o[1]][o[2]]
        new = {**e["doc"], **o[3]}
        if new != e["doc"]:
            e["doc"] = new
            e["v"] += 1
    elif kind == "inc_all":
        for e in m[o[1]].values():
            if not e["del"]:
                e["doc"][o[2]] += 1
                e["v"] += 1
    elif kind == "delete":
        if o[3]:
            del m[o[1]][o[2]]
        else:
            m[o[1]][o[2]]["del"] = True
            m[o[1]][o[2]]["v"] += 1
    elif kind == "compact":
        pass
    else:
        raise ValueError(kind)
    return m


def run(db: Any, o: tuple[Any, ...]) -> None:
    """Perform operation ``o`` through the public API."""
    kind = o[0]
    if kind == "create":
        db[o[1]].create({"$id": o[2], **o[3]})
    elif kind == "create_many":
        db[o[1]].create_many([{"$id": eid, **doc} for eid, doc in o[2]])
    elif kind == "set":
        db[o[1]].update(o[2], {"$set": o[3]})
    elif kind == "inc_all":
        db[o[1]].update_many({}, {"$inc": {o[2]: 1}})
    elif kind == "delete":
        db[o[1]].delete(o[2], hard=o[3])
    elif kind == "compact":
        db.compact()
    else:
        raise ValueError(kind)
