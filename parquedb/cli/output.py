"""Printing results: strict JSON for scripts, rich tables for people, progress on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from parquedb.support.plain import dumps, to_plain

MAX_CELL = 60
PIPE_WIDTH = 400


def emit_json(value: Any) -> None:
    click.echo(dumps(value))


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped into a file or another program: no terminal width to fold tables to
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def cell(value: Any) -> str:
    """A value as one short table cell (its plain form, cut to ``MAX_CELL`` characters)."""
    plain = to_plain(value)
    text = plain if isinstance(plain, str) else dumps(plain, indent=None)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
          title: str | None = None) -> None:
    """Rows as a table on stdout; the columns are the keys of the rows unless given."""
    from rich.table import Table

    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for row in rows:
        t.add_row(*(cell(row[c]) if c in row else "" for c in columns))
    console().print(t)


def pairs(values: dict[str, Any], title: str | None = None) -> None:
    """``key  value`` lines, for one record."""
    from rich.table import Table

    t = Table(title=title, show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for k, v in values.items():
        t.add_row(k, cell(v))
    console().print(t)


def note(text: str) -> None:
    """A remark for people, on stderr (stdout stays data)."""
    click.echo(text, err=True)


class Progress:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str, total: int | None) -> None:
        self._bar: Any = None
        self._task: Any = None
        if sys.stderr.isatty():
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=console(stderr=True), transient=True)
            self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Progress]:
    with Progress(label, total) as p:
        yield p


__all__ = ["cell", "console", "emit_json", "note", "pairs", "progress", "table"]
