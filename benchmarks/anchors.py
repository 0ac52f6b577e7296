"""Anchor systems: the same benchmark operations on SQLite (JSON text) and DuckDB over Parquet.

Anchors exist so ParqueDB's figures can be judged as ratios measured in the same run on the
same machine: absolute latencies swing up to 2x between runs, ratios much less. Each anchor
is written the way a competent user would write it (prepared statements, one transaction per
batch, results decoded into Python dicts) so the comparison is honest, not a straw man.

Every system implements the small `System` interface used by `benchmarks.run`.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .dataset import RANGE_HI, RANGE_LO, RAREST_STATUS, SELECTIVE_VIEWS_GT

Doc = dict[str, Any]


def folder_bytes(path: str) -> int:
    """Sum of file sizes under ``path`` (a SQLite folder includes its -wal and -shm files)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except FileNotFoundError:  # a temporary file vanished while we walked
                pass
    return total


class System:
    """The operations the harness measures. Unsupported ones raise NotImplementedError."""

    name = "system"
    supports_writes = True

    def __init__(self, folder: str) -> None:
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def load(self, docs: list[Doc], batch_size: int | None) -> list[str]:
        """Bulk-load ``docs``; ``batch_size=None`` means the whole list at once. Returns ids."""
        raise NotImplementedError

    def create(self, doc: Doc) -> Any:
        raise NotImplementedError

    def get(self, id_: str) -> Doc | None:
        raise NotImplementedError

    def update_set(self, id_: str, score: float) -> Any:
        """``{"$set": {"score": score}}``, returning the document after the update."""
        raise NotImplementedError

    def update_inc(self, id_: str) -> Any:
        """``{"$inc": {"views": 1}}``, returning the document after the update."""
        raise NotImplementedError

    def find_selective(self) -> list[Doc]:
        """``status == "flagged" AND views > 750000`` (~0.5%), whole documents."""
        raise NotImplementedError

    def range_sort_limit(self) -> list[Doc]:
        """``250000 <= views < 750000``, sorted by views descending, first 20 documents."""
        raise NotImplementedError

    def count_by_status(self) -> dict[str, int]:
        raise NotImplementedError

    def reopen(self) -> None:
        """Close and reconnect, dropping in-process caches (the OS page cache stays warm)."""
        raise NotImplementedError

    def disk_bytes(self) -> int:
        return folder_bytes(self.folder)

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------
# SQLite: one row per document, JSON text, WAL journal.

