"""Executing reads: DuckDB over the Parquet files when it can be exact, the matcher otherwise.

The filter is translated to SQL over the typed (shredded) columns as a *superset* of the
matches (``query.sql.translate``). When the translation is exact, DuckDB also sorts, counts and
pages; when it is not, DuckDB only narrows the candidates and the Python matcher decides. Stale
row versions are removed inside the SQL (see ``engine.duck``), so neither path ever sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from parquedb.engine.duck import CurrentRows
from parquedb.engine.format import DATA_SCHEMA, table_to_rows
from parquedb.engine.interrupt import stop_at_deadline
from parquedb.engine.snapshot import Snapshot
from parquedb.model.entity import Row
from parquedb.query.sql import translate
from parquedb.support.sqltext import quote

_PUSH_SORT_KINDS = {"string", "int64", "bool", "timestamp"}
_COLS = ", ".join(quote(c) for c in DATA_SCHEMA.names)
STREAM_BATCH = 4096
# a page of at most max(LOCATE_MIN, rows in files / LOCATE_SHARE) rows is read through the row
# blocks (``PushdownScan._located_page``): below that, its blocks cost less than ``_doc``'s pages
LOCATE_MIN = 256
LOCATE_SHARE = 64


class PushdownScan:
    """One read over a snapshot's collection through DuckDB."""

    def __init__(self, duck: Any, snap: Snapshot, collection: str,
                 filter: dict[str, Any] | None, include_deleted: bool) -> None:
        self.duck = duck
        self.rel = CurrentRows(duck, snap, collection)
        self.types = self.rel.typed_fields()
        where, params, exact = translate(filter, {**self.types, **self.rel.nested_fields()})
        # files whose statistics prove every row live are not tested row by row
        cond = "TRUE" if self.rel.live_only(include_deleted) else \
            "NOT _tomb" + ("" if include_deleted else " AND deletedAt IS NULL")
        self.where = f"{cond} AND {where}"
        self.params = params
        self.exact = exact

    def sortable(self, spec: list[tuple[str, int]]) -> bool:
        return all(self.types.get(f) in _PUSH_SORT_KINDS for f, _ in spec)

    def _order(self, spec: list[tuple[str, int]]) -> str:
        # MongoDB puts null/missing lowest: first ascending, last descending
        return ", ".join(f"{quote(f)} {'ASC NULLS FIRST' if d == 1 else 'DESC NULLS LAST'}"
                         for f, d in spec)

    def page(self, spec: list[tuple[str, int]], skip: int,
             limit: int | None) -> tuple[list[Row], int]:
        """Exact filter and sort: DuckDB returns the page (a top-k when limited) and the total
        (a separate count: a window count would make DuckDB materialise every match)."""
        counted: list[int] = []
        rows = self.rows_page(spec, skip, limit, counted=counted if limit is not None else None)
        if counted:
            return rows, counted[0]
        if limit is None and (rows or not skip):
            return rows, skip + len(rows)  # every match from ``skip`` on was returned
        if limit is not None and not skip and len(rows) < limit:
            return rows, len(rows)  # fewer than asked: these are all the matches
        return rows, self.count()

    def rows_page(self, spec: list[tuple[str, int]], skip: int, limit: int | None, *,
                  counted: list[int] | None = None) -> list[Row]:
        """The page alone: exact filter and sort in DuckDB. ``counted``, when given, receives
        the number of matches if it came for free with the page."""
        found = self._located_page(spec, skip, limit, counted is not None)
        if found is not None:
            if counted is not None:
                counted.append(found[1])
            return found[0]
        sql = (f"SELECT {_COLS} FROM {self.rel.source()} "
               f"WHERE {self.where} ORDER BY {self._order(spec)}")
        params = list(self.params)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        if skip:
            sql += " OFFSET ?"
            params.append(skip)
        with self.duck.lock, stop_at_deadline(self.duck.con):
            return table_to_rows(self.duck.con.sql(sql, params=params).to_arrow_table(), 0)

    def _located_page(self, spec: list[tuple[str, int]], skip: int, limit: int | None,
                      with_total: bool = False) -> tuple[list[Row], int] | None:
        """The page (and with ``with_total`` the number of matches, else -1) in two steps
        when it is small: DuckDB finds where its rows are, reading only the filter and sort
        columns, then each row comes from its row blocks. Reading ``_doc`` in the query would
        inflate every page of it that holds a match (nearly all of them for a 0.5% match),
        which costs more than the matches' blocks. None when the page would be too large for
        that (or rows cannot be located): read it in one query."""
        if not self.rel.can_locate():
            return None
        cap = max(LOCATE_MIN, self.rel.file_rows() // LOCATE_SHARE)
        want = limit if limit is not None and limit <= cap else cap + 1
        order = self._order(spec)
        keys = ", ".join(dict.fromkeys(quote(f) for f, _ in spec))
        matched = (f"SELECT filename, file_row_number, {keys} FROM "
                   f"{self.rel.source(locate=True)} WHERE {self.where}")
        page = f"SELECT * FROM m ORDER BY {order} LIMIT ?" + (" OFFSET ?" if skip else "")
        total = "(SELECT count(*) FROM m)" if with_total else "-1"
        # one query for the page and the total: the matches are found once
        sql = (f"WITH m AS ({matched}) SELECT (SELECT list({{'f': filename, "
               f"'r': file_row_number}} ORDER BY {order}) FROM ({page})), {total}")
        params = [*self.params, want] + ([skip] if skip else [])
        with self.duck.lock, stop_at_deadline(self.duck.con):
            where, count = self.duck.con.sql(sql, params=params).fetchall()[0]
        where = where or []
        if len(where) > cap:
            return None
        return self.rel.fetch([(w["f"], w["r"]) for w in where]), count

    def rows_sorted(self, spec: list[tuple[str, int]]) -> Iterator[Row]:
        """Candidate rows in ``spec`` order, streamed: a reader that stops at its first
        matches decodes only those (DuckDB sorts; the matcher decides)."""
        sql = (f"SELECT {_COLS} FROM {self.rel.source()} WHERE {self.where} "
               f"ORDER BY {self._order(spec)}")
        with self.duck.lock, stop_at_deadline(self.duck.con):
            reader = self.duck.con.sql(sql, params=self.params).to_arrow_reader(STREAM_BATCH)
            for batch in reader:
                yield from table_to_rows(batch, 0)

    def count(self) -> int:
        sql = f"SELECT count(*) FROM {self.rel.source()} WHERE {self.where}"
        with self.duck.lock, stop_at_deadline(self.duck.con):
            return self.duck.con.sql(sql, params=self.params).fetchall()[0][0]

    def group(self, select: str, group_expr: str | None) -> list[dict[str, Any]]:
        """An exact ``$group`` computed by DuckDB."""
        # a constant key still groups: no rows in, no group out (as in MongoDB)
        sql = (f"SELECT {select} FROM {self.rel.source()} WHERE {self.where} "
               f"GROUP BY {group_expr or 'CAST(NULL AS INTEGER)'}")
        with self.duck.lock, stop_at_deadline(self.duck.con):
            return self.duck.con.sql(sql, params=self.params).to_arrow_table().to_pylist()

    def rows(self) -> Iterator[Row]:
        """Candidate rows, streamed in batches (memory stays bounded)."""
        sql = f"SELECT {_COLS} FROM {self.rel.source()} WHERE {self.where}"
        with self.duck.lock, stop_at_deadline(self.duck.con):
            reader = self.duck.con.sql(sql, params=self.params).to_arrow_reader(STREAM_BATCH)
            for batch in reader:
                yield from table_to_rows(batch, 0)

    def close(self) -> None:
        self.rel.release()
