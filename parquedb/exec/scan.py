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


class PushdownScan:
    """One read over a snapshot's collection through DuckDB."""

    def __init__(self, duck: Any, snap: Snapshot, collection: str,
                 filter: dict[str, Any] | None, include_deleted: bool) -> None:
        self.duck = duck
        self.rel = CurrentRows(duck, snap, collection)
        self.types = self.rel.typed_fields()
        where, params, exact = translate(filter, {**self.types, **self.rel.nested_fields()})
        cond = "NOT _tomb" + ("" if include_deleted else " AND deletedAt IS NULL")
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
        rows = self.rows_page(spec, skip, limit)
        if limit is None and (rows or not skip):
            return rows, skip + len(rows)  # every match from ``skip`` on was returned
        if limit is not None and not skip and len(rows) < limit:
            return rows, len(rows)  # fewer than asked: these are all the matches
        return rows, self.count()

    def rows_page(self, spec: list[tuple[str, int]], skip: int,
                  limit: int | None) -> list[Row]:
        """The page alone (no total): exact filter and sort in DuckDB."""
        sql = (f"SELECT {_COLS} FROM ({self.rel.sql()}) "
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

    def rows_sorted(self, spec: list[tuple[str, int]]) -> Iterator[Row]:
        """Candidate rows in ``spec`` order, streamed: a reader that stops at its first
        matches decodes only those (DuckDB sorts; the matcher decides)."""
        sql = (f"SELECT {_COLS} FROM ({self.rel.sql()}) WHERE {self.where} "
               f"ORDER BY {self._order(spec)}")
        with self.duck.lock, stop_at_deadline(self.duck.con):
            reader = self.duck.con.sql(sql, params=self.params).to_arrow_reader(STREAM_BATCH)
            for batch in reader:
                yield from table_to_rows(batch, 0)

    def count(self) -> int:
        sql = f"SELECT count(*) FROM ({self.rel.sql()}) WHERE {self.where}"
        with self.duck.lock, stop_at_deadline(self.duck.con):
            return self.duck.con.sql(sql, params=self.params).fetchall()[0][0]

    def group(self, select: str, group_expr: str | None) -> list[dict[str, Any]]:
        """An exact ``$group`` computed by DuckDB."""
        # a constant key still groups: no rows in, no group out (as in MongoDB)
        sql = (f"SELECT {select} FROM ({self.rel.sql()}) WHERE {self.where} "
               f"GROUP BY {group_expr or 'CAST(NULL AS INTEGER)'}")
        with self.duck.lock, stop_at_deadline(self.duck.con):
            return self.duck.con.sql(sql, params=self.params).to_arrow_table().to_pylist()

    def rows(self) -> Iterator[Row]:
        """Candidate rows, streamed in batches (memory stays bounded)."""
        sql = f"SELECT {_COLS} FROM ({self.rel.sql()}) WHERE {self.where}"
        with self.duck.lock, stop_at_deadline(self.duck.con):
            reader = self.duck.con.sql(sql, params=self.params).to_arrow_reader(STREAM_BATCH)
            for batch in reader:
                yield from table_to_rows(batch, 0)

    def close(self) -> None:
        self.rel.release()
