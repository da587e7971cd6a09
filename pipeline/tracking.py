"""MLflow, and the only module that imports it: one complete run per trained and evaluated target.

A run is written only once its work is done (training and evaluation), so the store never holds a
half run that looks finished; `prepare_store` checks the store before the work starts.
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import mlflow
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.config import PROJECT_ROOT, RunConfig, TrackingConfig, flatten, to_plain
from pipeline.errors import TrackingError
from pipeline.evaluation import inits_summary, inits_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipeline.evaluation import Evaluation
    from pipeline.records import TrainingRecord

_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def resolve_tracking_uri(configured: str | None) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else one absolute sqlite store at the project root.

    Absolute, so Hydra's output directories and DVC's stage directories never scatter stores.
    """
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def _artifact_root(uri: str) -> str | None:
    """Beside a local sqlite store (`<store dir>/mlartifacts`), not in whatever the working directory is."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    database = Path(parsed.path[1:])  # after sqlite:///, as SQLAlchemy reads it: absolute if it starts with /
    return (database.resolve().parent / "mlartifacts").as_uri()


def prepare_store(tracking: TrackingConfig) -> str:
    """Reach (or create) the store and the experiment before any work; returns the experiment id."""
    uri = resolve_tracking_uri(tracking.uri)
    try:
        mlflow.set_tracking_uri(uri)
        client = MlflowClient()
        experiment = client.get_experiment_by_name(tracking.experiment)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(tracking.experiment, artifact_location=_artifact_root(uri))
    except (MlflowException, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TrackingError(
            f"MLflow store {uri} is not usable ({first_line}): fix tracking.uri or $MLFLOW_TRACKING_URI"
        ) from None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def record_run(
    run: RunConfig, record: TrainingRecord, model_file: Path, loss_figure: Figure, evaluations: Sequence[Evaluation]
) -> str:
    """One MLflow run holding a target's whole result; returns its id.

    Params: the config, flattened. Metrics: `train_loss` per epoch (batched: per-step writes cost ~3 ms
    each on sqlite) and the evaluation. Tags: target, formulas, commit. Artifacts: config, both weight
    sets, the .keras model, the loss curve, the evaluation. `evaluations` holds every initialisation's,
    the primary (the run's own network) first; with more than one, each init's numbers are also logged
    as metric histories stepped by init, and as `inits.csv`. An exception while logging ends it FAILED.
    """
    experiment_id = prepare_store(run.tracking)
    tags = {"target": run.target.name}
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    with mlflow.start_run(experiment_id=experiment_id, run_name=run.target.name, tags=tags) as active:
        run_id = active.info.run_id
        plain = to_plain(run)
        mlflow.log_params(flatten(plain))
        mlflow.log_dict(plain, "config.yaml")
        _log_training(run_id, record, model_file, loss_figure)
        _log_evaluation(evaluations[0])
        _log_inits(run_id, evaluations, run.model.seed)
    return run_id


def _log_metrics(run_id: str, metrics: list[Metric]) -> None:
    """Metric histories in batches: per-step writes cost ~3 ms each on sqlite, a batch of 1000 ~0.2 s."""
    client = MlflowClient()
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])


def _log_training(run_id: str, record: TrainingRecord, model_file: Path, loss_figure: Figure) -> None:
    now = int(time.time() * 1000)
    _log_metrics(run_id, [Metric("train_loss", loss, now, epoch) for epoch, loss in enumerate(record.loss_history, start=1)])
    mlflow.log_metric("train_seconds", record.seconds)
    mlflow.log_dict({"initial": record.initial.to_dict(), "learned": record.learned.to_dict()}, "weights.json")
    mlflow.log_artifact(str(model_file))
    mlflow.log_figure(loss_figure, "loss_curve.png")


def _log_evaluation(evaluation: Evaluation) -> None:
    mlflow.log_metrics(evaluation.metrics())
    tags = {"true_formula": evaluation.true_formula, "recovered_formula": evaluation.recovered_formula}
    if evaluation.true_formula_original is not None:
        tags["true_formula_original"] = evaluation.true_formula_original
        tags["recovered_formula_original"] = evaluation.recovered_formula_original
    mlflow.set_tags(tags)
    mlflow.log_dict(evaluation.to_dict(), "evaluation.json")


def _log_inits(run_id: str, evaluations: Sequence[Evaluation], first_seed: int) -> None:
    mlflow.log_metrics(inits_summary(evaluations))
    if len(evaluations) == 1:
        return
    now = int(time.time() * 1000)
    _log_metrics(
        run_id,
        [Metric(f"init_{name}", value, now, k) for k, ev in enumerate(evaluations) for name, value in ev.metrics().items()],
    )
    mlflow.log_text(inits_table(evaluations, first_seed), "inits.csv")
