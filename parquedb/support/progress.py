"""Progress on a terminal for long work (bulk import, compaction, vacuum)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def progress_printer(enabled: bool | None = None) -> Progress | None:
    """A callback printing ``label done/total`` on stderr; by default only on a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    last = [0.0]

    def show(label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.2:
            return
        last[0] = now
        end = "\n" if total and done >= total else ""
        if total:
            sys.stderr.write(f"\r{label}: {done:,}/{total:,} {100 * done / total:5.1f}%{end}")
        else:  # an open-ended stream: a running count
            sys.stderr.write(f"\r{label}: {done:,}")
        sys.stderr.flush()

    return show
