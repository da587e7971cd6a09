"""Fixtures of the tracking tests: a tiny product problem, a run recorder on the test's store, one job
recorded whole and one failing sweep, each shared by a module, and Hydra initialised on conf/ as a running
app has it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hydra import initialize_config_dir

from pipeline.config import CONF_DIR, PROJECT_ROOT, Dataset, RunConfig, to_run_config
from pipeline.core.draws import draw_post_stream
from pipeline.core.evaluation import Evaluation
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.files.data import load_split, save_split
from pipeline.files.layout import dataset_file
from pipeline.tracking.runs import RunRecorder, open_store
from tests.helpers import EXPERIMENT, TINY, compose_config, model_config, record_job

if TYPE_CHECKING:
    from pipeline.core.training import TrainingResult  # imports Keras, which only the tests that train need


@pytest.fixture
def tiny_product(run_config) -> tuple[RunConfig, TargetProblem]:
    run = run_config("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")
    draws = draw_post_stream(run.data)
    split = draws.splits[Dataset.gamma]
    problem = target_problem(run.target, split, draws.coefficients)
    return run, problem


@pytest.fixture
def recorder(ready_store: str) -> RunRecorder:
    """The run of target `sum` in the test's store, not begun yet."""
    return RunRecorder(open_store(ready_store, EXPERIMENT), "sum", {"train": {"lr": 0.003}})


@pytest.fixture(scope="module")
def tiny_network():
    """A Keras network of one input, untrained: what `record` logs as the MLflow Model of a record built by hand."""
    from pipeline.core.network import build_network

    return build_network(1, model_config(seed=0), seed=0)


@dataclass(frozen=True)
class RecordedJob:
    """A job recorded whole, and what it was recorded from."""

    uri: str  # its store's
    run_id: str
    result: TrainingResult
    evaluations: list[Evaluation]
    data_file: Path  # the split it trained and was tested on, as the generate stage writes it
    before: float  # time.time() just before the job opened its store
    after: float  # and just after its run ended


@pytest.fixture(scope="module")
def recorded_product(tmp_path_factory: pytest.TempPathFactory) -> RecordedJob:
    """A tiny product job (3 epochs) on a data file written and read back as the DVC door does, trained,
    evaluated and recorded as both doors do, in a store of the module's own: trained once for the tests that
    only read its run."""
    root = tmp_path_factory.mktemp("recorded_product")
    run = to_run_config(compose_config(["target=product", *TINY, "train.epochs=3"]))
    draws = draw_post_stream(run.data)
    data_file = root / "data" / dataset_file(run.target.dataset)
    save_split(data_file, draws.splits[run.target.dataset])
    problem = target_problem(run.target, load_split(data_file, run.data.x_size), draws.coefficients)
    uri = f"sqlite:///{root / 'mlruns.sqlite'}"
    before = time.time()
    run_id, result, evaluations = record_job(run, problem, uri, root / "model", data_file)
    return RecordedJob(uri, run_id, result, evaluations, data_file, before, time.time())


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


@pytest.fixture
def hydra_app() -> Iterator[None]:
    """Hydra initialised on conf/, as inside a running app: its compose API works, as the sweep callback's does."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield
