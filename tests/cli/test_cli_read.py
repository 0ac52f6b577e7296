"""info, find, get, history and sql: human output, strict JSON, and every way to get them
wrong (exit 2, nothing created or changed)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import parquedb

from helpers.cliproc import WHEN, tree


def test_info_find_get_history_sql_json(cli, sample_store: str) -> None:
    info = cli.json("info", sample_store)
    assert info["collections"] == {"posts": 5}
    assert info["health"]["status"] == "ok" and info["last_commit"]["seq"] == 2

    found = cli.json("find", sample_store, "posts", '{"views": {"$gte": 20}}', "--sort", "-views")
    assert [e["$id"] for e in found["items"]] == ["posts/p4", "posts/p3", "posts/p2"]
    assert found["total"] == 3 and found["has_more"] is False
    page = cli.json("find", sample_store, "posts", "--sort", '{"views": 1}', "--limit", "2",
                    "--skip", "1", "--project", '{"views": 1}')
    assert [(e["$id"], e["views"]) for e in page["items"]] == [("posts/p1", 11),
                                                                ("posts/p2", 20)]
    assert page["has_more"] is True and "title" not in page["items"][0]

    entity = cli.json("get", sample_store, "posts", "p4")
    assert entity["when"] == WHEN.isoformat() == "2026-03-01T12:30:15.123456+00:00"
    assert base64.b64decode(entity["blob"]) == bytes([4, 0, 255])
    assert entity["score"] == "NaN" and entity["meta"] == {"depth": {"n": 4}}
    assert entity["version"] == 1 and entity["createdAt"].endswith("+00:00")

    events = cli.json("history", sample_store, "posts", "p1")
    assert [(e["op"], e["version"]) for e in events] == [("create", 1), ("update", 2)]
    assert events[1]["after"]["views"] == 11 and events[1]["before"]["views"] == 10

    rows = cli.json("sql", sample_store,
                    "SELECT status, count(*) AS n FROM posts WHERE views > ? GROUP BY 1 "
                    "ORDER BY 1", "--param", "5")
    assert rows == [{"status": "draft", "n": 2}, {"status": "published", "n": 2}]
    text = cli.json("sql", sample_store, "SELECT title FROM posts WHERE title = ?",
                    "--param", "post 3")
    assert text == [{"title": "post 3"}]


def test_as_of_reads_the_past(cli, sample_store: str) -> None:
    with parquedb.connect(sample_store) as db:
        before = db.posts.get("p1")["updatedAt"]
        first = db.posts.get("p0")["createdAt"]
    old = cli.json("get", sample_store, "posts", "p1", "--as-of", first.isoformat())
    assert old["views"] == 10 and old["version"] == 1
    now = cli.json("find", sample_store, "posts", '{"$id": "posts/p1"}', "--as-of",
                   before.isoformat())
    assert now["items"][0]["views"] == 11


def test_human_output(cli, sample_store: str) -> None:
    info = cli("info", sample_store)
    assert info.returncode == 0 and "posts" in info.stdout and "collection" in info.stdout
    found = cli("find", sample_store, "posts", "--limit", "2", "--sort", "views")
    assert found.returncode == 0 and "posts/p0" in found.stdout
    assert "2 of 5 shown" in found.stderr  # the remark goes to stderr: stdout stays data
    got = cli("get", sample_store, "posts", "p2")
    assert got.returncode == 0 and "post 2" in got.stdout
    hist = cli("history", sample_store, "posts", "p1")
    assert hist.returncode == 0 and "update" in hist.stdout and "views" in hist.stdout
    rows = cli("sql", sample_store, "SELECT title FROM posts ORDER BY title LIMIT 1")
    assert rows.returncode == 0 and "post 0" in rows.stdout


def test_the_uri_may_come_from_the_environment(cli, sample_store: str) -> None:
    env = {"PARQUEDB_URI": sample_store}
    out = cli("find", "posts", '{"status": "draft"}', "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert [e["$id"] for e in json.loads(out.stdout)["items"]] == [
        "posts/p1", "posts/p3"]
    assert cli("get", "posts", "p2", "--json", env=env).returncode == 0
    assert cli("info", "--json", env=env).returncode == 0
    missing = cli("info")
    assert missing.returncode == 2 and "PARQUEDB_URI" in missing.stderr


def test_bad_usage_exits_2_with_a_coded_line(cli, sample_store: str) -> None:
    cases = [
        (["find", sample_store, "posts", "{not json"], "INVALID_FILTER"),
        (["find", sample_store, "posts", "[1, 2]"], "INVALID_FILTER"),
        (["find", sample_store, "posts", "--limit", "-1"], "INVALID_INPUT"),
        (["find", sample_store, "posts", "--sort", ","], "INVALID_SORT"),
        (["find", sample_store, "posts", "--as-of", "yesterday"], "INVALID_INPUT"),
        (["get", sample_store, "posts"], "INVALID_INPUT"),
        (["info", sample_store, "extra", "args"], "INVALID_INPUT"),
        (["no-such-command"], "INVALID_INPUT"),
        (["info", sample_store, "--s3-endpoint", "ftp://x"], "INVALID_INPUT"),
    ]
    for args, code in cases:
        out = cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error [{code}]: "), (args, out.stderr)
        assert "Traceback" not in out.stderr


def test_failures_at_run_time_exit_1(cli, sample_store: str) -> None:
    missing = cli("get", sample_store, "posts", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("error [ENTITY_NOT_FOUND]: ")
    bad_op = cli("find", sample_store, "posts", '{"views": {"$bogus": 1}}')
    assert bad_op.returncode == 1 and "error [INVALID_FILTER]" in bad_op.stderr
    copy = cli("sql", sample_store, "COPY (SELECT 1) TO 'x.csv'")
    assert copy.returncode == 1 and copy.stderr.startswith("error [QUERY_ERROR]: ")
    assert "Traceback" not in copy.stderr + bad_op.stderr
    debug = cli("--debug", "sql", sample_store, "COPY (SELECT 1) TO 'x.csv'")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    env_debug = cli("sql", sample_store, "SELEC nothing", env={"PARQUEDB_DEBUG": "1"})
    assert env_debug.returncode == 1 and "Traceback" in env_debug.stderr


def test_reading_commands_never_create_a_store(cli, tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    for args in (["info", str(absent)], ["find", str(absent), "posts"],
                 ["get", str(absent), "posts", "x"], ["sql", str(absent), "SELECT 1"],
                 ["export", str(absent), "posts", str(tmp_path / "out.jsonl")],
                 ["verify", str(absent)], ["compact", str(absent)],
                 ["backup", str(absent), str(tmp_path / "bk")]):
        out = cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.startswith("error [STORE_NOT_FOUND]: "), out.stderr
        assert "never create" in out.stderr
    assert not absent.exists() and not (tmp_path / "bk").exists()
    assert not (tmp_path / "out.jsonl").exists()


def test_a_foreign_folder_is_left_alone(cli, tmp_path: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8 not a store")
    before = tree(foreign)
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"n": 1}\n')
    for args in (["info", str(foreign)], ["find", str(foreign), "posts"],
                 ["verify", str(foreign)], ["vacuum", str(foreign), "--retain", "7d"],
                 ["import", str(foreign), "posts", str(feed)],
                 ["tail-ingest", str(foreign), str(feed), "--quiet"]):
        out = cli(*args)
        assert out.returncode == 2 and out.stderr.startswith("error [NOT_A_STORE]: "), out.stderr
    assert tree(foreign) == before
