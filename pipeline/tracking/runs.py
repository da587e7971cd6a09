"""MLflow runs: one complete run per trained and evaluated target, a FAILED or KILLED run for one that could
not finish, and a sweep's parent and children. Every call names its store: nothing here relies on MLflow's
process-wide tracking URI.

A run is written only once its work is done (training and evaluation), so the store never holds a half
run that looks finished; `open_store` checks the store before the work starts.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from sqlalchemy.exc import SQLAlchemyError

from pipeline.config import PROJECT_ROOT, flatten
from pipeline.core.evaluation import Evaluation, inits_summary, inits_table
from pipeline.core.weights import TrainingRecord
from pipeline.errors import PipelineError, TrackingError, TrainingDiverged
from pipeline.failures import RunStatus, ending_status, interruption_reason
from pipeline.files.atomic import read_json
from pipeline.files.layout import WEIGHTS_FILE
from pipeline.files.report import loss_curve_figure
from pipeline.tracking.store import Store, artifact_root, check_reachable, one_creator_at_a_time
from pipeline.tracking.tags import FAILURE_EPOCH_TAG, FAILURE_TAG

_METRICS_PER_CALL = 1000  # MLflow's limits per log_batch call
_PARAMS_PER_CALL = 100


def open_store(uri: str, experiment: str) -> Store:
    """Reach (or create) the store and the experiment before any work."""
    check_reachable(uri)
    try:
        with one_creator_at_a_time(uri):
            client = MlflowClient(tracking_uri=uri)  # which creates the tables of a new store
            found = client.get_experiment_by_name(experiment)
            if found is not None:
                return Store(uri, found.experiment_id)
            return Store(uri, client.create_experiment(experiment, artifact_location=artifact_root(uri)))
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


def _run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """`tags` with what MLflow's fluent API would add (user, source) and the project's git commit."""
    commit = _git_commit()
    return resolve_tags({**tags, "mlflow.source.git.commit": commit} if commit else dict(tags))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    return (items[start : start + size] for start in range(0, len(items), size))


def _log_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    """Metric histories in batches: per-step writes cost ~3 ms each on sqlite, a batch of 1000 ~0.2 s."""
    for chunk in _chunks(metrics, _METRICS_PER_CALL):
        client.log_batch(run_id, metrics=chunk)


def _now() -> int:
    return int(time.time() * 1000)


def failure_reason(error: BaseException) -> str:
    """What a FAILED or KILLED run's `failure.reason` tag says."""
    if isinstance(error, KeyboardInterrupt):
        return interruption_reason(error)
    return str(error) if isinstance(error, PipelineError) else f"{type(error).__name__}: {error}"


