"""MLflow, and the only module that imports it: one complete run per trained and evaluated target, a
FAILED or KILLED run for one that could not finish, and a sweep's parent run.

A run is written only once its work is done (training and evaluation), so the store never holds a
half run that looks finished; `prepare_store` checks the store before the work starts.
"""
from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import mlflow
from mlflow.entities import Metric, Param, Run
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sqlalchemy.exc import SQLAlchemyError

from pipeline.config import PROJECT_ROOT, RunConfig, TrackingConfig, flatten, to_plain
from pipeline.errors import FAILURE_TAG, TrackingError
from pipeline.evaluation import inits_summary, inits_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipeline.evaluation import Evaluation
    from pipeline.records import TrainingRecord

_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def resolve_tracking_uri(configured: str | None) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else one absolute sqlite store at the project root.

    Absolute, so Hydra's output directories and DVC's stage directories never scatter stores. DVC's
    $DVC_ROOT wins over this file's location: `dvc exp run --queue` and `--temp` run the stages in a
    temporary copy that DVC deletes afterwards, and point $DVC_ROOT at the main repository.
    """
    root = os.environ.get("DVC_ROOT") or PROJECT_ROOT
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(root) / 'mlflow.db'}"


def only_this_host_reaches(uri: str) -> bool:
    """A file store, or a server or database on loopback: a job on another machine would record elsewhere."""
    if uri.startswith("databricks"):  # "databricks", "databricks-uc", "databricks://profile": a remote service
        return False
    host = urlparse(uri).hostname
    if host is None:  # a file, or a database over a Unix socket
        return True
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def _artifact_root(uri: str) -> str | None:
    """Beside a local sqlite store (`<store dir>/mlartifacts`), not in whatever the working directory is."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    database = Path(parsed.path[1:])  # after sqlite:///, as SQLAlchemy reads it: absolute if it starts with /
    return (database.resolve().parent / "mlartifacts").as_uri()


@dataclass(frozen=True)
class Store:
    """Where runs are recorded: a reachable store and an experiment in it."""

    uri: str
    experiment_id: str