class SQLiteJSON(System):
    """``id TEXT PRIMARY KEY, doc TEXT`` in WAL mode; the classic "JSON in SQLite" store.

    ``synchronous`` FULL fsyncs the WAL on every commit (durable like ParqueDB promises);
    NORMAL fsyncs only at checkpoints (a power loss may drop the last commits). ``indexed``
    adds expression indexes on ``$.status`` and ``$.views`` before loading, so their upkeep
    is part of the load and write figures.
    """

    def __init__(self, folder: str, synchronous: str = "FULL", indexed: bool = False) -> None:
        super().__init__(folder)
        self.name = f"sqlite_{synchronous.lower()}" + ("_indexed" if indexed else "")
        self.synchronous, self.indexed = synchronous, indexed
        self.path = os.path.join(folder, "posts.sqlite")
        self.next_id = 0
        self._connect()
        self.con.execute("CREATE TABLE IF NOT EXISTS posts "
                         "(id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        if indexed:
            self.con.execute("CREATE INDEX IF NOT EXISTS posts_status "
                             "ON posts (json_extract(doc, '$.status'))")
            self.con.execute("CREATE INDEX IF NOT EXISTS posts_views "
                             "ON posts (json_extract(doc, '$.views'))")

    def _connect(self) -> None:
        # isolation_level=None: autocommit, so a single create is its own durable commit.
        self.con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute(f"PRAGMA synchronous={self.synchronous}")

    def _new_id(self) -> str:
        self.next_id += 1
        return f"p{self.next_id:08d}"

    def load(self, docs: list[Doc], batch_size: int | None) -> list[str]:
        ids: list[str] = []
        step = batch_size or len(docs)
        dumps, new_id = orjson.dumps, self._new_id
        for start in range(0, len(docs), step):
            rows = [(new_id(), dumps(d).decode()) for d in docs[start:start + step]]
            self.con.execute("BEGIN")
            self.con.executemany("INSERT INTO posts (id, doc) VALUES (?, ?)", rows)
            self.con.execute("COMMIT")
            ids.extend(r[0] for r in rows)
        return ids

    def create(self, doc: Doc) -> str:
        id_ = self._new_id()
        self.con.execute("INSERT INTO posts (id, doc) VALUES (?, ?)",
                         (id_, orjson.dumps(doc).decode()))
        return id_

    @staticmethod
    def _doc(id_: str, text: str) -> Doc:
        d = orjson.loads(text)
        d["$id"] = id_
        return d

    def get(self, id_: str) -> Doc | None:
        row = self.con.execute("SELECT doc FROM posts WHERE id = ?", (id_,)).fetchone()
        return self._doc(id_, row[0]) if row else None

    def update_set(self, id_: str, score: float) -> Doc | None:
        row = self.con.execute("UPDATE posts SET doc = json_set(doc, '$.score', ?) WHERE id = ? "
                               "RETURNING doc", (score, id_)).fetchone()
        return self._doc(id_, row[0]) if row else None

    def update_inc(self, id_: str) -> Doc | None:
        row = self.con.execute("UPDATE posts SET doc = json_set(doc, '$.views', "
                               "json_extract(doc, '$.views') + 1) WHERE id = ? RETURNING doc",
                               (id_,)).fetchone()
        return self._doc(id_, row[0]) if row else None

    def find_selective(self) -> list[Doc]:
        rows = self.con.execute(
            "SELECT id, doc FROM posts WHERE json_extract(doc, '$.status') = ? "
            "AND json_extract(doc, '$.views') > ?", (RAREST_STATUS, SELECTIVE_VIEWS_GT)).fetchall()
        return [self._doc(i, d) for i, d in rows]

    def range_sort_limit(self) -> list[Doc]:
        rows = self.con.execute(
            "SELECT id, doc FROM posts WHERE json_extract(doc, '$.views') >= ? "
            "AND json_extract(doc, '$.views') < ? ORDER BY json_extract(doc, '$.views') DESC, id "
            "LIMIT 20", (RANGE_LO, RANGE_HI)).fetchall()
        return [self._doc(i, d) for i, d in rows]

    def count_by_status(self) -> dict[str, int]:
        return dict(self.con.execute(
            "SELECT json_extract(doc, '$.status'), count(*) FROM posts GROUP BY 1").fetchall())

    def reopen(self) -> None:
        self.con.close()
        self._connect()

    def close(self) -> None:
        self.con.close()


# --------------------------------------------------------------------------------------------
# DuckDB over one Parquet file: the "just query the files" baseline (read-only).

class DuckDBParquet(System):
    """One Parquet file sorted by id, written with pyarrow, queried with raw DuckDB SQL.

    Sorting by id keeps row-group min/max statistics tight, so a get by id reads one row
    group. Row groups of 10,000 rows trade point-lookup cost against scan overhead (2,000 to
    50,000 measured within noise of each other at 200k docs). Compression is pyarrow's default
    (snappy), what a user gets without tuning. The file is immutable: single creates and
    updates are not applicable to this anchor.
    """

    name = "duckdb_parquet"
    supports_writes = False
    ROW_GROUP = 10_000

    def __init__(self, folder: str) -> None:
        super().__init__(folder)
        self.path = os.path.join(folder, "posts.parquet")
        self.con: duckdb.DuckDBPyConnection | None = None

    @staticmethod
    def _table(ids: list[str], docs: list[Doc]) -> pa.Table:
        """Column-wise construction: much faster than ``Table.from_pylist`` on dicts."""
        cols: dict[str, Any] = {"id": pa.array(ids, pa.string())}
        for key in docs[0]:
            cols[key] = pa.array([d.get(key) for d in docs])
        return pa.table(cols)

    def load(self, docs: list[Doc], batch_size: int | None) -> list[str]:
        ids = [f"p{i + 1:08d}" for i in range(len(docs))]  # zero-padded: sorted as strings
        step = batch_size or len(docs)
        writer: pq.ParquetWriter | None = None
        try:
            for start in range(0, len(docs), step):
                t = self._table(ids[start:start + step], docs[start:start + step])
                if writer is None:
                    writer = pq.ParquetWriter(self.path, t.schema)  # pyarrow defaults: snappy
                writer.write_table(t, row_group_size=self.ROW_GROUP)
        finally:
            if writer is not None:
                writer.close()
        self.reopen()
        return ids

    def reopen(self) -> None:
        if self.con is not None:
            self.con.close()
        self.con = duckdb.connect()
        self.con.execute(f"CREATE VIEW posts AS SELECT * FROM read_parquet('{self.path}')")

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[Doc]:
        assert self.con is not None
        # con.sql(...).to_arrow_table(): the DB-API path (execute) makes an extra copy.
        return self.con.sql(sql, params=params or []).to_arrow_table().to_pylist()

    def get(self, id_: str) -> Doc | None:
        rows = self._rows("SELECT * FROM posts WHERE id = ?", [id_])
        return rows[0] if rows else None

    def find_selective(self) -> list[Doc]:
        return self._rows("SELECT * FROM posts WHERE status = ? AND views > ?",
                          [RAREST_STATUS, SELECTIVE_VIEWS_GT])

    def range_sort_limit(self) -> list[Doc]:
        return self._rows("SELECT * FROM posts WHERE views >= ? AND views < ? "
                          "ORDER BY views DESC, id LIMIT 20", [RANGE_LO, RANGE_HI])

    def count_by_status(self) -> dict[str, int]:
        assert self.con is not None
        return dict(self.con.execute("SELECT status, count(*) FROM posts GROUP BY 1").fetchall())

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


ANCHORS = {
    "sqlite_full": lambda folder: SQLiteJSON(folder, "FULL"),
    "sqlite_normal": lambda folder: SQLiteJSON(folder, "NORMAL"),
    "sqlite_normal_indexed": lambda folder: SQLiteJSON(folder, "NORMAL", indexed=True),
    "duckdb_parquet": DuckDBParquet,
}
