"""DVC experiments that run in a temporary copy of the project (`dvc exp run --queue`, then `dvc queue
start`), as a user runs them: their results come back to the main repository, MLflow runs included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import TARGETS, TINY, set_options, sh

LEARNING_RATES = [0.001, 0.01]


def wait_for_queue(copy: Path, timeout: float = 300) -> str:
    """Poll `dvc queue status` until no experiment is queued or running; returns the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = sh("dvc", "queue", "status", cwd=copy).stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        assert time.monotonic() < deadline, f"the queue did not finish in {timeout} s:\n{status}"
        time.sleep(2)


def experiments_shown(copy: Path) -> list[dict]:
    """Each experiment's data from `dvc exp show --json`: its params and metrics."""
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=copy).stdout)
    return [exp["revs"][0]["data"] for baseline in shown for exp in baseline.get("experiments") or []]


@pytest.mark.slow
def test_queued_experiments_record_their_mlflow_runs_in_the_main_store(project_copy, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the default store, which DVC's $DVC_ROOT points at the main copy
    monkeypatch.delenv("DVC_ROOT", raising=False)
    sh("dvc", "exp", "run", "--queue", "-S", "train.lr=0.001,0.01", *set_options(TINY), cwd=project_copy)

    sh("dvc", "queue", "start", cwd=project_copy)  # one worker: the experiments run one after the other
    try:
        status = wait_for_queue(project_copy)
    finally:
        sh("dvc", "queue", "stop", cwd=project_copy, ok=False)

    assert status.count("Success") == 2, status
    experiments = experiments_shown(project_copy)
    assert sorted(exp["params"]["params.yaml"]["data"]["train"]["lr"] for exp in experiments) == LEARNING_RATES
    for exp in experiments:
        for target in TARGETS:
            assert "test_mse" in exp["metrics"][f"metrics/{target}.json"]["data"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("toy-ann").experiment_id])
    assert sorted((float(run.data.params["train.lr"]), run.data.tags["target"]) for run in runs) == sorted(
        (lr, target) for lr in LEARNING_RATES for target in TARGETS
    )
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert all(run.info.artifact_uri.startswith((project_copy / "mlartifacts").as_uri()) for run in runs)
    assert not (project_copy / "metrics").exists()  # they ran in temporary copies, not in the workspace
    assert list((project_copy / ".dvc" / "tmp" / "exps").glob("tmp*")) == []  # which DVC removed
    assert list(project_copy.rglob("mlflow.db")) == [project_copy / "mlflow.db"]
