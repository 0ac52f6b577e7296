"""What a store is made of at one commit, read without writing anything: its log and
checkpoints, and the Parquet files that commit's state references. ``parquedb verify`` checks
these keys; ``parquedb backup`` copies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parquedb.engine.commitlog import open_log
from parquedb.engine.format import CHECKPOINT_DIR, CONFIG_KEY, seq_of_key
from parquedb.engine.presence import local_path, require_local_store, require_store
from parquedb.engine.rowblocks import rows_key
from parquedb.engine.state import TableState
from parquedb.engine.table import Table
from parquedb.storage import Storage, open_storage
from parquedb.storage.classify import storage_error


@dataclass(frozen=True)
class FileRef:
    """A Parquet file the state references, with what its commit recorded about it."""

    key: str
    kind: str   # "data" | "events" | "dataset"
    rows: int
    bytes: int
    owner: str  # its collection or dataset


@dataclass
class Inventory:
    seq: int                   # the commit the inventory is taken at
    ts: int                    # its timestamp (µs)
    log: list[int]             # log entries present up to ``seq``, ascending
    checkpoints: list[int]     # checkpoints present up to ``seq``, ascending
    files: dict[str, FileRef] = field(default_factory=dict)

    @property
    def base_checkpoint(self) -> int | None:
        """The checkpoint the log continues from when its start was vacuumed away."""
        if not self.log or self.log[0] <= 1:
            return None
        return self.log[0] - 1

    @property
    def newest_checkpoint(self) -> int | None:
        return self.checkpoints[-1] if self.checkpoints else None


def open_existing(uri: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """The storage of the store at ``uri``; ``StoreNotFoundError`` when there is none, and
    nothing is created (not even a local folder)."""
    folder = local_path(uri)
    if folder is not None:
        require_local_store(folder)
    storage = open_storage(uri, storage_options)
    try:
        if folder is None:
            require_store(storage)
    except BaseException:
        storage.close()
        raise
    return storage


def listed_seqs(storage: Storage, folder: str) -> list[int]:
    """The sequence numbers of the log entries or checkpoints present, ascending."""
    return sorted(s for m in storage.list(folder) if (s := seq_of_key(m.key)) is not None)


def current_state(storage: Storage) -> TableState:
    """The state at the newest commit, as a reader opening the store would build it."""
    table = Table(storage)  # opening an existing store reads only
    try:
        return table.snapshot.state
    finally:
        table.close()


def referenced_files(state: TableState) -> dict[str, FileRef]:
    """Every live data, event and dataset file of ``state``."""
    out: dict[str, FileRef] = {}
    for name, cs in state.collections.items():
        for info in [*cs.files.values(), *cs.event_files.values()]:
            out[info.key] = FileRef(info.key, info.kind, info.rows, info.bytes, name)
            if info.companion:  # a data file's row blocks (engine.rowblocks)
                key = rows_key(info.key)
                out[key] = FileRef(key, "rows", info.rows, info.companion, name)
    for name, ds in state.datasets.items():
        for f in ds.files.values():
            out[f.key] = FileRef(f.key, "dataset", f.rows, f.bytes, name)
    return out


def take_inventory(storage: Storage) -> Inventory:
    """The store at its newest commit: later commits (writers go on) are not included."""
    state = current_state(storage)
    log = [s for s in open_log(storage).seqs() if s <= state.seq]
    checkpoints = [s for s in listed_seqs(storage, CHECKPOINT_DIR) if s <= state.seq]
    return Inventory(state.seq, state.ts, log, checkpoints, referenced_files(state))




def location_is_empty(uri: str, storage_options: dict[str, Any] | None = None) -> bool:
    """Whether nothing is stored at ``uri`` yet (a missing folder counts as empty)."""
    folder = local_path(uri)
    if folder is not None:
        import os

        return not os.path.exists(folder) or (os.path.isdir(folder) and not os.listdir(folder))
    storage = open_storage(uri, storage_options)
    try:
        fs, root = getattr(storage, "fs", None), getattr(storage, "root", None)
        if fs is None or root is None:  # memory:// and the like: ask for a store's marker
            return storage.get_optional(CONFIG_KEY) is None
        try:
            return not fs.find(root, maxdepth=None, withdirs=False)
        except FileNotFoundError:
            return True
        except Exception as e:  # the client's own errors (no credentials, say), coded
            raise storage_error("list", root, e) from e
    finally:
        storage.close()


__all__ = ["CONFIG_KEY", "FileRef", "Inventory", "current_state", "listed_seqs",
           "location_is_empty", "open_existing", "referenced_files", "take_inventory"]