@contextlib.contextmanager
def _one_creator_at_a_time(uri: str) -> Iterator[None]:
    """Processes that start together on a new sqlite store (a parallel sweep's jobs, DVC queue workers)
    race to create its tables and experiment, and lose runs; an exclusive lock beside the file lets one
    create while the others wait, then find it made."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite" or not parsed.path[1:]:
        yield
        return
    database = Path(parsed.path[1:])  # after sqlite:///, as SQLAlchemy reads it
    if not database.parent.is_dir():
        raise TrackingError(
            f"MLflow store {uri} is not usable: the directory {database.parent} does not exist: "
            "create it or fix tracking.uri or $MLFLOW_TRACKING_URI"
        )
    with open(f"{database}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_server_answers(uri: str) -> None:
    """MLflow retries a tracking server that does not answer for about four minutes before it gives up;
    one plain request with a timeout tells in seconds."""
    if urlparse(uri).scheme not in ("http", "https"):
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5).close()
    except urllib.error.HTTPError:
        return  # it answered: MLflow's own calls will say what else is wrong
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise TrackingError(
            f"MLflow tracking server {uri} does not answer ({reason}): start it (e.g. `python -m "
            f"pipeline.tracking_server start`) or fix tracking.uri or $MLFLOW_TRACKING_URI"
        ) from None


def prepare_store(tracking: TrackingConfig) -> Store:
    """Reach (or create) the store and the experiment before any work."""
    uri = resolve_tracking_uri(tracking.uri)
    _check_server_answers(uri)
    try:
        mlflow.set_tracking_uri(uri)
        with _one_creator_at_a_time(uri):
            client = MlflowClient()  # which creates the tables of a new store
            experiment = client.get_experiment_by_name(tracking.experiment)
            if experiment is not None:
                return Store(uri, experiment.experiment_id)
            return Store(uri, client.create_experiment(tracking.experiment, artifact_location=_artifact_root(uri)))
    except (MlflowException, SQLAlchemyError, OSError) as error:
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


def _with_commit(tags: Mapping[str, str]) -> dict[str, str]:
    commit = _git_commit()
    return {**tags, "mlflow.source.git.commit": commit} if commit else dict(tags)


def record_run(
    run: RunConfig,
    record: TrainingRecord,
    model_file: Path,
    loss_figure: Figure,
    evaluations: Sequence[Evaluation],
    tags: Mapping[str, str] = {},
    run_name: str | None = None,
) -> str:
    """One MLflow run holding a target's whole result; returns its id.

    Params: the config, flattened. Metrics: `train_loss` per epoch (batched: per-step writes cost ~3 ms
    each on sqlite) and the evaluation. Tags: target, formulas, commit. Artifacts: config, both weight
    sets, the .keras model, the loss curve, the evaluation. `evaluations` holds every initialisation's,
    the primary (the run's own network) first; with more than one, each init's numbers are also logged
    as metric histories stepped by init, and as `inits.csv`. `tags` and `run_name` place it in a
    sweep (parent, job); the name defaults to the target's. An exception while logging ends it FAILED
    (an interruption KILLED) with its reason, and marks the exception `recorded` so that nobody
    records the same failure a second time.
    """
    store = prepare_store(run.tracking)
    run_tags = _with_commit({"target": run.target.name, **tags})
    with mlflow.start_run(experiment_id=store.experiment_id, run_name=run_name or run.target.name, tags=run_tags) as active:
        run_id = active.info.run_id
        try:
            plain = to_plain(run)
            mlflow.log_params(flatten(plain))
            mlflow.log_dict(plain, "config.yaml")
            _log_training(run_id, record, model_file, loss_figure)
            _log_evaluation(evaluations[0])
            _log_inits(run_id, evaluations, run.model.seed)
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt)
            reason = f"interrupted by {error or 'SIGINT'}" if interrupted else f"{type(error).__name__}: {error}"
            mlflow.set_tag(FAILURE_TAG, reason)
            mlflow.end_run("KILLED" if interrupted else "FAILED")
            error.recorded = True
            raise
    return run_id


def record_failed_run(
    store: Store,
    run_name: str,
    params: Mapping[str, Any],
    reason: str,
    tags: Mapping[str, str],
    loss_history: Sequence[float] = (),
    status: str = "FAILED",
) -> str:
    """A run that could not finish, recorded FAILED (or KILLED) with its reason, so a sweep counts it and
    nobody mistakes it for a result; returns its id."""
    client = MlflowClient(tracking_uri=store.uri)
    run_id = client.create_run(
        store.experiment_id, run_name=run_name, tags=_with_commit({**tags, FAILURE_TAG: reason})
    ).info.run_id
    try:
        client.log_batch(run_id, params=[Param(key, str(value)[:6000]) for key, value in params.items()])
        _log_loss_history(run_id, loss_history, client)
    finally:
        client.set_terminated(run_id, status)
    return run_id


def _log_metrics(run_id: str, metrics: list[Metric], client: MlflowClient | None = None) -> None:
    """Metric histories in batches: per-step writes cost ~3 ms each on sqlite, a batch of 1000 ~0.2 s."""
    client = client or MlflowClient()
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])


def _log_loss_history(run_id: str, loss_history: Sequence[float], client: MlflowClient | None = None) -> None:
    now = int(time.time() * 1000)
    _log_metrics(run_id, [Metric("train_loss", loss, now, epoch) for epoch, loss in enumerate(loss_history, start=1)], client)


def _log_training(run_id: str, record: TrainingRecord, model_file: Path, loss_figure: Figure) -> None:
    _log_loss_history(run_id, record.loss_history)
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


def start_parent_run(tracking: TrackingConfig, run_name: str, tags: Mapping[str, str]) -> tuple[Store, str]:
    """A sweep's parent run, opened before any job starts: the store and the experiment are created here,
    once, so parallel jobs never race to create them (which loses runs on a fresh sqlite store)."""
    store = prepare_store(tracking)
    return store, MlflowClient(tracking_uri=store.uri).create_run(
        store.experiment_id, run_name=run_name, tags=_with_commit(tags)
    ).info.run_id


@dataclass(frozen=True)
class RecordedRun:
    """What a sweep's summary needs of one child: its tags, status, final metrics and evaluation."""

    status: str  # MLflow's: FINISHED, FAILED, KILLED (or RUNNING, for a job still being written)
    tags: dict[str, str]
    metrics: dict[str, float]
    evaluation: dict[str, Any] | None  # evaluation.json; None for a FAILED child


def runs_tagged(store: Store, key: str, value: str) -> list[RecordedRun]:
    """Every run of the experiment whose tag `key` is `value` (a sweep's children: their parent's id)."""
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)  # one evaluation.json per run: a bar each would flood
    client = MlflowClient(tracking_uri=store.uri)
    runs, token = [], None
    while True:
        page = client.search_runs([store.experiment_id], filter_string=f"tags.`{key}` = '{value}'", page_token=token)
        runs += [_recorded_run(run) for run in page]
        token = page.token
        if not token:
            return runs


def _recorded_run(run: Run) -> RecordedRun:
    finished = run.info.status == "FINISHED"
    evaluation = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/evaluation.json") if finished else None
    return RecordedRun(run.info.status, dict(run.data.tags), dict(run.data.metrics), evaluation)


def finish_parent_run(store: Store, run_id: str, metrics: Mapping[str, float], artifacts: Path, status: str) -> None:
    """The sweep's summary on its parent run, which then ends with `status`."""
    client = MlflowClient(tracking_uri=store.uri)
    try:
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(key, value, now, 0) for key, value in metrics.items()])
        client.log_artifacts(run_id, str(artifacts))
    except BaseException as error:
        client.set_terminated(run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    client.set_terminated(run_id, status)


def end_if_running(store: Store, run_id: str, status: str) -> None:
    """Close a run that its owner could not close (a sweep that stopped early), so none stays RUNNING."""
    client = MlflowClient(tracking_uri=store.uri)
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status)
