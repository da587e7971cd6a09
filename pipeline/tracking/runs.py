"""MLflow runs: one complete run per trained and evaluated target, a FAILED or KILLED run for one that could
not finish, and a sweep's parent and children. Every call names its store: nothing here relies on MLflow's
process-wide tracking URI.

A run opens RUNNING before its training, shows the loss as it trains, and ends FINISHED only once its
whole result is in (or FAILED or KILLED with the reason), so its times cover the work and a run that looks
finished is whole; `open_store` checks the store before the work starts.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag, LoggedModel, LoggedModelOutput, LoggedModelStatus, Metric, Param, Run, RunTag
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_RUN_NOTE
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from requests.exceptions import RequestException
from sqlalchemy.exc import SQLAlchemyError

from pipeline.config import PROJECT_ROOT, flatten
from pipeline.core.evaluation import (
    Evaluation,
    best_initialisation,
    networks_columns,
    networks_table,
    verdict_counts,
)
from pipeline.core.replicates import ReplicateSummary, run_metrics
from pipeline.core.targets import TargetProblem
from pipeline.core.weights import TrainingRecord
from pipeline.environment import Environment
from pipeline.errors import PipelineError, TrackingError, TrainingDiverged
from pipeline.failures import RunStatus, ending_status, interruption_reason
from pipeline.files.atomic import read_json
from pipeline.files.layout import FIGURES_DIR, REGIONS_FILE, WEIGHTS_FILE
from pipeline.files.markdown import code_cell
from pipeline.redaction import redact, redact_values
from pipeline.tracking.owners import close_runs_of_dead_owners, owner_tags
from pipeline.tracking.store import Store, artifact_root, check_reachable, one_creator_at_a_time, only_this_host_reaches
from pipeline.tracking.tags import FAILURE_EPOCH_TAG, FAILURE_TAG

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
# MLflow logs every SQLAlchemy error of a store with its traceback (hundreds of lines for a full disk) before
# it raises it as an MlflowException, which the project reports: in one line, or as a bug with its traceback.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

LIVE_INTERVAL_SECONDS = 2.0  # how often a training's loss so far reaches its run
MODEL_NAME = "model"  # the MLflow Model's name in its run: runs:/<run id>/model


USER_REFUSED = (401, 403)  # a server with users (MLflow's basic-auth app): no user, or one without permission


def open_store(uri: str, experiment: str) -> Store:
    """Reach (or create) the store and the experiment before any work, and close the runs killed processes of
    this host left RUNNING there (tracking.owners)."""
    check_reachable(uri)
    try:
        with one_creator_at_a_time(uri):
            client = MlflowClient(tracking_uri=uri)  # which creates the tables of a new store
            found = client.get_experiment_by_name(experiment)
            if found is not None:
                store = Store(uri, found.experiment_id, experiment)
            else:
                created = client.create_experiment(experiment, artifact_location=artifact_root(uri, Environment.read()))
                store = Store(uri, created, experiment)
                _drop_empty_default_experiment(client, uri)
    except (MlflowException, SQLAlchemyError, OSError) as error:
        if isinstance(error, MlflowException) and error.get_http_status_code() in USER_REFUSED:
            raise TrackingError(
                f"MLflow tracking server {redact(uri)} refused this user ({error.get_http_status_code()}): set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (for `python -m pipeline.ops.tracking_server "
                "start --auth`: admin, and the password in its state directory's mlflow-admin-password)"
            ) from None
        raise TrackingError(
            f"MLflow store {redact(uri)} is not usable ({first_line(error)}): fix tracking.uri or $MLFLOW_TRACKING_URI"
        ) from None
    _close_runs_of_dead_owners(store)
    return store


def _close_runs_of_dead_owners(store: Store) -> None:
    """Before any work, the runs this host's killed processes left RUNNING are closed; a store that will not
    take it now is warned about, not fatal: the work can still be recorded."""
    try:
        close_runs_of_dead_owners(store)
    except (MlflowException, SQLAlchemyError, OSError) as error:
        log.warning("could not close the runs killed processes left RUNNING in %s: %s", redact(store.uri), redact(str(error)))


STORE_ERRORS = (MlflowException, SQLAlchemyError, RequestException, OSError)  # what a store that went away raises


def first_line(error: BaseException) -> str:
    """What a one-line error says of a store's failure: its first line, without a password, or its kind."""
    text = str(error).strip()
    return redact(text.splitlines()[0] if text else type(error).__name__)


