"""MLflow runs, each in the test's own sqlite store: one whole run per trained target, or one FAILED or
KILLED run with its reason; never both, never two."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import Coefficients, Dataset, RunConfig, Space, to_plain
from pipeline.core.draws import draw_post_stream
from pipeline.core.evaluation import Evaluation, evaluate_training
from pipeline.core.targets import TargetProblem, expected_relation, make_problem
from pipeline.core.training import train_network
from pipeline.core.weights import NetworkWeights, TrainingRecord
from pipeline.errors import TrackingError, TrainingDiverged
from pipeline.failures import FailurePath, RunStatus
from pipeline.files.records import save_training
from pipeline.tracking.runs import RunRecorder, open_store
from pipeline.tracking.store import Store
from tests.helpers import CONVERGED, EXPERIMENT, recorded_runs


def train_and_record(run: RunConfig, problem: TargetProblem, model_dir: Path, uri: str) -> tuple[str, list[Evaluation]]:
    """What the Hydra door's job does once its store is open: train, save, evaluate, record."""
    recorder = RunRecorder(open_store(uri, run.tracking.experiment), run.target.name, to_plain(run))
    result = train_network(problem, run.model, run.train)
    model_file = save_training(result, model_dir)
    evaluations = evaluate_training(result.records, problem, atol=run.eval.atol, lr=run.train.lr)
    return recorder.record(result.records, model_file, evaluations, run.model.seed), evaluations


def artifact(client: MlflowClient, run_id: str, path: str, scratch: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(scratch))).read_text()


