"""A job: one target trained, evaluated and recorded as one MLflow run, the same in both doors
(`train_and_evaluate`); and the Hydra door's job around it, which draws the post's stream in memory.

Kept apart from `pipeline.run`, which imports it only once the config is valid: TensorFlow, scikit-learn
and MLflow take seconds to load, a bad value is reported in about one. The Hydra job's model, weights and
loss history also land in its Hydra output directory.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from pipeline.config import RunConfig, to_plain
from pipeline.core.draws import draw_post_stream
from pipeline.core.evaluation import Evaluation, evaluate_training
from pipeline.core.interpretation import relation_history
from pipeline.core.replicates import ReplicateSummary, run_metrics, summarise_replicates
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.core.training import TrainingResult, train_network
from pipeline.environment import Environment
from pipeline.errors import ConfigError, TrackingError
from pipeline.failures import FailurePath
from pipeline.files.figures import network_figures
from pipeline.files.records import save_figures, save_training
from pipeline.redaction import redact
from pipeline.tracking.runs import RunRecorder, open_store, problem_datasets
from pipeline.tracking.store import Store, only_this_host_reaches, resolve_tracking_uri
from pipeline.tracking.sweep import SweepJob, SweepParent
from pipeline.tracking.unrecorded import record_or_keep


def job_store(run: RunConfig, environment: Environment, sweep_job: SweepJob | None) -> Store:
    """The one store this job records into, resolved and opened before the training, so an unusable store
    fails now, not after it. In a sweep: its parent's, checked before it is touched."""
    uri = resolve_tracking_uri(run.tracking.uri, environment)
    if sweep_job is None:
        return open_store(uri, run.tracking.experiment)
    check_this_host_reaches(sweep_job.parent)  # on another host it would be another store
    store = open_store(uri, run.tracking.experiment)
    check_same_store_as_sweep(store, sweep_job)
    return store


def draw_name(run: RunConfig) -> str:
    """What a run's datasets are called: the dataset and the seed of its draw."""
    return f"{run.target.dataset.value}-seed{run.data.seed}"


@dataclass(frozen=True)
class TrainedJob:
    """A job's training and everything read from it: what its run records and its files keep."""

    result: TrainingResult
    evaluations: list[Evaluation]  # every network's, the run's own first
    replicates: ReplicateSummary | None  # with train.replicates > 1: their distribution
    epoch_metrics: dict[str, list[float]]  # the run's own network, per epoch: the post's residuals as it learns
    figures: dict[str, Figure]  # how the run's own network computes

    @property
    def evaluation(self) -> Evaluation:
        return self.evaluations[0]

    def metrics(self) -> dict[str, float]:
        """What DVC's metrics file holds: the run's numbers, as its MLflow run records them."""
        return run_metrics(self.evaluations, self.replicates)

    def record(self, recorder: RunRecorder, first_seed: int, keep_in: Path | None = None) -> str:
        """The job's run, whole. With `keep_in` (a Hydra job's folder), a store that went away during the
        training leaves the run kept there, to record later (tracking.unrecorded); a DVC stage has no folder
        that outlives its rerun, and `dvc repro` trains it again bit for bit."""

        def into(target: RunRecorder) -> str:
            return target.record(
                self.result.records,
                self.result.model,
                self.evaluations,
                first_seed,
                replicates=self.replicates,
                epoch_metrics=self.epoch_metrics,
                figures=self.figures,
            )

        if keep_in is None:
            return into(recorder)
        return record_or_keep(recorder, into, self.result.record.loss_history, keep_in)


def train_and_evaluate(
    run: RunConfig, problem: TargetProblem, recorder: RunRecorder, data_file: Path | None, model_dir: Path
) -> TrainedJob:
    """Open the job's run (RUNNING, with the data it trains on, from `data_file` if a stage wrote it), train
    with the loss shown in the run as it comes, save the training and its pictures in `model_dir`, evaluate
    every network. The caller writes what else it keeps, then `record`s the result: one run from the
    training's start to the evaluation's end."""
    recorder.start(problem_datasets(problem, draw_name(run), data_file))
    result = train_network(problem, run.model, run.train, watch=recorder.loss, keep_last=run.eval.best_of_last)
    save_training(result, model_dir)
    evaluations = evaluate_training(result.records, problem, model=run.model, eval_=run.eval, lr=run.train.lr)
    history = relation_history(result.record.trajectory, problem, run.model)
    epoch_metrics = (
        {}
        if history is None
        else {"m_residual_per_epoch": list(history.m_residual), "c_residual_per_epoch": list(history.c_residual)}
    )
    figures = network_figures(result.record.learned, history, problem, run.model, run.eval.atol)
    save_figures(figures, model_dir)
    replicates = summarise_replicates(evaluations, run.target.post_test_mse) if result.own_batches else None
    return TrainedJob(result, evaluations, replicates, epoch_metrics, figures)


def run_target(
    run: RunConfig, out_dir: Path, environment: Environment, failures: FailurePath, sweep_job: SweepJob | None = None
) -> tuple[str, TrainedJob]:
    """Returns the MLflow run's id and the trained job (every network's evaluation, the run's own first).
    In a sweep, the run is recorded as the job's child of the sweep's parent run. From the moment its store
    is open, before the training, a failure or an interruption is this run's."""
    draws = draw_post_stream(run.data)
    problem = target_problem(run.target, draws.splits[run.target.dataset], draws.coefficients)
    placement = (sweep_job.tags(), sweep_job.run_name()) if sweep_job else (None, None)
    recorder = RunRecorder(job_store(run, environment, sweep_job), run.target.name, to_plain(run), *placement)
    failures.record = recorder.fail
    job = train_and_evaluate(run, problem, recorder, None, out_dir)
    return job.record(recorder, run.model.seed, keep_in=out_dir), job


def check_this_host_reaches(parent: SweepParent) -> None:
    """A job on another machine than its sweep's cannot record into a store only that machine reaches: it
    would make one of its own there. The sweep's store is judged, not the job's own resolution of it, which
    reads this machine's environment. A TrackingError, so the failure is not recorded there either."""
    host = socket.gethostname()
    if host != parent.host and only_this_host_reaches(parent.store.uri):
        raise TrackingError(
            f"this job runs on {host}, but its sweep records into {redact(parent.store.uri)}, which only "
            f"{parent.host} reaches: "
            "on a cluster, record to an MLflow tracking server every node reaches "
            "(tracking=server tracking.uri=http://<server host>:<port>; docs/scaling-out.md)"
        )


def check_same_store_as_sweep(store: Store, sweep_job: SweepJob) -> None:
    """A child recorded anywhere but its parent's store is lost to the sweep."""
    parent = sweep_job.parent
    if store != parent.store:
        raise ConfigError(
            f"this job records into {store.uri}, experiment {store.experiment_id}, but its sweep into "
            f"{parent.store.uri}, experiment {parent.store.experiment_id}: a sweep records all its jobs in one "
            "store and experiment, so set tracking.* once per sweep, not per job"
        )
