"""Result types of the document API, and the opaque page cursor of ``find``."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from parquedb.errors import ErrorCode, QueryError
from parquedb.model.values import decode_value, dumps, encode_value, loads


class FindResult(Sequence):
    """A page of entities: a sequence, plus ``total``, ``has_more`` and ``next_cursor``."""

    def __init__(self, items: list[dict[str, Any]], total: int, has_more: bool,
                 next_cursor: str | None) -> None:
        self.items = items
        self.total = total
        self.has_more = has_more
        self.next_cursor = next_cursor

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: Any) -> Any:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FindResult):
            return self.items == other.items
        return self.items == other

    # Unhashable, like the lists it compares equal to (what defining __eq__ already implies,
    # made explicit); the ignore: mypy types object.__hash__ as a method, never None.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"FindResult({len(self.items)} items, total={self.total}, "
                f"has_more={self.has_more})")


@dataclass(frozen=True)
class UpdateResult:
    matched_count: int
    modified_count: int


def sort_fields_doc(entity: dict[str, Any], spec: list[tuple[str, int]]) -> dict[str, Any]:
    """The top-level fields a sort reads (enough to rebuild the sort key of ``entity``)."""
    out: dict[str, Any] = {"$id": entity["$id"]}
    for path, _ in spec:
        top = path.split(".", 1)[0]
        if top in entity:
            out[top] = entity[top]
    return out


def encode_cursor(entity: dict[str, Any], spec: list[tuple[str, int]]) -> str:
    payload = {"s": [[p, d] for p, d in spec], "e": encode_value(sort_fields_doc(entity, spec))}
    return base64.urlsafe_b64encode(dumps(payload)).decode().rstrip("=")


def decode_cursor(token: Any, spec: list[tuple[str, int]]) -> dict[str, Any]:
    """The sort fields of the last entity of the previous page."""
    if not isinstance(token, str):
        raise QueryError("cursor must be a string from FindResult.next_cursor",
                         code=ErrorCode.QUERY_ERROR)
    try:
        payload = loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if [tuple(x) for x in payload["s"]] != [tuple(x) for x in spec]:
            raise ValueError("sort differs")
        doc = decode_value(payload["e"])
        if not isinstance(doc, dict) or "$id" not in doc:
            raise ValueError("no $id")
        return doc
    except Exception as e:
        raise QueryError("invalid cursor (it must come from a find with the same sort)",
                         code=ErrorCode.QUERY_ERROR, cause=e) from e
