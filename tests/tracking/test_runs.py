"""MLflow runs, each in the test's own sqlite store (or, for the tests that only read one, a module's): a run
opens RUNNING before its training, shows the loss as it trains, and ends FINISHED with the whole result (the
network as an MLflow Model, its datasets, the formulas whole), or FAILED or KILLED with its reason; never
both, never two."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.cli import gc as mlflow_gc
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_RUN_NOTE

from pipeline.config import Dataset, to_plain
from pipeline.core.draws import draw_post_stream
from pipeline.core.targets import target_problem
from pipeline.core.weights import NetworkWeights, TrainingRecord, WeightStack, forward
from pipeline.errors import TrackingError, TrainingDiverged
from pipeline.failures import FailurePath, RunStatus
from pipeline.files.atomic import read_json
from pipeline.job import train_and_evaluate
from pipeline.tracking import runs
from pipeline.tracking.runs import RunRecorder, open_store, problem_datasets
from pipeline.tracking.store import Store
from tests.helpers import CONVERGED, EXPERIMENT, record_job, recorded_runs

# Timestamps are whole milliseconds of the wall clock, train_seconds the monotonic clock's; the last epoch's
# loss is stamped a few milliseconds before the training's clock stops.
CLOCK_SLACK_MS = 50


def artifact(client: MlflowClient, run_id: str, path: str, scratch: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(scratch))).read_text()


def artifacts_dir(client: MlflowClient, run_id: str) -> Path:
    """Where a run in a local store keeps its artifacts."""
    return Path(urlparse(client.get_run(run_id).info.artifact_uri).path)


def history(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    """A metric's history, by step."""
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


# A job recorded whole (the `recorded_product` fixture: one tiny training, read by each test) ---------------


def test_a_recorded_run_holds_config_history_weights_evaluation_and_its_pictures_and_no_raw_model(recorded_product, tmp_path):
    job = recorded_product
    [evaluation] = job.evaluations
    client = MlflowClient(tracking_uri=job.uri)

    recorded = client.get_run(job.run_id)

    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["train.lr"] == "0.003" and recorded.data.params["target.space"] == "log"
    assert recorded.data.tags["target"] == "product"
    assert recorded.data.tags["true_formula"].startswith("log f(X) = 1.0*log(x1)")
    assert recorded.data.tags["recovered_formula"] == evaluation.recovered_formula
    assert recorded.data.tags["recovered_formula_original"].startswith("f(X) = e^")
    assert recorded.data.metrics["test_mse"] == evaluation.test_mse
    assert recorded.data.metrics["train_seconds"] == job.result.record.seconds
    assert set(recorded.data.metrics) >= {"m_residual", "c_residual", "relations_hold", "relu_active_fraction"}
    assert recorded.data.metrics["inits"] == 1
    assert recorded.data.metrics["relations_hold_share"] == float(evaluation.relations_hold)
    assert history(client, job.run_id, "train_loss") == dict(enumerate(job.result.record.loss_history, start=1))
    # the network is the MLflow Model's (the run's logged model), the loss curve MLflow's own chart
    assert {a.path for a in client.list_artifacts(job.run_id)} == {
        "config.yaml",
        "weights.json",
        "evaluation.json",
        "regions.json",
        "figures",
    }
    assert {a.path for a in client.list_artifacts(job.run_id, "figures")} == {
        "figures/preactivation.png",
        "figures/relations_over_epochs.png",
        "figures/predicted_vs_true.png",
    }
    residuals = history(client, job.run_id, "m_residual_per_epoch")
    assert sorted(residuals) == [1, 2, 3] and residuals[3] == pytest.approx(evaluation.m_residual)
    regions = json.loads(artifact(client, job.run_id, "regions.json", tmp_path))
    assert regions["regions"] == evaluation.regions and regions["linear_regions"] == evaluation.linear_regions
    weights = json.loads(artifact(client, job.run_id, "weights.json", tmp_path))
    assert weights == job.result.record.weights_dict()