def gone_store_error(store: Store) -> TrackingError | None:
    """After a store's call failed: its one line if it no longer answers; None if it does, and the failure
    was something else."""
    try:
        check_reachable(store.uri)
    except TrackingError as gone:
        return gone
    return None


def _drop_empty_default_experiment(client: MlflowClient, uri: str) -> None:
    """MLflow makes a `Default` experiment in every new store; in one of this machine's that the project just
    made its experiment in, an empty one only stands beside it in the UI, so it goes (soft-deleted: `mlflow
    experiments restore` brings it back). A shared server's is left alone."""
    if not only_this_host_reaches(uri):
        return
    try:
        default = client.get_experiment(DEFAULT_EXPERIMENT_ID)
    except MlflowException:  # gone for good (`mlflow gc` after an earlier deletion)
        return
    if default.lifecycle_stage == "active" and not client.search_runs([DEFAULT_EXPERIMENT_ID], max_results=1):
        client.delete_experiment(DEFAULT_EXPERIMENT_ID)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """`tags` with what MLflow's fluent API would add (user, source), the project's git commit, and this process
    as the run's owner (so a run it cannot close, killed outright, is closed by the next one: tracking.owners)."""
    commit = _git_commit()
    own = {**{key: redact(value) for key, value in tags.items()}, **owner_tags()}
    return resolve_tags({**own, "mlflow.source.git.commit": commit} if commit else own)


def _now() -> int:
    return int(time.time() * 1000)


def run_params(config: Mapping[str, Any]) -> dict[str, str]:
    """A job's configuration as MLflow params: flattened, without passwords, each value cut to MLflow's limit."""
    return {key: redact(str(value))[:MAX_PARAM_VAL_LENGTH] for key, value in flatten(dict(config)).items()}


def failure_reason(error: BaseException) -> str:
    """What a FAILED or KILLED run's `failure.reason` tag says."""
    if isinstance(error, KeyboardInterrupt):
        return interruption_reason(error)
    return redact(str(error) if isinstance(error, PipelineError) else f"{type(error).__name__}: {error}")


