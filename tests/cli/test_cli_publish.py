"""publish from the shell: the table an outside reader opens, its errors and exit statuses."""

from __future__ import annotations

from pathlib import Path

import deltalake

import parquedb


def test_publish_a_collection_and_read_it_back_without_parquedb(cli, tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    with parquedb.connect(store) as db:
        db.posts.create_many([{"$id": f"p{i}", "title": f"t{i}", "n": i} for i in range(5)])
    got = cli.json("publish", store, "posts")
    assert got["format"] == "delta" and got["rows"] == 5 and got["written"] is True
    table = deltalake.DeltaTable(got["uri"]).to_pyarrow_table()
    assert sorted(table.column("id").to_pylist()) == [f"posts/p{i}" for i in range(5)]
    again = cli.json("publish", store, "posts")  # nothing changed: nothing written
    assert again["written"] is False
    iceberg = cli.json("publish", store, "posts", "--format", "iceberg")
    assert iceberg["format"] == "iceberg" and iceberg["rows"] == 5

    unknown = cli("publish", store, "nosuch")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error [COLLECTION_NOT_FOUND]")
    assert cli("publish", store, "posts", "--format", "csv").returncode == 2
    assert cli("publish", store).returncode == 2  # the name is missing
    missing = cli("publish", str(tmp_path / "none"), "posts")
    assert missing.returncode == 2 and not (tmp_path / "none").exists()


def test_tail_ingest_of_a_missing_file_is_bad_usage_and_creates_nothing(cli,
                                                                        tmp_path: Path) -> None:
    out = cli("tail-ingest", str(tmp_path / "db"), str(tmp_path / "missing.ndjson"))
    assert out.returncode == 2 and "no such file" in out.stderr, out.stderr
    assert not (tmp_path / "db").exists()
