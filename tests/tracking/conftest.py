"""Fixtures of the tracking tests: a tiny product problem, a run recorder on the test's store, and one
failing sweep shared by a module."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.config import PROJECT_ROOT, Coefficients, Dataset, RunConfig, Space
from pipeline.core.draws import draw_post_stream
from pipeline.core.targets import TargetProblem, expected_relation, make_problem
from pipeline.tracking.runs import RunRecorder, open_store
from tests.helpers import EXPERIMENT, TINY


@pytest.fixture
def tiny_product(run_config) -> tuple[RunConfig, TargetProblem]:
    run = run_config("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")
    draws = draw_post_stream(run.data)
    split = draws.splits[Dataset.gamma]
    problem = make_problem(split.x_train, split.x_test, expected_relation(Coefficients.ones, 5, draws.coefficients), Space.log)
    return run, problem


@pytest.fixture
def recorder(ready_store: str) -> RunRecorder:
    """The run of target `sum` in the test's store, not begun yet."""
    return RunRecorder(open_store(ready_store, EXPERIMENT), "sum", {"train": {"lr": 0.003}})


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, str]:
    """A three-job sweep: one finishes, one diverges (lr 50), one has a bad value (lr -1)."""
    root = tmp_path_factory.mktemp("failing_sweep")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            "-m",
            "target=sum",
            "train.lr=0.003,50,-1",
            *TINY,
            f"hydra.sweep.dir={root / 'sweep'}",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, uri
