"""The DVC door's stages as a user runs them: a damaged input stops a stage with one line, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.config import Dataset
from pipeline.files.layout import dataset_file
from tests.helpers import generate_tiny_data


@pytest.mark.slow
def test_train_stage_on_a_truncated_dataset_stops_with_one_line_naming_the_file_and_the_fix(project_copy):
    dataset = generate_tiny_data(project_copy) / dataset_file(Dataset.gaussian)
    dataset.write_bytes(dataset.read_bytes()[:1000])

    done = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.train", "sum"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: data/gaussian.npz is truncated or damaged (File is not a zip file): "
        "run `dvc repro --force generate` to write it again"
    ]
    assert "Traceback" not in done.stderr
