"""``parquedb compact``, ``vacuum`` and ``verify``: looking after a store."""

from __future__ import annotations

from datetime import timedelta

import click

from parquedb.cli.durations import parse_duration
from parquedb.cli.failures import FAILED, OK, BadUsage
from parquedb.cli.output import emit_json, note, pairs, progress, table
from parquedb.cli.target import json_flag, split_uri, storage_flags, target

SHORT_RETAIN = timedelta(hours=1)


@click.command(short_help="Merge small files.")
@click.argument("args", nargs=-1, metavar="[URI]")
@click.option("--collection", default=None, metavar="NAME",
              help="Only this collection or dataset (default: all of them).")
@json_flag
@storage_flags
def compact(args: tuple[str, ...], collection: str | None, as_json: bool,
            s3_endpoint: str | None, anon: bool) -> None:
    """Merge small files into large sorted ones (query results never change)."""
    uri, _ = split_uri(args, 0)
    with target(uri, s3_endpoint, anon).open() as db:
        if collection is not None:
            known = {d["name"] for d in db.list_collections(detail=True)}
            if collection not in known:
                from parquedb.errors import CollectionNotFoundError

                raise CollectionNotFoundError(
                    f"no collection or dataset {collection!r} in this store (it has: "
                    f"{', '.join(sorted(known)) or 'none'})", collection=collection)
        stats = db.compact(collection, progress=None if not as_json else False)
    if as_json:
        emit_json(stats)
        return
    pairs({"files written": stats["files_written"], "files removed": stats["files_removed"]},
          title="compacted")


def _retain(text: str | None, hours: float | None) -> timedelta:
    if text is not None and hours is not None:
        raise BadUsage("give --retain or --retain-hours, not both")
    if hours is not None:
        if hours < 0:
            raise BadUsage("--retain-hours must be >= 0")
        return timedelta(hours=hours)
    try:
        return parse_duration(text or "7d")
    except ValueError as e:
        raise BadUsage(f"--retain: {e}") from None


@click.command(short_help="Delete files older history no longer needs.")
@click.argument("args", nargs=-1, metavar="[URI]")
@click.option("--retain", default=None, metavar="DURATION",
              help="Keep history this far back: 30m, 12h, 7d (default 7d).")
@click.option("--retain-hours", type=float, default=None, hidden=True)
@click.option("--force", is_flag=True,
              help="Allow --retain under 1h (only when no other writer is active).")
@json_flag
@storage_flags
def vacuum(args: tuple[str, ...], retain: str | None, retain_hours: float | None, force: bool,
           as_json: bool, s3_endpoint: str | None, anon: bool) -> None:
    """Delete files no snapshot inside the retention window needs."""
    uri, _ = split_uri(args, 0)
    window = _retain(retain, retain_hours)
    if window < SHORT_RETAIN and not force:
        raise BadUsage("a retention under 1 hour can delete a file a writer is about to "
                       "commit; pass --force if no other writer is active")
    with target(uri, s3_endpoint, anon).open() as db:
        stats = db.vacuum(retain=window, force=force)
    if as_json:
        emit_json(stats)
    else:
        pairs(stats, title="vacuumed")


@click.command(short_help="Check the log and every referenced file.")
@click.argument("args", nargs=-1, metavar="[URI]")
@click.option("--deep", is_flag=True, help="Also read every row group of every file.")
@json_flag
@storage_flags
@click.pass_context
def verify(ctx: click.Context, args: tuple[str, ...], deep: bool, as_json: bool,
           s3_endpoint: str | None, anon: bool) -> None:
    """Check every commit of the log, every checkpoint, and every file the newest state
    references (present, the recorded size, opens as Parquet, the recorded rows).

    Exit 1 when a problem is found.
    """
    from parquedb.exec.inventory import open_existing
    from parquedb.exec.verify import verify_store

    uri, _ = split_uri(args, 0)
    where = target(uri, s3_endpoint, anon)
    storage = open_existing(where.uri, where.storage_options())
    try:
        with progress("verifying files") as bar:
            report = verify_store(storage, deep=deep, progress=bar.advance).to_dict()
    finally:
        storage.close()
    if as_json:
        emit_json(report)
    else:
        pairs({"commit": report["seq"], "log entries": report["commits"],
               "checkpoints": report["checkpoints"], "files": report["files"],
               "bytes": report["bytes"]}, title="verified")
        if report["problems"]:
            table(report["problems"], ["key", "problem"], title="problems")
        else:
            click.echo("no problems found")
    if not report["ok"]:
        n = len(report["problems"])
        note(f"error [CORRUPT_DATA]: {n} problem{'s' if n > 1 else ''} found in {where.uri}")
    ctx.exit(OK if report["ok"] else FAILED)


__all__ = ["compact", "vacuum", "verify"]
