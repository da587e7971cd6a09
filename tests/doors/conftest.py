"""Fixtures of the doors' tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import CONF_DIR


@pytest.fixture
def conf_copy(tmp_path: Path) -> Path:
    """The project's conf/, copied where a test may edit it."""
    return Path(shutil.copytree(CONF_DIR, tmp_path / "elsewhere" / "conf"))
