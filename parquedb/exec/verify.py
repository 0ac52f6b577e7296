"""Checking a store, read-only: every commit of the log parses and the log has no gap, every
checkpoint parses, and every file the newest state references is there, has the recorded size,
opens as Parquet and holds the recorded number of rows (``deep``: every row group is read too).

Problems are collected, not raised, so one run reports all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parquedb.engine import rowblocks
from parquedb.engine.commitlog import open_log
from parquedb.engine.format import (
    CHECKPOINT_DIR,
    CONFIG_KEY,
    LOG_DIR,
    Commit,
    checkpoint_key,
    log_key,
)
from parquedb.engine.state import TableState
from parquedb.errors import StorageError
from parquedb.exec.inventory import FileRef, listed_seqs, referenced_files
from parquedb.model.values import loads
from parquedb.storage import Storage

Progress = Callable[[int], None]


@dataclass
class Report:
    seq: int = 0
    commits: int = 0
    checkpoints: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def problem(self, key: str, what: str) -> None:
        self.problems.append({"key": key, "problem": what})

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "seq": self.seq, "commits": self.commits,
                "checkpoints": self.checkpoints, "files": self.files, "bytes": self.bytes,
                "problems": self.problems}


class _NoCache:
    """RangeFile's block cache, here keeping nothing: each file is read once."""

    def __init__(self) -> None:
        self._tail: dict[Any, bytes] = {}

    def get(self, key: Any) -> Any:
        return self._tail.get(key)

    def put(self, key: Any, value: Any, size: int) -> None:
        if key[0] == "tail":
            self._tail = {key: value}


def verify_store(storage: Storage, *, deep: bool = False,
                 progress: Progress | None = None) -> Report:
    report = Report()
    _check_config(storage, report)
    state = _replay_log(storage, report)
    _check_checkpoints(storage, report)
    if state is not None:
        report.seq = state.seq
        files = referenced_files(state)
        report.files = len(files)
        for ref in files.values():
            report.bytes += ref.bytes
            _check_file(storage, ref, report, deep)
            if progress is not None:
                progress(1)
    return report


def _check_config(storage: Storage, report: Report) -> None:
    try:
        cfg = loads(storage.get(CONFIG_KEY))
        int(cfg["format_version"])
    except FileNotFoundError:
        report.problem(CONFIG_KEY, "missing: this is no longer a store")
    except Exception as e:
        report.problem(CONFIG_KEY, f"unreadable store configuration ({type(e).__name__})")


def _base_state(storage: Storage, first: int, report: Report) -> TableState | None:
    """The state the log starts from: empty, or the checkpoint just below a vacuumed log."""
    if first <= 1:
        return TableState()
    key = checkpoint_key(first - 1)
    raw = storage.get_optional(key)
    if raw is None:
        report.problem(key, f"missing: the log starts at commit {first} and nothing holds "
                            f"the state before it")
        return None
    try:
        return TableState.from_bytes(raw)
    except Exception as e:
        report.problem(key, f"unreadable checkpoint ({type(e).__name__})")
        return None


def _replay_log(storage: Storage, report: Report) -> TableState | None:
    """Read every commit and apply them up to the first that is missing or damaged; the
    state there (its files are still checked), or None if no state can be built."""
    clog = open_log(storage)
    try:
        seqs = clog.seqs()
    except StorageError as e:  # a damaged line inside a log segment
        where = str((e.context or {}).get("path", LOG_DIR))
        report.problem(where, f"unreadable commit ({e.message})")
        return None
    report.commits = len(seqs)
    if not seqs:
        return TableState()
    state = _base_state(storage, seqs[0], report)
    applying = state is not None
    expected = seqs[0]
    for seq in seqs:
        key = clog.where(seq)
        if seq != expected:
            report.problem(log_key(expected), f"missing: the log jumps from commit "
                                              f"{expected - 1} to {seq}")
            applying = False
        expected = seq + 1
        try:
            raw = clog.read(seq)
            if raw is None:
                raise FileNotFoundError(key)
            commit = Commit.from_bytes(raw, key)
        except Exception as e:
            report.problem(key, f"unreadable commit {seq} ({getattr(e, 'message', e)})")
            applying = False
            continue
        if commit.seq != seq:
            report.problem(key, f"holds commit {commit.seq}, not {seq}")
            applying = False
        if applying and state is not None:
            try:
                state.apply(commit)
            except Exception as e:
                report.problem(key, f"cannot be applied: {getattr(e, 'message', e)}")
                applying = False
    return state


def _check_checkpoints(storage: Storage, report: Report) -> None:
    seqs = listed_seqs(storage, CHECKPOINT_DIR)
    report.checkpoints = len(seqs)
    for seq in seqs:
        key = checkpoint_key(seq)
        try:
            got = TableState.from_bytes(storage.get(key)).seq
        except Exception as e:
            report.problem(key, f"unreadable checkpoint ({type(e).__name__})")
            continue
        if got != seq:
            report.problem(key, f"holds the state at commit {got}, not {seq}")


def _check_file(storage: Storage, ref: FileRef, report: Report, deep: bool) -> None:
    import pyarrow.parquet as pq

    from parquedb.storage.rangefile import RangeFile

    try:
        size = storage.stat(ref.key).size
    except FileNotFoundError:
        report.problem(ref.key, f"missing ({ref.kind} file of {ref.owner})")
        return
    if size != ref.bytes:
        report.problem(ref.key, f"{size} bytes, the commit recorded {ref.bytes}")
        return
    if ref.kind == "rows":
        _check_row_blocks(storage, ref, report, deep)
        return
    try:
        pf = pq.ParquetFile(RangeFile(storage, ref.key, _NoCache(), size=size))
        rows = pf.metadata.num_rows
        if deep:
            for i in range(pf.num_row_groups):
                pf.read_row_group(i)
    except Exception as e:
        report.problem(ref.key, f"does not open as Parquet: {e}")
        return
    if rows != ref.rows:
        report.problem(ref.key, f"{rows} rows, the commit recorded {ref.rows}")


def _check_row_blocks(storage: Storage, ref: FileRef, report: Report, deep: bool) -> None:
    """A data file's row blocks: the footer reads and counts the file's rows; ``deep`` also
    inflates every block."""
    try:
        blocks = rowblocks.read_footer(storage, ref.key)
        if deep:
            for b in range(len(blocks.sizes)):
                start, end, inflated = blocks.span(b)
                rowblocks.decode_block(storage.get_range(ref.key, start, end), inflated,
                                       blocks.codec)
    except Exception as e:
        report.problem(ref.key, f"unreadable row blocks: {e}")
        return
    if blocks.rows != ref.rows:
        report.problem(ref.key, f"{blocks.rows} rows, the commit recorded {ref.rows}")


__all__ = ["Report", "verify_store"]
