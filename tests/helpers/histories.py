"""Random write histories over one collection, ``things``, for the read-path properties
(point probes, the lean id index): creates and updates of a few ids, bulk creates past
``inline_max_rows`` (one data file, maybe overlapping others), soft and hard deletes,
compactions and, optionally, scans between writes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def history_ops(ids: list[str], *, bulk_max: int, max_size: int,
                reads: bool = False) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Lists of operations for :func:`apply_op`; ``reads`` adds scans between writes."""
    kinds = [
        st.tuples(st.just("put"), st.sampled_from(ids), st.integers(0, 9)),
        st.tuples(st.just("bulk"), st.lists(st.sampled_from(ids), min_size=1,
                                            max_size=bulk_max, unique=True),
                  st.integers(0, 9)),
        st.tuples(st.just("soft"), st.sampled_from(ids)),
        st.tuples(st.just("hard"), st.sampled_from(ids)),
        st.tuples(st.just("compact")),
    ]
    if reads:
        kinds.append(st.tuples(st.just("read")))
    return st.lists(st.one_of(*kinds), min_size=1, max_size=max_size)


def apply_op(db: Any, op: tuple[Any, ...]) -> None:
    """Run one operation of :func:`history_ops` on ``db.things``."""
    coll = db.things
    if op[0] == "put":
        if coll.get(op[1], include_deleted=True) is None:
            coll.create({"$id": op[1], "v": op[2]})
        else:
            coll.update(op[1], {"$set": {"v": op[2]}})
    elif op[0] == "bulk":  # past inline_max_rows: one data file, maybe overlapping others
        fresh = [i for i in op[1] if coll.get(i, include_deleted=True) is None]
        if fresh:
            coll.create_many([{"$id": i, "v": op[2]} for i in fresh])
        coll.update_many({"$id": {"$in": [f"things/{i}" for i in op[1]]}}, {"$inc": {"v": 1}})
    elif op[0] in ("soft", "hard"):
        if coll.get(op[1], include_deleted=True) is not None:
            coll.delete(op[1], hard=op[0] == "hard")
    elif op[0] == "compact":
        db.compact("things")
    else:  # a scan between writes: the index is built, then kept up to date by commits
        coll.count()
