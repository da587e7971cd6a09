"""A job's result outlives a store that stopped answering: kept whole beside the job, recorded later.

A tracking server can die while a sweep's jobs train (or its database, or the disk of a shared store). A
job whose store no longer answers when it records would lose minutes or hours of training, and its
sweep's summary would count it failed for nothing. So the job records the same run, through the same
`RunRecorder`, into a store of its own in its output folder, `<job dir>/unrecorded/` (sqlite, its
artifacts beside it: MLflow's own format, readable with `mlflow ui`), and fails with the one line that
says where it is and how to record it. Once the store is back,

    python -m pipeline.runs record <job or sweep folder>... [--tracking-uri URI]

copies each kept run into the store: into the run the job had opened there (so a sweep's child lands
under its parent, and the run that was left RUNNING, or closed KILLED by `tracking.owners`, becomes the
whole FINISHED run), or into a new run with the same tags if that one is gone. A recorded folder gets
`recorded.json` (where it went), so nothing is copied twice; nothing is deleted, and the kept store stays
readable.

The copy is by hand, MLflow having no command for it: mlflow-export-import, the ecosystem's tool, is
not a dependency, and exports whole experiments rather than completing one run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow.artifacts import download_artifacts
from mlflow.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from pipeline.errors import TrackingError
from pipeline.files.atomic import write_json
from pipeline.redaction import REDACTED, redact
from pipeline.tracking.runs import STORE_ERRORS, RunRecorder, first_line, gone_store_error, open_store
from pipeline.tracking.store import Store
from pipeline.tracking.tags import FAILURE_TAG

log = logging.getLogger(__name__)

KEPT_DIR = "kept-run"  # in a job's output folder: its run, in a store of its own
RECORDED_FILE = "recorded.json"  # in KEPT_DIR, once the run is copied into its store: where it went
KEPT_STORE = "mlflow.db"
KEPT_RUN_ID_TAG = "kept.run_id"  # the run the job had opened in its store, if it got that far
KEPT_STORE_TAG = "kept.store"  # the store it was meant for, without its password
KEPT_EXPERIMENT_TAG = "kept.experiment"
KEPT_TAGS = (KEPT_RUN_ID_TAG, KEPT_STORE_TAG, KEPT_EXPERIMENT_TAG)


def record_or_keep(
    recorder: RunRecorder, record: Callable[[RunRecorder], str], loss_history: Sequence[float], job_dir: Path
) -> str:
    """`record(recorder)`; if that fails because the store no longer answers, `record` into a store of the
    job's own in `job_dir` instead, and fail with the one line that says how to record it later. A failure
    while the store still answers is not the store's going away: it is raised as it is."""
    try:
        return record(recorder)
    except STORE_ERRORS as error:
        gone = gone_store_error(recorder.store)
        if gone is None:
            raise
        try:
            kept = _keep(recorder, record, loss_history, job_dir / KEPT_DIR)
        except Exception as also:
            raise TrackingError(
                f"{gone}; it went away before run {recorder.run_id} was recorded whole, and its result could not be "
                f"kept in {job_dir / KEPT_DIR} either ({first_line(also)}): the job's files there hold its "
                "weights and loss history; run it again once the store answers"
            ) from None
        raise TrackingError(
            f"{gone}; it went away before run {recorder.run_id} was recorded whole ({first_line(error)}): its "
            f"whole result is kept in {kept}; once the store answers again, record it with "
            f"`python -m pipeline.runs record {job_dir}`"
        ) from None


def _keep(recorder: RunRecorder, record: Callable[[RunRecorder], str], loss_history: Sequence[float], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder.resolve() / KEPT_STORE}"
    experiment = recorder.store.experiment
    kept_tags = {KEPT_STORE_TAG: redact(recorder.store.uri), KEPT_EXPERIMENT_TAG: experiment}
    if recorder.run_id is not None:
        kept_tags[KEPT_RUN_ID_TAG] = recorder.run_id
    tags = {**recorder.tags, **kept_tags}
    kept = RunRecorder(open_store(uri, experiment), recorder.target, recorder.config, tags, recorder.run_name)
    kept.start(recorder.datasets)
    for epoch, loss in enumerate(loss_history, start=1):
        kept.loss(epoch, loss)
    record(kept)
    return folder


@dataclass(frozen=True)
class RecordedKept:
    """A kept run, copied into its store."""

    folder: Path
    run_id: str
    store_uri: str
    completed: bool  # into the run the job had opened (False: a new run with its tags)


def kept_folders(paths: Sequence[Path]) -> list[Path]:
    """Every kept run's folder at or under `paths` (a job's folder, a sweep's, or the kept folder itself) not
    recorded yet, each once however the paths overlap."""
    found = {
        store.parent.resolve()
        for path in paths
        for store in ([path / KEPT_STORE] if path.name == KEPT_DIR else path.rglob(f"{KEPT_DIR}/{KEPT_STORE}"))
        if store.is_file()
    }
    return sorted(folder for folder in found if not (folder / RECORDED_FILE).exists())


