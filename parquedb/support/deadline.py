"""An operation's deadline, visible to everything the operation runs in its thread.

``Collection.find(timeout=...)`` and ``Database.sql(timeout=...)`` enter :func:`deadline`; code
deep below (the matcher's scan loop, a bounded regex, a DuckDB query) asks :func:`remaining`
or calls :func:`check` without any argument being passed down. Nested deadlines keep the
earliest. The clock is monotonic: wall-clock jumps change nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass

from parquedb.errors import ErrorCode, TimeoutError, ValidationError  # noqa: A004


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() value
    seconds: float  # the timeout asked for, for messages
    operation: str


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "parquedb_deadline", default=None)


def check_timeout(timeout: object) -> float | None:
    """``timeout=`` as given to an API call: None, or a number of seconds > 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, "
                        f"not {type(timeout).__name__}")
    if not timeout > 0 or timeout == float("inf"):
        raise ValidationError(f"timeout must be a finite number of seconds > 0, got {timeout}",
                              code=ErrorCode.INVALID_INPUT, timeout=str(timeout))
    return float(timeout)


@contextlib.contextmanager
def deadline(seconds: float | None, operation: str) -> Iterator[Deadline | None]:
    """Run the block under a deadline ``seconds`` from now (None: no new deadline)."""
    outer = _CURRENT.get()
    if seconds is None:
        yield outer
        return
    mine = Deadline(time.monotonic() + seconds, seconds, operation)
    if outer is not None and outer.at <= mine.at:
        mine = outer
    token = _CURRENT.set(mine)
    try:
        yield mine
    finally:
        _CURRENT.reset(token)


def current() -> Deadline | None:
    return _CURRENT.get()


def remaining() -> float | None:
    """Seconds left before the current deadline (never negative), or None without one."""
    d = _CURRENT.get()
    return None if d is None else max(0.0, d.at - time.monotonic())


def expired_error(d: Deadline) -> TimeoutError:
    return TimeoutError(f"{d.operation} did not finish within its timeout of {d.seconds:g} s",
                        code=ErrorCode.TIMEOUT, operation=d.operation, timeout=d.seconds)


def check() -> None:
    """Raise :class:`parquedb.errors.TimeoutError` if the current deadline has passed."""
    d = _CURRENT.get()
    if d is not None and time.monotonic() >= d.at:
        raise expired_error(d)


class Ticker:
    """``check()`` every ``every`` calls: cheap enough for a per-row loop."""

    __slots__ = ("_deadline", "_every", "_n")

    def __init__(self, every: int = 256) -> None:
        self._deadline = _CURRENT.get()
        self._every = every
        self._n = 0

    def tick(self) -> None:
        if self._deadline is None:
            return
        self._n += 1
        if self._n >= self._every:
            self._n = 0
            if time.monotonic() >= self._deadline.at:
                raise expired_error(self._deadline)


__all__ = ["Deadline", "Ticker", "check", "check_timeout", "current", "deadline",
           "expired_error", "remaining"]