def test_a_recorded_run_holds_config_history_weights_model_and_evaluation(tiny_product, tmp_path, ready_store):
    run, problem = tiny_product

    run_id, [evaluation] = train_and_record(run, problem, tmp_path / "model", ready_store)

    client = MlflowClient(tracking_uri=ready_store)
    recorded = client.get_run(run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["train.lr"] == "0.003" and recorded.data.params["target.space"] == "log"
    assert recorded.data.tags["target"] == "product"
    assert recorded.data.tags["true_formula"].startswith("log f(X) = 1.0*log(x1)")
    assert recorded.data.tags["recovered_formula"] == evaluation.recovered_formula
    assert recorded.data.tags["recovered_formula_original"].startswith("f(X) = e^")
    assert recorded.data.metrics["test_mse"] == evaluation.test_mse
    assert set(recorded.data.metrics) >= {"m_residual", "c_residual", "relations_hold", "relu_active_fraction"}
    assert recorded.data.metrics["inits"] == 1 and recorded.data.metrics["relations_hold_share"] == float(
        evaluation.relations_hold
    )
    history = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    record = json.loads((tmp_path / "model" / "history.json").read_text())
    np.testing.assert_allclose([m.value for m in history], record["loss"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert artifacts >= {"config.yaml", "weights.json", "model.keras", "loss_curve.png", "evaluation.json"}
    weights = json.loads(artifact(client, run_id, "weights.json", tmp_path))
    assert weights["initial"]["W1"] == json.loads((tmp_path / "model" / "weights.json").read_text())["initial"]["W1"]


def test_artifacts_go_beside_the_sqlite_store_not_the_working_directory(tiny_product, tmp_path, monkeypatch, ready_store):
    run, problem = tiny_product
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    run_id, _ = train_and_record(run, problem, tmp_path / "model", ready_store)

    artifact_uri = MlflowClient(tracking_uri=ready_store).get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())
    assert list(elsewhere.iterdir()) == []


def test_a_run_whose_logging_fails_is_recorded_failed_not_finished_and_only_once(tiny_product, tmp_path, ready_store):
    run, problem = tiny_product
    result = train_network(problem, run.model, run.train)
    evaluations = evaluate_training(result.records, problem, atol=run.eval.atol, lr=run.train.lr)
    recorder = RunRecorder(open_store(ready_store, EXPERIMENT), run.target.name, to_plain(run))

    with pytest.raises(OSError), FailurePath("a rerun starts afresh") as failures:  # a bug: its traceback
        failures.record = recorder.fail
        recorder.record(result.records, tmp_path / "model" / "missing.keras", evaluations, run.model.seed)

    [recorded] = recorded_runs(ready_store)  # the run the recording had begun, not a second one
    assert recorded.info.status == "FAILED"
    assert recorded.data.tags["failure.reason"].startswith("FileNotFoundError: ")


def test_an_unusable_store_fails_before_any_work_with_one_line(run_config, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    run = run_config(f"tracking.uri=sqlite:///{blocker}/mlflow.db")

    with pytest.raises(TrackingError) as error:
        open_store(run.tracking.uri, run.tracking.experiment)

    assert "is not usable" in str(error.value) and "\n" not in str(error.value)


def test_several_initialisations_are_recorded_per_init_and_as_a_share(run_config, tmp_path, ready_store):
    run = run_config("data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32", "train.inits=3")
    draws = draw_post_stream(run.data)
    split = draws.splits[Dataset.gaussian]
    problem = make_problem(split.x_train, split.x_test, expected_relation(Coefficients.ones, 5, draws.coefficients), Space.linear)

    run_id, evaluations = train_and_record(run, problem, tmp_path / "model", ready_store)

    client = MlflowClient(tracking_uri=ready_store)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["inits"] == 3
    assert metrics["relations_hold_share"] == sum(ev.relations_hold for ev in evaluations) / 3
    assert metrics["test_mse"] == evaluations[0].test_mse
    assert [m.value for m in client.get_metric_history(run_id, "init_test_mse")] == [ev.test_mse for ev in evaluations]
    table = artifact(client, run_id, "inits.csv", tmp_path).splitlines()
    assert table[0].startswith("init,model_seed,test_mse") and [row.split(",")[1] for row in table[1:]] == ["42", "43", "44"]


@pytest.mark.slow
def test_eight_processes_starting_together_on_a_new_store_all_record_their_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    script = (
        "from mlflow.tracking import MlflowClient\n"
        "from pipeline.tracking.runs import open_store\n"
        f"store = open_store({uri!r}, 'toy-ann')\n"
        "client = MlflowClient(store.uri)\n"
        "client.set_terminated(client.create_run(store.experiment_id).info.run_id)\n"
    )

    workers = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(8)]
    failures = [worker.stderr.read()[-2000:] for worker in workers if worker.wait(timeout=300) != 0]

    assert failures == []
    assert len(recorded_runs(uri)) == 8


# RunRecorder without any training (the `recorder` fixture): a record built by hand, the store real -------

RECORD = TrainingRecord(
    initial=NetworkWeights(W1=np.array([0.1]), b1=0.0, w2=1.0, b2=0.0),
    learned=NetworkWeights(W1=np.array([1.0]), b1=0.0, w2=1.0, b2=0.0),
    loss_history=[0.5, 0.25],
    seconds=1.0,
)


def test_a_failure_after_the_recording_began_ends_that_same_run_not_a_second_one(recorder, tmp_path, ready_store):
    with pytest.raises(OSError) as error:
        recorder.record([RECORD], tmp_path / "missing.keras", [CONVERGED], first_seed=42)
    begun = recorder.run_id

    recorder.fail(error.value, RunStatus.FAILED)

    [run] = recorded_runs(ready_store)
    assert run.info.run_id == begun and run.info.status == "FAILED"
    assert run.data.params["train.lr"] == "0.003" and run.data.tags["target"] == "sum"
    assert run.data.tags["failure.reason"].startswith("FileNotFoundError: ")


def test_fail_twice_records_one_run_with_the_first_reason(recorder, ready_store):
    recorder.fail(ValueError("first"), RunStatus.FAILED)
    recorder.fail(KeyboardInterrupt("SIGTERM"), RunStatus.KILLED)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FAILED" and run.data.tags["failure.reason"] == "ValueError: first"


def test_a_failure_after_a_finished_record_leaves_the_run_finished(recorder, tmp_path, ready_store):
    model_file = tmp_path / "model.keras"
    model_file.write_bytes(b"a model")
    recorder.record([RECORD], model_file, [CONVERGED], first_seed=42)

    recorder.fail(ValueError("too late"), RunStatus.FAILED)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FINISHED" and "failure.reason" not in run.data.tags


def test_a_divergence_records_its_epoch_and_the_loss_history_up_to_it(recorder, ready_store):
    diverged = TrainingDiverged("training loss became nan at epoch 3: lower train.lr (was 50.0)", [4.0, 2.5, math.nan])

    recorder.fail(diverged, RunStatus.FAILED)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure.reason"] == str(diverged) and run.data.tags["failure.epoch"] == "3"
    history = MlflowClient(tracking_uri=ready_store).get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history][:2] == [4.0, 2.5] and math.isnan(history[2].value)


@pytest.mark.parametrize(("interruption", "named"), [(KeyboardInterrupt("SIGTERM"), "SIGTERM"), (KeyboardInterrupt(), "SIGINT")])
def test_an_interruption_is_recorded_killed_naming_the_signal(recorder, ready_store, interruption, named):
    recorder.fail(interruption, RunStatus.KILLED)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "KILLED" and run.data.tags["failure.reason"] == f"interrupted by {named}"


def test_a_run_is_named_and_tagged_for_its_place_in_a_sweep(ready_store):
    store = open_store(ready_store, EXPERIMENT)
    placed = RunRecorder(store, "sum", {}, tags={"sweep.job": "3"}, run_name="#3 target=sum")

    placed.fail(ValueError("x"), RunStatus.FAILED)

    [run] = recorded_runs(ready_store)
    assert run.info.run_name == "#3 target=sum"
    assert run.data.tags["sweep.job"] == "3" and run.data.tags["target"] == "sum"
    assert isinstance(store, Store) and run.info.experiment_id == store.experiment_id


def test_a_recorded_run_carries_the_user_source_and_commit_as_mlflows_own_runs_do(recorder, tmp_path, ready_store):
    model_file = tmp_path / "model.keras"
    model_file.write_bytes(b"a model")
    recorder.record([RECORD], model_file, [CONVERGED], first_seed=42)

    [run] = recorded_runs(ready_store)
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit"} <= run.data.tags.keys()


def test_a_job_is_recorded_whole_only_once(recorder, tmp_path, ready_store):
    model_file = tmp_path / "model.keras"
    model_file.write_bytes(b"a model")
    recorder.record([RECORD], model_file, [CONVERGED], first_seed=42)

    with pytest.raises(RuntimeError, match="is recorded already"):
        recorder.record([RECORD], model_file, [CONVERGED], first_seed=42)
    assert len(recorded_runs(ready_store)) == 1
