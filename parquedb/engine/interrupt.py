"""A DuckDB query that stops at the operation's deadline (:mod:`parquedb.support.deadline`).

DuckDB checks for an interrupt while it executes; ``connection.interrupt()`` may be called from
any thread. A timer fires it when the deadline passes, but only while this query is still the
one running (a store's connection serves one query at a time, under its lock): once the block
ends the timer is disarmed under the same small lock, so it can never interrupt the next query.
An interrupt that arrives after a query has ended changes nothing (DuckDB resets it when the
next query starts).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import duckdb

from parquedb.support import deadline


@contextlib.contextmanager
def stop_at_deadline(con: Any) -> Iterator[None]:
    """Run the block's queries on ``con``; past the deadline they raise
    :class:`parquedb.errors.TimeoutError` (the connection stays usable)."""
    d = deadline.current()
    if d is None:
        yield
        return
    deadline.check()
    left = deadline.remaining() or 0.0
    guard = threading.Lock()
    state = {"armed": True, "fired": False}

    def fire() -> None:
        with guard:
            if state["armed"]:
                state["fired"] = True
                con.interrupt()

    timer = threading.Timer(left, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.Error as e:
        if state["fired"]:
            raise deadline.expired_error(d) from e
        raise
    finally:
        with guard:
            state["armed"] = False
        timer.cancel()


__all__ = ["stop_at_deadline"]
