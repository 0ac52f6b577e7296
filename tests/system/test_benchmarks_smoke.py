"""The benchmark harness never rots: a small run of ``python -m benchmarks`` completes, every
system answers every query the same way (the harness cross-checks them), ParqueDB measures
every figure without an error, and each speed target gets a verdict. Timings are not
asserted: they belong to the benchmark, not to tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_small_benchmark_run_answers_right(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["cross_check_failures"] == []
    mine = data["results"]["parquedb"]
    assert {"load_batched", "get_cold", "find_selective", "range_sort_limit",
            "count_by_status", "create", "update_inc"} <= set(mine)
    assert not {k: v for k, v in mine.items() if "error" in v}
    for anchor in ("sqlite_full", "duckdb_parquet"):
        assert "find_selective" in data["results"][anchor] or "load_batched" in \
            data["results"][anchor]
    verdicts = [line for line in proc.stdout.splitlines()
                if line.rstrip().endswith((" met", " MISSED", " n/a"))]
    assert len(verdicts) >= 10, proc.stdout[-3000:]
