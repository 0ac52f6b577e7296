"""The ``parquedb`` command, run as a user would (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import parquedb


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parquedb.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_info_sql_compact_vacuum(tmp_path) -> None:
    db = parquedb.connect(tmp_path)
    db.posts.create_many([{"status": "a" if i % 3 else "b", "n": i} for i in range(30)])
    db.close()

    info = run("info", str(tmp_path))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["collections"] == {"posts": 30}

    sql = run("sql", str(tmp_path), "SELECT status, count(*) AS n FROM posts GROUP BY 1 ORDER BY 1")
    assert sql.returncode == 0, sql.stderr
    assert [json.loads(line) for line in sql.stdout.splitlines()] == [
        {"status": "a", "n": 20}, {"status": "b", "n": 10}]

    assert run("compact", str(tmp_path)).returncode == 0
    assert run("vacuum", str(tmp_path)).returncode == 0
    assert parquedb.connect(tmp_path).posts.count() == 30


def test_errors_are_reported_not_raised(tmp_path) -> None:
    bad = run("sql", str(tmp_path), "COPY (SELECT 1) TO 'x.csv'")
    assert bad.returncode == 1
    assert "QUERY_ERROR" in bad.stderr and "Traceback" not in bad.stderr
    short = run("vacuum", str(tmp_path), "--retain-hours", "0.1")
    assert short.returncode == 1 and "force" in short.stderr
