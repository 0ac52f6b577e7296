"""The catalog state at one commit: live files, inlined rows and events, per collection.

State is what a checkpoint stores and what replaying commits rebuilds; :meth:`TableState.apply`
is the only way it changes, so a reopened store and a live process always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parquedb.engine.datasets import DatasetFile, DatasetState
from parquedb.engine.format import RECORD_FORMAT, Commit, Event, FileInfo
from parquedb.errors import ConfigurationError, ErrorCode
from parquedb.model.entity import Row
from parquedb.model.values import dumps, loads


@dataclass
class CollectionState:
    rows: dict[str, Row] = field(default_factory=dict)        # newest inlined row per $id
    files: dict[str, FileInfo] = field(default_factory=dict)  # live data files
    event_files: dict[str, FileInfo] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)         # inlined events, oldest first
    inline_bytes: int = 0
    files_version: int = 0  # bumped whenever the set of data files changes
    rows_folded: int = 0    # inlined rows up to this seq have been moved into files
    removed: dict[str, int] = field(default_factory=dict)  # file key -> ts it stopped being live
    events_folded: int = 0  # inlined events likewise

    def recount(self) -> None:
        self.inline_bytes = sum(row_size(r) for r in self.rows.values()) + sum(
            event_size(e) for e in self.events)


def row_size(row: Row) -> int:
    """Approximate bytes an inlined row costs (drives automatic compaction)."""
    return 96 + len(row.doc or "")


def event_size(ev: Event) -> int:
    image = ev.after or ev.before
    return 128 + (len(image[10] or "") if image else 0)


class TableState:
    def __init__(self) -> None:
        self.seq = 0
        self.ts = 0
        self.collections: dict[str, CollectionState] = {}
        # scope (a collection, a view, a dataset) -> key -> value; set by "meta" actions
        self.meta: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, DatasetState] = {}

    def collection(self, name: str) -> CollectionState:
        cs = self.collections.get(name)
        if cs is None:
            cs = self.collections[name] = CollectionState()
        return cs

    def apply(self, commit: Commit) -> set[tuple[str, str]]:
        """Apply one commit; returns the (collection, $id) pairs it wrote."""
        if commit.seq != self.seq + 1:
            raise AssertionError(f"commit {commit.seq} applied on state {self.seq}")
        touched: set[tuple[str, str]] = set()
        seq, ts = commit.seq, commit.ts
        for a in commit.actions:
            kind = a["a"]
            if kind == "meta":
                self._set_meta(a["c"], a["key"], a["value"])
                continue
            if kind == "ds_add":
                ds = self.datasets.setdefault(a["d"], DatasetState())
                for f in a["files"]:
                    ds.files[f["key"]] = DatasetFile.from_json(f, seq, ts)
                continue
            if kind == "ds_remove":
                ds = self.datasets.setdefault(a["d"], DatasetState())
                for key in a["keys"]:
                    if ds.files.pop(key, None) is not None:
                        ds.removed[key] = ts
                if a.get("why") == "retention":
                    ds.dropped_seq = seq
                continue
            cs = self.collection(a["c"])
            if kind == "rows":
                for r in a["rows"]:
                    row = Row.from_list(r, seq)
                    old = cs.rows.get(row.id)
                    if old is not None:
                        cs.inline_bytes -= row_size(old)
                    cs.rows[row.id] = row
                    cs.inline_bytes += row_size(row)
                    touched.add((a["c"], row.id))
            elif kind == "events":
                for e in a["events"]:
                    ev = Event.from_list(e, seq, ts)
                    cs.events.append(ev)
                    cs.inline_bytes += event_size(ev)
            elif kind == "add_file":
                info = FileInfo(a["key"], a["kind"], a["rows"], a["bytes"], seq, ts,
                                a.get("companion", 0))
                if info.kind == "data":
                    cs.files[info.key] = info
                    cs.files_version += 1
                else:
                    cs.event_files[info.key] = info
            elif kind == "remove_file":
                cs.removed[a["key"]] = ts
                if a["kind"] == "data":
                    cs.files.pop(a["key"], None)
                    cs.files_version += 1
                else:
                    cs.event_files.pop(a["key"], None)
            elif kind == "fold":
                upto = a["upto"]
                if a["what"] == "rows":
                    cs.rows = {k: r for k, r in cs.rows.items() if r.seq > upto}
                    cs.rows_folded = max(cs.rows_folded, upto)
                else:
                    cs.events = [e for e in cs.events if e.seq > upto]
                    cs.events_folded = max(cs.events_folded, upto)
                cs.recount()
            else:
                raise ConfigurationError(
                    f"commit {seq} has an action this parquedb does not know ({kind!r}): "
                    "the store was written by a newer version; upgrade parquedb",
                    code=ErrorCode.UNSUPPORTED_FORMAT_VERSION, seq=seq, action=str(kind))
        self.seq, self.ts = seq, ts
        return touched

    def _set_meta(self, scope: str, key: str, value: Any) -> None:
        if value is None:
            values = self.meta.get(scope)
            if values is not None:
                values.pop(key, None)
                if not values:
                    del self.meta[scope]
        else:
            self.meta.setdefault(scope, {})[key] = value

    # -- checkpoints ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return dumps({
            "format": RECORD_FORMAT, "seq": self.seq, "ts": self.ts,
            "collections": {
                name: {
                    "rows": [[r.seq, *r.to_list()] for r in cs.rows.values()],
                    "files": [f.to_json() for f in cs.files.values()],
                    "event_files": [f.to_json() for f in cs.event_files.values()],
                    "events": [[e.seq, e.ts, *e.to_list()] for e in cs.events],
                    "rows_folded": cs.rows_folded,
                    "events_folded": cs.events_folded,
                    "removed": cs.removed,
                }
                for name, cs in self.collections.items()
            },
            **({"meta": self.meta} if self.meta else {}),
            **({"datasets": {
                name: {"files": [[f.seq, f.ts, f.to_json()] for f in ds.files.values()],
                       "removed": ds.removed, "dropped_seq": ds.dropped_seq}
                for name, ds in self.datasets.items()}} if self.datasets else {}),
        })

    @classmethod
    def from_bytes(cls, data: bytes) -> TableState:
        d: dict[str, Any] = loads(data)
        st = cls()
        st.seq, st.ts = d["seq"], d["ts"]
        for name, c in d["collections"].items():
            cs = st.collection(name)
            for r in c["rows"]:
                row = Row.from_list(r[1:], r[0])
                cs.rows[row.id] = row
            cs.files = {f["key"]: FileInfo.from_json(f) for f in c["files"]}
            cs.event_files = {f["key"]: FileInfo.from_json(f) for f in c["event_files"]}
            cs.events = [Event.from_list(e[2:], e[0], e[1]) for e in c["events"]]
            cs.rows_folded = c.get("rows_folded", 0)
            cs.events_folded = c.get("events_folded", 0)
            cs.removed = dict(c.get("removed") or {})
            cs.recount()
        st.meta = {scope: dict(values) for scope, values in (d.get("meta") or {}).items()}
        for name, ds in (d.get("datasets") or {}).items():
            st.datasets[name] = DatasetState(
                {f["key"]: DatasetFile.from_json(f, fseq, fts) for fseq, fts, f in ds["files"]},
                dict(ds.get("removed") or {}), int(ds.get("dropped_seq", 0)))
        return st
