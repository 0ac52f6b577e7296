"""parquedb ai-costs: the terminal table, CSV, JSON and the chart, driven as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import parquedb
from parquedb.observability.ai import record_ai_requests

REPO = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 3, 1, tzinfo=UTC)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parquedb", "ai-costs", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)


def test_ai_costs_in_every_output(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    with parquedb.connect(store) as db:
        record_ai_requests(db, [
            {"model": "gpt-4o-2024-08-06", "provider": "openai", "input_tokens": 1_000_000,
             "output_tokens": 100_000, "tenant": "acme", "timestamp": DAY + timedelta(days=d)}
            for d in range(3)] + [
            {"model": "house-model", "provider": "self", "input_tokens": 10,
             "timestamp": DAY}])
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"house-model": {"input": 1.0, "output": 1.0}}))

    table = run(store, "--from", "2026-03-01", "--to", "2026-03-03")
    assert table.returncode == 0, table.stderr
    assert "2026-03-01" in table.stdout and "2026-03-03" not in table.stdout
    assert "no price for self/house-model" in table.stderr

    out = run(store, "--by", "model", "--json", "--pricing", str(prices))
    assert out.returncode == 0, out.stderr and not out.stderr
    data = json.loads(out.stdout)
    by_model = {r["model"]: Decimal(r["cost"]) for r in data["rows"]}
    assert by_model["house-model"] == Decimal("0.00001")
    assert by_model["gpt-4o-2024-08-06"] > 0 and data["summary"]["unpriced_models"] == []

    csv_out = run(store, "--by", "tenant", "--csv")
    assert csv_out.stdout.splitlines()[0].startswith("tenant,requests")

    chart = tmp_path / "costs.svg"
    assert run(store, "--chart", str(chart)).returncode == 0
    assert chart.read_text().startswith("<svg") and "gpt-4o-2024-08-06" in chart.read_text()

    bad = run(store, "--from", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
