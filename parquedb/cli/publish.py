"""``parquedb publish``: a collection's or dataset's current state as an open table."""

from __future__ import annotations

import click

from parquedb.cli.output import emit_json, pairs
from parquedb.cli.target import json_flag, split_uri, storage_flags, target


@click.command(short_help="Write a collection as a Delta or Iceberg table.")
@click.argument("args", nargs=-1, metavar="[URI] NAME")
@click.option("--format", "fmt", type=click.Choice(["delta", "iceberg"]), default="delta",
              show_default=True, help="The open table format.")
@click.option("--full", is_flag=True,
              help="Rewrite the table instead of merging what changed since the last publish.")
@json_flag
@storage_flags
def publish(args: tuple[str, ...], fmt: str, full: bool, as_json: bool,
            s3_endpoint: str | None, anon: bool) -> None:
    """Write the current state of collection or dataset NAME as an open table at
    URI/_published/FORMAT/NAME/, one consistent snapshot of the store's newest commit,
    readable in place by DuckDB, Polars, Spark or Trino (docs/guides/open-tables.md)."""
    uri, rest = split_uri(args, 1)
    with target(uri, s3_endpoint, anon).open() as db:
        result = db.publish(rest[0], format=fmt, full=full)
    if as_json:
        emit_json(result)
    else:
        pairs(result, title=f"published {rest[0]} ({fmt})")
