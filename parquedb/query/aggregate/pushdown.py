"""A ``$group`` stage as DuckDB SQL, when SQL gives exactly the pipeline's answer.

Only a key that is one typed column (or null), and ``$count``, ``$sum`` of a constant, and
``$sum``/``$avg``/``$min``/``$max`` of one typed column are translated; anything else (or a
float sum, which SQL rounds differently than the pipeline's exact sum) returns None and the
group runs in Python. :func:`fix_group_rows` then gives the rows MongoDB's types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from parquedb.support.sqltext import quote

__all__ = ["COUNT_PREFIX", "fix_group_rows", "translate_group"]

_AGG_KINDS = {"string", "int64", "double", "bool", "timestamp"}
COUNT_PREFIX = "__parquedb_count__"  # helper columns of translate_group (fix_group_rows)


def fix_group_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply MongoDB's typing to SQL group rows (an empty ``$sum`` is the int 0)."""
    out = []
    for r in rows:
        fixed = {}
        for k, v in r.items():
            if k.startswith(COUNT_PREFIX):
                continue
            if r.get(COUNT_PREFIX + k) == 0:
                v = 0
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
        if not isinstance(acc, dict) or len(acc) != 1 or "." in name or name.startswith("$"):
            return None
        (op, arg), = acc.items()
        if op == "$count" and arg == {}:
            expr = "count(*)"
        elif op == "$sum" and isinstance(arg, int) and not isinstance(arg, bool):
            expr = f"count(*) * {arg}"
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
            total = f"CAST(coalesce(sum({col}), 0) AS BIGINT)"
            expr = {"$sum": total, "$avg": f"avg({col})",
                    "$min": f"min({col})", "$max": f"max({col})"}[op]
        else:
            return None
        select.append(f"{expr} AS {quote(name)}")
        names.append(name)
    return ", ".join(select), group_expr, names
