"""Two publishers of one table: the loser of a commit race starts over on the newer state.

Both table formats commit a version by creating a file that must not exist yet (Delta's
``_delta_log/<version>.json``; our Iceberg ``metadata/v<N>.metadata.json``): locally with
``link``, on S3/R2 with a conditional PUT. A publisher that loses that race, or that finds the
table already holds a newer ParqueDB commit than the one it read, raises :class:`LostRace`;
the publish then runs again from a fresh read of the store, so the newest published version
always holds the newest state any publisher had, and never goes back in time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from parquedb.errors import CommitConflictError, ErrorCode

T = TypeVar("T")
ATTEMPTS = 8


class LostRace(Exception):
    """Another publisher committed the table first."""


def with_retries(attempt: Callable[[int, bool], T], what: str) -> T:
    """Run ``attempt(n, last)`` until it does not lose a race (``n`` counts the tries from 0,
    ``last`` is True on the final one); a coded ``CommitConflictError`` after
    :data:`ATTEMPTS` losses."""
    for n in range(ATTEMPTS):
        try:
            return attempt(n, n == ATTEMPTS - 1)
        except LostRace:
            time.sleep(random.uniform(0.01, 0.05) * (2 ** min(n, 5)))
    raise CommitConflictError(f"publishing {what} lost the commit race {ATTEMPTS} times to "
                              "other publishers; try again", code=ErrorCode.COMMIT_CONFLICT,
                              name=what)
