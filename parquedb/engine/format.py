"""The on-storage format: keys, commit records and the Parquet schemas (see docs/architecture.md).

Everything here is pure: it names files and converts between records and bytes or Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa

from parquedb.errors import ErrorCode, StorageError
from parquedb.model.entity import Row
from parquedb.model.values import dumps, loads

#: the newest store format this library reads and writes: 2 adds log segments
#: (``engine.segments``) to local folders; stores of format 1 keep one object per commit
FORMAT_VERSION = 2
SEGMENTS_FORMAT = 2
RECORD_FORMAT = 1  #: the ``format`` field of commit and checkpoint records (unchanged)
CONFIG_KEY = "_parquedb.json"
LOG_DIR = "_log"
HINT_KEY = "_log/_last.json"
VACUUM_KEY = "_vacuum.json"  # {"horizon": µs}: history before it may be gone
CHECKPOINT_DIR = "_checkpoints"
SEQ_WIDTH = 20


def log_key(seq: int) -> str:
    return f"{LOG_DIR}/{seq:0{SEQ_WIDTH}d}.json"


def checkpoint_key(seq: int) -> str:
    return f"{CHECKPOINT_DIR}/{seq:0{SEQ_WIDTH}d}.json"


def seq_of_key(key: str) -> int | None:
    """The sequence number in a log or checkpoint key, None for anything else."""
    name = key.rsplit("/", 1)[-1]
    stem = name[:-5] if name.endswith(".json") else None
    return int(stem) if stem and stem.isdigit() else None


def data_key(collection: str, file_id: str) -> str:
    return f"{collection}/data/{file_id}.parquet"


def events_key(collection: str, file_id: str) -> str:
    return f"{collection}/events/{file_id}.parquet"


@dataclass
class FileInfo:
    """A live Parquet file: data rows or events of one collection, added by commit ``seq``."""

    key: str
    kind: str  # "data" | "events"
    rows: int
    bytes: int
    seq: int
    ts: int
    companion: int = 0  #: bytes of the data file's row blocks (``engine.rowblocks``); 0: none

    def to_json(self) -> dict[str, Any]:
        out = {"key": self.key, "kind": self.kind, "rows": self.rows, "bytes": self.bytes,
               "seq": self.seq, "ts": self.ts}
        if self.companion:
            out["companion"] = self.companion
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileInfo:
        return cls(d["key"], d["kind"], d["rows"], d["bytes"], d["seq"], d["ts"],
                   d.get("companion", 0))


@dataclass(slots=True)
class Event:
    """One change of one entity; ``before``/``after`` are rows in list form (or None)."""

    seq: int
    ts: int
    id: str
    op: str
    entity_id: str
    version: int
    actor: str
    before: list[Any] | None
    after: list[Any] | None

    def to_list(self) -> list[Any]:
        return [self.id, self.op, self.entity_id, self.version, self.actor, self.before,
                self.after]

    @classmethod
    def from_list(cls, v: list[Any], seq: int, ts: int) -> Event:
        return cls(seq, ts, v[0], v[1], v[2], v[3], v[4], v[5], v[6])


@dataclass
class Commit:
    """One log entry. ``actions`` are dicts, see :func:`apply` in :mod:`.state`."""

    seq: int
    ts: int
    writer: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return dumps({"format": RECORD_FORMAT, "seq": self.seq, "ts": self.ts,
                      "writer": self.writer, "info": self.info, "actions": self.actions})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Commit:
        """A commit from its decoded record (``KeyError``/``TypeError`` when it is not one)."""
        return cls(d["seq"], d["ts"], d["writer"], d["actions"], d.get("info") or {})

    @classmethod
    def from_bytes(cls, data: bytes, key: str = "") -> Commit:
        try:
            return cls.from_dict(loads(data))
        except Exception as e:  # a commit is published atomically: damage is corruption
            raise StorageError(f"unreadable commit {key}", code=ErrorCode.CORRUPT_DATA,
                               path=key, cause=e) from e


# -- Parquet schemas --------------------------------------------------------------------
TS = pa.timestamp("us", tz="UTC")

DATA_SCHEMA = pa.schema([
    ("$id", pa.string()),
    ("$type", pa.string()),
    ("version", pa.int64()),
    ("createdAt", TS),
    ("createdBy", pa.string()),
    ("updatedAt", TS),
    ("updatedBy", pa.string()),
    ("deletedAt", TS),
    ("deletedBy", pa.string()),
    ("_seq", pa.int64()),   # null: the seq of the commit that added the file
    ("_tomb", pa.bool_()),
    ("_doc", pa.string()),  # user fields, tagged JSON (parquedb.values)
])

EVENTS_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("ts", TS),             # null: the ts of the commit that added the file
    ("_seq", pa.int64()),   # null: the seq of the commit that added the file
    ("op", pa.string()),
    ("entityId", pa.string()),
    ("version", pa.int64()),
    ("actor", pa.string()),
    ("before", pa.string()),      # JSON of the row list form without $id and doc
    ("before_doc", pa.string()),  # the row's user fields, tagged JSON
    ("after", pa.string()),
    ("after_doc", pa.string()),
])


def str_array(values: list[str | None]) -> pa.Array:
    """A string array from Python strings, about twice as fast as ``pa.array`` for long
    strings: one join of the UTF-8 bytes and one offsets buffer."""
    if len(values) < 64 or None in values:
        return pa.array(values, type=pa.string())
    encoded = [v.encode() for v in cast("list[str]", values)]  # no None: checked above
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)),
              out=offsets[1:])
    if offsets[-1] >= 2**31:
        return pa.array(values, type=pa.string())
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(b"".join(encoded)))


def rows_to_table(rows: list[Row], *, keep_seq: bool) -> pa.Table:
    """Rows → Arrow table in DATA_SCHEMA (``keep_seq=False`` writes null ``_seq``)."""
    def ts(values: list[int | None]) -> pa.Array:
        return pa.array(values, type=pa.int64()).cast(TS)

    cols = [
        pa.array([r.id for r in rows], type=pa.string()),
        pa.array([r.type for r in rows], type=pa.string()),
        pa.array([r.version for r in rows], type=pa.int64()),
        ts([r.created_at for r in rows]),
        pa.array([r.created_by for r in rows], type=pa.string()),
        ts([r.updated_at for r in rows]),
        pa.array([r.updated_by for r in rows], type=pa.string()),
        ts([r.deleted_at for r in rows]),
        pa.array([r.deleted_by for r in rows], type=pa.string()),
        pa.array([r.seq if keep_seq else None for r in rows], type=pa.int64()),
        pa.array([r.tomb for r in rows], type=pa.bool_()),
        str_array([r.doc for r in rows]),
    ]
    return pa.Table.from_arrays(cols, schema=DATA_SCHEMA)


def table_to_rows(table: pa.Table | pa.RecordBatch, default_seq: int) -> list[Row]:
    """Arrow (DATA_SCHEMA) → rows; a null ``_seq`` becomes ``default_seq``."""
    d = {name: table.column(name) for name in DATA_SCHEMA.names}

    def ints(col: Any) -> list[int | None]:
        return col.cast(pa.int64()).to_pylist()

    def required_ints(col: Any) -> list[int]:
        """``createdAt`` and ``updatedAt``: set on every row (only ``deletedAt`` may be null)."""
        return col.cast(pa.int64()).to_pylist()

    ids = d["$id"].to_pylist()
    types = d["$type"].to_pylist()
    versions = d["version"].to_pylist()
    ca, ua, da = required_ints(d["createdAt"]), required_ints(d["updatedAt"]), ints(d["deletedAt"])
    cb, ub, db = d["createdBy"].to_pylist(), d["updatedBy"].to_pylist(), d["deletedBy"].to_pylist()
    seqs, tombs, docs = d["_seq"].to_pylist(), d["_tomb"].to_pylist(), d["_doc"].to_pylist()
    return [
        Row(ids[i], types[i], versions[i], ca[i], cb[i], ua[i], ub[i], da[i], db[i],
            seqs[i] if seqs[i] is not None else default_seq, bool(tombs[i]), docs[i])
        for i in range(len(ids))
    ]


def _images(events: list[Event], which: str) -> tuple[pa.Array, pa.Array]:
    """The system part (row list without ``$id`` and doc, as JSON) and the doc of each image.
    Bulk creates share one system part, so each distinct one is serialised once."""
    memo: dict[tuple, str] = {}
    sys_col: list[str | None] = []
    docs: list[str | None] = []
    for e in events:
        image = e.before if which == "before" else e.after
        if image is None:
            sys_col.append(None)
            docs.append(None)
            continue
        key = tuple(image[1:10])
        text = memo.get(key)
        if text is None:
            text = memo[key] = dumps(image[1:10]).decode()
        sys_col.append(text)
        docs.append(image[10])
    return pa.array(sys_col, type=pa.string()), str_array(docs)


def events_to_table(events: list[Event], *, keep_seq: bool) -> pa.Table:
    before, before_doc = _images(events, "before")
    after, after_doc = _images(events, "after")
    cols = [
        pa.array([e.id for e in events], type=pa.string()),
        pa.array([e.ts if keep_seq else None for e in events], type=pa.int64()).cast(TS),
        pa.array([e.seq if keep_seq else None for e in events], type=pa.int64()),
        pa.array([e.op for e in events], type=pa.string()),
        pa.array([e.entity_id for e in events], type=pa.string()),
        pa.array([e.version for e in events], type=pa.int64()),
        pa.array([e.actor for e in events], type=pa.string()),
        before, before_doc, after, after_doc,
    ]
    return pa.Table.from_arrays(cols, schema=EVENTS_SCHEMA)


def table_to_events(table: pa.Table, default_seq: int, default_ts: int) -> list[Event]:
    ids = table.column("id").to_pylist()
    tss = table.column("ts").cast(pa.int64()).to_pylist()
    seqs = table.column("_seq").to_pylist()
    ops = table.column("op").to_pylist()
    ents = table.column("entityId").to_pylist()
    vers = table.column("version").to_pylist()
    actors = table.column("actor").to_pylist()
    befores = table.column("before").to_pylist()
    before_docs = table.column("before_doc").to_pylist()
    afters = table.column("after").to_pylist()
    after_docs = table.column("after_doc").to_pylist()

    def image(eid: str, sys: str | None, doc: str | None) -> list[Any] | None:
        return None if sys is None else [eid, *loads(sys), doc]

    return [
        Event(seqs[i] if seqs[i] is not None else default_seq,
              tss[i] if tss[i] is not None else default_ts,
              ids[i], ops[i], ents[i], vers[i], actors[i],
              image(ents[i], befores[i], before_docs[i]), image(ents[i], afters[i], after_docs[i]))
        for i in range(len(ids))
    ]
