from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.data import Dataset
from pipeline.errors import TrackingError
from pipeline.recording import evaluate_and_record
from pipeline.targets import Space, expected_relation, make_problem
from pipeline.tracking import prepare_store, resolve_tracking_uri
from pipeline.training import train_target


@pytest.fixture
def tiny_product(run_config):
    run = run_config("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")
    draws = run.data.draw()
    split = draws.splits[Dataset.gamma]
    problem = make_problem(split.x_train, split.x_test, expected_relation("ones", 5, draws.coefficients), Space.log)
    return run, problem


def test_tracking_uri_prefers_config_then_environment_then_the_project_store(monkeypatch, project_root, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere.db")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "main-repo"))
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert resolve_tracking_uri(None) == "sqlite:////elsewhere.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    # DVC's queued and --temp experiments run in a temporary copy; $DVC_ROOT names the main repository.
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'main-repo' / 'mlflow.db'}"
    monkeypatch.delenv("DVC_ROOT")
    assert resolve_tracking_uri(None) == f"sqlite:///{project_root / 'mlflow.db'}"


def test_a_recorded_run_holds_config_history_weights_model_and_evaluation(tiny_product, tmp_path):
    run, problem = tiny_product
    model_file, [record] = train_target(run, problem, tmp_path / "model")

    run_id, [evaluation] = evaluate_and_record(run, problem, [record], model_file)

    client = MlflowClient()
    recorded = client.get_run(run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["train.lr"] == "0.003" and recorded.data.params["target.space"] == "log"
    assert recorded.data.tags["target"] == "product"
    assert recorded.data.tags["true_formula"].startswith("log f(X) = 1.0*log(x1)")
    assert recorded.data.tags["recovered_formula"] == evaluation.recovered_formula
    assert recorded.data.tags["recovered_formula_original"].startswith("f(X) = e^")
    assert recorded.data.metrics["test_mse"] == evaluation.test_mse
    assert set(recorded.data.metrics) >= {"m_residual", "c_residual", "relations_hold", "relu_active_fraction"}
    assert recorded.data.metrics["inits"] == 1 and recorded.data.metrics["relations_hold_share"] == float(evaluation.relations_hold)
    history = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    np.testing.assert_allclose([m.value for m in history], record.loss_history)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert artifacts >= {"config.yaml", "weights.json", "model.keras", "loss_curve.png", "evaluation.json"}
    weights = mlflow.artifacts.load_dict(f"runs:/{run_id}/weights.json")
    assert weights["initial"]["W1"] == record.initial.to_dict()["W1"]


def test_artifacts_go_beside_the_sqlite_store_not_the_working_directory(tiny_product, tmp_path, monkeypatch):
    run, problem = tiny_product
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model_file, records = train_target(run, problem, tmp_path / "model")

    run_id, _ = evaluate_and_record(run, problem, records, model_file)

    artifact_uri = MlflowClient().get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())
    assert list(elsewhere.iterdir()) == []


def test_a_run_whose_logging_fails_is_recorded_failed_not_finished(tiny_product, tmp_path):
    run, problem = tiny_product
    _, records = train_target(run, problem, tmp_path / "model")

    with pytest.raises(OSError) as failure:
        evaluate_and_record(run, problem, records, tmp_path / "model" / "missing.keras")

    [recorded] = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("toy-ann").experiment_id])
    assert recorded.info.status == "FAILED"
    assert recorded.data.tags["failure.reason"].startswith("FileNotFoundError: ")
    assert failure.value.recorded  # so the door does not record the same failure a second time


def test_an_unusable_store_fails_before_any_work_with_one_line(run_config, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    run = run_config(f"tracking.uri=sqlite:///{blocker}/mlflow.db")

    with pytest.raises(TrackingError) as error:
        prepare_store(run.tracking)

    assert "is not usable" in str(error.value) and "\n" not in str(error.value)


def test_several_initialisations_are_recorded_per_init_and_as_a_share(run_config, tmp_path):
    run = run_config("data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32", "train.inits=3")
    draws = run.data.draw()
    split = draws.splits[Dataset.gaussian]
    problem = make_problem(split.x_train, split.x_test, expected_relation("ones", 5, draws.coefficients), Space.linear)
    model_file, records = train_target(run, problem, tmp_path / "model")

    run_id, evaluations = evaluate_and_record(run, problem, records, model_file)

    client = MlflowClient()
    metrics = client.get_run(run_id).data.metrics
    assert metrics["inits"] == 3
    assert metrics["relations_hold_share"] == sum(ev.relations_hold for ev in evaluations) / 3
    assert metrics["test_mse"] == evaluations[0].test_mse
    assert [m.value for m in client.get_metric_history(run_id, "init_test_mse")] == [ev.test_mse for ev in evaluations]
    table = mlflow.artifacts.load_text(f"runs:/{run_id}/inits.csv").splitlines()
    assert table[0].startswith("init,model_seed,test_mse") and [row.split(",")[1] for row in table[1:]] == ["42", "43", "44"]


@pytest.mark.slow
def test_eight_processes_starting_together_on_a_new_store_all_record_their_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    script = (
        "from mlflow.tracking import MlflowClient\n"
        "from pipeline.config import TrackingConfig\n"
        "from pipeline.tracking import prepare_store\n"
        f"store = prepare_store(TrackingConfig(uri={uri!r}, experiment='toy-ann'))\n"
        "client = MlflowClient(store.uri)\n"
        "client.set_terminated(client.create_run(store.experiment_id).info.run_id)\n"
    )

    workers = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(8)]
    failures = [worker.stderr.read()[-2000:] for worker in workers if worker.wait(timeout=300) != 0]

    assert failures == []
    client = MlflowClient(uri)
    assert len(client.search_runs([client.get_experiment_by_name("toy-ann").experiment_id])) == 8
