"""compact, vacuum and verify from the shell; verify finds damage and exits 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import parquedb


def big_store(path: str, batches: int = 3) -> str:
    """A store whose rows live in Parquet files (batches past the inline limit) and in the
    log (a few small writes)."""
    with parquedb.connect(path) as db:
        for b in range(batches):
            db.posts.create_many([{"n": b * 2000 + i, "s": "x" * (i % 7)} for i in range(2000)])
        db.posts.create({"$id": "small", "n": -1})
    return path


def test_compact_vacuum_and_their_errors(cli, tmp_path: Path) -> None:
    store = big_store(str(tmp_path / "db"))
    stats = cli.json("compact", store)
    assert stats["files_written"] >= 1 and stats["files_removed"] >= 3
    one = cli.json("compact", store, "--collection", "posts")
    assert [c["collection"] for c in one["collections"]] == ["posts"]
    unknown = cli("compact", store, "--collection", "nope")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error [COLLECTION_NOT_FOUND]")

    vac = cli.json("vacuum", store, "--retain", "7d")
    assert vac["files_deleted"] == 0  # the replaced files are inside the window
    short = cli("vacuum", store, "--retain", "10m")
    assert short.returncode == 2 and "pass --force" in short.stderr
    assert "force=True" not in short.stderr
    assert cli("vacuum", store, "--retain-hours", "0.1").returncode == 2  # the older spelling
    forced = cli("vacuum", store, "--retain", "0s", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["files_deleted"] >= 3
    bad = cli("vacuum", store, "--retain", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    human = cli("compact", store)
    assert human.returncode == 0 and "files written" in human.stdout
    with parquedb.connect(store, create=False) as db:
        assert db.posts.count() == 6001


def test_verify_clean_then_finds_a_truncated_file(cli, tmp_path: Path) -> None:
    store = big_store(str(tmp_path / "db"))
    clean = cli.json("verify", store, "--deep")
    assert clean["ok"] is True and clean["problems"] == []
    assert clean["files"] >= 6 and clean["commits"] >= 4  # 3 data + 3 event files
    data = sorted(Path(store, "posts", "data").glob("*.parquet"))
    victim = data[0]
    size = victim.stat().st_size
    with open(victim, "r+b") as f:
        f.truncate(size // 2)
    found = cli("verify", store, "--json")
    assert found.returncode == 1
    report = json.loads(found.stdout)
    assert report["ok"] is False
    keys = [p["key"] for p in report["problems"]]
    assert keys == [f"posts/data/{victim.name}"], report
    assert "error [CORRUPT_DATA]" in found.stderr
    human = cli("verify", store)
    assert human.returncode == 1 and victim.name in human.stdout


def test_verify_finds_a_damaged_commit_and_a_missing_file(cli, tmp_path: Path) -> None:
    store = big_store(str(tmp_path / "db"), batches=1)
    with parquedb.connect(store) as db:
        db.posts.create({"$id": "later"})
    # the second of the three commits in the log segment is cut short (a later one follows:
    # not a torn tail, which would be an unacknowledged write, but damage)
    log = sorted(Path(store, "_log").glob("0*.log"))
    lines = log[-1].read_bytes().split(b"\n")
    assert len(lines) == 4 and lines[-1] == b""
    lines[1] = lines[1][: len(lines[1]) // 2]
    log[-1].write_bytes(b"\n".join(lines))
    events = next(Path(store, "posts", "events").glob("*.parquet"))
    os.unlink(events)
    report = json.loads(cli("verify", store, "--json").stdout)
    problems = {p["key"]: p["problem"] for p in report["problems"]}
    assert "unreadable commit" in problems[f"_log/{log[-1].name}"]
    assert problems[f"posts/events/{events.name}"].startswith("missing")
