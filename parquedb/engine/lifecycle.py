"""The lifecycle policy: when to checkpoint and when to compact, decided after each commit.

The commit log (:mod:`.table`) only publishes commits and keeps the state; this module decides
what a store needs as it grows. It writes a checkpoint at the first commit (so the hint always
names one and opening never LISTs) and every ``checkpoint_interval`` commits, and compacts a
collection once its inlined rows or small files pass the thresholds of :class:`.Settings`
(which also keeps checkpoints small: they carry the inlined rows).
"""

from __future__ import annotations

import logging
from typing import Any

from parquedb.engine.compaction import compact_collection
from parquedb.engine.datasets import merge_sets, stage_compact
from parquedb.engine.format import Commit
from parquedb.engine.table import HINT_TAIL_EVERY, Table
from parquedb.storage import Storage

log = logging.getLogger("parquedb.engine")


class Lifecycle:
    """Installed on a :class:`Table` as its first commit observer."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def install(self) -> Lifecycle:
        self.table.observers.insert(0, self.after_commit)
        return self

    def after_commit(self, commit: Commit) -> None:
        table, s = self.table, self.table.settings
        if commit.seq % s.checkpoint_interval == 0 or commit.seq == 1:
            table.write_checkpoint()
        elif not table.log.appends and commit.seq % HINT_TAIL_EVERY == 0:
            try:  # object storage: opening reads the commits since the checkpoint in one GET
                table.write_hint_tail()
            except Exception:  # only a hint: never fail the write
                log.warning("could not rewrite the hint after commit %s", commit.seq,
                            exc_info=True)
        if commit.info.get("op") in ("compact", "vacuum"):
            return
        for name in {a["d"] for a in commit.actions if a["a"] == "ds_add"}:
            self._compact_dataset(name)
        for c in {a["c"] for a in commit.actions if a["a"] != "meta" and "c" in a}:
            cs = table.snapshot.state.collections.get(c)
            if cs is None:
                continue
            small = sum(1 for f in cs.files.values() if f.bytes < s.small_file_bytes)
            if (cs.inline_bytes > s.compact_inline_bytes or len(cs.rows) > s.compact_inline_rows
                    or len(cs.events) > s.compact_inline_rows or small > s.compact_small_files):
                try:
                    compact_collection(table, c, full=False)
                except Exception:  # the write itself is committed: never fail it here
                    log.warning("automatic compaction of %s failed", c, exc_info=True)


    def _compact_dataset(self, name: str) -> None:
        """Merge files of a dataset's partition once one size tier of it holds more than
        ``compact_small_files`` (appends from a steady stream add a few files per partition
        each flush); see :func:`merge_sets`."""
        table, s = self.table, self.table.settings
        limit, small = s.compact_small_files, s.small_file_bytes
        ds = table.snapshot.state.datasets.get(name)
        if ds is None or not any(merge_sets(v, min_files=limit + 1, small_bytes=small,
                                            tiered=True)
                                 for v in ds.partitions().values()):
            return
        try:
            table.commit(lambda snap, b: stage_compact(table.files, table.storage, b, name,
                                                       min_files=limit + 1, small_bytes=small,
                                                       tiered=True),
                         info={"op": "compact", "dataset": name})
        except Exception:  # the append itself is committed: never fail it here
            log.warning("automatic compaction of dataset %s failed", name, exc_info=True)


def open_table(storage: Storage, **options: Any) -> Table:
    """A :class:`Table` over ``storage`` with the lifecycle policy installed."""
    table = Table(storage, **options)
    Lifecycle(table).install()
    return table