def test_the_run_holds_the_network_as_an_mlflow_model_that_predicts_its_stored_weights(recorded_product, monkeypatch, tmp_path):
    job = recorded_product
    monkeypatch.setenv("MLFLOW_TRACKING_URI", job.uri)  # where MLflow's own API, as a user calls it, looks
    stored = json.loads(artifact(MlflowClient(tracking_uri=job.uri), job.run_id, "weights.json", tmp_path))
    learned = NetworkWeights.from_dict(stored["learned"])

    model = mlflow.pyfunc.load_model(f"runs:/{job.run_id}/model")

    [dtype] = model.metadata.get_input_schema().numpy_types()  # whichever its signature names (next test: which)
    ones = np.ones((1, learned.W1.size), dtype=dtype)
    np.testing.assert_allclose(np.asarray(model.predict(ones)).reshape(-1), forward(learned, ones), rtol=0, atol=1e-6)


def test_the_mlflow_model_takes_numpys_own_ones_which_are_float64_as_the_runs_datasets_are(recorded_product, monkeypatch):
    """`np.ones((1, x_size))`, as the issue's check and a user type it: float64, the dtype of the data the
    run lists. A float32-only signature refuses it ("dtype of input float64 does not match")."""
    job = recorded_product
    monkeypatch.setenv("MLFLOW_TRACKING_URI", job.uri)
    learned = job.result.record.learned
    ones = np.ones((1, learned.W1.size))

    model = mlflow.pyfunc.load_model(f"runs:/{job.run_id}/model")

    np.testing.assert_allclose(np.asarray(model.predict(ones)).reshape(-1), forward(learned, ones), rtol=0, atol=1e-6)