class RunRecorder:
    """The one MLflow run of a job: recorded whole once its work is done (`record`), or FAILED or KILLED
    with its reason when the work or the recording fails (`fail`); never both, never twice.

    `config` is the job's configuration as plain values: its params, and its `config.yaml` artifact.
    `tags` and `run_name` place the run in a sweep; the name defaults to the target's.
    """

    def __init__(
        self,
        store: Store,
        target: str,
        config: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
    ):
        self.store, self.target, self.config = store, target, config
        self.tags = {"target": target, **(tags or {})}
        self.run_name = run_name or target
        self.client = MlflowClient(tracking_uri=store.uri)
        self.run_id: str | None = None  # once the run exists in the store
        self.ended = False

    def _start(self, tags: Mapping[str, str]) -> str:
        run = self.client.create_run(self.store.experiment_id, run_name=self.run_name, tags=_run_tags({**self.tags, **tags}))
        self.run_id = run.info.run_id
        params = [Param(key, str(value)[:6000]) for key, value in flatten(dict(self.config)).items()]
        for chunk in _chunks(params, _PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=chunk)
        return self.run_id

    def record(
        self, records: Sequence[TrainingRecord], model_file: Path, evaluations: Sequence[Evaluation], first_seed: int
    ) -> str:
        """The whole result: the config, `train_loss` per epoch, both weight sets, the .keras model, the loss
        curve, the evaluation (metrics, formulas as tags, evaluation.json), and with several
        initialisations each one's numbers (metric histories stepped by init, and `inits.csv`)."""
        if self.run_id is not None:
            raise RuntimeError(f"the run of {self.run_name} is recorded already ({self.run_id})")
        run_id = self._start({})
        primary, evaluation = records[0], evaluations[0]
        client = self.client
        client.log_dict(run_id, dict(self.config), "config.yaml")
        _log_metrics(client, run_id, _loss_metrics(primary.loss_history))
        client.log_dict(run_id, primary.weights_dict(), WEIGHTS_FILE)
        client.log_artifact(run_id, str(model_file))
        client.log_figure(run_id, loss_curve_figure(primary.loss_history, self.target), "loss_curve.png")
        summary = {"train_seconds": primary.seconds, **evaluation.metrics(), **inits_summary(evaluations)}
        now = _now()
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, now, 0) for key, value in summary.items()],
            tags=[RunTag(key, value) for key, value in evaluation.formulas().items()],
        )
        client.log_dict(run_id, evaluation.to_dict(), "evaluation.json")
        if len(evaluations) > 1:
            _log_metrics(
                client,
                run_id,
                [
                    Metric(f"init_{name}", value, now, k)
                    for k, ev in enumerate(evaluations)
                    for name, value in ev.metrics().items()
                ],
            )
            client.log_text(run_id, inits_table(evaluations, first_seed), "inits.csv")
        client.set_terminated(run_id, RunStatus.FINISHED.value)
        self.ended = True
        return run_id

    def fail(self, error: BaseException, status: RunStatus) -> None:
        """End the job's run `status` (FAILED, or KILLED for an interruption) with the reason; a divergence
        also with its epoch and the loss history up to it. The run the recording had begun, if it had."""
        if self.ended:
            return
        self.ended = True
        tags = {FAILURE_TAG: failure_reason(error)}
        if isinstance(error, TrainingDiverged):
            tags[FAILURE_EPOCH_TAG] = str(error.epoch)
        if self.run_id is None:
            run_id = self._start(tags)
            if isinstance(error, TrainingDiverged):
                _log_metrics(self.client, run_id, _loss_metrics(error.loss_history))
        else:
            run_id = self.run_id
            self.client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        self.client.set_terminated(run_id, status.value)


def _loss_metrics(loss_history: Sequence[float]) -> list[Metric]:
    now = _now()
    return [Metric("train_loss", loss, now, epoch) for epoch, loss in enumerate(loss_history, start=1)]


def start_parent_run(store: Store, run_name: str, tags: Mapping[str, str]) -> str:
    """A sweep's parent run, opened before any job starts, in a store opened before it: the store and the
    experiment are created once, so parallel jobs never race to create them (which loses runs on a fresh
    sqlite store)."""
    return (
        MlflowClient(tracking_uri=store.uri).create_run(store.experiment_id, run_name=run_name, tags=_run_tags(tags)).info.run_id
    )


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
        runs += [_recorded_run(client, run) for run in page]
        token = page.token
        if not token:
            return runs


def _recorded_run(client: MlflowClient, run: Run) -> RecordedRun:
    evaluation = None
    if run.info.status == RunStatus.FINISHED:
        with tempfile.TemporaryDirectory() as scratch:
            evaluation = read_json(Path(client.download_artifacts(run.info.run_id, "evaluation.json", scratch)))
    return RecordedRun(run.info.status, dict(run.data.tags), dict(run.data.metrics), evaluation)


def finish_parent_run(store: Store, run_id: str, metrics: Mapping[str, float], artifacts: Path, status: RunStatus) -> None:
    """The sweep's summary on its parent run, which then ends with `status`."""
    client = MlflowClient(tracking_uri=store.uri)
    try:
        now = _now()
        client.log_batch(run_id, metrics=[Metric(key, value, now, 0) for key, value in metrics.items()])
        client.log_artifacts(run_id, str(artifacts))
    except BaseException as error:
        client.set_terminated(run_id, ending_status(error).value)
        raise
    client.set_terminated(run_id, status.value)


def end_if_running(store: Store, run_id: str, status: RunStatus) -> None:
    """Close a run that its owner could not close (a sweep that stopped early), so none stays RUNNING."""
    client = MlflowClient(tracking_uri=store.uri)
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status.value)
