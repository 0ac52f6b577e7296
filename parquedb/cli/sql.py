"""``parquedb sql``: one read-only DuckDB query over the store."""

from __future__ import annotations

import click

from parquedb.cli.output import emit_json, table
from parquedb.cli.parsing import json_or_text
from parquedb.cli.target import json_flag, split_uri, storage_flags, target


@click.command(short_help="One read-only SQL SELECT.")
@click.argument("args", nargs=-1, metavar="[URI] QUERY")
@click.option("--param", "params", multiple=True, metavar="VALUE",
              help="A value for the next ? in QUERY, read as JSON when it parses (50, true, "
                   '"7"), else as text; repeat for each ?.')
@json_flag
@storage_flags
def sql(args: tuple[str, ...], params: tuple[str, ...], as_json: bool,
        s3_endpoint: str | None, anon: bool) -> None:
    """Run one read-only SELECT; every collection is a view of its current entities.

    --json prints an array of row objects.
    """
    uri, (query,) = split_uri(args, 1)
    values = [json_or_text(p) for p in params]
    with target(uri, s3_endpoint, anon).open() as db:
        result = db.sql(query, values or None)
    rows = result.to_pylist()
    if as_json:
        emit_json(rows)
    elif rows:
        table(rows, result.column_names)
    else:
        click.echo("(no rows)")


__all__ = ["sql"]
