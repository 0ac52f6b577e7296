"""A materialized view's definition: its source, its pipeline (``$match`` then ``$group``), and
how it is refreshed — checked once, stored in the log with the view, hashed to notice a change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from parquedb.errors import ErrorCode, MVError, QueryError
from parquedb.model.entity import RESERVED_FIELDS
from parquedb.model.values import decode_doc, encode_doc
from parquedb.query import compile_filter
from parquedb.query.aggregate.expressions import Expr, compile_expr
from parquedb.query.aggregate.group import GroupField, group_fields
from parquedb.query.aggregate.values import Bad

DEFINITION = "view"     # metadata key of the definition, in the view's scope
WATERMARK = "watermark"  # metadata key of the last source commit folded in


@dataclass(frozen=True)
class Definition:
    name: str
    source: str
    kind: str                        # "collection" | "dataset"
    pipeline: list[dict[str, Any]]
    refresh: Any                     # "manual" | "on_write" | {"every": seconds}
    time_field: str = "timestamp"    # datasets: the order of $first / $last / $push
    digest: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "kind": self.kind,
                "pipeline": encode_doc({"p": self.pipeline}), "refresh": self.refresh,
                "time_field": self.time_field, "digest": self.digest}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Definition:
        pipeline = decode_doc(d["pipeline"])["p"]
        return cls(d["name"], d["source"], d["kind"], pipeline, d["refresh"],
                   d.get("time_field", "timestamp"), d.get("digest", ""))

    def compiled(self) -> Compiled:
        return compile_definition(self.pipeline)


@dataclass(frozen=True)
class Compiled:
    """The pipeline ready to run: the match predicate, the group key, the output fields."""

    match: Any
    key: Expr
    fields: list[GroupField]

    @property
    def retractable(self) -> bool:
        return all(getattr(acc, "retractable", False) for _, acc, _ in self.fields)


def _mv_error(message: str, **context: Any) -> MVError:
    return MVError(message, code=ErrorCode.MV_ERROR, **context)


def check_refresh(refresh: Any) -> Any:
    if refresh in ("manual", "on_write"):
        return refresh
    if isinstance(refresh, dict) and set(refresh) == {"every"}:
        every = refresh["every"]
        if isinstance(every, (int, float)) and not isinstance(every, bool) and every > 0:
            return {"every": float(every)}
    raise _mv_error('refresh must be "manual", "on_write" or {"every": seconds > 0}',
                    refresh=repr(refresh)[:100])


def compile_definition(pipeline: Any) -> Compiled:
    """Check that ``pipeline`` is ``[{"$match": ...}, {"$group": ...}]`` (the match optional)
    and compile it; anything else is an ``MVError``."""
    if not isinstance(pipeline, list) or not pipeline or len(pipeline) > 2 or \
            not all(isinstance(s, dict) and len(s) == 1 for s in pipeline):
        raise _mv_error("a view's pipeline is [{'$match': ...}, {'$group': ...}] "
                        "(the $match optional)")
    stages = list(pipeline)
    flt = None
    if "$match" in stages[0]:
        flt = stages.pop(0)["$match"]
    if len(stages) != 1 or "$group" not in stages[0]:
        raise _mv_error("a view's pipeline must end with one $group")
    spec = stages[0]["$group"]
    if not isinstance(spec, dict) or "_id" not in spec:
        raise _mv_error("$group needs an '_id' (None groups everything together)")
    taken = [k for k in spec if k in RESERVED_FIELDS or k == "name"]
    if taken:
        raise _mv_error(f"output field {taken[0]!r} is a field every row of the view already "
                        "has (an entity's system field): name it otherwise", field=taken[0])
    try:
        match = compile_filter(flt)
        key = compile_expr(spec["_id"])
        fields = group_fields(spec)
    except (Bad, QueryError) as e:
        raise _mv_error(f"invalid view pipeline: {e}") from e
    return Compiled(match, key, fields)


def make_definition(name: str, source: str, kind: str, pipeline: Any, refresh: Any,
                    time_field: str) -> Definition:
    compile_definition(pipeline)
    refresh = check_refresh(refresh)
    digest = hashlib.blake2b(orjson.dumps(
        [source, kind, encode_doc({"p": pipeline}), time_field], option=orjson.OPT_SORT_KEYS),
        digest_size=12).hexdigest()
    return Definition(name, source, kind, pipeline, refresh, time_field, digest)


__all__ = ["DEFINITION", "WATERMARK", "Compiled", "Definition", "check_refresh",
           "compile_definition", "make_definition"]
