"""``parquedb import`` and ``export``: documents in and out of a collection as JSON lines, a
JSON array, CSV or Parquet, streamed in batches."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from itertools import islice
from typing import IO, Any

import click

from parquedb.cli.formats import (
    FORMATS,
    exportable,
    format_of,
    parquet_schema,
    read_documents,
    write_csv,
    write_json,
    write_jsonl,
    write_parquet,
)
from parquedb.cli.output import emit_json, note, progress
from parquedb.cli.target import json_flag, split_uri, storage_flags, target
from parquedb.support.plain import dumps

DEFAULT_BATCH = 1000
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                             help="jsonl, json, csv or parquet (default: by the extension).")
batch_option = click.option("--batch", type=click.IntRange(1, 1_000_000), default=DEFAULT_BATCH,
                            show_default=True, help="Documents per commit / per read.")


@click.command("import", short_help="Documents from JSON lines, JSON, CSV or Parquet.")
@click.argument("args", nargs=-1, metavar="[URI] COLLECTION FILE|-")
@format_option
@batch_option
@json_flag
@storage_flags
def import_(args: tuple[str, ...], fmt: str | None, batch: int, as_json: bool,
            s3_endpoint: str | None, anon: bool) -> None:
    """Add the documents of FILE ('-': stdin) to COLLECTION, a commit per batch.

    A document with an $id that is already stored stops the import (the batches before it
    stay committed; the summary on stderr says how many).
    """
    uri, (name, path) = split_uri(args, 2)
    fmt = format_of(path, fmt)
    done = 0
    with _input(path) as stream, target(uri, s3_endpoint, anon).open(create=True) as db, \
            progress(f"importing into {name}") as bar:
        coll = db.collection(name)
        docs = read_documents(stream, fmt)
        try:
            for chunk in _chunks(docs, batch):
                coll.create_many(chunk)
                done += len(chunk)
                bar.advance(len(chunk))
        except BaseException:
            if done:
                note(f"{done} documents were imported before the error")
            raise
    result = {"collection": name, "imported": done}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"imported {done:,} documents into {name}")


@click.command(short_help="A collection to JSON lines, JSON, CSV or Parquet.")
@click.argument("args", nargs=-1, metavar="[URI] COLLECTION FILE|-")
@format_option
@batch_option
@json_flag
@storage_flags
def export(args: tuple[str, ...], fmt: str | None, batch: int, as_json: bool,
           s3_endpoint: str | None, anon: bool) -> None:
    """Write the entities of COLLECTION to FILE ('-': stdout), in $id order: $id, $type and
    the user fields (what import takes back). --json prints the summary as JSON on stderr
    when FILE is '-'."""
    uri, (name, path) = split_uri(args, 2)
    fmt = format_of(path, fmt)
    with target(uri, s3_endpoint, anon).open() as db:
        coll = db.collection(name)
        total = coll.count()
        with _output(path, binary=fmt == "parquet") as out, \
                progress(f"exporting {name}", total) as bar:
            def pages() -> Iterator[list[dict[str, Any]]]:  # the writing pass
                for page in _pages(coll, batch):
                    bar.advance(len(page))
                    yield page

            def docs() -> Iterator[dict[str, Any]]:
                for page in pages():
                    yield from page

            if fmt == "parquet":
                n = write_parquet(out, parquet_schema(_pages(coll, batch)), pages())
            elif fmt == "csv":
                n = write_csv(out, _columns(coll, batch), docs())
            elif fmt == "json":
                n = write_json(out, docs())
            else:
                n = write_jsonl(out, docs())
    result = {"collection": name, "exported": n, "format": fmt,
              **({"file": path} if path != "-" else {})}
    to_stderr = path == "-"
    if as_json:
        click.echo(dumps(result), err=to_stderr)
    elif not to_stderr:
        click.echo(f"exported {n:,} documents of {name} to {path}")


def _pages(coll: Any, size: int) -> Iterator[list[dict[str, Any]]]:
    """The collection a page at a time (cursor paging: memory stays at one page)."""
    cursor = None
    while True:
        result = coll.find(None, limit=size, cursor=cursor)
        page = [exportable(e) for e in result]
        if page:
            yield page
        cursor = result.next_cursor
        if cursor is None:
            return


def _columns(coll: Any, size: int) -> list[str]:
    """CSV needs its header first: a first pass over the collection collects the field
    names (Parquet's first pass, its schema)."""
    seen: dict[str, None] = {"$id": None, "$type": None}
    for page in _pages(coll, size):
        for doc in page:
            seen.update(dict.fromkeys(doc))
    return list(seen)


def _chunks(docs: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(docs, size)):
        yield chunk


@contextlib.contextmanager
def _input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise click.FileError(path, e.strerror) from None
    with f:
        yield f


@contextlib.contextmanager
def _output(path: str, *, binary: bool) -> Iterator[Any]:
    if path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        f = open(path, "wb" if binary else "w", encoding=None if binary else "utf-8",  # noqa: SIM115
                 newline=None if binary else "")
    except OSError as e:
        raise click.FileError(path, e.strerror) from None
    try:
        with f:
            yield f
    except BaseException:
        os.unlink(path)  # half a file would pass for a whole one
        raise


__all__ = ["export", "import_"]
