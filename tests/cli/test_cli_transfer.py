"""import and export: a round trip through every format, streamed in batches."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import parquedb
from parquedb.testing import commits

from helpers.cliproc import WHEN

SYSTEM = ("version", "createdAt", "createdBy", "updatedAt", "updatedBy")


def documents(path: str) -> dict[str, dict[str, Any]]:
    with parquedb.connect(path, create=False) as db:
        return {e["$id"]: {k: v for k, v in e.items() if k not in SYSTEM}
                for e in db.posts.find(None)}


def equal(a: Any, b: Any) -> bool:
    """Equality that counts NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_parquet_keeps_every_value(cli, sample_store: str, tmp_path: Path) -> None:
    out = tmp_path / "posts.parquet"
    assert cli.json("export", sample_store, "posts", str(out))["exported"] == 5
    copy = str(tmp_path / "copy")
    assert cli.json("import", copy, "posts", str(out))["imported"] == 5
    original, back = documents(sample_store), documents(copy)
    assert list(back) == list(original)
    for key, doc in original.items():
        assert equal(back[key], doc), (back[key], doc)
    assert back["posts/p2"]["when"] == WHEN and back["posts/p2"]["blob"] == bytes([2, 0, 255])


def test_json_lines_and_array_keep_what_json_says(cli, sample_store: str,
                                                  tmp_path: Path) -> None:
    for name, fmt in (("posts.jsonl", "jsonl"), ("posts.json", "json")):
        out = tmp_path / name
        assert cli.json("export", sample_store, "posts", str(out))["format"] == fmt
        copy = str(tmp_path / f"copy-{fmt}")
        assert cli.json("import", copy, "posts", str(out))["imported"] == 5
        back = documents(copy)
        for key, doc in documents(sample_store).items():
            got = back[key]
            for field in ("$type", "name", "title", "status", "views", "tags", "meta", "flag"):
                assert equal(got[field], doc[field]), (field, got[field], doc[field])
            # what JSON cannot say arrives in its plain form
            assert got["when"] == WHEN.isoformat()
            assert base64.b64decode(got["blob"]) == doc["blob"]
            assert got["score"] == ("NaN" if key == "posts/p4" else doc["score"])
        again = tmp_path / f"again.{name}"
        assert cli.json("export", copy, "posts", str(again))["exported"] == 5
        assert again.read_text() == out.read_text()  # a second trip changes nothing


def test_csv_round_trip_as_text(cli, sample_store: str, tmp_path: Path) -> None:
    out = tmp_path / "posts.csv"
    cli.json("export", sample_store, "posts", str(out))
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["$id", "$type", "name", "title"]
    assert len(lines) == 6
    copy = str(tmp_path / "copy")
    cli.json("import", copy, "posts", str(out))
    back = documents(copy)["posts/p3"]
    assert back["title"] == "post 3" and back["views"] == "30" and back["flag"] == "true"
    assert json.loads(back["meta"]) == {"depth": {"n": 3}}
    assert back["when"] == WHEN.isoformat()


def test_stdin_and_stdout_in_batches(cli, tmp_path: Path) -> None:
    docs = [{"$id": f"d{i}", "n": i, "text": "é" * (i % 5)} for i in range(2500)]
    feed = "[" + ",\n".join(json.dumps(d) for d in docs) + "]"
    store = tmp_path / "db"
    out = cli("import", str(store), "posts", "-", "--format", "json", "--batch", "1000",
              "--json", input=feed)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"collection": "posts", "imported": 2500}
    infos = [c.get("info") or {} for c in commits(str(store))]
    assert len([i for i in infos if i.get("op") != "compact"]) == 3  # one commit per batch
    lines = cli("export", str(store), "posts", "-", "--format", "jsonl", "--batch", "700")
    assert lines.returncode == 0, lines.stderr
    got = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [d["n"] for d in got] == sorted(range(2500), key=lambda i: f"d{i}")
    assert all(d["text"] == "é" * (d["n"] % 5) for d in got)
    parquet = cli("export", str(store), "posts", "-", "--format", "parquet")
    assert parquet.returncode == 0 and parquet.stdout.startswith("PAR1")


