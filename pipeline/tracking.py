"""MLflow, and the only module that imports it: one run per training run, through either door."""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.config import PROJECT_ROOT, RunConfig, flatten, to_plain

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipeline.evaluation import Evaluation
    from pipeline.training import TrainingResult

_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def resolve_tracking_uri(configured: str | None) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else one absolute sqlite store at the project root.

    Absolute, so Hydra's output directories and DVC's temporary copies never scatter stores.
    """
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@contextlib.contextmanager
def training_run(run: RunConfig) -> Iterator[str]:
    """Open a new run tagged with its target and commit, with the whole config as params; yield its id.

    An exception inside ends the run FAILED, so no unfinished run looks finished.
    """
    uri = resolve_tracking_uri(run.tracking.uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(run.tracking.experiment)
    tags = {"target": run.target.name}
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    with mlflow.start_run(run_name=run.target.name, tags=tags) as active:
        plain = to_plain(run)
        mlflow.log_params(flatten(plain))
        mlflow.log_dict(plain, "config.yaml")
        yield active.info.run_id


@contextlib.contextmanager
def resumed_run(tracking_uri: str, run_id: str) -> Iterator[str]:
    """Reopen a run a previous stage created, to add what a later stage computed."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id) as active:
        yield active.info.run_id


def current_tracking_uri() -> str:
    return mlflow.get_tracking_uri()


def log_training(result: TrainingResult, model_file: Path, loss_figure: Figure) -> None:
    """Per-epoch loss as the `train_loss` history (batched: per-step writes cost ~3 ms on sqlite),
    both weight sets, the .keras model and the loss curve."""
    run_id = mlflow.active_run().info.run_id
    now = int(time.time() * 1000)
    history = [Metric("train_loss", loss, now, epoch) for epoch, loss in enumerate(result.loss_history, start=1)]
    client = MlflowClient()
    for start in range(0, len(history), _BATCH):
        client.log_batch(run_id, metrics=history[start : start + _BATCH])
    mlflow.log_metric("train_seconds", result.seconds)
    mlflow.log_dict({"initial": result.initial.to_dict(), "learned": result.learned.to_dict()}, "weights.json")
    mlflow.log_artifact(str(model_file))
    mlflow.log_figure(loss_figure, "loss_curve.png")


def log_evaluation(evaluation: Evaluation) -> None:
    mlflow.log_metrics(evaluation.metrics())
    tags = {"true_formula": evaluation.true_formula, "recovered_formula": evaluation.recovered_formula}
    if evaluation.true_formula_original is not None:
        tags["true_formula_original"] = evaluation.true_formula_original
        tags["recovered_formula_original"] = evaluation.recovered_formula_original
    mlflow.set_tags(tags)
    mlflow.log_dict(evaluation.to_dict(), "evaluation.json")
