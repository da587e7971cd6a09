"""DVC experiments as a user runs them: `dvc exp show` lists params and metrics, not modules; `dvc exp apply`
then `dvc repro` works; and experiments that run in a temporary copy of the project (`dvc exp run --queue`,
then `dvc queue start`) bring their results back to the main repository, MLflow runs included."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import TARGETS, TINY, git_changes, set_options, sh

LEARNING_RATES = [0.001, 0.01]
UP_TO_DATE = "Data and pipelines are up to date."
# dvc.yaml's deps, one `dvc exp show` column each: three folders (code, resolver, config) and the data.
DEP_COLUMNS = {
    "conf",
    "hydra_plugins",
    "pipeline",
    "data/gaussian.npz",
    "data/gamma.npz",
    "data/drawn_coefficients.json",
    "evaluations",
    "plots/loss",
    "models",  # the report stage's: each target's figures
}


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
    # They ran in temporary copies, not in the workspace: its params.yaml, dvc.lock and outputs are still the
    # baseline's it was copied with, and it holds none of the experiments' data or models.
    assert git_changes(project_copy) == {}
    assert not any((project_copy / name).exists() for name in ("data/gaussian.npz", *(f"models/{t}" for t in TARGETS)))
    assert list((project_copy / ".dvc" / "tmp" / "exps").glob("tmp*")) == []  # which DVC removed
    assert list(project_copy.rglob("mlflow.db")) == [project_copy / "mlflow.db"]


@pytest.mark.slow
def test_exp_show_has_no_module_column(tiny_experiment):
    """The issue's path, its first half: `dvc exp run -S ...` (tiny_experiment's), then `dvc exp show --csv`."""
    table = sh("dvc", "exp", "show", "--csv", cwd=tiny_experiment).stdout
    columns = next(csv.reader(io.StringIO(table)))
    [experiment] = experiments_shown(tiny_experiment)
    assert set(experiment["deps"]) == DEP_COLUMNS and set(columns) >= DEP_COLUMNS
    assert [column for column in columns if column.endswith(".py") or column.startswith("pipeline/")] == []


@pytest.mark.slow
def test_exp_apply_then_repro_runs_as_does_a_hand_edit_of_params(tiny_experiment_copy):
    """The issue's path, its second half, after `dvc exp run -n tiny -S ...`: `dvc exp apply tiny`, `dvc repro`."""
    params = tiny_experiment_copy / "params.yaml"  # a hand edit: the stages take it, conf/ being unchanged
    params.write_text(params.read_text().replace("epochs: 2", "epochs: 3"))
    repro = sh("dvc", "repro", cwd=tiny_experiment_copy).stdout
    assert "Running stage 'train@sum'" in repro and "Running stage 'generate'" not in repro
    assert len((tiny_experiment_copy / "plots" / "loss" / "sum.csv").read_text().splitlines()) == 1 + 3

    sh("dvc", "exp", "apply", "tiny", cwd=tiny_experiment_copy)
    assert "epochs: 2" in params.read_text()
    assert UP_TO_DATE in sh("dvc", "repro", cwd=tiny_experiment_copy).stdout
