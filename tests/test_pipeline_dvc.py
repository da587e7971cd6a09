"""The DVC door as a user runs it: `dvc repro` and `dvc exp run -S` in a fresh copy of the project."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import TINY

TARGETS = ["sum", "weighted_sum", "product"]


def sh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a command the way a user would, from the copy, with this interpreter's tools first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture
def project_copy(project_root: Path, tmp_path: Path) -> Path:
    """The project's files as a clean clone has them (tracked, or new and not ignored), in a new git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=project_root, capture_output=True, text=True, check=True,
    ).stdout.split()
    copy = tmp_path / "project"
    for name in listed:
        if (project_root / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project_root / name, copy / name)
    sh("git", "init", "-q", cwd=copy)
    return copy


def commit_all(copy: Path) -> None:
    sh("git", "add", "-A", cwd=copy)
    sh("git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "state", cwd=copy)


@pytest.mark.slow
def test_dvc_repro_then_exp_run_produce_every_declared_output_and_mlflow_run(project_copy, mlflow_store):
    sh(sys.executable, "-m", "pipeline.compose", *TINY, cwd=project_copy)
    sh("dvc", "repro", cwd=project_copy)

    for name in ["gaussian.npz", "gamma.npz", "drawn_coefficients.json"]:
        assert (project_copy / "data" / name).is_file()
    for target in TARGETS:
        assert {p.name for p in (project_copy / "models" / target).iterdir()} == {"model.keras", "weights.json", "mlflow_run.json"}
        with open(project_copy / "plots" / "loss" / f"{target}.csv") as handle:
            assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
        metrics = json.loads((project_copy / "metrics" / f"{target}.json").read_text())
        assert {"test_mse", "m_residual", "c_residual", "relations_hold", "relu_active_fraction"} <= set(metrics)
    summary = (project_copy / "reports" / "summary.md").read_text()
    assert all(f"| {target} |" in summary for target in TARGETS)

    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("toy-ann").experiment_id])
    assert sorted(run.data.tags["target"] for run in runs) == sorted(TARGETS)
    for run in runs:
        target = run.data.tags["target"]
        assert run.info.status == "FINISHED"
        assert json.loads((project_copy / "models" / target / "mlflow_run.json").read_text())["run_id"] == run.info.run_id
        assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2
        assert run.data.metrics["relations_hold"] in (0.0, 1.0) and "recovered_formula" in run.data.tags

    shown = json.loads(sh("dvc", "metrics", "show", "--json", cwd=project_copy).stdout)
    assert all(f"metrics/{t}.json" in json.dumps(shown) for t in TARGETS)
    assert "up to date" in sh("dvc", "status", cwd=project_copy).stdout

    # DVC's Hydra composition: conf/pipeline.yaml plus -S overrides becomes params.yaml, then the stages rerun.
    commit_all(project_copy)
    overrides = [arg for value in (*TINY[:2], "train.epochs=3", "train.batch_size=32") for arg in ("-S", value)]
    sh("dvc", "exp", "run", *overrides, cwd=project_copy)

    params = yaml.safe_load((project_copy / "params.yaml").read_text())
    assert params["train"]["epochs"] == 3 and params["data"]["n_train"] == 256
    assert len((project_copy / "plots" / "loss" / "sum.csv").read_text().splitlines()) == 1 + 3
    assert len(client.search_runs([runs[0].info.experiment_id])) == 2 * len(TARGETS)
