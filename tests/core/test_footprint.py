"""Memory before work: a run's footprint is estimated from its configuration, above what real runs were
measured to use, and a run that would not fit is refused in one line naming what drives it."""

from __future__ import annotations

import re

import pytest

from pipeline.core.footprint import run_footprint
from pipeline.errors import ConfigError
from pipeline.memory import GB, check_fits_in_memory

# Peak RSS of `python -m pipeline.run <overrides>` (`/usr/bin/time -v`, 2026-11-30, the project's machine).
MEASURED_PEAK_BYTES = {(): 1_118_088 * 1024, ("data.x_size=500", "train.epochs=5"): 2_880_056 * 1024}


@pytest.mark.parametrize("overrides", list(MEASURED_PEAK_BYTES), ids=lambda o: " ".join(o) or "defaults")
def test_the_estimate_is_above_what_the_run_was_measured_to_use(run_config, overrides):
    assert run_footprint(run_config(*overrides)).total >= MEASURED_PEAK_BYTES[overrides]


def test_the_estimate_grows_with_what_drives_it(run_config):
    base = run_footprint(run_config()).total

    assert run_footprint(run_config("data.x_size=1000")).total > base
    assert run_footprint(run_config("train.inits=64", "model.width=64")).total > base
    assert run_footprint(run_config("train.replicates=64", "train.dtype=float64")).total > base


def test_a_run_that_would_not_fit_is_refused_in_one_line_naming_its_largest_part(run_config):
    with pytest.raises(ConfigError) as error:
        check_fits_in_memory(run_config("train.inits=1000000"), available=8 * GB)

    message = str(error.value)
    assert re.match(r"this run needs about \d+\.\d GB, \d+\.\d GB of it for ", message) and "\n" not in message
    assert "but 8.0 GB are free: lower those settings" in message
    assert "train.epochs, networks, model.width" in message


def test_the_posts_run_fits_in_two_gigabytes(run_config):
    check_fits_in_memory(run_config(), available=2 * GB)