def test_import_problems(cli, sample_store: str, tmp_path: Path) -> None:
    unknown = cli("import", sample_store, "posts", str(tmp_path / "data.xml"))
    assert unknown.returncode == 2 and "--format" in unknown.stderr
    missing = cli("import", sample_store, "posts", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2 and missing.stderr.startswith("error [INVALID_INPUT]")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"n": 1}\n{"n": \n')
    bad = cli("import", sample_store, "posts", str(broken))
    assert bad.returncode == 2 and "line 2" in bad.stderr
    dup = tmp_path / "dup.jsonl"
    dup.write_text("".join(json.dumps({"$id": f"new{i}"}) + "\n" for i in range(3)) +
                   json.dumps({"$id": "p1"}) + "\n")
    clash = cli("import", sample_store, "posts", str(dup), "--batch", "3")
    assert clash.returncode == 1 and "error [ALREADY_EXISTS]" in clash.stderr
    assert "3 documents were imported before the error" in clash.stderr
    assert len(documents(sample_store)) == 8
    reserved = tmp_path / "reserved.jsonl"
    reserved.write_text(json.dumps({"version": 3}) + "\n")
    refused = cli("import", sample_store, "posts", str(reserved))
    assert refused.returncode == 1 and refused.stderr.startswith("error [INVALID_INPUT]: ")
    assert "'version'" in refused.stderr


def test_a_reader_that_goes_away_is_not_a_failure(cli, tmp_path: Path) -> None:
    import subprocess
    import sys

    store = str(tmp_path / "db")
    with parquedb.connect(store) as db:
        db.posts.create_many([{"n": i, "pad": "x" * 200} for i in range(3000)])
    script = (f"set -o pipefail; {sys.executable} -m parquedb export {store} posts - "
              "--format jsonl | head -1")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=cli.env(), timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n"] == 0 and out.stderr == ""


def test_progress_only_on_a_terminal(cli, tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(3000)))
    master, slave = pty.openpty()  # stderr is a terminal, stdout a pipe
    proc = subprocess.Popen([sys.executable, "-m", "parquedb", "import", str(tmp_path / "db"),
                             "posts", str(feed), "--batch", "500", "--json"],
                            stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path, env=cli.env())
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    assert json.loads(out) == {"collection": "posts", "imported": 3000}  # stdout stays data
    assert b"importing into posts" in seen
    piped = cli("import", str(tmp_path / "db2"), "posts", str(feed), "--json")
    assert piped.returncode == 0 and piped.stderr == ""  # no terminal: no progress


def test_parquet_takes_fields_from_every_batch(cli, tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    with parquedb.connect(store) as db:
        db.posts.create_many([{"$id": f"a{i}", "n": i} for i in range(3)] +
                             [{"$id": f"b{i}", "n": i, "late": f"x{i}", "maybe": None}
                              for i in range(3)])
    out = tmp_path / "p.parquet"
    assert cli.json("export", store, "posts", str(out), "--batch", "2")["exported"] == 6
    copy = str(tmp_path / "copy")
    cli.json("import", copy, "posts", str(out))
    assert documents(copy)["posts/b1"]["late"] == "x1"
    assert "late" not in documents(copy)["posts/a1"]  # a null cell is a missing field

    with parquedb.connect(store) as db:
        db.posts.create({"$id": "c0", "n": "not a number"})
    mixed = cli("export", store, "posts", str(tmp_path / "mixed.parquet"))
    assert mixed.returncode == 1 and mixed.stderr.startswith("error [INVALID_TYPE]: ")
    assert "JSON lines" in mixed.stderr
    assert not (tmp_path / "mixed.parquet").exists()  # no half-written file left behind
