"""File formats of ``import`` and ``export``, each read and written as a stream (memory stays
bounded by one batch, whatever the file's size).

=========  ==================  ===========================================================
format     extensions          values
=========  ==================  ===========================================================
jsonl      .jsonl .ndjson      one JSON object per line, in the plain form (see ``plain``)
json       .json               one JSON array of objects (a ``.json`` file starting with ``{``
                               is read as JSON lines)
csv        .csv                a header row; text cells; nested values as JSON text; an empty
                               cell is a missing field
parquet    .parquet .pq        columns typed from the documents (datetimes, bytes, nested
                               values kept; a field must have one type throughout); a null
                               cell is a missing field
=========  ==================  ===========================================================
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from typing import IO, Any

from parquedb.cli.failures import BadUsage
from parquedb.support.plain import dumps, to_plain

FORMATS = ("jsonl", "json", "csv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
               ".parquet": "parquet", ".pq": "parquet"}
_CHUNK = 1 << 16


def format_of(path: str, given: str | None) -> str:
    if given:
        return given
    ext = os.path.splitext(path)[1].lower()
    if path == "-" or ext not in _EXTENSIONS:
        raise BadUsage(f"cannot tell the format of {path!r}: pass --format "
                       f"({', '.join(FORMATS)})")
    return _EXTENSIONS[ext]


# -- reading ------------------------------------------------------------------------------
def read_documents(stream: IO[bytes], fmt: str) -> Iterator[dict[str, Any]]:
    """The documents of ``stream`` one at a time."""
    if fmt == "parquet":
        yield from _read_parquet(stream)
        return
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    if fmt == "csv":
        for row in csv.DictReader(text):
            yield {k: v for k, v in row.items() if k is not None and v not in ("", None)}
        return
    first = _peek_char(text)
    if fmt == "json" and first == "[":
        yield from _read_array(text)
    else:
        yield from _read_lines(text)


def _peek_char(text: io.TextIOWrapper) -> str:
    buf = text.buffer
    peek = getattr(buf, "peek", None)
    head = peek(64) if peek is not None else b""
    return head.decode("utf-8", "replace").lstrip()[:1]


def _document(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadUsage(f"{where}: a document must be a JSON object, not {type(value).__name__}")
    return value


def _read_lines(text: io.TextIOWrapper) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(text, 1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise BadUsage(f"line {n}: not JSON ({e.msg})") from None
            yield _document(value, f"line {n}")


def _read_array(text: io.TextIOWrapper) -> Iterator[dict[str, Any]]:
    """The items of one JSON array, decoded as they arrive (never the whole file at once)."""
    decoder = json.JSONDecoder()
    buf, pos, n, done = "", 0, 0, False

    def fill() -> bool:
        nonlocal buf, pos
        chunk = text.read(_CHUNK)
        buf, pos = buf[pos:] + chunk, 0
        return bool(chunk)

    def skip(chars: str) -> None:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in chars:
                pos += 1
            if pos < len(buf) or not fill():
                return

    fill()
    skip(" \t\r\n")
    if buf[pos:pos + 1] != "[":
        raise BadUsage("a JSON array file must start with '['")
    pos += 1
    while not done:
        skip(" \t\r\n")
        if buf[pos:pos + 1] == "]":
            break
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                if end == len(buf) and fill():  # a number may go on in the next chunk
                    continue
                break
            except json.JSONDecodeError as e:
                if not fill():
                    raise BadUsage(f"item {n + 1}: not JSON ({e.msg})") from None
        pos = end
        n += 1
        yield _document(value, f"item {n}")
        skip(" \t\r\n")
        sep = buf[pos:pos + 1]
        if sep == ",":
            pos += 1
        elif sep == "]":
            done = True
        else:
            raise BadUsage(f"after item {n}: expected ',' or ']'")


def _read_parquet(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source: Any = stream
    if not stream.seekable():  # stdin: Parquet is read from its end, so keep it in memory
        source = pa.BufferReader(stream.read())
    try:
        pf = pq.ParquetFile(source)
    except Exception as e:
        raise BadUsage(f"not a Parquet file: {e}") from None
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield {k: v for k, v in row.items() if v is not None}


# -- writing ------------------------------------------------------------------------------
SYSTEM_FIELDS = ("version", "createdAt", "createdBy", "updatedAt", "updatedBy", "deletedAt",
                 "deletedBy")


def exportable(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity as a document ``import`` takes back: ``$id``, ``$type`` and the user fields
    (the fields the database keeps for itself are left out)."""
    return {k: v for k, v in entity.items() if k not in SYSTEM_FIELDS}


def write_jsonl(out: IO[str], docs: Iterable[dict[str, Any]]) -> int:
    n = 0
    for doc in docs:
        out.write(dumps(doc, indent=None) + "\n")
        n += 1
    return n


def write_json(out: IO[str], docs: Iterable[dict[str, Any]]) -> int:
    n = 0
    out.write("[")
    for doc in docs:
        out.write(("," if n else "") + "\n" + dumps(doc, indent=None))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def csv_cell(value: Any) -> str:
    plain = to_plain(value)
    if plain is None:
        return ""
    if isinstance(plain, str):
        return plain
    return dumps(plain, indent=None)  # numbers, booleans (true/false), nested values


def write_csv(out: IO[str], columns: list[str], docs: Iterable[dict[str, Any]]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for doc in docs:
        writer.writerow([csv_cell(doc[c]) if c in doc else "" for c in columns])
        n += 1
    return n


def parquet_schema(batches: Iterable[list[dict[str, Any]]]) -> Any:
    """The one Arrow schema every batch fits (a first pass: a field may first appear, or first
    be non-null, in any batch); a coded error when the documents disagree on a field's type."""
    import pyarrow as pa

    schemas = [_arrow(pa, docs).schema for docs in batches if docs]
    if not schemas:
        return pa.schema([("$id", pa.string())])
    try:
        return pa.unify_schemas(schemas)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise _mixed(str(e)) from None


def write_parquet(out: IO[bytes], schema: Any, batches: Iterable[list[dict[str, Any]]]) -> int:
    """Documents as Parquet in ``schema``, a row group per batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    with pq.ParquetWriter(out, schema) as writer:
        for docs in batches:
            if docs:
                writer.write_table(_arrow(pa, docs, schema))
                n += len(docs)
    return n


def _arrow(pa: Any, docs: list[dict[str, Any]], schema: Any = None) -> Any:
    """One batch as an Arrow table (in ``schema`` when given), or a coded error that says why
    the documents do not fit one table."""
    try:
        return pa.Table.from_pylist(docs, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise _mixed(str(e)) from None


def _mixed(why: str) -> Exception:
    from parquedb.errors import ErrorCode, ValidationError

    return ValidationError(f"these documents do not fit one Parquet table ({why}); export "
                           "them as JSON lines instead",
                           code=ErrorCode.INVALID_TYPE)


__all__ = ["FORMATS", "exportable", "format_of", "read_documents", "write_csv", "write_json",
           "write_jsonl", "parquet_schema", "write_parquet"]
