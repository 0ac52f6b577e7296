"""Fixtures of the command-line tests: ``cli`` runs ``python -m parquedb`` in a subprocess
(see ``helpers.cliproc``), ``sample_store`` is a folder store with every kind of user value."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cliproc import Cli, make_sample_store


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def sample_store(tmp_path: Path) -> str:
    return make_sample_store(str(tmp_path / "store"))
