"""A sweep whose processes die, by real SIGKILL of real processes: a worker killed mid-job still leaves the
sweep's summary, counting its job failed with the reason, and a sweep whose main process is killed leaves
no job process running."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time

import psutil
import pytest
from mlflow.tracking import MlflowClient

from pipeline.tracking.owners import Owner
from tests.helpers import EXPERIMENT

SUMMARY = "summary/sweep_summary.csv"  # a row per job: its status
SUMMARY_PAGE = "summary/sweep_summary.md"  # and there with its reason
SWEEP_END_SECONDS = 300.0  # hang guard: the sweep summarises (matplotlib) after the launcher's failure
ORPHANS_GONE_SECONDS = 15.0  # hang guard: a job's process polls every second, then has a grace of 5 s

# A job's process between jobs: it watches a sweep's process (here the one whose pid it reads) and waits.
IDLE_JOB_PROCESS = (
    "import sys, time\n"
    "from pipeline.tracking.orphans import end_with_the_sweep, job_ended\n"
    "from pipeline.tracking.owners import Owner\n"
    "end_with_the_sweep(Owner.of({'owner.host': sys.argv[1], 'owner.pid': sys.argv[2], 'owner.started': sys.argv[3]}))\n"
    "job_ended()\n"
    "print('watching', flush=True)\n"
    "time.sleep(600)\n"
)


def gone(process: psutil.Process) -> bool:
    """Ended: an orphan's zombie counts, as nothing here reaps the orphans init inherits."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running_runs(uri: str) -> list[str]:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return [run.info.run_name for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")]


@pytest.mark.slow
def test_a_sweep_whose_worker_is_killed_mid_job_writes_its_summary_counting_that_job_failed(training_sweep):
    killed = training_sweep.jobs[0]

    killed.send_signal(signal.SIGKILL)
    training_sweep.main.wait(timeout=SWEEP_END_SECONDS)

    assert training_sweep.main.returncode == 1, training_sweep.errors()[-3000:]
    with open(training_sweep.sweep_dir / SUMMARY, newline="") as summary:
        assert {row["job"]: row["status"] for row in csv.DictReader(summary)}["0"] == "KILLED"
    page = (training_sweep.sweep_dir / SUMMARY_PAGE).read_text()
    assert f"| KILLED: its process (pid {killed.pid} on " in page and "ended without closing the run" in page
    assert "error: the sweep stopped before its end: " in training_sweep.errors()
    assert running_runs(training_sweep.uri) == []


@pytest.mark.slow
def test_the_job_processes_of_a_sweep_whose_main_process_is_killed_end_within_seconds(training_sweep, project_root):
    training_sweep.main.send_signal(signal.SIGKILL)
    training_sweep.main.wait(timeout=60)

    deadline = time.monotonic() + ORPHANS_GONE_SECONDS
    while not all(gone(process) for process in training_sweep.processes) and time.monotonic() < deadline:
        time.sleep(0.5)
    repair = [sys.executable, "-m", "pipeline.runs", "repair", "--tracking-uri", training_sweep.uri]
    repaired = subprocess.run(repair, capture_output=True, text=True, cwd=project_root, timeout=120)

    assert [process.pid for process in training_sweep.processes if not gone(process)] == []
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    assert running_runs(training_sweep.uri) == []
    client = MlflowClient(tracking_uri=training_sweep.uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    children = client.search_runs([experiment.experiment_id], "tags.`sweep.job` != ''")
    assert {run.data.tags["failure.reason"].split(" (pid ")[0] for run in children} == {
        "interrupted by the death of the sweep's process"
    }


def test_a_killed_process_its_parent_has_not_reaped_yet_is_a_dead_owner():
    """A sweep's worker killed outright is a zombie until the sweep reaps it, and then the sweep closes its run."""
    child = subprocess.Popen(["sleep", "600"])
    try:
        owner = Owner.of_process(child.pid)
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 60  # a hang guard
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the killed child never became a zombie"
            time.sleep(0.05)

        assert not owner.alive()
    finally:
        child.kill()
        child.wait(timeout=60)


@pytest.mark.slow
def test_an_idle_job_process_ends_once_its_sweeps_process_is_gone(project_root):
    sweep = subprocess.Popen(["sleep", "600"])
    owner = Owner.of_process(sweep.pid)
    job = subprocess.Popen(
        [sys.executable, "-c", IDLE_JOB_PROCESS, owner.host, str(owner.pid), repr(owner.started)],
        cwd=project_root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert job.stdout is not None and job.stdout.readline() == "watching\n"
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=60)

        assert job.wait(timeout=ORPHANS_GONE_SECONDS) == 130
    finally:
        for process in (sweep, job):
            process.kill()
            process.wait(timeout=60)