class LossStream:
    """The training's loss, as MLflow metric histories while it trains: `train_loss` and, to read on a log
    scale in MLflow's own charts, `train_loss_log10`. Buffered, and written every LIVE_INTERVAL_SECONDS.

    Metric histories go in batches (MLflow splits them to its limits): per-step writes cost ~3 ms each on
    sqlite, a batch of 1000 ~0.2 s. A write that fails during the training ends the streaming, with one
    warning, and keeps the loss for the end (`flush`, which raises if the store still fails): a store that
    stumbles must not stop a training whose result it can still take, nor stall it in its retries."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client, self.run_id, self.interval = client, run_id, LIVE_INTERVAL_SECONDS
        self.pending: list[Metric] = []
        self.last_write = time.monotonic()

    def __call__(self, epoch: int, loss: float) -> None:
        now = _now()
        self.pending.append(Metric("train_loss", loss, now, epoch))
        if math.isfinite(loss) and loss > 0:
            self.pending.append(Metric("train_loss_log10", math.log10(loss), now, epoch))
        if time.monotonic() - self.last_write < self.interval:
            return
        try:
            self.flush()
        except (MlflowException, SQLAlchemyError, OSError) as error:
            self.interval = math.inf
            log.warning(
                "the loss so far could not reach run %s (%s): it is kept, for the end of the training", self.run_id, error
            )

    def flush(self) -> None:
        self.client.log_batch(self.run_id, metrics=self.pending)
        self.pending, self.last_write = [], time.monotonic()


class RunRecorder:
    """The one MLflow run of a job. `start` opens it (RUNNING: params, config, datasets) before the training,
    `loss` streams the training's loss into it, and it ends with the whole result (`record`: FINISHED) or
    FAILED or KILLED with its reason (`fail`); never both, never twice. Its start and end times cover the
    training and the evaluation.

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
        self.datasets: list[DatasetInput] = []  # what it was started with
        self.stream: LossStream | None = None
        self.ended = False

    def start(self, datasets: Sequence[DatasetInput] = ()) -> str:
        """Open the run, RUNNING, with its params, `config.yaml` and the data it trains and is tested on. A
        store that goes away now is one line: nothing has been trained yet."""
        if self.run_id is not None:
            raise RuntimeError(f"the run of {self.run_name} is started already ({self.run_id})")
        try:
            return self._open(datasets)
        except STORE_ERRORS:
            gone = gone_store_error(self.store)
            if gone is None:
                raise
            raise TrackingError(f"{gone}; it went away as the run opened, before any training: run again") from None

    def _open(self, datasets: Sequence[DatasetInput]) -> str:
        run = self.client.create_run(self.store.experiment_id, run_name=self.run_name, tags=_run_tags(self.tags))
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=[Param(key, value) for key, value in run_params(self.config).items()])
        self.client.log_dict(self.run_id, redact_values(self.config), "config.yaml")
        self.datasets = list(datasets)
        if datasets:
            _log_inputs(self.client, self.run_id, self.datasets)
        self.stream = LossStream(self.client, self.run_id)
        return self.run_id

    def loss(self, epoch: int, loss: float) -> None:
        """One epoch's training loss, shown in the run while it trains."""
        if self.stream is None:
            raise RuntimeError(f"the run of {self.run_name} is not started")
        self.stream(epoch, loss)

    def record(
        self,
        records: Sequence[TrainingRecord],
        network: keras.Model,
        evaluations: Sequence[Evaluation],
        first_seed: int,
        *,
        replicates: ReplicateSummary | None = None,
        epoch_metrics: Mapping[str, Sequence[float]] | None = None,
        figures: Mapping[str, Figure] | None = None,
    ) -> str:
        """The whole result into the started run, which then ends FINISHED: the rest of the loss history,
        both weight sets, the network as an MLflow Model, the evaluation (metrics; the formulas as tags and,
        whole, as the run's description; evaluation.json; the linear regions, regions.json), the `epoch_metrics`
        as histories stepped by epoch, the `figures`; with several initialisations or replicates, each one's
        numbers as a table (`inits.json` or `replicates.json`, MLflow's table for its UI, to 10 digits; the same
        whole as CSV) and, for replicates, their distribution."""
        if self.run_id is None or self.stream is None or self.ended:
            raise RuntimeError(f"the run of {self.run_name} is not open ({self.run_id})")
        run_id, client = self.run_id, self.client
        self.stream.flush()
        primary, evaluation = records[0], evaluations[0]
        client.log_dict(run_id, primary.weights_dict(), WEIGHTS_FILE)
        log_network(client, self.store, run_id, network, run_params(self.config))
        summary = {"train_seconds": primary.seconds, **run_metrics(evaluations, replicates)}
        now = _now()
        histories = [
            Metric(name, value, now, epoch)
            for name, values in (epoch_metrics or {}).items()
            for epoch, value in enumerate(values, start=1)
            if math.isfinite(value)
        ]
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, now, 0) for key, value in summary.items()] + histories,
            tags=[RunTag(key, value) for key, value in evaluation.formulas().items()]
            + [RunTag(MLFLOW_RUN_NOTE, run_description(self.target, evaluations, replicates))],
        )
        client.log_dict(run_id, evaluation.to_dict(), "evaluation.json")
        client.log_dict(run_id, regions_dict(evaluation), REGIONS_FILE)
        for name, figure in (figures or {}).items():
            client.log_figure(run_id, figure, f"{FIGURES_DIR}/{name}")
        if len(evaluations) > 1:
            kind = "replicate" if replicates is not None else "init"
            columns = networks_columns(evaluations, first_seed, kind)
            client.log_table(run_id, columns, f"{kind}s.json")
            client.log_text(run_id, networks_table(columns), f"{kind}s.csv")
        client.set_terminated(run_id, RunStatus.FINISHED.value)
        self.ended = True
        return run_id

    def fail(self, error: BaseException, status: RunStatus) -> None:
        """End the job's run `status` (FAILED, or KILLED for an interruption) with the reason; a divergence
        also with its epoch. The loss streamed so far stays; a run that had not started is opened for it."""
        if self.ended:
            return
        self.ended = True
        tags = {FAILURE_TAG: failure_reason(error)}
        if isinstance(error, TrainingDiverged):
            tags[FAILURE_EPOCH_TAG] = str(error.epoch)
        if self.run_id is None:
            self.start()
        assert self.run_id is not None
        if self.stream is not None:  # None when the start itself failed, after the run was created
            self.stream.flush()
        self.client.log_batch(self.run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        self.client.set_terminated(self.run_id, status.value)


def _log_inputs(client: MlflowClient, run_id: str, datasets: list[DatasetInput], attempts: int = 3) -> None:
    """MLflow looks a dataset up in the experiment, then inserts it: two jobs of a parallel sweep logging the
    same draw at once can both miss it, and the later insert fails on the store's unique constraint (seen
    on 2026-11-30: 1 of 8 joblib jobs on a new sqlite store). Logged again, the dataset is found."""
    for attempt in range(1, attempts + 1):
        try:
            client.log_inputs(run_id, datasets=datasets)
            return
        except MlflowException as error:
            if attempt == attempts or "unique constraint" not in str(error).lower():
                raise


REGIONS_SHOWN = 8  # the largest regions in the description; regions.json holds them all


def regions_dict(evaluation: Evaluation) -> dict[str, Any]:
    """regions.json: every activation pattern on the test rows, largest first, with its affine map."""
    return {
        "width": evaluation.width,
        "linear_regions": evaluation.linear_regions,
        "dead_units": evaluation.dead_units,
        "always_active_units": evaluation.always_active_units,
        "regions": evaluation.regions,
    }


def run_description(target: str, evaluations: Sequence[Evaluation], replicates: ReplicateSummary | None = None) -> str:
    """The run's description (Markdown): what the network computes, its formulas whole (which the runs
    table's tag columns cut off) and its largest linear regions; with replicates, their distribution; with
    several initialisations, how many got there and the regions of the best one (lowest test MSE)."""
    evaluation = evaluations[0]
    findings = [f"test MSE {evaluation.test_mse:.3g}"]
    if evaluation.relations_hold is not None:
        findings.append(
            f"the post's relations {'hold' if evaluation.relations_hold else 'do not hold'} at atol {evaluation.atol:g} "
            f"(m residual {evaluation.m_residual:.3g}, c residual {evaluation.c_residual:.3g})"
        )
    if evaluation.local_relation_share is not None:
        findings.append(f"local relations hold on {evaluation.local_relation_share:.2%} of the test rows")
    findings.append(
        f"{evaluation.linear_regions} linear region(s) on the test rows, {evaluation.dead_units} of "
        f"{evaluation.width} hidden unit(s) dead"
    )
    note = f"\n\n{evaluation.width_note}" if evaluation.width_note else ""
    formulas = "".join(
        f"| {name.replace('_', ' ')} | {code_cell(formula)} |\n" for name, formula in evaluation.formulas().items()
    )
    text = (
        f"**{target}**: " + "; ".join(findings) + f".{note}\n\n| | formula |\n|---|---|\n{formulas}\n{_regions_table(evaluation)}"
    )
    if replicates is not None:
        return (
            text
            + f"\n**{replicates.replicates} replicates** (`replicates.json`):\n\n"
            + "".join(f"- {line}\n" for line in replicates.lines())
        )
    return text + (_inits_description(evaluations) if len(evaluations) > 1 else "")


def _regions_table(evaluation: Evaluation) -> str:
    rows = "".join(
        f"| {region['pattern']} | {region['share']:.2%} | {code_cell(region['formula'])} |\n"
        for region in evaluation.regions[:REGIONS_SHOWN]
    )
    return f"| units on | test rows | the network there |\n|---|---|---|\n{rows}"


def _inits_description(evaluations: Sequence[Evaluation]) -> str:
    labels = {"relations_hold": "the post's relations hold", "local_relations_hold": "the local relations hold (exact)"}
    verdicts = [f"{labels[verdict]} in {held} of {len(evaluations)}" for verdict, held in verdict_counts(evaluations).items()]
    k, best = best_initialisation(evaluations)
    return (
        f"\n**{len(evaluations)} initialisations** (`inits.csv`): " + "; ".join(verdicts) + f". The best, init {k} "
        f"(test MSE {best.test_mse:.3g}):\n\n{_regions_table(best)}"
    )


def log_network(client: MlflowClient, store: Store, run_id: str, network: keras.Model, params: Mapping[str, str]) -> str:
    """The trained network as an MLflow Model of the Keras flavour, named `model` in the run (so
    `mlflow.pyfunc.load_model("runs:/<id>/model")` loads it), with a signature and an input example.

    By the client, not `mlflow.keras.log_model`, which records into the process's active experiment and
    tracking URI; the pip requirements are given, so MLflow does not start a process to infer them. Its
    params are the run's, as `mlflow.keras.log_model` would copy them."""
    example = np.ones((1, network.input_shape[-1]))  # float64, NumPy's default: the schema takes float32 too
    signature = infer_signature(example, network(example).numpy())
    logged = client.create_logged_model(store.experiment_id, name=MODEL_NAME, source_run_id=run_id, params=dict(params))
    try:
        _save_network(client, logged, run_id, network, example, signature)
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)  # not left PENDING
        raise
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.model_id


