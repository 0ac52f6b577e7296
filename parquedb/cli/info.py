"""``parquedb info``: what a store holds (collections, views, datasets and their sizes) and its
health."""

from __future__ import annotations

from typing import Any

import click

from parquedb.cli.output import emit_json, pairs, table
from parquedb.cli.target import json_flag, split_uri, storage_flags, target


@click.command(short_help="Collections, views, datasets, last commit and health.")
@click.argument("args", nargs=-1, metavar="[URI]")
@json_flag
@storage_flags
def info(args: tuple[str, ...], as_json: bool, s3_endpoint: str | None, anon: bool) -> None:
    """Collections, views and datasets with their sizes, the last commit, and health."""
    uri, _ = split_uri(args, 0)
    where = target(uri, s3_endpoint, anon)
    with where.open() as db:
        report = gather(db)
    report = {**where.describe(), **report}
    if as_json:
        emit_json(report)
        return
    health = report["health"]
    pairs({"store": report["uri"], **({"endpoint": report["endpoint"] or "(AWS default)"}
                                       if "endpoint" in report else {}),
           "status": health.get("status"), "last commit": report["last_commit"]})
    rows = [{"name": n, "kind": kinds.get(n, "collection"), "entities": c}
            for kinds in [report["kinds"]] for n, c in report["collections"].items()]
    rows += [{"name": n, "kind": "dataset", "entities": c}
             for n, c in report["datasets"].items()]
    if rows:
        table(rows, ["name", "kind", "entities"])
    else:
        click.echo("(no collections yet)")


def gather(db: Any) -> dict[str, Any]:
    listing = db.list_collections(detail=True)
    kinds = {d["name"]: d["kind"] for d in listing if d["kind"] != "dataset"}
    collections = {n: db.collection(n).count() for n in kinds}
    datasets = {d["name"]: _dataset_rows(db, d["sql"]) for d in listing
                if d["kind"] == "dataset"}
    with db.session.reading() as r:
        state = r.snapshot.state
        last = {"seq": state.seq, "ts": _instant(state.ts)} if state.seq else None
    return {"collections": collections, "kinds": kinds, "datasets": datasets,
            "last_commit": last, "health": db.health()}


def _dataset_rows(db: Any, sql_name: str) -> int:
    rows = db.sql(f'SELECT count(*) AS n FROM "{sql_name}"').to_pylist()
    return int(rows[0]["n"])


def _instant(micros: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


__all__ = ["info"]