def test_the_model_is_the_runs_logged_model_with_a_signature_and_an_input_example(recorded_product, monkeypatch):
    job = recorded_product
    client = MlflowClient(tracking_uri=job.uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", job.uri)

    [output] = client.get_run(job.run_id).outputs.model_outputs  # the runs table's Models column
    logged = client.get_logged_model(output.model_id)
    info = mlflow.models.get_model_info(f"runs:/{job.run_id}/model")

    assert (logged.name, logged.source_run_id, logged.status) == ("model", job.run_id, LoggedModelStatus.READY)
    assert info.model_id == logged.model_id and {"keras", "python_function"} <= info.flavors.keys()
    assert [spec.shape for spec in info.signature.inputs.inputs] == [(-1, 5)]
    assert info.saved_input_example_info is not None


def test_the_run_lists_its_train_and_test_data_as_datasets_named_for_the_draw_with_dvcs_md5_of_the_file(recorded_product):
    job = recorded_product

    listed = MlflowClient(tracking_uri=job.uri).get_run(job.run_id).inputs.dataset_inputs

    contexts = {d.dataset.name: [t.value for t in d.tags if t.key == MLFLOW_DATASET_CONTEXT] for d in listed}
    assert contexts == {"gamma-seed42-train": ["training"], "gamma-seed42-test": ["testing"]}
    # what dvc.lock records for the file: the md5 of its bytes
    assert {d.dataset.digest for d in listed} == {hashlib.md5(job.data_file.read_bytes()).hexdigest()}
    rows = {d.dataset.name: json.loads(d.dataset.profile)["features_shape"] for d in listed}
    assert rows == {"gamma-seed42-train": [256, 5], "gamma-seed42-test": [64, 5]}


def test_a_data_files_datasets_are_built_without_mlflows_warning_that_their_source_is_ambiguous(tiny_product, tmp_path):
    """MLflow registers two LocalArtifactDatasetSource classes and warns on every local path it resolves:
    a UserWarning that every train stage, so `dvc repro`, would print once per target."""
    _, problem = tiny_product
    data_file = tmp_path / "gamma.npz"
    data_file.write_bytes(b"the generate stage's bytes")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problem_datasets(problem, "gamma-seed42", data_file)

    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []


def test_the_runs_times_span_its_training_and_evaluation(recorded_product):
    job = recorded_product
    client = MlflowClient(tracking_uri=job.uri)
    run = client.get_run(job.run_id)
    train_ms = job.result.record.seconds * 1000
    last_epoch = client.get_metric_history(job.run_id, "train_loss")[-1].timestamp
    [evaluated] = client.get_metric_history(job.run_id, "test_mse")

    start, end = run.info.start_time, run.info.end_time

    assert job.before * 1000 - 1 <= start <= last_epoch - train_ms + CLOCK_SLACK_MS  # open before the training began
    assert evaluated.timestamp <= end <= job.after * 1000 + 1  # and until the evaluation is in
    assert end - start >= train_ms


def test_train_loss_log10_is_the_log10_of_train_loss_at_every_epoch(recorded_product):
    client = MlflowClient(tracking_uri=recorded_product.uri)

    loss, log10 = (history(client, recorded_product.run_id, key) for key in ("train_loss", "train_loss_log10"))

    assert log10.keys() == loss.keys() == {1, 2, 3}
    assert log10 == {step: pytest.approx(math.log10(value), rel=1e-12) for step, value in loss.items()}


# Jobs recorded in the test's own store ---------------------------------------------------------------------


def test_a_training_run_is_running_with_its_loss_so_far_while_it_trains(tiny_product, tmp_path, ready_store, monkeypatch):
    run, problem = tiny_product
    recorder = RunRecorder(open_store(ready_store, EXPERIMENT), run.target.name, to_plain(run))
    client, stream, seen = MlflowClient(tracking_uri=ready_store), recorder.loss, []

    def watch(epoch: int, loss: float) -> None:
        assert recorder.stream is not None
        recorder.stream.interval = 0  # each epoch written as it comes, not every LIVE_INTERVAL_SECONDS
        stream(epoch, loss)
        live = client.get_run(recorder.run_id)
        seen.append((epoch, live.info.status, list(history(client, live.info.run_id, "train_loss"))))

    monkeypatch.setattr(recorder, "loss", watch)  # what train_and_evaluate hands the training
    train_and_evaluate(run, problem, recorder, None, tmp_path / "model")

    assert seen == [(1, "RUNNING", [1]), (2, "RUNNING", [1, 2]), (3, "RUNNING", [1, 2, 3])]


def test_a_zero_live_interval_writes_each_loss_to_the_run_at_once(recorder, ready_store, monkeypatch):
    """LIVE_INTERVAL_SECONDS is the module's setting, read when a run starts (a test, or a user who wants
    every epoch at once, sets it); a default argument bound at import would ignore it."""
    monkeypatch.setattr(runs, "LIVE_INTERVAL_SECONDS", 0)
    run_id = recorder.start()

    recorder.loss(1, 0.5)

    assert history(MlflowClient(tracking_uri=ready_store), run_id, "train_loss") == {1: 0.5}


def test_losses_are_buffered_between_writes_so_a_long_training_is_not_slowed_per_epoch(recorder, ready_store):
    run_id = recorder.start()

    recorder.loss(1, 0.5)  # well within LIVE_INTERVAL_SECONDS of the start

    assert history(MlflowClient(tracking_uri=ready_store), run_id, "train_loss") == {}


def test_artifacts_and_the_model_go_beside_the_sqlite_store_not_the_working_directory(
    tiny_product, tmp_path, monkeypatch, ready_store
):
    run, problem = tiny_product
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    run_id, _, _ = record_job(run, problem, ready_store, tmp_path / "model")

    client = MlflowClient(tracking_uri=ready_store)
    recorded = client.get_run(run_id)
    [output] = recorded.outputs.model_outputs
    for location in (recorded.info.artifact_uri, client.get_logged_model(output.model_id).artifact_location):
        assert location.startswith((tmp_path / "mlartifacts").as_uri())
    assert list(elsewhere.iterdir()) == []


def test_an_unusable_store_fails_before_any_work_with_one_line(run_config, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    run = run_config(f"tracking.uri=sqlite:///{blocker}/mlflow.db")

    with pytest.raises(TrackingError) as error:
        open_store(run.tracking.uri, run.tracking.experiment)

    assert "is not usable" in str(error.value) and "\n" not in str(error.value)


def test_several_initialisations_are_recorded_as_a_table_and_a_share_not_as_histories(run_config, tmp_path, ready_store):
    run = run_config("data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32", "train.inits=3")
    draws = draw_post_stream(run.data)
    split = draws.splits[Dataset.gaussian]
    problem = target_problem(run.target, split, draws.coefficients)

    run_id, _, evaluations = record_job(run, problem, ready_store, tmp_path / "model")

    client = MlflowClient(tracking_uri=ready_store)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["inits"] == 3
    assert metrics["relations_hold_share"] == sum(ev.relations_hold for ev in evaluations) / 3
    assert metrics["test_mse"] == evaluations[0].test_mse
    assert not [name for name in metrics if name.startswith("init_")]  # no histories stepped by init
    table = json.loads(artifact(client, run_id, "inits.json", tmp_path))
    column = dict(zip(table["columns"], zip(*table["data"], strict=True), strict=True))["test_mse"]
    assert column == pytest.approx([ev.test_mse for ev in evaluations], rel=1e-9)  # MLflow's table: 10 digits
    rows = artifact(client, run_id, "inits.csv", tmp_path).splitlines()
    assert rows[0].startswith("init,model_seed,test_mse") and [row.split(",")[1] for row in rows[1:]] == ["42", "43", "44"]


def test_replicates_are_recorded_with_their_distribution_and_a_table(run_config, tmp_path, ready_store):
    run = run_config("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")
    run = replace(run, train=replace(run.train, replicates=4))
    draws = draw_post_stream(run.data)
    problem = target_problem(run.target, draws.splits[Dataset.gamma], draws.coefficients)

    run_id, _, evaluations = record_job(run, problem, ready_store, tmp_path / "model")

    client = MlflowClient(tracking_uri=ready_store)
    recorded = client.get_run(run_id).data
    assert recorded.metrics["replicates"] == 4 and "inits" not in recorded.metrics
    assert recorded.metrics["replicates_test_mse_max"] == max(ev.test_mse for ev in evaluations)
    assert recorded.metrics["converged_share"] == sum(bool(ev.converged) for ev in evaluations) / 4
    assert "**4 replicates**" in recorded.tags["mlflow.note.content"]
    table = json.loads(artifact(client, run_id, "replicates.json", tmp_path))
    assert table["columns"][:2] == ["replicate", "model_seed"] and len(table["data"]) == 4
    assert sorted(read_json(tmp_path / "model" / "replicates.json")) == ["replicates", "seconds"]


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


# The store's experiments: the project's, and no empty Default beside it ------------------------------------


def test_a_new_local_store_has_no_active_default_experiment_beside_the_projects(ready_store):
    open_store(ready_store, EXPERIMENT)

    client = MlflowClient(tracking_uri=ready_store)
    assert [experiment.name for experiment in client.search_experiments()] == [EXPERIMENT]
    assert client.get_experiment("0").lifecycle_stage == "deleted"  # soft: `mlflow experiments restore` undoes it


def test_a_default_experiment_that_holds_a_run_is_kept(ready_store):
    client = MlflowClient(tracking_uri=ready_store)
    client.set_terminated(client.create_run("0").info.run_id)

    open_store(ready_store, EXPERIMENT)

    assert sorted(experiment.name for experiment in client.search_experiments()) == ["Default", EXPERIMENT]


def test_a_store_other_hosts_reach_keeps_its_empty_default_experiment(ready_store, monkeypatch):
    monkeypatch.setattr(runs, "only_this_host_reaches", lambda uri: False)  # as a shared tracking server is

    open_store(ready_store, EXPERIMENT)

    assert sorted(e.name for e in MlflowClient(tracking_uri=ready_store).search_experiments()) == ["Default", EXPERIMENT]


def test_a_store_whose_deleted_default_was_garbage_collected_still_opens_a_new_experiment(ready_store):
    """`mlflow gc` deletes a deleted experiment for good, the Default this project deleted too: a store
    without experiment 0 is as usable as any."""
    open_store(ready_store, EXPERIMENT)
    collected = CliRunner().invoke(mlflow_gc, ["--backend-store-uri", ready_store], env={"MLFLOW_TRACKING_URI": ready_store})
    assert collected.exit_code == 0, collected.output

    store = open_store(ready_store, "another")

    assert MlflowClient(tracking_uri=ready_store).get_experiment(store.experiment_id).name == "another"


# RunRecorder without any training (the `recorder` fixture): a record built by hand, the store real -------

RECORD = TrainingRecord(
    initial=NetworkWeights(W1=np.array([0.1]), b1=0.0, w2=1.0, b2=0.0),
    trajectory=WeightStack.of(
        [NetworkWeights(W1=np.array([0.5]), b1=0.0, w2=1.0, b2=0.0), NetworkWeights(W1=np.array([1.0]), b1=0.0, w2=1.0, b2=0.0)]
    ),
    loss_history=[0.5, 0.25],
    seconds=1.0,
)


def test_the_run_description_holds_every_formula_whole(recorder, ready_store, tiny_network):
    terms = " + ".join(f"1.0*x{i}" for i in range(1, 41))  # 40 inputs: 400-odd characters, more than a tag column shows
    long = replace(CONVERGED, true_formula=f"f(X) = {terms} + 0.0", recovered_formula=f"f(X) = {terms} + -0.0")
    recorder.start()

    recorder.record([RECORD], tiny_network, [long], first_seed=42)

    [run] = recorded_runs(ready_store)
    assert len(long.true_formula) > 400
    assert all(formula in run.data.tags[MLFLOW_RUN_NOTE] for formula in long.formulas().values())


def test_the_run_description_of_several_initialisations_counts_the_exact_ones_and_shows_the_best_ones_regions():
    two_regions = [
        {"pattern": "01", "share": 0.5, "slope": [-1.0], "intercept": 0.0, "formula": "f(X) = -1.0*x1 + 0.0"},
        {"pattern": "11", "share": 0.5, "slope": [1.0], "intercept": 0.0, "formula": "f(X) = 1.0*x1 + 0.0"},
    ]
    missed = replace(CONVERGED, test_mse=1.18, local_relation_share=0.0, local_relations_hold=False, relations_hold=None)
    exact = replace(missed, test_mse=6.5e-10, local_relation_share=1.0, local_relations_hold=True, regions=two_regions)

    description = runs.run_description("abs_sum", [missed, exact, missed])

    assert "local relations hold on 0.00% of the test rows" in description  # the run's own network first
    assert "**3 initialisations** (`inits.csv`): the local relations hold (exact) in 1 of 3. The best, init 1" in description
    assert description.endswith("| 01 | 50.00% | `f(X) = -1.0*x1 + 0.0` |\n| 11 | 50.00% | `f(X) = 1.0*x1 + 0.0` |\n")


def test_a_failure_while_recording_ends_the_started_run_failed_not_a_second_one(recorder, ready_store, tiny_network):
    run_id = recorder.start()
    artifacts = artifacts_dir(recorder.client, run_id)
    shutil.rmtree(artifacts)
    artifacts.write_text("")  # the artifact store breaks while the job runs

    with pytest.raises(OSError) as error, FailurePath("a rerun starts afresh") as failures:  # a bug: its traceback
        failures.record = recorder.fail
        recorder.record([RECORD], tiny_network, [CONVERGED], first_seed=42)

    [run] = recorded_runs(ready_store)
    assert run.info.run_id == run_id and run.info.status == "FAILED"
    assert run.data.params["train.lr"] == "0.003" and run.data.tags["target"] == "sum"
    assert run.data.tags["failure.reason"].startswith(f"{type(error.value).__name__}: ")


def test_a_run_whose_start_fails_after_it_was_created_ends_failed_not_running(recorder, tmp_path, ready_store):
    (tmp_path / "mlartifacts").write_text("")  # the artifact store is broken: config.yaml cannot be written

    with pytest.raises(OSError) as error, FailurePath("a rerun starts afresh") as failures:
        failures.record = recorder.fail
        recorder.start()

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure.reason"].startswith(f"{type(error.value).__name__}: ")


def test_fail_twice_records_one_run_with_the_first_reason(recorder, ready_store):
    recorder.fail(ValueError("first"), RunStatus.FAILED)
    recorder.fail(KeyboardInterrupt("SIGTERM"), RunStatus.KILLED)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FAILED" and run.data.tags["failure.reason"] == "ValueError: first"


def test_a_failure_after_a_finished_record_leaves_the_run_finished(recorder, ready_store, tiny_network):
    recorder.start()
    recorder.record([RECORD], tiny_network, [CONVERGED], first_seed=42)

    recorder.fail(ValueError("too late"), RunStatus.FAILED)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FINISHED" and "failure.reason" not in run.data.tags


def test_a_divergence_keeps_the_loss_streamed_up_to_it_and_its_epoch(recorder, ready_store):
    diverged = TrainingDiverged("training loss became nan at epoch 3: lower train.lr (was 50.0)", [4.0, 2.5, math.nan])
    run_id = recorder.start()
    for epoch, loss in enumerate(diverged.loss_history, start=1):
        recorder.loss(epoch, loss)

    recorder.fail(diverged, RunStatus.FAILED)

    [run] = recorded_runs(ready_store)
    assert run.info.run_id == run_id and run.info.status == "FAILED"
    assert run.data.tags["failure.reason"] == str(diverged) and run.data.tags["failure.epoch"] == "3"
    client = MlflowClient(tracking_uri=ready_store)
    loss = history(client, run_id, "train_loss")
    assert list(loss) == [1, 2, 3] and [loss[1], loss[2]] == [4.0, 2.5] and math.isnan(loss[3])
    assert history(client, run_id, "train_loss_log10") == {1: math.log10(4.0), 2: math.log10(2.5)}  # no log of nan


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


def test_a_started_run_carries_the_user_source_and_commit_as_mlflows_own_runs_do(recorder, ready_store):
    recorder.start()

    [run] = recorded_runs(ready_store)
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit"} <= run.data.tags.keys()


def test_a_job_is_started_once_and_recorded_whole_only_once(recorder, ready_store, tiny_network):
    recorder.start()
    with pytest.raises(RuntimeError, match="is started already"):
        recorder.start()
    recorder.record([RECORD], tiny_network, [CONVERGED], first_seed=42)

    with pytest.raises(RuntimeError, match="is not open"):
        recorder.record([RECORD], tiny_network, [CONVERGED], first_seed=42)
    assert len(recorded_runs(ready_store)) == 1


def test_a_run_must_be_started_before_it_records_or_streams(recorder, tiny_network):
    with pytest.raises(RuntimeError, match="is not started"):
        recorder.loss(1, 0.5)
    with pytest.raises(RuntimeError, match="is not open"):
        recorder.record([RECORD], tiny_network, [CONVERGED], first_seed=42)


def test_a_store_that_fails_during_the_training_ends_the_streaming_but_not_the_training(recorder, monkeypatch, caplog):
    """One warning, no more attempts (each would wait out MLflow's retries), and the loss kept for the end."""
    monkeypatch.setattr(runs, "LIVE_INTERVAL_SECONDS", 0)
    recorder.start()
    attempts = []

    def store_down(*args, **kwargs):
        attempts.append(kwargs)
        raise runs.MlflowException("the tracking server does not answer")

    monkeypatch.setattr(recorder.client, "log_batch", store_down)

    for epoch in range(1, 4):
        recorder.loss(epoch, 1.0 / epoch)

    assert len(attempts) == 1
    assert [r.levelname for r in caplog.records if "could not reach run" in r.getMessage()] == ["WARNING"]
    assert recorder.stream is not None and [m.step for m in recorder.stream.pending if m.key == "train_loss"] == [1, 2, 3]


def test_a_model_that_cannot_be_saved_is_finalized_failed_not_left_pending(recorder, ready_store, tiny_network, monkeypatch):
    import mlflow.keras

    def broken_save(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(mlflow.keras, "save_model", broken_save)
    run_id = recorder.start()

    with pytest.raises(OSError):
        recorder.record([RECORD], tiny_network, [CONVERGED], first_seed=42)

    client = MlflowClient(tracking_uri=ready_store)
    [model] = client.search_logged_models(experiment_ids=[recorder.store.experiment_id])
    assert (model.source_run_id, model.status) == (run_id, LoggedModelStatus.FAILED)


def test_the_logged_model_carries_the_runs_params(recorded_product, monkeypatch):
    client = MlflowClient(tracking_uri=recorded_product.uri)
    [model] = client.search_logged_models(experiment_ids=[client.get_run(recorded_product.run_id).info.experiment_id])

    assert model.params == client.get_run(recorded_product.run_id).data.params


def test_a_dataset_another_job_inserted_at_the_same_moment_is_logged_again_not_failed(recorder, tiny_product, monkeypatch):
    """MLflow's look-up-then-insert races between parallel jobs on one store: the loser's insert hits the
    unique constraint, and logging again finds the winner's dataset."""
    _, problem = tiny_product
    log_inputs, calls = recorder.client.log_inputs, []

    def raced_once(run_id, datasets):
        calls.append(run_id)
        if len(calls) == 1:
            raise runs.MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id")
        return log_inputs(run_id, datasets=datasets)

    monkeypatch.setattr(recorder.client, "log_inputs", raced_once)

    run_id = recorder.start(problem_datasets(problem, "gamma-seed42", None))

    assert len(calls) == 2
    assert len(MlflowClient(tracking_uri=recorder.store.uri).get_run(run_id).inputs.dataset_inputs) == 2
