"""backup and restore: a consistent copy at one commit, between folders and S3 either way;
and an S3 endpoint that does not answer."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import parquedb
from parquedb.testing import commits

from helpers.cliproc import tree

SYSTEM = ("createdAt", "updatedAt")


def busy_store(path: str) -> str:
    """Files and inlined rows, an update, a delete, a dataset-free compaction: a real log."""
    with parquedb.connect(path) as db:
        db.posts.create_many([{"$id": f"p{i}", "n": i, "b": bytes([i % 256])}
                              for i in range(1500)])
        db.posts.update("p7", {"$set": {"n": -7}})
        db.posts.delete("p8")
        db.users.create({"$id": "u1", "name": "Ada"})
    return path


def snapshot(uri: str, options: dict[str, Any] | None = None) -> tuple[int, list[Any]]:
    with parquedb.connect(uri, create=False, storage_options=options) as db:
        with db.session.reading() as r:
            seq = r.snapshot.state.seq
        items = [sorted(db[c].find(None, limit=None, include_deleted=True), key=str)
                 for c in ("posts", "users")]
        history = db.posts.history("p7")
    return seq, [items, history]


def s3_env(options: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    return ({"AWS_ACCESS_KEY_ID": options["key"], "AWS_SECRET_ACCESS_KEY": options["secret"]},
            ["--s3-endpoint", options["endpoint_url"]])


def test_local_backup_and_restore(cli, tmp_path: Path) -> None:
    store = busy_store(str(tmp_path / "db"))
    backup = tmp_path / "backups" / "b1"
    done = cli.json("backup", store, str(backup))
    seq, state = snapshot(store)
    assert done["seq"] == seq and done["files"] >= 2
    with parquedb.connect(store) as db:  # writes after the backup are not in it
        db.posts.create({"$id": "late"})
    assert cli.json("verify", str(backup))["ok"] is True
    restored = tmp_path / "restored"
    assert cli.json("restore", str(backup), str(restored))["seq"] == seq
    assert snapshot(str(restored)) == (seq, state)
    assert cli.json("verify", str(restored))["ok"] is True
    with parquedb.connect(str(restored)) as db:  # a restored store takes writes
        db.posts.create({"$id": "after"})
        assert db.posts.count() == 1499 + 1

    refused = cli("restore", str(backup), str(restored))
    assert refused.returncode == 2 and "--force" in refused.stderr
    again = cli.json("restore", str(backup), str(restored), "--force")
    assert again["seq"] == seq and snapshot(str(restored)) == (seq, state)

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    forced = cli("restore", str(backup), str(foreign), "--force")
    assert forced.returncode == 2 and "NOT_A_STORE" in forced.stderr
    assert tree(foreign) == {"cat.jpg": 4}


def test_backup_to_s3_and_restore_from_it(cli, tmp_path: Path, s3_uri: str,
                                          s3_options: dict[str, Any]) -> None:
    env, flags = s3_env(s3_options)
    store = busy_store(str(tmp_path / "db"))
    seq, state = snapshot(store)
    up = cli("backup", store, s3_uri, *flags, "--json", env=env)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["seq"] == seq
    assert snapshot(s3_uri, s3_options) == (seq, state)
    checked = cli("verify", s3_uri, *flags, "--json", env=env)
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True
    info = cli("info", s3_uri, *flags, env=env)
    assert info.returncode == 0 and s3_options["endpoint_url"] in info.stdout
    assert s3_options["secret"] not in info.stdout + info.stderr

    down = tmp_path / "from-s3"
    back = cli("restore", s3_uri, str(down), *flags, "--json", env=env)
    assert back.returncode == 0, back.stderr
    assert snapshot(str(down)) == (seq, state)
    again = cli("backup", store, s3_uri, *flags, env=env)
    assert again.returncode == 2 and "not empty" in again.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def test_an_unreachable_endpoint_fails_fast_and_clearly(cli, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "very-secret-value"}
    for args in (["info", "s3://bucket/db"], ["verify", "s3://bucket/db"],
                 ["find", "s3://bucket/db", "posts"]):
        t0 = time.monotonic()
        out = cli(*args, "--s3-endpoint", endpoint, env=env)
        assert time.monotonic() - t0 < 15
        assert out.returncode == 1, out.stderr
        assert out.stderr.startswith("error [NETWORK_ERROR]: ") and endpoint in out.stderr
        assert "Traceback" not in out.stderr and "very-secret-value" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    env_endpoint = cli("info", "s3://bucket/db", env={**env, "PARQUEDB_S3_ENDPOINT": endpoint})
    assert env_endpoint.returncode == 1 and endpoint in env_endpoint.stderr


def test_a_backup_taken_while_a_writer_writes_is_one_commit(cli, tmp_path: Path) -> None:
    store = busy_store(str(tmp_path / "db"))
    writer = subprocess.Popen(
        [sys.executable, "-c",
         ("import sys, parquedb\n"
         "db = parquedb.connect(sys.argv[1])\n"
         "i = 0\n"
         "while True:\n"
         "    db.posts.create_many([{'w': i, 'k': j} for j in range(50)]); i += 1\n"),
         store], env=cli.env())
    try:
        time.sleep(1.0)  # the writer is committing
        done = cli.json("backup", store, str(tmp_path / "bk"))
    finally:
        writer.kill()
        writer.wait()
    seq = done["seq"]
    assert seq > 6  # commits of the writer are in the copy
    commit_ts = next(c["ts"] for c in commits(store) if c["seq"] == seq)
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=commit_ts)
    with parquedb.connect(store, create=False) as db:
        assert db.posts.count() > 1499  # the writer went on past the backup
        expected = sorted(str(e) for e in db.posts.find(None, limit=None, as_of=at))
    with parquedb.connect(str(tmp_path / "bk"), create=False) as db:
        got = sorted(str(e) for e in db.posts.find(None, limit=None))
    assert got == expected
    assert cli.json("verify", str(tmp_path / "bk"))["ok"] is True
