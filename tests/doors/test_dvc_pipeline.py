"""The DVC door as a user runs it, in a fresh copy of the project: `dvc exp run -S` (DVC composes conf/
with the overrides into params.yaml), `dvc repro`, `dvc metrics show`, and the default MLflow store."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from mlflow.tracking import MlflowClient

from hydra_plugins.toy_ann_lab import conf_digest
from tests.helpers import STALE_PARAMS_FIX, TARGETS, TINY, git_changes, recorded_runs, set_options, sh


@pytest.mark.slow
def test_exp_run_produces_every_declared_output_and_one_mlflow_run_per_target(tiny_experiment):
    project_copy = tiny_experiment  # `dvc exp run -S <TINY>` into the default store: <project root>/mlflow.db

    params = yaml.safe_load((project_copy / "params.yaml").read_text())
    assert params["train"]["epochs"] == 2 and params["data"]["n_train"] == 256
    for name in ["gaussian.npz", "gamma.npz", "drawn_coefficients.json"]:
        assert (project_copy / "data" / name).is_file()
    initial_weights = []
    for target in TARGETS:
        model_dir = project_copy / "models" / target
        assert {p.name for p in model_dir.iterdir()} == {"model.keras", "weights.json", "history.json", "figures"}
        initial_weights.append(json.loads((model_dir / "weights.json").read_text())["initial"])
        with open(project_copy / "plots" / "loss" / f"{target}.csv") as handle:
            assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
        metrics = json.loads((project_copy / "metrics" / f"{target}.json").read_text())
        assert set(metrics) == {
            "test_mse",
            "m_residual",
            "c_residual",
            "relations_hold",
            "relu_active_fraction",
            "relu_active_fraction_test",
            "inits",
            "relations_hold_share",
            "relu_dead_share",
            "local_relation_share",
            "local_relations_hold",
            "local_relations_hold_share",
            *(f"local_{part}_residual_{q}" for part in ("slope", "intercept") for q in ("p50", "p90", "max")),
            "linear_regions",
            "dead_units",
            "always_active_units",
            "test_r2",
            "converged",
            "w2_negative",
            "test_mse_at_lowest_train_mse",
            "lowest_train_mse_epoch",
        }
        assert "recovered_formula" in json.loads((project_copy / "evaluations" / f"{target}.json").read_text())
    assert initial_weights[0] == initial_weights[1] == initial_weights[2]  # one initialisation for every target
    summary = (project_copy / "reports" / "summary.md").read_text()
    assert all(f"| {target} |" in summary for target in TARGETS)
    page = (project_copy / "reports" / "summary.html").read_text()
    assert all(f"<tr><td>{target}</td>" in page for target in TARGETS)
    # each loss curve and each target's three pictures of how it computes, inline
    assert page.count('<img src="data:image/png;base64,') == len(TARGETS) * 4

    client = MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("toy-ann").experiment_id])
    assert sorted(run.data.tags["target"] for run in runs) == sorted(TARGETS)
    locked = yaml.safe_load((project_copy / "dvc.lock").read_text())["stages"]["generate"]["outs"]
    md5 = {out["path"]: out["md5"] for out in locked}
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.info.artifact_uri.startswith((project_copy / "mlartifacts").as_uri())
        assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2
        assert "test_mse" in run.data.metrics and "recovered_formula" in run.data.tags
        # the network as the run's MLflow Model, not a raw model.keras; the data as datasets DVC's md5 names
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"config.yaml", "weights.json", "evaluation.json", "regions.json", "figures"}
        assert len(run.outputs.model_outputs) == 1
        trained_on = md5[f"data/{run.data.params['target.dataset']}.npz"]
        assert {d.dataset.digest for d in run.inputs.dataset_inputs} == {trained_on}

    shown = sh("dvc", "metrics", "show", "--json", cwd=project_copy).stdout
    assert all(f"metrics/{target}.json" in shown for target in TARGETS)
    assert "up to date" in sh("dvc", "status", cwd=project_copy).stdout


@pytest.mark.slow
def test_after_an_exp_run_an_edit_to_conf_makes_dvc_repro_refuse_the_stale_params_and_record_no_run(
    tiny_experiment_copy, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the default store, which holds the experiment's runs
    params = yaml.safe_load((tiny_experiment_copy / "params.yaml").read_text())
    train_conf = tiny_experiment_copy / "conf" / "train" / "default.yaml"
    train_conf.write_text(train_conf.read_text().replace("epochs: 1000", "epochs: 3"))

    stale = sh("dvc", "repro", cwd=tiny_experiment_copy, ok=False)

    assert stale.returncode != 0
    assert [line for line in stale.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: params.yaml is not conf/ composed: conf/ changed after it was (conf_digest {params['conf_digest']} in "
        f"params.yaml, {conf_digest(tiny_experiment_copy / 'conf')} for conf/ now): {STALE_PARAMS_FIX}"
    ]
    assert sorted(run.data.tags["target"] for run in recorded_runs(f"sqlite:///{tiny_experiment_copy / 'mlflow.db'}")) == sorted(
        TARGETS
    )


@pytest.mark.slow
def test_bad_params_stop_the_dvc_door_with_one_line_and_no_run(project_copy, mlflow_store):
    failed = sh("dvc", "exp", "run", "-S", "train.lr=-1", cwd=project_copy, ok=False)

    assert failed.returncode != 0
    assert "error: train.lr=-1.0 is not allowed: must be a positive finite number" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert recorded_runs(mlflow_store) == []


@pytest.mark.slow
def test_a_diverging_training_stops_the_dvc_door_with_a_failed_run_and_no_metrics(project_copy, mlflow_store):
    failed = sh("dvc", "exp", "run", *set_options(TINY), "-S", "train.lr=50", cwd=project_copy, ok=False)

    assert failed.returncode != 0
    assert "error: training loss became nan at epoch 1: lower train.lr (was 50.0)" in failed.stderr
    [run] = recorded_runs(mlflow_store)
    assert run.info.status == "FAILED" and run.data.tags["failure.epoch"] == "1"
    assert run.data.params["train.lr"] == "50.0"
    # No metrics for the failed target: DVC removed the baseline's outputs of its stage, which wrote none. The
    # other targets and the report never ran: theirs are still the baseline's. generate ran, so dvc.lock changed.
    target = run.data.tags["target"]
    assert git_changes(project_copy) == {
        "params.yaml": " M",
        "dvc.lock": " M",
        **dict.fromkeys([f"metrics/{target}.json", f"evaluations/{target}.json", f"plots/loss/{target}.csv"], " D"),
    }
