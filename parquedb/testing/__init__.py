"""Tools for testing code that uses ParqueDB: a store that fails on demand, and a few looks
inside an open database that the public API does not offer.

    import parquedb
    from parquedb.storage import MemoryStorage
    from parquedb.testing import Fault, FaultyStorage, live_files, tune

    store = FaultyStorage(MemoryStorage("my-test"))
    db = parquedb.connect(storage=store)
    tune(db, inline_max_rows=10)                   # a bulk write of 11 rows makes a data file
    store.inject(Fault("PUT", "_log/", when="after"))  # the next commit lands, its answer is lost

* :class:`FaultyStorage` wraps any storage; each injected :class:`Fault` delays or fails the
  requests it picks (before they take effect, after, or torn), and every request is recorded.
* :func:`tune` lowers the engine's thresholds so that a handful of writes reaches the paths a
  production store only reaches after thousands (data files, checkpoints, compaction).
* :func:`storage_of` is the storage object under a database, to count its requests.
* :func:`live_files` and :func:`commit_seq` say what the newest committed state holds, so a
  test can tell a live file from an orphan, or count commits; :func:`commits` reads the log
  itself, wherever it keeps a commit (its own object, or a line of a log segment).

Nothing here belongs in production code: it exists so that tests, ParqueDB's own included,
need no private attribute of a database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parquedb.testing.faults import Fault, FaultyStorage

if TYPE_CHECKING:
    from parquedb.database import Database
    from parquedb.storage.base import Storage

__all__ = ["Fault", "FaultyStorage", "commit_seq", "commits", "live_files", "storage_of",
           "tune"]

_KINDS = ("data", "events", "rows")


def tune(db: Database, **settings: int | float) -> dict[str, Any]:
    """Set engine tunables of an open database; returns their previous values.

    The defaults suit production: a store reaches data files, checkpoints and compaction only
    after hundreds or thousands of rows and commits. Tests lower them so that a few writes
    exercise those paths, e.g.
    ``tune(db, inline_max_rows=3, checkpoint_interval=4, compact_inline_rows=8,
    compact_small_files=2)``. The names are those of ``parquedb.engine.Settings``; an unknown
    name or a value of the wrong type raises ``TypeError`` (a typo must not silently test the
    defaults). The change lasts as long as this connection; other connections keep theirs.
    """
    current = db._table.settings
    known = type(current)
    for name, value in settings.items():
        if name.startswith("_") or not hasattr(known, name):
            names = sorted(n for n in vars(known) if not n.startswith("_"))
            raise TypeError(f"tune() got an unknown setting {name!r}; known: {', '.join(names)}")
        default = getattr(known, name)
        ok = type(value) is type(default) or (type(default) is float and type(value) is int)
        if not ok:
            raise TypeError(f"tune(): {name} must be {type(default).__name__}, "
                            f"not {type(value).__name__}")
    previous = {name: getattr(current, name) for name in settings}
    for name, value in settings.items():
        setattr(current, name, value)
    return previous


def storage_of(db: Database) -> Storage:
    """The storage object ``db`` reads and writes through (the one given to ``connect`` as
    ``storage=``, or the one it built from its URI). Useful to list stored keys, to check
    whether request observers are installed (``storage_of(db).observer``), or to reach the
    :class:`FaultyStorage` a test connected with."""
    return db._storage


def live_files(db: Database, collection: str | None = None, kind: str = "data") -> set[str]:
    """Storage keys of the files the newest committed state uses: ``kind="data"`` for the
    Parquet data files, ``"events"`` for the event (history) files, ``"rows"`` for the data
    files' row blocks (``<name>.rows``, read by point lookups); of one collection, or of every
    collection when ``collection`` is None.

    Refreshes first, so commits of other connections count. A stored file that is not live is
    an orphan (a write that failed before its commit, or a file replaced by compaction) that
    ``db.vacuum()`` removes once it is older than ``retain``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
    table = db._table
    table.refresh(force=True)
    collections = table.snapshot.state.collections
    names = list(collections) if collection is None else [collection]
    out: set[str] = set()
    for name in names:
        cs = collections.get(name)
        if cs is None:
            continue
        if kind == "rows":
            from parquedb.engine.rowblocks import rows_key

            out.update(rows_key(k) for k, f in cs.files.items() if f.companion)
        else:
            out.update(cs.files if kind == "data" else cs.event_files)
    return out


def commit_seq(db: Database) -> int:
    """The sequence number of the newest commit of the store (0 before the first), after a
    refresh. Every committed write advances it by one, and concurrent writes of one process
    may share a commit: the difference between two readings bounds how many commits happened."""
    table = db._table
    table.refresh(force=True)
    return int(table.snapshot.seq)


def commits(store: Database | Storage | str) -> list[dict[str, Any]]:
    """Every commit record in the store's log, oldest first, as plain JSON dicts (``seq``,
    ``ts``, ``writer``, ``info``, ``actions``): of a database, a storage, or a local folder."""
    import orjson

    from parquedb.engine.commitlog import open_log
    from parquedb.storage import LocalStorage

    if isinstance(store, str):
        storage: Storage = LocalStorage(store)
    elif hasattr(store, "_table"):
        storage = store._table.storage
    else:
        storage = store
    log = open_log(storage)
    try:
        out = []
        for seq in log.seqs():
            raw = log.read(seq)
            if raw is not None:
                out.append(orjson.loads(raw))
        return out
    finally:
        log.close()
