"""Filter → DuckDB SQL: a provable *superset* of the matches, plus whether it is exact.

MongoDB's matching rules (arrays, null vs missing, type classes) do not map one-to-one to SQL.
So only conditions on fields stored as typed single-type columns are translated, and only when
the translation is known to keep every match: then the SQL result contains every matching
row, and ``exact`` says whether it contains nothing else. When it is not exact, the caller runs
the Python matcher on the candidates. Everything here assumes a column of type T holds, for
every row, a value of type T or NULL (null or missing) — what shredding guarantees. Dotted
paths into struct columns and fields holding lists of one scalar type (kind ``list:T``) are
given kinds the same way by the engine, only when that holds for them in every file.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from parquedb.errors import InvalidFilterError
from parquedb.query.matcher import regex_condition
from parquedb.support.sqltext import quote

_PY = {"string": (str,), "int64": (int,), "double": (float,), "bool": (bool,),
       "timestamp": (datetime,)}
_CMP = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<=", "$eq": "=", "$ne": "<>"}
TRUE: tuple[str, list[Any], bool] = ("TRUE", [], False)


def _fits(value: Any, kind: str) -> bool:
    """``value`` compares with a ``kind`` column exactly as MongoDB compares it."""
    if isinstance(value, bool):
        return kind == "bool"
    if kind in ("int64", "double"):
        return (isinstance(value, int) and kind == "int64" and -2**63 <= value < 2**63) or (
            isinstance(value, float) and kind == "double" and value == value)
    return isinstance(value, _PY[kind])


def _numeric_class(value: Any, kind: str) -> bool:
    """A number compared with a number column of the other numeric type."""
    return (kind in ("int64", "double") and isinstance(value, (int, float))
            and not isinstance(value, bool))


def translate(filter: dict[str, Any] | None, types: dict[str, str]) -> tuple[str, list[Any], bool]:
    """``(where_sql, params, exact)`` for ``filter`` over columns typed as in ``types``."""
    if not filter:
        return "TRUE", [], True
    return _and([_field_or_logic(k, v, types) for k, v in filter.items()])


def _and(parts: list[tuple[str, list[Any], bool]]) -> tuple[str, list[Any], bool]:
    sql = [p for p in parts if p[0] != "TRUE"]
    params = [x for p in parts if p[0] != "TRUE" for x in p[1]]
    exact = all(p[2] for p in parts)
    if not sql:
        return "TRUE", [], exact
    return "(" + " AND ".join(s for s, _, _ in sql) + ")", params, exact


def _or(parts: list[tuple[str, list[Any], bool]]) -> tuple[str, list[Any], bool]:
    if any(p[0] == "TRUE" for p in parts):
        return TRUE  # one untranslatable branch: the superset is everything
    return ("(" + " OR ".join(s for s, _, _ in parts) + ")",
            [x for p in parts for x in p[1]], all(p[2] for p in parts))


def _field_or_logic(key: str, value: Any, types: dict[str, str]) -> tuple[str, list[Any], bool]:
    if key == "$and" and isinstance(value, list) and value:
        return _and([translate(v, types) if isinstance(v, dict) else TRUE for v in value])
    if key == "$or" and isinstance(value, list) and value:
        return _or([translate(v, types) if isinstance(v, dict) else TRUE for v in value])
    if key.startswith("$") and key not in ("$id", "$type"):
        return TRUE  # $nor, $where-like: decided by the matcher
    kind = types.get(key)
    if kind is None:
        return TRUE
    col = column_sql(key)
    if kind.startswith("list:"):
        return _list_field(col, kind[5:], value)
    if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
        if "$options" in value or "$regex" in value:
            parts = [_op(col, kind, op, arg) for op, arg in value.items()
                     if op not in ("$regex", "$options")]
            return _and([*parts, _regex(col, kind, value.get("$regex"), value.get("$options"))])
        return _and([_op(col, kind, op, arg) for op, arg in value.items()])
    if isinstance(value, re.Pattern):  # a compiled pattern as the value: a regex match
        return _regex(col, kind, value, None)
    return _op(col, kind, "$eq", value)


def column_sql(path: str) -> str:
    """The SQL of a (dotted) path: a top-level column, or fields of struct columns
    (``author.country`` → ``struct_extract("author", 'country')``). A dotted path is only
    given a kind when every part of it up to the leaf is a struct stored in every file, so the
    path is missing or null exactly when the SQL value is NULL."""
    head, *rest = path.split(".")
    col = quote(head)
    for part in rest:
        col = f"struct_extract({col}, {_sql_str(part)})"
    return col


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list_field(col: str, kind: str, value: Any) -> tuple[str, list[Any], bool]:
    """A field whose values are all lists of one scalar type without nulls (or null or
    missing). MongoDB matches a scalar against such a list by its elements, and a null against
    a missing or null field only (no element is null); whole-array equality, ranges and the
    other operators are left to the matcher."""
    if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
        return _and([_list_op(col, kind, op, arg) for op, arg in value.items()])
    if isinstance(value, re.Pattern):
        return TRUE
    return _list_op(col, kind, "$eq", value)


def _list_op(col: str, kind: str, op: str, arg: Any) -> tuple[str, list[Any], bool]:
    if op in ("$eq", "$ne"):
        values = [arg]
    elif op in ("$in", "$nin") and isinstance(arg, list):
        values = list(arg)
    else:
        return TRUE
    if any(isinstance(v, (dict, list)) or hasattr(v, "pattern") or
           (v is not None and not _fits(v, kind) and _numeric_class(v, kind)) for v in values):
        return TRUE
    fitting = [v for v in values if v is not None and _fits(v, kind)]
    conds = []
    params: list[Any] = []
    if fitting:
        conds.append(f"coalesce(list_has_any({col}, [{', '.join('?' for _ in fitting)}]), FALSE)")
        params = list(fitting)
    if any(v is None for v in values):
        conds.append(f"{col} IS NULL")
    sql = "(" + " OR ".join(conds) + ")" if conds else "FALSE"
    if op in ("$eq", "$in"):
        return sql, params, True
    return (f"NOT {sql}" if conds else "TRUE"), params, True


def _regex(col: str, kind: str, pattern: Any, options: Any) -> tuple[str, list[Any], bool]:
    """DuckDB's ``regexp_matches`` is RE2 too: a pattern whose RE2 form gives Python's answer
    on every string, in DuckDB's RE2 as well (``Regex.sql``), is exact in SQL; any other is
    left to the matcher."""
    if kind != "string":
        return TRUE
    try:
        rx = regex_condition(pattern, options)
    except InvalidFilterError:
        return TRUE  # the matcher reports it
    if rx.sql is None:
        return TRUE
    return f"coalesce(regexp_matches({col}, ?), FALSE)", [rx.sql], True


def _op(col: str, kind: str, op: str, arg: Any) -> tuple[str, list[Any], bool]:
    if op in ("$eq", "$ne"):
        if arg is None:  # null or missing: both are NULL in a typed column
            return (f"{col} IS NULL", [], True) if op == "$eq" else (f"{col} IS NOT NULL", [], True)
        if _fits(arg, kind):
            if op == "$eq":
                return f"{col} = ?", [arg], True
            return f"({col} IS NULL OR {col} <> ?)", [arg], True
        if _numeric_class(arg, kind):
            return TRUE  # int vs float column: let the matcher decide exactly
        # a value of another type class never equals a value of this column
        return ("FALSE", [], True) if op == "$eq" else ("TRUE", [], True)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if arg is None or isinstance(arg, (list, dict)):
            return TRUE
        if _fits(arg, kind) and not (isinstance(arg, float) and arg != arg):
            return f"{col} {_CMP[op]} ?", [arg], True
        if _numeric_class(arg, kind):
            if isinstance(arg, float) and arg != arg:
                return TRUE
            return TRUE  # widening int/float ranges exactly is left to the matcher
        return "FALSE", [], True  # comparisons never cross type classes
    if op in ("$in", "$nin") and isinstance(arg, list):
        if any(isinstance(v, (dict, list)) or hasattr(v, "pattern") or
               (_numeric_class(v, kind) and not _fits(v, kind)) for v in arg):
            return TRUE
        fitting = [v for v in arg if v is not None and _fits(v, kind)]
        has_null = any(v is None for v in arg)
        params: list[Any] = list(fitting)
        # null-safe: NULL IN (...) is NULL in SQL, but a missing field is simply "not in"
        marks = ", ".join("?" for _ in fitting)
        conds = [f"coalesce({col} IN ({marks}), FALSE)"] if fitting else []
        if has_null:
            conds.append(f"{col} IS NULL")
        sql = "(" + " OR ".join(conds) + ")" if conds else "FALSE"
        if op == "$in":
            return sql, params, True
        return (f"NOT {sql}" if conds else "TRUE"), params, True
    if op == "$exists":
        return TRUE  # a stored null and a missing field are both NULL here
    if op in ("$startsWith",) and kind == "string" and isinstance(arg, str):
        return f"starts_with({col}, ?)", [arg], True
    return TRUE

