"""A ``$group`` stage as DuckDB SQL, when SQL gives exactly the pipeline's answer.

Only a key that is one typed column (or null), and ``$count``, ``$sum`` of a constant, and
``$sum``/``$avg``/``$min``/``$max`` of one typed column are translated; anything else (or a
float sum, which SQL rounds differently than the pipeline's exact sum) returns None and the
group runs in Python. :func:`fix_group_rows` then gives the rows MongoDB's types.

Integer sums are taken as DuckDB ``HUGEINT`` (128 bits, never overflowing) and averages as an
exact sum and a count, so that the last step — promoting a sum past 64 bits to a double,
dividing — is Python's, exactly as in the pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from parquedb.support.sqltext import quote

__all__ = ["fix_group_rows", "translate_group"]

_AGG_KINDS = {"string", "int64", "double", "bool", "timestamp"}
_AVG_N = "__parquedb_avg_n__"  # helper column: the count of an average (its sum is the output)
_INT64 = (-(2**63), 2**63 - 1)


def _int_result(v: Decimal | int) -> int | float:
    """An exact integer sum with MongoDB's typing: past 64 bits it becomes a double."""
    n = int(v)
    return n if _INT64[0] <= n <= _INT64[1] else float(n)


def fix_group_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply MongoDB's typing to SQL group rows (sums as ints, averages divided exactly)."""
    out = []
    for r in rows:
        fixed: dict[str, Any] = {}
        for k, v in r.items():
            if k.startswith(_AVG_N):
                continue
            n_key = _AVG_N + k
            if n_key in r:
                n = r[n_key]
                v = int(v) / n if n else None
            elif isinstance(v, Decimal):
                v = _int_result(v)
            elif isinstance(v, datetime) and v.tzinfo is not None and v.tzinfo is not UTC:
                v = v.astimezone(UTC)
            fixed[k] = v
        out.append(fixed)
    return out


def translate_group(spec: Any, types: dict[str, str]) -> tuple[str, str | None, list[str]] | None:
    """A ``$group`` stage → ``(select list, group-by expression, output names)``, or None when
    some part has no exact SQL equivalent (the pipeline then runs in Python)."""
    if not isinstance(spec, dict) or "_id" not in spec:
        return None
    key = spec["_id"]
    if key is None:
        group_expr = None
    elif isinstance(key, str) and key.startswith("$") and types.get(key[1:]) in _AGG_KINDS \
            and "." not in key:
        group_expr = quote(key[1:])
    else:
        return None
    select = [f"{group_expr if group_expr else 'NULL'} AS _id"]
    names = ["_id"]
    for name, acc in spec.items():
        if name == "_id":
            continue
        if not isinstance(acc, dict) or len(acc) != 1 or "." in name or name.startswith(
                ("$", _AVG_N)):
            return None
        (op, arg), = acc.items()
        extra = None
        if op == "$count" and arg == {}:
            expr = "count(*)"
        elif op == "$sum" and isinstance(arg, int) and not isinstance(arg, bool):
            if not _INT64[0] <= arg <= _INT64[1]:
                return None
            # a count needs no 128-bit product (the common ``{"$sum": 1}``)
            expr = "count(*)" if arg == 1 else f"count(*)::HUGEINT * ({arg})::HUGEINT"
        elif op in ("$sum", "$avg", "$min", "$max") and isinstance(arg, str) \
                and arg.startswith("$") and "." not in arg:
            kind = types.get(arg[1:])
            col = quote(arg[1:])
            if op in ("$sum", "$avg") and kind != "int64":
                # float sums: SQL adds in no defined order, the Python pipeline rounds exactly
                # (math.fsum); they would differ in the last bits, so they stay in Python
                return None
            if op in ("$min", "$max") and kind not in _AGG_KINDS - {"double"}:
                return None  # NaN orders differently in SQL
            total = f"coalesce(sum({col}), 0)::HUGEINT"
            expr = {"$sum": total, "$avg": total,
                    "$min": f"min({col})", "$max": f"max({col})"}[op]
            if op == "$avg":
                extra = f"count({col}) AS {quote(_AVG_N + name)}"
        else:
            return None
        select.append(f"{expr} AS {quote(name)}")
        if extra is not None:
            select.append(extra)
        names.append(name)
    return ", ".join(select), group_expr, names
