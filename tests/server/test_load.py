"""The load test in short (benchmarks/bench_server.py): concurrent clients posting tail
batches while the server is restarted; every acknowledged record is stored exactly once and
the server exits 0 each time it is stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_restart_under_load_loses_and_duplicates_nothing() -> None:
    r = subprocess.run([sys.executable, "-m", "benchmarks.bench_server", "--clients", "4",
                        "--seconds", "5", "--restarts", "1", "--json"], cwd=REPO,
                       capture_output=True, text=True, timeout=180, check=False)
    assert r.stdout.strip(), r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["acknowledged_records"] > 0, result
    assert result["acknowledged_batches"] * 20 == result["acknowledged_records"]
    assert result["missing"] == 0 and result["duplicated"] == 0, result
    assert result["exactly_once"] is True
    assert result["stored_records"] >= result["acknowledged_records"]
    assert result["server_exit_codes"] == [0, 0], result
    assert len(result["restart_downtime_s"]) == 1
    assert result["latency_ms"]["p50"] is not None
    assert 0 < result["commits"] <= result["acknowledged_batches"]
    assert r.returncode == 0, r.stderr
