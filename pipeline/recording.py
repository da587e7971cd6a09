"""The last step of every run, through either door: score the learned weights and record the MLflow run.

Free of TensorFlow, so the DVC evaluate stage starts quickly.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig, flatten, to_plain
from pipeline.errors import PipelineError, TrainingDiverged
from pipeline.evaluation import Evaluation, evaluate_network
from pipeline.records import TrainingRecord
from pipeline.report import loss_curve_figure
from pipeline.targets import TargetProblem
from pipeline.tracking import Store, prepare_store, record_failed_run, record_run


def evaluate_and_record(
    run: RunConfig,
    problem: TargetProblem,
    records: list[TrainingRecord],
    model_file: Path,
    tags: Mapping[str, str] = {},
    run_name: str | None = None,
) -> tuple[str, list[Evaluation]]:
    """Score every initialisation's learned weights (the primary first) and record the run; returns the
    MLflow run's id and the evaluations. `tags` and `run_name` place the run in a sweep. A network whose
    test MSE overflows has failed like a diverged one, and records no FINISHED run."""
    evaluations = [evaluate_network(record.learned, problem, run.eval.atol) for record in records]
    if not math.isfinite(evaluations[0].test_mse):
        raise TrainingDiverged(
            f"the network's test MSE is {evaluations[0].test_mse} (its predictions overflow on the original "
            f"scale): it did not learn the target; lower train.lr (was {run.train.lr})",
            records[0].loss_history,
        )
    loss_figure = loss_curve_figure(records[0].loss_history, run.target.name)
    return record_run(run, records[0], model_file, loss_figure, evaluations, tags, run_name), evaluations


def record_failure(
    store: Store,
    run_name: str,
    params: Mapping[str, Any],
    error: BaseException,
    tags: Mapping[str, str] = {},
    status: str = "FAILED",
) -> str:
    """A job that failed (or was interrupted: status KILLED), as a run whose tags say why (and, for a
    divergence, at which epoch, with the loss history up to it); returns the run's id."""
    reason = str(error) if isinstance(error, PipelineError) else f"{type(error).__name__}: {error}"
    history: list[float] = []
    if isinstance(error, TrainingDiverged):
        tags = {**tags, "failure.epoch": str(error.epoch)}
        history = error.loss_history
    return record_failed_run(store, run_name, params, reason, tags, history, status)


def record_failed_target(run: RunConfig, error: BaseException, status: str = "FAILED") -> str:
    """A target's run that failed (or, KILLED, was interrupted) on its own, outside any sweep."""
    tags = {"target": run.target.name}
    return record_failure(prepare_store(run.tracking), run.target.name, flatten(to_plain(run)), error, tags, status)
