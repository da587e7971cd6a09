"""Fixtures of the core's tests."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.targets import LinearRelation


@pytest.fixture
def weighted() -> LinearRelation:
    """The post's weighted sum: its drawn m and c, rounded as it prints them."""
    return LinearRelation(slope=np.array([1.45, 0.05, -0.84, -0.38, 0.19]), intercept=-0.85)
