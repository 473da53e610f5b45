"""Fixtures shared by the sweep-driver tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def log_dir(tmp_path: Path) -> str:
    """An empty folder where a test's simulate function logs each run it computes."""
    path = tmp_path / "computed"
    path.mkdir()
    return str(path)
