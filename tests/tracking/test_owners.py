"""A run whose process was killed outright (SIGKILL) does not stay RUNNING: it names its owner, and the next
opening of the store, or `python -m pipeline.runs repair`, closes it KILLED with the reason. Runs whose
owner lives, or lives on another host, are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest
from mlflow.tracking import MlflowClient

from pipeline.tracking.owners import Owner, owner_tags
from pipeline.tracking.runs import RunRecorder, open_store
from pipeline.tracking.tags import FAILURE_TAG, OWNER_HOST_TAG, OWNER_PID_TAG
from tests.helpers import EXPERIMENT

# A process that opens its run, says which, and is killed outright: no handler, no atexit, nothing closes it.
KILLED_OWNER = (
    "import os, signal, sys\n"
    "from pipeline.tracking.runs import RunRecorder, open_store\n"
    "recorder = RunRecorder(open_store(sys.argv[1], sys.argv[2]), 'sum', {})\n"
    "print(recorder.start(), flush=True)\n"
    "os.kill(os.getpid(), signal.SIGKILL)\n"
)


def run_killed_outright(uri: str) -> str:
    """The id of a RUNNING run whose process died by SIGKILL."""
    done = subprocess.run([sys.executable, "-c", KILLED_OWNER, uri, EXPERIMENT], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    run_id = done.stdout.split()[-1]
    assert MlflowClient(tracking_uri=uri).get_run(run_id).info.status == "RUNNING"
    return run_id


def test_every_run_names_its_owning_process(recorder, ready_store):
    run_id = recorder.start()

    tags = MlflowClient(tracking_uri=ready_store).get_run(run_id).data.tags

    assert Owner.of(tags) == Owner.of(owner_tags()) and int(tags[OWNER_PID_TAG]) == os.getpid()


def test_the_next_opening_of_the_store_closes_a_run_whose_process_was_killed_and_no_other(ready_store):
    killed = run_killed_outright(ready_store)
    live = RunRecorder(open_store(ready_store, EXPERIMENT), "sum", {}).start()  # owned by this test's process
    client = MlflowClient(tracking_uri=ready_store)
    elsewhere = RunRecorder(open_store(ready_store, EXPERIMENT), "sum", {}).start()
    client.set_tag(elsewhere, OWNER_HOST_TAG, "another-host")  # only its host can tell whether it lives

    open_store(ready_store, EXPERIMENT)  # what every run, sweep and stage does first

    closed = client.get_run(killed)
    assert closed.info.status == "KILLED"
    assert (
        closed.data.tags[FAILURE_TAG].startswith("its process (pid ")
        and "ended without closing the run" in closed.data.tags[FAILURE_TAG]
    )
    assert client.get_run(live).info.status == client.get_run(elsewhere).info.status == "RUNNING"


def test_a_later_process_with_the_dead_owners_pid_does_not_keep_its_run_alive():
    me = psutil.Process(os.getpid())

    assert Owner("here", me.pid, me.create_time()).alive()
    assert not Owner("here", me.pid, me.create_time() - 60).alive()  # the pid, reused by another process


@pytest.mark.slow
def test_repair_closes_the_killed_processes_runs_and_says_so(ready_store, project_root):
    killed = run_killed_outright(ready_store)
    repair = [sys.executable, "-m", "pipeline.runs", "repair", "--tracking-uri", ready_store]

    first = subprocess.run(repair, capture_output=True, text=True, cwd=project_root, timeout=120)
    second = subprocess.run(repair, capture_output=True, text=True, cwd=project_root, timeout=120)

    assert first.returncode == 0 and f"marked KILLED: run {killed} (sum): its process (pid" in first.stdout, first.stderr
    assert second.returncode == 0 and "every RUNNING run of this host has its process alive" in second.stdout
    assert MlflowClient(tracking_uri=ready_store).get_run(killed).info.status == "KILLED"


@pytest.mark.slow
def test_a_hydra_run_killed_outright_mid_training_is_closed_by_the_next_run(mlflow_store, project_root, tmp_path):
    """SIGKILL of `python -m pipeline.run` while it trains; the next run (tiny) closes the first KILLED."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_store}
    tiny = ["data.n_train=256", "data.n_test=64", "train.batch_size=32"]
    job = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run", *tiny, "train.epochs=100000", f"hydra.run.dir={tmp_path / 'killed'}"],
        env=env,
        cwd=project_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = MlflowClient(tracking_uri=mlflow_store)
        running = _wait_for_a_running_run(client)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=60)

    next_run = subprocess.run(
        [sys.executable, "-m", "pipeline.run", *tiny, "train.epochs=2", f"hydra.run.dir={tmp_path / 'next'}"],
        env=env,
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert next_run.returncode == 0, next_run.stderr[-2000:]
    assert client.get_run(running).info.status == "KILLED"
    assert "was left RUNNING by pid" in next_run.stdout + next_run.stderr  # the warning, in the job's log


def _wait_for_a_running_run(client: MlflowClient, seconds: float = 120.0) -> str:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        experiment = client.get_experiment_by_name(EXPERIMENT) if _store_exists(client) else None
        if experiment is not None:
            runs = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'RUNNING'")
            if runs:
                return runs[0].info.run_id
        time.sleep(0.5)
    raise AssertionError(f"no run started within {seconds} s")


def _store_exists(client: MlflowClient) -> bool:
    path = client.tracking_uri.removeprefix("sqlite:///")
    return os.path.exists(path)
