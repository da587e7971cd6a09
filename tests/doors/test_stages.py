"""The DVC door's stages as a user runs them: the train stage trains, evaluates and records one MLflow run
and writes what DVC tracks; a damaged input, or a params.yaml composed from another conf/ than the one
beside it, stops a stage with one line, not a traceback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from mlflow.tracking import MlflowClient

from hydra_plugins.toy_ann_lab import conf_digest
from pipeline import memory
from pipeline.config import CONF_DIR, PROJECT_ROOT, ConfigError, Dataset
from pipeline.files.atomic import read_json
from pipeline.files.layout import dataset_file
from pipeline.files.records import loss_from_csv
from pipeline.stages.compose import DIGEST_KEY, check_params_current, compose_pipeline
from pipeline.stages.generate import generate
from pipeline.stages.train import train
from tests.helpers import STALE_PARAMS_FIX, generate_tiny_data, recorded_runs, tiny_stage


def test_conf_digest_is_the_same_for_the_same_files_wherever_they_are_and_whatever_their_mtimes(conf_copy):
    """As in a clean clone or in DVC's temporary copy for a queued experiment."""
    for path in conf_copy.rglob("*"):
        os.utime(path, (0, 0))
    (conf_copy / "train" / "default.yaml").chmod(0o600)

    assert conf_digest(conf_copy) == conf_digest(CONF_DIR) == compose_pipeline()[DIGEST_KEY]


def test_conf_digest_follows_each_yaml_files_name_and_bytes_and_no_other_file(conf_copy):
    original = conf_digest(conf_copy)
    train = conf_copy / "train" / "default.yaml"
    (conf_copy / "train" / "default.yaml~").write_text("an editor's backup")
    (conf_copy / "README").write_text("notes")
    assert conf_digest(conf_copy) == original

    train.write_text(train.read_text() + "# a comment\n")
    commented = conf_digest(conf_copy)
    train.rename(conf_copy / "train" / "renamed.yaml")
    assert len({original, commented, conf_digest(conf_copy)}) == 3


def test_an_edit_to_conf_not_composed_into_params_is_refused_with_one_line_naming_the_fix(conf_copy):
    params = compose_pipeline()
    train = conf_copy / "train" / "default.yaml"
    train.write_text(train.read_text().replace("epochs: 1000", "epochs: 3"))

    with pytest.raises(ConfigError) as error:
        check_params_current(params, conf_copy)

    assert str(error.value) == (
        f"params.yaml is not conf/ composed: conf/ changed after it was (conf_digest {params[DIGEST_KEY]} in params.yaml, "
        f"{conf_digest(conf_copy)} for conf/ now): {STALE_PARAMS_FIX}"
    )


def test_in_dvcs_temporary_copy_a_stale_conf_also_names_the_untracked_files_it_lacks(conf_copy):
    """`dvc exp run --temp` and `--queue` compose in the workspace, then run in a copy of what git tracks."""
    params = compose_pipeline()
    (conf_copy / "experiment" / "mine.yaml").write_text("# @package _global_\n")

    with pytest.raises(ConfigError) as error:
        check_params_current(params, conf_copy, in_dvc_copy=True)

    assert str(error.value).endswith("copy of the files git tracks: `git add` new files under conf/")


def test_params_composed_before_conf_had_a_digest_are_refused_with_the_same_fix():
    params = compose_pipeline()
    del params[DIGEST_KEY]

    with pytest.raises(ConfigError) as error:
        check_params_current(params)

    assert "(no conf_digest in params.yaml, " in str(error.value) and str(error.value).endswith(STALE_PARAMS_FIX)


@pytest.mark.slow
def test_dvc_composes_the_same_params_as_compose_through_its_scan_of_hydra_plugins(tmp_path):
    """`dvc exp run` composes params.yaml in its own process, after loading Hydra plugins from the project's
    root (its `hydra.plugins_path`); the digest's resolver is found there, not through the working directory."""
    output = tmp_path / "params.yaml"
    script = (
        "import sys; from dvc.utils.hydra import compose_and_dump; "
        "compose_and_dump(sys.argv[1], sys.argv[2], None, 'pipeline', sys.argv[3], [])"
    )

    subprocess.run(
        [sys.executable, "-c", script, str(output), str(CONF_DIR), str(PROJECT_ROOT)], cwd=tmp_path, check=True, timeout=120
    )

    assert yaml.safe_load(output.read_text()) == compose_pipeline()


