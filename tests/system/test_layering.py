"""The layering contracts bite: an import that points up the layers fails `lint-imports`.

The package is copied to a temporary folder with the contracts of `pyproject.toml`; the copy as
it is passes, and the copy with one deliberately wrong import fails, naming the contract.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERDICT = re.compile(r" (KEPT|BROKEN)( \(\d+ ignored imports?\))?$")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _copy(tmp: Path) -> Path:
    shutil.copytree(REPO / "parquedb", tmp / "parquedb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[importlinter]", f"root_package = {config['root_package']}",
             "exclude_type_checking_imports = True", "include_external_packages = True"]
    for i, contract in enumerate(config["contracts"]):
        lines.append(f"\n[importlinter:contract:{i}]")
        for key, value in contract.items():
            if isinstance(value, list):
                lines.append(f"{key} =\n" + "\n".join(f"    {v}" for v in value))
            else:
                lines.append(f"{key} = {value}")
    (tmp / ".importlinter").write_text("\n".join(lines) + "\n")
    return tmp


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / ".importlinter"),
                           "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.parametrize("module, bad_import, contract", [
    ("engine/table.py", "from parquedb.database import Database", "Layers:"),
    ("query/matcher.py", "from parquedb.engine import Table", "Queries and updates are pure"),
    ("observability/hooks.py", "from parquedb.storage.base import Storage",
     "Hooks and metrics stay low"),
    ("engine/table.py", "import parquedb.views", "The API and what is below it"),
    ("streaming/tail.py", "from parquedb.engine import Table", "Above the API"),
])
def test_an_upward_import_fails_the_contract_check(tmp_path: Path, module: str, bad_import: str,
                                                   contract: str) -> None:
    root = _copy(tmp_path)
    ok = _lint(root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    target = root / "parquedb" / module
    source = target.read_text()
    head, sep, rest = source.partition("from __future__ import annotations\n")
    target.write_text(head + sep + bad_import + "  # noqa\n" + rest)
    broken = _lint(root)
    assert broken.returncode != 0
    verdicts = [m.group(1) for line in broken.stdout.splitlines()
                if line.startswith(contract) and (m := VERDICT.search(line))]
    assert verdicts == ["BROKEN"], broken.stdout
