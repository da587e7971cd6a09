"""Who owns a RUNNING run, and closing the runs whose owner died.

A run is RUNNING from its training's start until its process ends it FINISHED, FAILED or KILLED. A process
killed outright (SIGKILL, the OOM killer, a lost machine) ends nothing: the run stays RUNNING forever, and
MLflow's UI shows it as live. So every run the project opens records its owner, the host, the pid and the
pid's start time (a pid is reused; its start time tells the new process from the old), and whoever opens the
store next (a run, a sweep, a `dvc repro` stage, or `python -m pipeline.runs repair`) marks the runs of
its host whose owner is gone KILLED, with the reason. Only the owner's host can tell whether it is alive:
runs owned elsewhere are left alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import psutil
from mlflow.entities import Run, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from pipeline.tracking.store import Store
from pipeline.tracking.tags import FAILURE_TAG, OWNER_HOST_TAG, OWNER_PID_TAG, OWNER_STARTED_TAG, PARENT_TAG

log = logging.getLogger(__name__)

START_TIME_SLACK = 1.0  # seconds: the same process's start time, read twice, may differ by rounding


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: float

    @classmethod
    def of(cls, tags: Mapping[str, str]) -> Owner | None:
        """The owner a run's tags name; None for a run opened before owners were recorded, or elsewhere."""
        try:
            return cls(tags[OWNER_HOST_TAG], int(tags[OWNER_PID_TAG]), float(tags[OWNER_STARTED_TAG]))
        except (KeyError, ValueError):
            return None

    @classmethod
    def of_process(cls, pid: int) -> Owner:
        """A live process of this host (`os.getpid()`: this one)."""
        return cls(socket.gethostname(), pid, psutil.Process(pid).create_time())

    def alive(self) -> bool:
        """Whether the process still runs on this host (the same process, not a later one with its pid). A
        process killed while its parent still runs stays a zombie until the parent reaps it: dead already."""
        try:
            process = psutil.Process(self.pid)
            started, status = process.create_time(), process.status()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return False
        except psutil.AccessDenied:  # another user's process: alive, and not ours to judge
            return True
        return status != psutil.STATUS_ZOMBIE and abs(started - self.started) <= START_TIME_SLACK


def owner_tags() -> dict[str, str]:
    """This process as a run's owner."""
    me = Owner.of_process(os.getpid())
    return {OWNER_HOST_TAG: me.host, OWNER_PID_TAG: str(me.pid), OWNER_STARTED_TAG: repr(me.started)}


def dead_owner_reason(owner: Owner) -> str:
    return (
        f"its process (pid {owner.pid} on {owner.host}) ended without closing the run: killed outright "
        "(SIGKILL, out of memory, a lost machine); a rerun starts afresh"
    )


@dataclass(frozen=True)
class ClosedRun:
    run_id: str
    name: str
    owner: Owner
    parent_id: str | None  # a sweep's job: its parent run


def close_runs_of_dead_owners(store: Store) -> list[ClosedRun]:
    """Mark KILLED, with the reason, every RUNNING run of the store's experiment that a process of this host
    owned and that process is gone; returns them."""
    client = MlflowClient(tracking_uri=store.uri)
    closed = []
    for run in _running_runs_of(client, store, socket.gethostname()):
        owner = Owner.of(run.data.tags)
        if owner is None or owner.alive():
            continue
        client.log_batch(run.info.run_id, tags=[RunTag(FAILURE_TAG, dead_owner_reason(owner))])
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        log.warning(
            "MLflow run %s (%s) was left RUNNING by pid %d, which is gone: marked KILLED",
            run.info.run_id,
            run.info.run_name,
            owner.pid,
        )
        closed.append(ClosedRun(run.info.run_id, run.info.run_name, owner, run.data.tags.get(PARENT_TAG)))
    return closed


def _running_runs_of(client: MlflowClient, store: Store, host: str) -> list[Run]:
    runs, token = [], None
    query = f"attributes.status = 'RUNNING' and tags.`{OWNER_HOST_TAG}` = '{host}'"
    while True:
        page = client.search_runs([store.experiment_id], filter_string=query, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs
