"""Memory before work: a run whose estimated footprint (core.footprint) exceeds the memory this machine has
free is refused in one line, before TensorFlow loads, naming what drives it. Both doors call it once the
config is valid."""

from __future__ import annotations

import psutil

from pipeline.config import RunConfig
from pipeline.core.footprint import run_footprint
from pipeline.errors import ConfigError

GB = 2**30


def check_fits_in_memory(run: RunConfig, available: int | None = None) -> None:
    """Raise a one-line ConfigError when the run would not fit in `available` bytes (default: what the
    machine has free now)."""
    free = psutil.virtual_memory().available if available is None else available
    footprint = run_footprint(run)
    if footprint.total > free:
        largest = footprint.largest
        raise ConfigError(
            f"this run needs about {footprint.total / GB:.1f} GB, {footprint.parts[largest] / GB:.1f} GB of it for "
            f"{largest}, but {free / GB:.1f} GB are free: lower those settings"
        )