@pytest.mark.slow
def test_train_stage_on_a_truncated_dataset_stops_with_one_line_naming_the_file_and_the_fix(project_copy):
    dataset = generate_tiny_data(project_copy) / dataset_file(Dataset.gaussian)
    dataset.write_bytes(dataset.read_bytes()[:1000])

    done = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.train", "sum"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: data/gaussian.npz is truncated or damaged (File is not a zip file): "
        "run `dvc repro --force generate` to write it again"
    ]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_compose_finds_the_digests_resolver_from_any_working_directory(tmp_path):
    """hydra_plugins/ is no installed package: `toy-ann-compose`, run outside the project, still composes."""
    script = "from pipeline.stages.compose import compose_pipeline; print(compose_pipeline()['conf_digest'])"

    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == conf_digest(CONF_DIR)


# The train stage in-process, on the project's params.yaml shrunk (tiny_stage) ---------------------------


def test_train_stage_writes_model_loss_metrics_and_evaluation_and_records_one_finished_run(tmp_path, ready_store):
    stage = tiny_stage(tmp_path, "sum")
    generate(stage)

    with stage.failures:
        train(stage)

    layout = stage.layout
    assert {p.name for p in layout.model_dir("sum").iterdir()} == {"model.keras", "weights.json", "history.json", "figures"}
    assert sorted(p.name for p in (layout.model_dir("sum") / "figures").iterdir()) == [
        "preactivation.png",
        "predicted_vs_true.png",
        "relations_over_epochs.png",
    ]
    loss = loss_from_csv(layout.loss_file("sum").read_text())
    metrics, evaluation = read_json(layout.metrics_file("sum")), read_json(layout.evaluation_file("sum"))
    [run] = recorded_runs(ready_store)
    assert run.info.status == "FINISHED" and run.data.tags["target"] == "sum"
    assert len(loss) == 2
    assert [m.value for m in MlflowClient(tracking_uri=ready_store).get_metric_history(run.info.run_id, "train_loss")] == loss
    assert run.data.metrics["test_mse"] == metrics["test_mse"] == evaluation["test_mse"]
    assert run.data.tags["recovered_formula"] == evaluation["recovered_formula"]
    data_md5 = hashlib.md5(layout.data_file(Dataset.gaussian).read_bytes()).hexdigest()  # as dvc.lock records it
    assert {d.dataset.digest for d in run.inputs.dataset_inputs} == {data_md5}
    assert len(run.outputs.model_outputs) == 1


def test_a_diverging_train_stage_records_its_run_failed_and_writes_no_metrics(tmp_path, ready_store, capsys):
    stage = tiny_stage(tmp_path, "sum", lr=50.0)
    generate(stage)

    with pytest.raises(SystemExit) as exit_, stage.failures:
        train(stage)

    assert exit_.value.code == 2
    assert "error: training loss became nan at epoch 1: lower train.lr (was 50.0)" in capsys.readouterr().err
    [run] = recorded_runs(ready_store)
    assert run.info.status == "FAILED" and run.data.tags["failure.epoch"] == "1"
    assert [m.step for m in MlflowClient(tracking_uri=ready_store).get_metric_history(run.info.run_id, "train_loss")] == [1]
    layout = stage.layout
    assert not layout.metrics_file("sum").exists() and not layout.evaluation_file("sum").exists()


def test_a_stage_whose_run_would_not_fit_in_memory_is_refused_before_any_work(tmp_path, monkeypatch):
    stage = tiny_stage(tmp_path, "sum")
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: SimpleNamespace(available=10 * 2**20))

    with pytest.raises(ConfigError, match=r"^this run needs about .* but 0\.0 GB are free: lower those settings$"):
        stage.target_run()
