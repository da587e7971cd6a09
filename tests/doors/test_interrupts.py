"""Ctrl-C and SIGTERM in the middle of a training, sent to a real `python -m pipeline.run` or DVC stage:
the MLflow runs end KILLED (none is left RUNNING), no half-written file is left, and a rerun succeeds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import TINY, generate_tiny_data, recorded_runs

LONG = ("data.n_train=2000", "data.n_test=100", "train.epochs=100000")  # minutes: only a signal ends it


def start_door(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "pipeline.run", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def wait_for_training(log: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "training 100000 epochs" not in log.read_text():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    time.sleep(1)  # well inside the epochs


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_is_recorded_killed_leaves_no_half_file_and_a_rerun_succeeds(
    project_root, tmp_path, mlflow_store, signum
):
    out_dir, log = tmp_path / "run", tmp_path / "door.log"
    door = start_door("target=sum", *LONG, f"hydra.run.dir={out_dir}", cwd=project_root, log=log)
    wait_for_training(log, door)

    door.send_signal(signum)

    assert door.wait(timeout=60) == 130
    assert log.read_text().strip().splitlines()[-1] == f"error: interrupted by {signum.name}: a rerun starts afresh"
    [run] = recorded_runs(mlflow_store)
    assert run.info.status == "KILLED" and run.data.tags["failure.reason"] == f"interrupted by {signum.name}"
    assert not [p for p in out_dir.rglob("*") if p.name.startswith(".tmp-")]
    rerun = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "target=sum", *TINY, f"hydra.run.dir={out_dir}"],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert sorted(run.info.status for run in recorded_runs(mlflow_store)) == ["FINISHED", "KILLED"]


@pytest.mark.slow
def test_an_interrupted_sweep_ends_its_parent_and_running_child_killed(project_root, tmp_path, mlflow_store):
    log = tmp_path / "door.log"
    door = start_door("-m", "target=sum,product", *LONG, f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=project_root, log=log)
    wait_for_training(log, door)

    door.send_signal(signal.SIGTERM)

    assert door.wait(timeout=60) == 130
    runs = recorded_runs(mlflow_store)
    assert sorted((run.info.status, "mlflow.parentRunId" in run.data.tags) for run in runs) == [
        ("KILLED", False),
        ("KILLED", True),
    ]
    assert "RUNNING" not in {run.info.status for run in runs}


@pytest.mark.slow
def test_an_interrupted_dvc_stage_exits_130_with_one_line_writes_nothing_and_is_recorded_killed(
    project_copy, tmp_path, mlflow_store
):
    generate_tiny_data(project_copy)
    params = project_copy / "params.yaml"
    params.write_text(params.read_text().replace("epochs: 1000", "epochs: 100000"))
    written = ["models/sum", "plots/loss/sum.csv", "metrics/sum.json", "evaluations/sum.json"]
    before = {path: (project_copy / path).read_bytes() for path in written if (project_copy / path).is_file()}
    log = tmp_path / "stage.log"
    env = dict(os.environ)  # params.yaml edited by hand: conf/ is untouched, so its digest still matches
    with open(log, "w") as out:
        stage = subprocess.Popen(
            [sys.executable, "-m", "pipeline.stages.train", "sum"],
            cwd=project_copy,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_training(log, stage)

    stage.send_signal(signal.SIGTERM)

    assert stage.wait(timeout=60) == 130
    assert log.read_text().strip().splitlines()[-1] == "error: interrupted by SIGTERM: `dvc repro` reruns the stage"
    assert not (project_copy / "models" / "sum").exists()  # the baseline's outputs, if committed, untouched:
    assert {path: (project_copy / path).read_bytes() for path in written if (project_copy / path).is_file()} == before
    [run] = recorded_runs(mlflow_store)  # the one failure path of both doors
    assert run.info.status == "KILLED" and run.data.tags["failure.reason"] == "interrupted by SIGTERM"
    assert run.data.tags["target"] == "sum" and run.data.params["train.epochs"] == "100000"


@pytest.mark.slow
def test_dvc_repro_killed_outright_mid_stage_leaves_no_run_running_once_it_runs_again(project_copy, tmp_path, mlflow_store):
    """SIGKILL of `dvc repro` and its stage, the whole session, as a lost machine or the OOM killer would: no
    handler runs, so the stage's run is left RUNNING until the rerun's stage opens the store and closes it."""
    params = project_copy / "params.yaml"
    tiny = params.read_text().replace("n_train: 100000", "n_train: 256").replace("n_test: 10000", "n_test: 64")
    params.write_text(tiny.replace("batch_size: 128", "batch_size: 32").replace("epochs: 1000", "epochs: 100000"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # the stages' python
    with open(tmp_path / "killed.log", "w") as out:
        repro = subprocess.Popen(
            ["dvc", "repro", "train@sum"], cwd=project_copy, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_training(tmp_path / "killed.log", repro)  # the store is made: reading it now races no migration
        [killed] = [run.info.run_id for run in recorded_runs(mlflow_store) if run.info.status == "RUNNING"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(repro.pid, signal.SIGKILL)
        repro.wait(timeout=60)
    assert [run.info.status for run in recorded_runs(mlflow_store)] == ["RUNNING"]

    params.write_text(params.read_text().replace("epochs: 100000", "epochs: 2"))
    rerun = subprocess.run(["dvc", "repro", "train@sum"], cwd=project_copy, env=env, capture_output=True, text=True, timeout=600)

    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    runs = {run.info.run_id: run for run in recorded_runs(mlflow_store)}
    closed = runs.pop(killed)
    assert closed.info.status == "KILLED" and "ended without closing the run" in closed.data.tags["failure.reason"]
    assert [run.info.status for run in runs.values()] == ["FINISHED"]
