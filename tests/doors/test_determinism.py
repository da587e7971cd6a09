"""Determinism across processes: the same config and seeds, trained in two fresh Python processes, learn
bit-identical weights with either engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY_RUN = ("target=sum", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")


def weights_file_of_a_fresh_process(project_root: Path, out_dir: Path, engine: str) -> bytes:
    """weights.json as the Hydra door writes it, from its own Python process (MLflow: the test's store)."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run", *TINY_RUN, f"train.engine={engine}", f"hydra.run.dir={out_dir}"],
        cwd=project_root,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return (out_dir / "weights.json").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["compiled", "keras"])
def test_same_config_in_two_processes_learns_bit_identical_weights(project_root, tmp_path, engine):
    first = weights_file_of_a_fresh_process(project_root, tmp_path / "first", engine)
    second = weights_file_of_a_fresh_process(project_root, tmp_path / "second", engine)

    assert first == second  # the JSON holds each float's repr, so equal text is equal bits
    weights = json.loads(first)
    assert weights["learned"] != weights["initial"]  # it did train