def record_kept(folder: Path, uri: str | None, fallback_uri: str | None) -> RecordedKept:
    """Copy the kept run in `folder` into `uri`; else into the store it was meant for, when its URI held no
    password; else into `fallback_uri` ($MLFLOW_TRACKING_URI). Then note where it went in RECORDED_FILE."""
    source = MlflowClient(tracking_uri=f"sqlite:///{folder / KEPT_STORE}")
    runs = source.search_runs([experiment.experiment_id for experiment in source.search_experiments()])
    ended = [run for run in runs if run.info.status != "RUNNING"]
    if len(runs) != 1 or not ended:
        raise TrackingError(
            f"{folder} holds {len(runs)} runs, {len(ended)} of them ended, not the one ended run a job keeps: it was "
            "not kept whole (the job's process stopped while it kept it); the job's files beside it hold its weights"
        )
    run = ended[0]
    meant_for = run.data.tags[KEPT_STORE_TAG]
    target_uri = uri or (meant_for if f":{REDACTED}@" not in meant_for else fallback_uri)
    if target_uri is None:
        raise TrackingError(
            f"the kept run in {folder} was meant for {meant_for}, whose password is not kept: give the store with "
            "--tracking-uri or $MLFLOW_TRACKING_URI"
        )
    store = open_store(target_uri, run.data.tags[KEPT_EXPERIMENT_TAG])
    target = MlflowClient(tracking_uri=store.uri)
    opened = _existing_run(target, run.data.tags.get(KEPT_RUN_ID_TAG))
    run_id = _copy_run(source, run, target, store, opened)
    write_json(folder / RECORDED_FILE, {"run_id": run_id, "store": redact(store.uri)})
    return RecordedKept(folder, run_id, redact(store.uri), opened is not None)


def _existing_run(client: MlflowClient, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException:  # another store, or deleted for good
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def _copy_run(source: MlflowClient, run: Run, target: MlflowClient, store: Store, opened: Run | None) -> str:
    """The kept run's params, metric histories, tags, datasets, artifacts and logged models into `opened`
    (only what it lacks: the params and the loss it already holds stay as they are) or a new run; then its
    status and end time. A `failure.reason` the owner check left on `opened` goes: the run did finish."""
    source_id = run.info.run_id
    tags = {key: value for key, value in run.data.tags.items() if key not in KEPT_TAGS}
    if opened is None:
        opened = target.create_run(store.experiment_id, start_time=run.info.start_time, tags=tags, run_name=run.info.run_name)
    run_id = opened.info.run_id
    params = [Param(key, value) for key, value in run.data.params.items() if key not in opened.data.params]
    metrics = [
        point
        for key in run.data.metrics
        for point in _new_points(source.get_metric_history(source_id, key), target.get_metric_history(run_id, key))
    ]
    target.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag(key, value) for key, value in tags.items()])
    if FAILURE_TAG in opened.data.tags and FAILURE_TAG not in tags:
        target.delete_tag(run_id, FAILURE_TAG)
    datasets = run.inputs.dataset_inputs if run.inputs else []
    if datasets and not (opened.inputs and opened.inputs.dataset_inputs):
        target.log_inputs(run_id, datasets=datasets)
    with tempfile.TemporaryDirectory() as scratch:
        target.log_artifacts(run_id, source.download_artifacts(source_id, "", scratch))
    present = {
        model.name for model in _logged_models(target, store.experiment_id, run_id) if model.status == LoggedModelStatus.READY
    }
    for model in _logged_models(source, run.info.experiment_id, source_id):
        if model.name not in present:  # the record may have got as far as the model before the store went away
            _copy_logged_model(source, model, target, store, run_id)
    target.set_terminated(run_id, run.info.status, end_time=run.info.end_time)
    return run_id


def _new_points(kept: Sequence[Metric], present: Sequence[Metric]) -> list[Metric]:
    """A history's points the target lacks, by step: the loss the job streamed before the store went away
    is there already."""
    steps = {point.step for point in present}
    return [point for point in kept if point.step not in steps]


def _logged_models(client: MlflowClient, experiment_id: str, run_id: str) -> list[LoggedModel]:
    return list(client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'"))


def _copy_logged_model(source: MlflowClient, model: LoggedModel, target: MlflowClient, store: Store, run_id: str) -> None:
    """The model as a logged model of the target run, its MLmodel file naming its new ids (what
    `mlflow.pyfunc.load_model("runs:/<run id>/model")` follows)."""
    copy = target.create_logged_model(store.experiment_id, name=model.name, source_run_id=run_id, params=model.params)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(download_artifacts(artifact_uri=model.artifact_location, dst_path=scratch))
        description = Model.load(str(folder / "MLmodel"))
        description.run_id, description.model_id, description.model_uuid = run_id, copy.model_id, copy.model_id
        description.artifact_path = copy.artifact_location
        description.save(str(folder / "MLmodel"))
        target.log_model_artifacts(copy.model_id, str(folder))
    target.log_outputs(run_id, [LoggedModelOutput(copy.model_id, step=0)])
    target.finalize_logged_model(copy.model_id, LoggedModelStatus.READY)
