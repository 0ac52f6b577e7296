"""SQL text: quoting identifiers and string literals, shared by every module that writes SQL."""

from __future__ import annotations


def quote(name: str) -> str:
    """A double-quoted SQL identifier (any name, quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
