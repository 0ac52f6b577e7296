"""Telling a misspelt method from a collection name, for ``db.<name>`` attribute access.

``db.posts`` is a collection; ``db.list_collection`` is almost surely ``list_collections``
mistyped, and handing back a collection called "list_collection" only fails later with
"'Collection' object is not callable". The rule (:func:`misspelt`): a name is taken for a typo
of a method when it starts with the method's first letter and is within edit distance 1
(methods of up to 5 letters) or 2 (longer ones) of it, unless it is the plural of a one-word
method (``db.sessions``, ``db.collections``: collection names). Typing mistakes rarely change the
first letter, which keeps ``db.books`` (one letter from ``hooks``) a collection.
"""

from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``; any value above ``limit`` is ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return min(previous[-1], limit + 1)


def misspelt(name: str, methods: Iterable[str]) -> str | None:
    """The method ``name`` is most likely a typo of, or None if it reads as a collection."""
    best: tuple[int, str] | None = None
    for method in methods:
        if name == method or not name or name[0] != method[0] or _plural_of(name, method):
            continue
        limit = 1 if len(method) <= 5 else 2
        d = edit_distance(name, method, limit)
        if d <= limit and (best is None or d < best[0]):
            best = (d, method)
    return None if best is None else best[1]


def _plural_of(name: str, method: str) -> bool:
    """``sessions`` of ``session``: a collection name. A phrase (``drop_collections``) is not
    a noun: its plural is still a typo."""
    return name == method + "s" and "_" not in method


__all__ = ["edit_distance", "misspelt"]
