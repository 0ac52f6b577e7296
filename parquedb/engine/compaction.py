"""Compaction: fold inlined rows and small files into large files sorted by ``$id``.

Compaction rewrites storage, never answers: it keeps exactly the current version of each entity
(with its original commit seq), so every query gives the same result before and after. It is
committed like any write; if another writer compacted the same sources first, it steps back.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parquedb.engine import nested, rowblocks
from parquedb.engine.datafiles import DATA_ROW_GROUP_SIZE, parquet_options
from parquedb.engine.format import DATA_SCHEMA, data_key, rows_to_table, table_to_rows
from parquedb.engine.shred import (
    ARROW_TYPES,
    FIELDS_META_KEY,
    field_types,
    mark_long_text,
    merge_field_types,
    nested_candidates,
    read_field_types,
    shred_columns,
)
from parquedb.engine.table import Table
from parquedb.model.entity import Row, new_ulid
from parquedb.model.values import dumps
from parquedb.support.gcpause import gc_paused

TARGET_FILE_ROWS = 250_000
WRITE_BATCH = DATA_ROW_GROUP_SIZE  # one batch is one row group

Progress = Callable[[str, int, int], None]


def _sorted_sources(table: Any, collection: str, sources: list[Any], idx: Any) -> Iterator[Row]:
    """Current rows of the sources, merged in ``$id`` order (each file is sorted already)."""

    # a k-way merge holds one decoded batch per source: share a fixed budget among them
    batch = max(128, (1 << 16) // max(1, len(sources)))

    def file_rows(info: Any) -> Iterator[Row]:
        for start, rows in table.files.iter_rows(info.key, info.seq, batch):
            for i, row in enumerate(rows):
                if idx.is_current(row.id, info.key, start + i):
                    yield row

    inline = sorted(table.snapshot.current_inline(collection), key=lambda r: r.id)
    streams = [iter(inline)] + [file_rows(f) for f in sources]
    return heapq.merge(*streams, key=lambda r: r.id)


def compact_collection(table: Table, collection: str, *, full: bool = True,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Compact one collection. ``full`` merges every data file; otherwise only inlined rows
    and small files. Returns statistics."""
    s = table.settings
    with table.lock, gc_paused():
        table.refresh(force=True)
        snap = table.snapshot
        state = snap.state
        cs = state.collections.get(collection)
        if cs is None:
            return {"collection": collection, "files_written": 0}
        base_seq = state.seq
        rows_folded, events_folded = cs.rows_folded, cs.events_folded
        if full:
            sources = list(cs.files.values())
        else:
            small = [f for f in cs.files.values() if f.bytes < s.small_file_bytes]
            sources = small if len(small) > s.compact_small_files else []
        drop_tombstones = len(sources) == len(cs.files)
        if not sources and not cs.rows and not cs.events:
            return {"collection": collection, "files_written": 0}
        total_in = sum(f.rows for f in sources) + len(cs.rows)

        # the output's shredded columns: the union of the sources' field types
        inline_docs = [r.user_doc() for r in cs.rows.values() if not r.tomb]
        types: dict[str, str] = mark_long_text(inline_docs, field_types(inline_docs))
        for f in sources:
            types = merge_field_types(types, table.files.field_types(f.key))
        shredded = [(k, ARROW_TYPES[t]) for k, t in types.items() if t in ARROW_TYPES]
        shapes = _nested_shapes(table, sources, inline_docs, types)
        meta = {FIELDS_META_KEY: dumps(types), nested.SHAPES_META_KEY: nested.shapes_meta(shapes),
                rowblocks.META_KEY: b"1"}
        schema = pa.schema(list(DATA_SCHEMA) + [pa.field(k, t) for k, t in shredded]
                           + [pa.field(k, nested.arrow_type(s)) for k, s in shapes.items()],
                           metadata=meta)

        written: list[dict[str, Any]] = []
        rows_out = 0
        seen = 0
        writer = None
        out_key = out_path = blocks_path = ""
        blocks: rowblocks.BlockWriter | None = None
        blocks_sink: Any = None
        pending: list[Row] = []
        in_file = 0

        def open_file() -> None:
            nonlocal writer, out_key, out_path, blocks, blocks_sink, blocks_path
            if writer is None:  # stream into local files: memory stays one batch
                out_key = data_key(collection, new_ulid())
                out_path = table.storage.temp_path(out_key)
                writer = pq.ParquetWriter(out_path, schema, **parquet_options(schema))
                blocks_path = table.storage.temp_path(rowblocks.rows_key(out_key))
                blocks_sink = open(blocks_path, "wb")  # noqa: SIM115 (closed in close_file)
                blocks = rowblocks.BlockWriter(keep_seq=True, sink=blocks_sink)

        def flush_pending() -> None:
            nonlocal pending
            if not pending:
                return
            open_file()
            assert writer is not None and blocks is not None
            blocks.add(pending)
            tbl = rows_to_table(pending, keep_seq=True)
            docs: list[dict[str, Any]] = []
            if shredded:
                docs = [{} if r.tomb else r.user_doc() for r in pending]
                # shred_columns returns one column per shredded field, in the same order
                columns = shred_columns(docs, {k: types[k] for k, _ in shredded})
                for (name, typ), (_, arr) in zip(shredded, columns, strict=True):
                    tbl = tbl.append_column(pa.field(name, typ), arr)
            if shapes:
                docs = docs or [{} if r.tomb else r.user_doc() for r in pending]
                for name, shape in shapes.items():
                    arr = nested.column([d.get(name) for d in docs], shape)
                    tbl = tbl.append_column(pa.field(name, arr.type), arr)
            writer.write_table(tbl.replace_schema_metadata(schema.metadata),
                               row_group_size=DATA_ROW_GROUP_SIZE)
            pending = []

        def close_file() -> None:
            nonlocal writer, in_file, blocks, blocks_sink
            flush_pending()
            if writer is None or blocks is None:
                return
            writer.close()
            blocks.finish()
            blocks_sink.close()
            # the row blocks first: a data file that says it has them always does
            companion = table.storage.put_file(rowblocks.rows_key(out_key), blocks_path)
            size = table.storage.put_file(out_key, out_path)
            written.append({"a": "add_file", "c": collection, "kind": "data", "key": out_key,
                            "rows": in_file, "bytes": size, "companion": companion})
            writer = None
            blocks = blocks_sink = None
            in_file = 0

        disjoint = None if cs.rows else _disjoint_sources(table, cs, sources, schema)
        if disjoint is not None:
            # every row is current and already encoded: Arrow batches and row lists move to
            # the output without a document being decoded and without the id index, a dict of
            # every id in the collection (see _disjoint_sources)
            for chunk, rows, n_in in _merge_disjoint(table, disjoint, schema, drop_tombstones):
                seen += n_in
                if rows:
                    open_file()
                    assert writer is not None and blocks is not None
                    blocks.add(rows)
                    writer.write_table(chunk, row_group_size=DATA_ROW_GROUP_SIZE)
                    in_file += len(rows)
                    rows_out += len(rows)
                if progress:
                    progress("compact " + collection, seen, total_in)
                if in_file >= TARGET_FILE_ROWS:
                    close_file()
        else:
            # which rows are current: the id index (built here if no read built it yet)
            idx = snap.index(collection)
            for row in _sorted_sources(table, collection, sources, idx):
                seen += 1
                if row.tomb and drop_tombstones:
                    continue
                pending.append(row)
                in_file += 1
                rows_out += 1
                if len(pending) >= WRITE_BATCH:
                    flush_pending()
                    if progress:
                        progress("compact " + collection, seen, total_in)
                if in_file >= TARGET_FILE_ROWS:
                    close_file()
        close_file()

        events_actions: list[dict[str, Any]] = []
        if cs.events:
            key, nbytes = table.files.write_events(collection, list(cs.events), keep_seq=True)
            events_actions.append({"a": "add_file", "c": collection, "kind": "events",
                                   "key": key, "rows": len(cs.events), "bytes": nbytes})
        source_keys = [f.key for f in sources]

        def plan(newest: Any) -> list[dict[str, Any]] | None:
            now_cs = newest.state.collections.get(collection)
            if (now_cs is None or any(k not in now_cs.files for k in source_keys)
                    or now_cs.rows_folded != rows_folded or now_cs.events_folded != events_folded):
                return None  # someone else compacted these sources first
            actions = list(written) + list(events_actions)
            actions += [{"a": "remove_file", "c": collection, "kind": "data", "key": k}
                        for k in source_keys]
            actions.append({"a": "fold", "c": collection, "what": "rows", "upto": base_seq})
            actions.append({"a": "fold", "c": collection, "what": "events", "upto": base_seq})
            return actions

        commit = table.commit_actions(plan, info={"op": "compact"})
        if commit is None:  # lost to another compaction: our files are orphans
            for a in written + events_actions:
                table.storage.delete(a["key"])
                if a.get("companion"):
                    table.storage.delete(rowblocks.rows_key(a["key"]))
        if progress:
            progress("compact " + collection, total_in, total_in)
        return {"collection": collection, "committed": commit is not None,
                "files_removed": len(source_keys) if commit else 0,
                "files_written": len(written) if commit else 0,
                "rows_in": total_in, "rows_written": rows_out}


