"""``parquedb backup`` and ``restore``: a consistent copy of a store at one commit.

The copy holds the store's configuration, its log up to that commit, the checkpoint(s) the
log needs, and every file the commit's state references, so it is itself a store (``info`` and
``verify`` work on a backup). Files go first and the configuration last: an interrupted copy is
not a store. Time travel (``as_of``) in the copy starts at the copied commit; entity history
is kept whole.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from parquedb.cli.failures import BadUsage
from parquedb.cli.output import emit_json, pairs, progress
from parquedb.cli.target import Target, json_flag, storage_flags, target

COPY_THREADS = 8


@click.command(short_help="A consistent copy of a store at one commit.")
@click.argument("uri", metavar="URI")
@click.argument("dest", metavar="DEST")
@click.option("--force", is_flag=True, help="Replace a store already at DEST.")
@json_flag
@storage_flags
def backup(uri: str, dest: str, force: bool, as_json: bool, s3_endpoint: str | None,
           anon: bool) -> None:
    """Copy the store at URI, as of its newest commit, to DEST (a folder or s3://...).

    Writers may go on meanwhile; their later commits are not part of the copy.
    """
    _copy(target(uri, s3_endpoint, anon), target(dest, s3_endpoint, False), force, as_json,
          "backed up")


@click.command(short_help="A store made from a backup.")
@click.argument("backup_uri", metavar="BACKUP")
@click.argument("dest", metavar="DEST_URI")
@click.option("--force", is_flag=True,
              help="Replace the store at DEST_URI (a folder of other files is never touched).")
@json_flag
@storage_flags
def restore(backup_uri: str, dest: str, force: bool, as_json: bool, s3_endpoint: str | None,
            anon: bool) -> None:
    """Make a store at DEST_URI from a backup; DEST_URI must be empty (or --force)."""
    _copy(target(backup_uri, s3_endpoint, anon), target(dest, s3_endpoint, False), force,
          as_json, "restored")


def _copy(source: Target, dest: Target, force: bool, as_json: bool, verb: str) -> None:
    from parquedb.exec.inventory import location_is_empty, open_existing, take_inventory

    if source.uri.rstrip("/") == dest.uri.rstrip("/"):
        raise BadUsage("the source and the destination are the same place")
    src = open_existing(source.uri, source.storage_options())
    try:
        replace = False
        if not location_is_empty(dest.uri, dest.storage_options()):
            if not force:
                raise BadUsage(f"{dest.uri} is not empty; pass --force to replace the store "
                               "there", "ALREADY_EXISTS")
            _require_store_at(dest)
            replace = True
        inventory = take_inventory(src)
        dst = dest.storage()
        try:
            if replace:
                _forget_store(dst)
            result = copy_store(src, dst, inventory)
        finally:
            dst.close()
    finally:
        src.close()
    report = {"source": source.uri, "destination": dest.uri, **result}
    if as_json:
        emit_json(report)
    else:
        pairs(report, title=verb)


def _require_store_at(dest: Target) -> None:
    """--force replaces a store, never a folder of something else."""
    from parquedb.exec.inventory import open_existing

    open_existing(dest.uri, dest.storage_options()).close()


def _forget_store(dst: Any) -> None:
    """Make the old store at the destination stop being one: its marker, log and checkpoints
    go (its data files, no longer referenced, are left for vacuum)."""
    from parquedb.engine.format import CHECKPOINT_DIR, CONFIG_KEY, HINT_KEY, LOG_DIR, VACUUM_KEY

    dst.delete(CONFIG_KEY)
    for folder in (LOG_DIR, CHECKPOINT_DIR):
        for meta in dst.list(folder):
            dst.delete(meta.key)
    dst.delete(HINT_KEY)
    dst.delete(VACUUM_KEY)


def copy_store(src: Any, dst: Any, inventory: Any) -> dict[str, Any]:
    """Copy what ``inventory`` names from ``src`` to ``dst``: files, checkpoints, log, then the
    configuration."""
    from parquedb.engine.commitlog import open_log
    from parquedb.engine.format import (
        CONFIG_KEY,
        HINT_KEY,
        VACUUM_KEY,
        checkpoint_key,
        log_key,
    )
    from parquedb.model.values import dumps

    def copy(key: str) -> int:
        data = src.get(key)
        dst.put(key, data)
        return len(data)

    source_log = open_log(src)

    def copy_commit(seq: int) -> int:
        # one object per commit at the destination, wherever the source keeps it (objects
        # or log segments): every storage takes objects, and every reader reads them
        data = source_log.read(seq)
        if data is None:
            raise FileNotFoundError(log_key(seq))
        dst.put(log_key(seq), data)
        return len(data)

    total = 0
    with progress("copying files", len(inventory.files)) as bar, \
            ThreadPoolExecutor(COPY_THREADS) as pool:
        for n in pool.map(copy, sorted(inventory.files)):
            total += n
            bar.advance(1)
    checkpoints = sorted({c for c in (inventory.base_checkpoint, inventory.newest_checkpoint)
                          if c is not None})
    for seq in checkpoints:
        total += copy(checkpoint_key(seq))
    if inventory.newest_checkpoint is not None:
        dst.put(HINT_KEY, dumps({"seq": inventory.newest_checkpoint,
                                 "checkpoint": inventory.newest_checkpoint}))
    # files replaced before the copied commit are not in the copy: time travel starts here
    dst.put(VACUUM_KEY, dumps({"horizon": inventory.ts + 1}))
    for seq in inventory.log:
        total += copy_commit(seq)
    source_log.close()
    total += copy(CONFIG_KEY)
    return {"seq": inventory.seq, "files": len(inventory.files), "log_entries": len(inventory.log),
            "checkpoints": len(checkpoints), "bytes": total}


__all__ = ["backup", "copy_store", "restore"]
