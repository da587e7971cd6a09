from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.data import Dataset, draw_post_stream
from pipeline.evaluation import evaluate_network
from pipeline.report import loss_curve_figure
from pipeline.targets import Space, expected_relation, make_problem
from pipeline.tracking import log_evaluation, log_training, resolve_tracking_uri, resumed_run, training_run
from pipeline.training import save_training, train_network


def test_tracking_uri_prefers_config_then_environment_then_the_project_store(monkeypatch, project_root):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere.db")
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert resolve_tracking_uri(None) == "sqlite:////elsewhere.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_tracking_uri(None) == f"sqlite:///{project_root / 'mlflow.db'}"


def test_a_tracked_training_run_records_config_history_weights_model_and_evaluation(run_config, tmp_path):
    run = run_config("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")
    draws = draw_post_stream(run.data.seed, run.data.x_size, run.data.n_train, run.data.n_test)
    split = draws.splits[Dataset.gamma]
    problem = make_problem(split.x_train, split.x_test, expected_relation("ones", 5, draws.coefficients), Space.log)

    with training_run(run) as run_id:
        result = train_network(problem.z_train, problem.y_train, 42, 3, 32, 0.003)
        log_training(result, save_training(result, tmp_path), loss_curve_figure(result.loss_history, "product"))
        log_evaluation(evaluate_network(result.learned, problem, atol=1e-3))

    client = MlflowClient()
    recorded = client.get_run(run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["train.lr"] == "0.003" and recorded.data.params["target.space"] == "log"
    assert recorded.data.tags["target"] == "product"
    assert recorded.data.tags["true_formula"].startswith("log f(X) = 1.0*log(x1)")
    assert recorded.data.tags["recovered_formula_original"].startswith("f(X) = e^")
    assert set(recorded.data.metrics) >= {"test_mse", "m_residual", "c_residual", "relations_hold", "relu_active_fraction"}
    history = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    np.testing.assert_allclose([m.value for m in history], result.loss_history)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert artifacts >= {"config.yaml", "weights.json", "model.keras", "loss_curve.png", "evaluation.json"}
    weights = mlflow.artifacts.load_dict(f"runs:/{run_id}/weights.json")
    assert weights["initial"]["W1"] == result.initial.to_dict()["W1"]


def test_a_run_that_raises_is_recorded_failed_not_finished(run_config):
    run = run_config()
    with pytest.raises(RuntimeError):
        with training_run(run) as run_id:
            raise RuntimeError("training blew up")

    assert MlflowClient().get_run(run_id).info.status == "FAILED"


def test_a_later_stage_completes_the_same_run(run_config, mlflow_store):
    with training_run(run_config()) as run_id:
        pass
    with resumed_run(mlflow_store, run_id):
        mlflow.log_metric("test_mse", 0.5)

    runs = MlflowClient().search_runs([MlflowClient().get_run(run_id).info.experiment_id])
    assert len(runs) == 1 and runs[0].data.metrics["test_mse"] == 0.5
