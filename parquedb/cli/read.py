"""``parquedb find``, ``get`` and ``history``: entities and their changes, read-only."""

from __future__ import annotations

from typing import Any

import click

from parquedb.cli.output import emit_json, note, pairs, table
from parquedb.cli.parsing import instant, json_object, sort_spec
from parquedb.cli.target import json_flag, split_uri, storage_flags, target

DEFAULT_LIMIT = 100
SYSTEM_COLUMNS = ("version", "createdAt", "createdBy", "updatedAt", "updatedBy")


def _is_filter(rest: Any) -> bool:
    return str(rest[-1]).lstrip().startswith("{")


@click.command(short_help="Entities matching a filter.")
@click.argument("args", nargs=-1, metavar="[URI] COLLECTION [FILTER_JSON]")
@click.option("--sort", default=None, metavar="SPEC",
              help='JSON ({"views": -1}) or fields: -views,title ("-": descending).')
@click.option("--limit", type=click.IntRange(min=0), default=DEFAULT_LIMIT, show_default=True,
              help="At most this many entities (0: all of them).")
@click.option("--skip", type=click.IntRange(min=0), default=0, help="Leave out the first N.")
@click.option("--project", default=None, metavar="JSON", help='Fields: {"title": 1}.')
@click.option("--as-of", default=None, metavar="ISO", help="The state at that instant.")
@click.option("--include-deleted", is_flag=True, help="Soft-deleted entities too.")
@json_flag
@storage_flags
def find(args: tuple[str, ...], sort: str | None, limit: int, skip: int, project: str | None,
         as_of: str | None, include_deleted: bool, as_json: bool, s3_endpoint: str | None,
         anon: bool) -> None:
    """Entities of COLLECTION matching a MongoDB-style filter, e.g. '{"views": {"$gt": 10}}'.

    --json prints {"items": [...], "total": N, "has_more": bool}.
    """
    uri, rest = split_uri(args, 1, 1, takes_optional=_is_filter)
    name, filt = rest[0], json_object(rest[1] if len(rest) > 1 else None, "FILTER_JSON",
                                      "INVALID_FILTER")
    options = {"sort": sort_spec(sort), "limit": limit or None, "skip": skip,
               "project": json_object(project, "--project", "INVALID_PROJECTION"),
               "as_of": instant(as_of), "include_deleted": include_deleted}
    with target(uri, s3_endpoint, anon).open() as db:
        result = db.collection(name).find(filt, **options)
        items, total, more = list(result), result.total, result.has_more
    if as_json:
        emit_json({"items": items, "total": total, "has_more": more})
        return
    if not items:
        click.echo(f"no entities match (of {total})" if total else "no entities match")
        return
    table([_shown(e) for e in items])
    if more:
        note(f"{len(items)} of {total} shown: use --limit and --skip for more")


def _shown(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity as a table row: its id and user fields, the bookkeeping left out."""
    return {k: v for k, v in entity.items() if k not in SYSTEM_COLUMNS}


@click.command(short_help="One entity by id.")
@click.argument("args", nargs=-1, metavar="[URI] COLLECTION ID")
@click.option("--as-of", default=None, metavar="ISO", help="The entity as it was then.")
@click.option("--include-deleted", is_flag=True, help="A soft-deleted entity too.")
@json_flag
@storage_flags
def get(args: tuple[str, ...], as_of: str | None, include_deleted: bool, as_json: bool,
        s3_endpoint: str | None, anon: bool) -> None:
    """One entity by its id (local, 'hello', or full, 'posts/hello'); exit 1 if absent."""
    uri, (name, ident) = split_uri(args, 2)
    with target(uri, s3_endpoint, anon).open() as db:
        entity = db.collection(name).get(ident, as_of=instant(as_of),
                                         include_deleted=include_deleted)
    if entity is None:
        from parquedb.errors import EntityNotFoundError

        raise EntityNotFoundError(f"no entity {ident!r} in {name}", collection=name, id=ident)
    if as_json:
        emit_json(entity)
    else:
        pairs(entity, title=entity.get("$id"))


@click.command(short_help="The changes of one entity.")
@click.argument("args", nargs=-1, metavar="[URI] COLLECTION ID")
@click.option("--since", default=None, metavar="ISO", help="Changes at or after this instant.")
@click.option("--until", default=None, metavar="ISO", help="Changes before this instant.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="The newest N changes.")
@json_flag
@storage_flags
def history(args: tuple[str, ...], since: str | None, until: str | None, limit: int | None,
            as_json: bool, s3_endpoint: str | None, anon: bool) -> None:
    """The changes of one entity, oldest first (as far back as vacuum's retention)."""
    uri, (name, ident) = split_uri(args, 2)
    with target(uri, s3_endpoint, anon).open() as db:
        events = db.collection(name).history(ident, since=instant(since, "--since"),
                                             until=instant(until, "--until"), limit=limit)
    if as_json:
        emit_json(events)
        return
    if not events:
        click.echo(f"no changes recorded for {ident!r} in {name}")
        return
    table([{"ts": e["ts"], "op": e["op"], "version": e["version"], "actor": e["actor"],
            "fields": _changed(e.get("before"), e.get("after"))} for e in events])


def _changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The user fields a change touched, by name."""
    b, a = before or {}, after or {}
    keys = [k for k in {**b, **a} if k not in SYSTEM_COLUMNS and b.get(k) != a.get(k)]
    return ", ".join(keys)


__all__ = ["find", "get", "history"]
