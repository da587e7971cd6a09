"""The Hydra door's job: draw the post's stream in memory, train, evaluate, record one MLflow run.

The job's model, weights and loss history also land in its Hydra output directory.
"""
from __future__ import annotations

import socket
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.errors import ConfigError, TrackingError
from pipeline.evaluation import Evaluation
from pipeline.recording import evaluate_and_record
from pipeline.sweep import SweepJob, SweepParent
from pipeline.targets import target_problem
from pipeline.tracking import Store, only_this_host_reaches, prepare_store, resolve_tracking_uri
from pipeline.training import train_target


def run_target(run: RunConfig, out_dir: Path, sweep_job: SweepJob | None = None) -> tuple[str, list[Evaluation]]:
    """Returns the MLflow run's id and every initialisation's evaluation, the run's own network first.
    In a sweep, the run is recorded as the job's child of the sweep's parent run."""
    if sweep_job is not None:  # before the store is touched: on another host it would be another store
        check_this_host_reaches(resolve_tracking_uri(run.tracking.uri), sweep_job.parent)
    store = prepare_store(run.tracking)  # an unusable store fails now, not after the training
    if sweep_job is not None:
        check_same_store_as_sweep(store, sweep_job)
    draws = run.data.draw()
    target = run.target
    problem = target_problem(draws.splits[target.dataset], draws.coefficients, target.coefficients, target.space)
    model_file, records = train_target(run, problem, out_dir)
    if sweep_job is None:
        return evaluate_and_record(run, problem, records, model_file)
    return evaluate_and_record(run, problem, records, model_file, sweep_job.tags(), sweep_job.run_name())


def check_this_host_reaches(uri: str, parent: SweepParent) -> None:
    """A job on another machine than its sweep's must not record into a store only that machine reaches: it
    would make one of its own there. A TrackingError, so the failure is not recorded there either."""
    host = socket.gethostname()
    if host != parent.host and only_this_host_reaches(uri):
        raise TrackingError(
            f"this job runs on {host}, but its sweep records into {uri}, which only {parent.host} reaches: "
            "on a cluster, record to an MLflow tracking server every node reaches "
            "(tracking=server tracking.uri=http://<server host>:<port>; README, Scaling out)"
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
