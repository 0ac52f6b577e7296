"""Reading and writing a document at a dotted path, copy-on-write.

An update must return a new document and leave its input untouched, down to nested lists and
dicts. Copying the whole document on every update would be wasteful (most updates touch one
field of a large document), so :class:`DocTree` copies only the containers on the paths it
writes, and shares every untouched subtree with the input.

Path rules are MongoDB's (for updates):

* a component indexes a dict by key, or a list by a canonical non-negative integer
  (``"0"``, ``"12"``; not ``"01"``);
* writing creates missing intermediate documents, and writing past the end of a list pads it
  with ``None`` (MongoDB backfills nulls), up to :data:`MAX_BACKFILL` new elements;
* writing *through* a scalar, a ``None`` or (by key) a list is an error: MongoDB's
  "Cannot create field 'b' in element {a: 1}";
* reading or removing through anything that does not exist is simply "missing"
  (:func:`parquedb.query.paths.get_path`, the matcher's "address" reading).
"""

from __future__ import annotations

import re
from typing import Any, Final

from parquedb.errors import ErrorCode, ValidationError
from parquedb.model.paths import MISSING, get_path

__all__ = ["MISSING", "MAX_BACKFILL", "DocTree", "list_index"]

#: MongoDB refuses to backfill more than this many nulls into an array in one write; we do
#: the same so that ``{"$set": {"a.999999999": 1}}`` cannot exhaust memory.
MAX_BACKFILL: Final = 1_500_000

_INDEX = re.compile(r"0|[1-9][0-9]*")


def list_index(part: str) -> int | None:
    """The list index a path component names, or ``None`` if it is not a canonical integer."""
    return int(part) if _INDEX.fullmatch(part) else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return type(value).__name__


def _cannot_create(parts: tuple[str, ...], i: int, holder: Any) -> ValidationError:
    where = ".".join(parts[:i]) or "the document"
    return ValidationError(
        f"cannot create field {parts[i]!r} in {where!r}: it holds a {_kind(holder)}, "
        f"not a document{' (use a numeric index into a list)' if type(holder) is list else ''}",
        code=ErrorCode.INVALID_TYPE, field=".".join(parts),
    )


def _array_element(parts: tuple[str, ...], role: str) -> ValidationError:
    return ValidationError(
        f"the {role} field {'.'.join(parts)!r} of $rename cannot be (inside) an array element",
        code=ErrorCode.INVALID_TYPE, field=".".join(parts),
    )


class DocTree:
    """A working copy of a document: ``root`` is a new dict; containers are copied on first
    write below them, and the copies are remembered so that each is copied at most once."""

    __slots__ = ("root", "_owned")

    def __init__(self, doc: dict) -> None:
        self.root: dict = dict(doc)
        # id() -> object; holding the object keeps its id from being reused
        self._owned: dict[int, Any] = {id(self.root): self.root}

    # -- reading -----------------------------------------------------------------------------
    def get(self, parts: tuple[str, ...]) -> Any:
        """The value at ``parts``, or :data:`MISSING`."""
        return get_path(self.root, parts)

    def get_for_rename(self, parts: tuple[str, ...]) -> Any:
        """Like :meth:`get`, but a value found through a list is an error (MongoDB's $rename
        works on document fields only)."""
        value = self.get(parts)
        if value is not MISSING and any(
            type(self.get(parts[:i])) is list for i in range(1, len(parts))
        ):
            raise _array_element(parts, "source")
        return value

    # -- writing -----------------------------------------------------------------------------
    def _own(self, parent: Any, key: Any, child: Any) -> Any:
        """``child`` (stored at ``parent[key]``), copied into the tree if not yet ours."""
        if id(child) in self._owned:
            return child
        copy = dict(child) if type(child) is dict else list(child)
        parent[key] = copy
        self._owned[id(copy)] = copy
        return copy

    def _new_dict(self) -> dict:
        d: dict = {}
        self._owned[id(d)] = d
        return d

    @staticmethod
    def _pad(node: list, idx: int, parts: tuple[str, ...]) -> None:
        """Backfill ``node`` with None so that ``idx`` is its next position."""
        if idx - len(node) > MAX_BACKFILL:
            raise ValidationError(
                f"cannot set {'.'.join(parts)!r}: it would add more than {MAX_BACKFILL} "
                "null elements to the array",
                code=ErrorCode.INVALID_INPUT, field=".".join(parts),
            )
        node.extend([None] * (idx - len(node)))

    def _parent_for_write(self, parts: tuple[str, ...], *, arrays: bool = True) -> Any:
        """The (owned) container that holds the last component, creating missing documents
        on the way. ``arrays=False`` refuses to go through a list ($rename's target)."""
        node: Any = self.root
        for i, part in enumerate(parts[:-1]):
            if type(node) is dict:
                child = node.get(part, MISSING)
                if child is MISSING:
                    child = node[part] = self._new_dict()
                    node = child
                    continue
                key: Any = part
            elif type(node) is list:
                if not arrays:
                    raise _array_element(parts, "target")
                idx = list_index(part)
                if idx is None:
                    raise _cannot_create(parts, i, node)
                if idx >= len(node):
                    self._pad(node, idx, parts)
                    node.append(self._new_dict())
                    node = node[idx]
                    continue
                child, key = node[idx], idx
            else:  # pragma: no cover - a scalar never becomes ``node``
                raise _cannot_create(parts, i, node)
            if type(child) is not dict and type(child) is not list:
                raise _cannot_create(parts, i + 1, child)
            node = self._own(node, key, child)
        if type(node) is list and not arrays:
            raise _array_element(parts, "target")
        return node

    def set(self, parts: tuple[str, ...], value: Any) -> None:
        """Store ``value`` at ``parts``: an existing key keeps its position, a new key is
        appended to its document (as MongoDB does)."""
        self._set_in(self._parent_for_write(parts), parts, value)

    def set_for_rename(self, parts: tuple[str, ...], value: Any) -> None:
        """Store the renamed value: any old value at the target is removed first, so the key
        lands at the end of its document."""
        parent = self._parent_for_write(parts, arrays=False)
        parent.pop(parts[-1], None)
        parent[parts[-1]] = value

    def _set_in(self, parent: Any, parts: tuple[str, ...], value: Any) -> None:
        last = parts[-1]
        if type(parent) is dict:
            parent[last] = value
            return
        idx = list_index(last)
        if idx is None:
            raise _cannot_create(parts, len(parts) - 1, parent)
        if idx < len(parent):
            parent[idx] = value
        else:
            self._pad(parent, idx, parts)
            parent.append(value)

    def unset(self, parts: tuple[str, ...]) -> None:
        """Remove the field at ``parts``; a list element becomes ``None`` instead (MongoDB
        keeps array positions stable). Nothing happens if the path does not exist."""
        if self.get(parts) is MISSING:
            return
        parent = self._parent_for_write(parts)  # every step exists: nothing is created
        if type(parent) is dict:
            del parent[parts[-1]]
        else:
            parent[int(parts[-1])] = None