def _disjoint_sources(table: Table, cs: Any, sources: list[Any],
                      schema: pa.Schema) -> list[Any] | None:
    """The sources in ``$id`` order when compacting them needs no decoding, else None.

    That holds when the ``$id`` ranges of all the collection's live data files (from their
    footers) are pairwise disjoint and nothing is inlined: an id then has exactly one version
    in the store, so every row of a source is current and the sources need no merge, only
    concatenation in order; and when every source already has the output's columns and types,
    so its batches are the output's as they are. Bulk loads of fresh ids give exactly this."""
    spans = []
    for f in cs.files.values():
        if f.rows == 0:
            continue
        r = table.files.id_ranges(f.key)
        if r is None or not r.lows:
            return None
        spans.append((r.lows[0], r.highs[-1], f.key))
    spans.sort()
    if any(a[1] >= b[0] for a, b in pairwise(spans)):
        return None
    want = [(f.name, f.type) for f in schema]
    for f in sources:
        got = table.files.parquet_file(f.key).schema_arrow
        if [(g.name, g.type) for g in got] != want:
            return None
    order = {key: i for i, (_, _, key) in enumerate(spans)}
    return sorted((f for f in sources if f.rows), key=lambda f: order[f.key])


def _merge_disjoint(table: Table, sources: list[Any], schema: pa.Schema,
                    drop_tombstones: bool) -> Iterator[tuple[pa.Table, list[Row], int]]:
    """Yield ``(chunk, rows, rows read)``: the sources' rows in order, as output chunks of
    one row group each (:data:`WRITE_BATCH` rows, carried across source boundaries so small
    sources do not make small row groups) and as rows for the row blocks. A null ``_seq``
    becomes the seq of the commit that added the source."""
    held: list[pa.Table] = []
    held_rows: list[Row] = []
    n_in = 0

    def cut(final: bool) -> Iterator[tuple[pa.Table, list[Row], int]]:
        nonlocal held, held_rows, n_in
        total = sum(t.num_rows for t in held)
        if total < WRITE_BATCH and not final:
            return
        whole = pa.concat_tables(held) if held else schema.empty_table()
        step = WRITE_BATCH if not final else max(1, total)
        start = 0
        while total - start >= step or (final and start < total):
            n = min(step, total - start)
            yield whole.slice(start, n), held_rows[start:start + n], n_in
            n_in = 0
            start += n
        held = [whole.slice(start)] if start < total else []
        held_rows = held_rows[start:]

    for f in sources:
        pf = table.files.parquet_file(f.key)
        for batch in pf.iter_batches(batch_size=WRITE_BATCH, columns=schema.names):
            tbl = pa.Table.from_batches([batch])
            n_in += tbl.num_rows
            seq_i = tbl.schema.get_field_index("_seq")
            tbl = tbl.set_column(seq_i, "_seq", pc.fill_null(tbl.column(seq_i), f.seq))
            if drop_tombstones:
                tbl = tbl.filter(pc.invert(pc.fill_null(tbl.column("_tomb"), False)))
            if tbl.num_rows == 0:
                continue
            held.append(tbl.cast(schema))
            held_rows.extend(table_to_rows(tbl, f.seq))
            yield from cut(final=False)
    yield from cut(final=True)


def _nested_shapes(table: Table, sources: list[Any], inline_docs: list[dict[str, Any]],
                   types: dict[str, str]) -> dict[str, Any]:
    """The output's nested columns: each candidate field's shape merged over the inlined
    documents and the sources' recorded shapes. A source written before shapes existed is
    read once more for its documents' shapes (stale versions included: a wider shape is still
    right), so compacting an old store gives it nested columns."""
    fields = nested_candidates(types)
    if not fields:
        return {}
    acc = nested.infer(inline_docs, fields)
    for f in sources:
        schema = table.files.parquet_file(f.key).schema_arrow
        recorded = nested.read_shapes(schema)
        if recorded is None:
            for _, rows in table.files.iter_rows(f.key, 0):
                found = nested.infer((r.user_doc() for r in rows if not r.tomb), fields)
                for k in fields:
                    acc[k] = nested.merge(acc[k], found[k])
            continue
        per = nested.file_shapes(read_field_types(schema), recorded)
        for k in fields:
            acc[k] = nested.merge(acc[k], per.get(k, nested.NULL))
    return nested.storable(acc)
