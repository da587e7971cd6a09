"""The DVC door's stages as a user runs them: a damaged input stops a stage with one line, not a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_pipeline_config
from pipeline.data import Dataset, dataset_path
from pipeline.stages.generate import generate
from tests.test_pipeline_dvc import project_copy  # noqa: F401 (a fixture)


def generate_tiny_data(project: Path) -> Path:
    """The generate stage, run on the project's own params.yaml at tiny sizes; returns the data directory."""
    pipeline = load_pipeline_config(project / "params.yaml")
    pipeline.data.n_train, pipeline.data.n_test = 256, 64
    pipeline.paths.data = str(project / pipeline.paths.data)
    generate(pipeline, [])
    return Path(pipeline.paths.data)


@pytest.mark.slow
def test_train_stage_on_a_truncated_dataset_stops_with_one_line_naming_the_file_and_the_fix(project_copy):
    dataset = dataset_path(generate_tiny_data(project_copy), Dataset.gaussian)
    dataset.write_bytes(dataset.read_bytes()[:1000])

    done = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.train", "sum"],
        cwd=project_copy, capture_output=True, text=True, timeout=300,
    )

    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: data/gaussian.npz is truncated or damaged (File is not a zip file): "
        "run `dvc repro --force generate` to write it again"
    ]
    assert "Traceback" not in done.stderr
