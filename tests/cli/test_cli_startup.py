"""Start-up: --help and --version answer without importing the heavy parts, and the package
still exports every name lazily."""

from __future__ import annotations

import subprocess
import sys

from helpers.cliproc import REPO

HEAVY = ("duckdb", "pyarrow", "numpy", "rich", "parquedb.database")


def imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "parquedb", *args],
                         capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    names = {line.split("|")[-1].strip() for line in out.stderr.splitlines()
             if line.startswith("import time:")}
    return out, names


def test_help_and_version_import_no_heavy_module() -> None:
    for args in (["--help"], ["--version"], ["find", "--help"]):
        out, names = imported(*args)
        assert out.returncode == 0, out.stderr
        assert "parquedb.cli.app" in names  # the log is real: it saw the command load
        assert not {n for n in names if n.split(".")[0] in HEAVY or n in HEAVY}, args
    version = subprocess.run([sys.executable, "-m", "parquedb", "--version"], capture_output=True,
                             text=True, cwd=REPO, timeout=60, check=True)
    import parquedb

    assert version.stdout.strip() == f"parquedb {parquedb.__version__}"


def test_every_subcommand_has_help() -> None:
    commands = ["info", "find", "get", "history", "sql", "import", "export", "compact",
                "vacuum", "verify", "backup", "restore", "tail-ingest", "views", "views list",
                "views refresh", "views drop", "ai-costs", "serve"]
    code = ("import sys; from parquedb.cli import main\n"
            "for c in sys.argv[1:]:\n"
            "    rc = main([*c.split(), '--help'])\n"
            "    print('RC', c, rc)\n")
    # one interpreter for all of them: what is checked is click's help of each command
    out = subprocess.run([sys.executable, "-c", code, *commands], capture_output=True,
                         text=True, cwd=REPO, timeout=60, check=True)
    for c in commands:
        assert f"RC {c} 0" in out.stdout, out.stdout
    assert out.stdout.count("Usage: parquedb") == len(commands)


def test_lazy_package_keeps_every_name() -> None:
    code = ("import parquedb, sys\n"
            "assert 'parquedb.database' not in sys.modules\n"
            "from parquedb import (Collection, Database, ErrorCode, FindResult, ParqueDBError,"
            " Transaction, UpdateResult, connect, errors, __version__)\n"
            "assert parquedb.connect is connect and parquedb.errors.ParqueDBError is "
            "ParqueDBError\n"
            "assert set(parquedb.__all__) <= set(dir(parquedb))\n"
            "try:\n    parquedb.nothing\nexcept AttributeError:\n    print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
