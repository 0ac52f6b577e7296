"""``parquedb views``: list, refresh or drop the materialized views of a store."""

from __future__ import annotations

import click

from parquedb.cli.output import emit_json, pairs, table
from parquedb.cli.target import json_flag, split_uri, storage_flags, target


@click.group()
def views() -> None:
    """Materialized views: list, refresh, drop."""


@views.command("list")
@click.argument("args", nargs=-1, metavar="[URI]")
@json_flag
@storage_flags
def list_(args: tuple[str, ...], as_json: bool, s3_endpoint: str | None, anon: bool) -> None:
    """The views of the store, with how far behind their source each one is."""
    from parquedb.views import get_view, list_views

    uri, _ = split_uri(args, 0)
    with target(uri, s3_endpoint, anon).open() as db:
        rows = [{"name": n, **get_view(db, n).staleness()} for n in list_views(db)]
    if as_json:
        emit_json(rows)
    elif rows:
        table(rows)
    else:
        click.echo("(no views)")


@views.command()
@click.argument("args", nargs=-1, metavar="[URI] NAME")
@click.option("--full", is_flag=True, help="Rebuild from scratch instead of catching up.")
@json_flag
@storage_flags
def refresh(args: tuple[str, ...], full: bool, as_json: bool, s3_endpoint: str | None,
            anon: bool) -> None:
    """Bring view NAME up to date with its source."""
    from parquedb.views import get_view

    uri, (name,) = split_uri(args, 1)
    with target(uri, s3_endpoint, anon).open() as db:
        stats = get_view(db, name).refresh(full=full)
    if as_json:
        emit_json(stats)
    else:
        pairs(stats, title=f"refreshed {name}")


@views.command()
@click.argument("args", nargs=-1, metavar="[URI] NAME")
@json_flag
@storage_flags
def drop(args: tuple[str, ...], as_json: bool, s3_endpoint: str | None, anon: bool) -> None:
    """Drop view NAME (its rows and its definition)."""
    from parquedb.views import drop_view

    uri, (name,) = split_uri(args, 1)
    with target(uri, s3_endpoint, anon).open() as db:
        drop_view(db, name)
    if as_json:
        emit_json({"dropped": name})
    else:
        click.echo(f"dropped view {name}")


__all__ = ["views"]