def _save_network(
    client: MlflowClient, logged: LoggedModel, run_id: str, network: keras.Model, example: np.ndarray, signature: ModelSignature
) -> None:
    """The network saved as the Keras flavour, into the logged model's artifacts. MLflow's Keras flavour is
    loaded here, where a network is at hand: a sweep's own process never needs it."""
    import mlflow.keras

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / MODEL_NAME
        path.mkdir()  # mlflow.keras.save_model writes the input example before it makes the folder
        mlflow.keras.save_model(
            network,
            str(path),
            mlflow_model=Model(
                artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id, model_id=logged.model_id
            ),
            signature=signature,
            input_example=example,
            pip_requirements=[f"{package}=={importlib.metadata.version(package)}" for package in ("keras", "tensorflow")],
        )
        client.log_model_artifacts(logged.model_id, str(path))


def problem_datasets(problem: TargetProblem, draw: str, data_file: Path | None) -> list[DatasetInput]:
    """The training and test split a run learns and is scored on, as MLflow datasets named for the draw.

    A split the generate stage wrote has DVC's digest of its file (the md5 of its bytes, as dvc.lock records
    it), so a run names the exact file DVC tracks; one drawn in memory, MLflow's own digest of its arrays."""
    written = {"source": str(data_file), "digest": hashlib.md5(data_file.read_bytes()).hexdigest()} if data_file else {}
    splits = {
        "train": ("training", problem.z_train, problem.y_train),
        "test": ("testing", problem.z_test, problem.function.values(problem.z_test)),
    }
    with warnings.catch_warnings():
        # MLflow registers its local-file source twice (for paths and for file: URIs), then warns that a path
        # "can be interpreted in multiple ways": the same class twice.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        return [
            DatasetInput(
                from_numpy(features, targets=targets, name=f"{draw}-{split}", **written)._to_mlflow_entity(),
                [InputTag(MLFLOW_DATASET_CONTEXT, context)],
            )
            for split, (context, features, targets) in splits.items()
        ]


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
