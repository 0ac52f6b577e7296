"""Vacuum: delete what no snapshot inside the retention window can still need.

A file is deleted when it is not live now and either stopped being live before the horizon
(``now - retain``) or was never committed and is older than the horizon (a crashed writer's
orphan). Commits are deleted up to the newest checkpoint older than the horizon, which is
kept (log segments only whole), so ``as_of`` works for every instant inside the window.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from parquedb.engine.datasets import is_dataset_file
from parquedb.engine.format import (
    CHECKPOINT_DIR,
    HINT_KEY,
    VACUUM_KEY,
    checkpoint_key,
    seq_of_key,
)
from parquedb.engine.rowblocks import rows_key
from parquedb.model.entity import now_micros
from parquedb.model.values import dumps, loads


def _orphan_cutoff(storage: Any, retain_seconds: float) -> float:
    """Files never committed and modified before this instant are orphans to delete.

    Modification times come from the store's clock, which may be off from ours: measure it on
    the object just written (``_vacuum.json``), so a skewed clock can never make a file that a
    live writer is about to commit look old. Stores with whole-second timestamps (S3) get one
    more second of slack."""
    local_now = time.time()
    try:
        store_now = storage.stat(VACUUM_KEY).mtime
    except Exception:  # a store that cannot stat: trust our own clock
        store_now = local_now
    slack = getattr(storage, "mtime_resolution", 0.0)
    return store_now - retain_seconds - slack


def vacuum_table(table: Any, retain_seconds: float) -> dict[str, Any]:
    horizon = now_micros() - int(retain_seconds * 1_000_000)
    stats = {"files_deleted": 0, "bytes_freed": 0, "log_deleted": 0, "checkpoints_deleted": 0,
             "temporaries_deleted": 0}
    storage = table.storage
    with table.lock:
        table.refresh(force=True)
        # first say how far back history stays, so no reader trusts a state being deleted
        raw = storage.get_optional(VACUUM_KEY)
        previous = loads(raw).get("horizon", 0) if raw else 0
        marks = loads(raw) if raw else {}
        marks["horizon"] = max(previous, horizon)
        storage.put(VACUUM_KEY, dumps(marks))
        orphan_cutoff = _orphan_cutoff(storage, retain_seconds)
        state = table.snapshot.state
        if state.seq and storage.get_optional(checkpoint_key(state.seq)) is None:
            table.write_checkpoint()

        def sweep(metas: Iterable[Any], removed: dict[str, int]) -> None:
            """Delete the files that stopped being live before the horizon, and the orphans
            (never committed) older than the cutoff; ``metas`` holds no live file."""
            for meta in metas:
                removed_at = removed.get(meta.key)
                old = removed_at < horizon if removed_at is not None else \
                    meta.mtime < orphan_cutoff
                if old:
                    storage.delete(meta.key)
                    table.files.forget(meta.key)
                    stats["files_deleted"] += 1
                    stats["bytes_freed"] += meta.size

        # -- data, event and dataset files ------------------------------------------------
        for name, cs in state.collections.items():
            live = set(cs.files) | set(cs.event_files)
            live |= {rows_key(k) for k, f in cs.files.items() if f.companion}
            # a data file's row blocks stop being live with it
            removed = {**cs.removed, **{rows_key(k): t for k, t in cs.removed.items()}}
            for sub in ("data", "events"):
                sweep((m for m in storage.list(f"{name}/{sub}") if m.key not in live),
                      removed)
        for name, ds in state.datasets.items():
            sweep((m for m in storage.list(name)
                   if m.key not in ds.files and is_dataset_file(name, m.key)), ds.removed)
        # temporaries left by a writer killed between write and publish (local folders)
        if hasattr(storage, "list_temporaries"):
            for meta in storage.list_temporaries(""):
                if meta.mtime < orphan_cutoff:
                    storage.remove_temporary(meta.key)
                    stats["temporaries_deleted"] += 1

        # -- log and checkpoints ----------------------------------------------------------
        ckpts = sorted(s for m in storage.list(CHECKPOINT_DIR)
                       if (s := seq_of_key(m.key)) is not None)
        keep = None
        for c in reversed(ckpts):
            ts = table.commit_ts(c)
            if ts is None:  # its commit is already gone: an earlier vacuum's cut point
                keep = keep if keep is not None else c
                break
            if ts < horizon:
                keep = c
                break
        if keep is not None:
            # point the hint at the newest checkpoint before anything it could name goes away
            storage.put(HINT_KEY, dumps({"seq": state.seq, "checkpoint": ckpts[-1]}))
            # commits at or below ``keep`` are gone from here on, also those a log segment
            # still holds until its whole block can go
            raw = storage.get_optional(VACUUM_KEY)
            marks = loads(raw) if raw else {}
            marks["log_from"] = max(int(marks.get("log_from", 0)), keep + 1)
            storage.put(VACUUM_KEY, dumps(marks))
            stats["log_deleted"] += table.log.delete_upto(keep)
            for c in ckpts:
                if c < keep:
                    storage.delete(checkpoint_key(c))
                    stats["checkpoints_deleted"] += 1
    return stats
