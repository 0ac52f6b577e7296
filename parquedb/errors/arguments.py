"""Argument type checks for the public API: a wrong type is a ``TypeError`` (Python's
convention), raised before any work, naming the argument and the type it got.

``bool`` is not accepted where an ``int`` is asked (``expected_version=True`` is a mistake,
not version 1), and an ``int`` is not accepted where a ``bool`` is. A value of the right type
but out of range is the caller's business (a coded ``ValueError`` subclass).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _got(value: Any) -> str:
    return type(value).__name__


def require_int(name: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int{' or None' if optional else ''}, "
                        f"not {_got(value)}")


def require_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {_got(value)}")


def require_str(name: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str{' or None' if optional else ''}, "
                        f"not {_got(value)}")


def require_datetime(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime or None, not {_got(value)}")


def require_filter(value: Any, name: str = "filter") -> None:
    """A filter is a dict (or None for every entity)."""
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict such as {{'status': 'draft'}} or None, "
                        f"not {_got(value)}")


def require_dict(name: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict{' or None' if optional else ''}, "
                        f"not {_got(value)}")


def require_sort(value: Any) -> None:
    """``{"field": 1 | -1}``, a list of ``(field, direction)`` pairs, or None."""
    if value is not None and not isinstance(value, (dict, list, tuple)):
        raise TypeError(f"sort must be a dict like {{'createdAt': -1}} or a list of "
                        f"(field, direction) pairs, not {_got(value)}")


__all__ = ["require_bool", "require_datetime", "require_dict", "require_filter", "require_int",
           "require_sort", "require_str"]
