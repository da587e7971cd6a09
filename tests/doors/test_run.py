"""The Hydra door as a user runs it: `python -m pipeline.run ...` in a subprocess."""

from __future__ import annotations

import os

import pytest

from pipeline.config import CONF_DIR
from tests.helpers import TINY, recorded_runs, run_door


@pytest.mark.slow
def test_multirun_records_one_finished_child_run_per_job_under_one_parent(project_root, tmp_path, mlflow_store):
    done = run_door("-m", "target=sum,product", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=project_root)

    assert done.returncode == 0, done.stderr[-3000:]
    runs = recorded_runs(mlflow_store)
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(run.data.tags["target"] for run in children) == ["product", "sum"]
    assert all(run.info.status == "FINISHED" and "test_mse" in run.data.metrics for run in children)
    assert parent.info.status == "FINISHED"
    for job in ("0", "1"):
        assert {"model.keras", "weights.json", "history.json"} <= {p.name for p in (tmp_path / "sweep" / job).iterdir()}
    assert "recovered formula" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr=-1", "error: train.lr=-1.0 is not allowed: must be a positive finite number"),
        ("data.n_train=0", "error: data.n_train=0 is not allowed: must be a positive integer"),
        ("target.dataset=gaussian", "error: target.space=log takes the log of the inputs"),
        ("model.seed=-1", "error: model.seed=-1 is not allowed"),
        ("data.gamma.shape=0.0001", "error: a log-space target needs positive inputs"),
        (
            "tracking.uri=sqlite:////proc/no/such/dir/mlflow.db",
            "error: MLflow store sqlite:////proc/no/such/dir/mlflow.db is not usable",
        ),
        ("tracking.uri=http://127.0.0.1:9", "error: MLflow tracking server http://127.0.0.1:9 does not answer ("),
    ],
)
def test_bad_input_exits_nonzero_with_one_line_and_records_no_run(project_root, tmp_path, mlflow_store, override, message):
    done = run_door("target=product", override, f"hydra.run.dir={tmp_path}", cwd=project_root)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(message)
    assert recorded_runs(mlflow_store) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, message",
    [
        (
            "target=cube",
            "error: Could not find 'target/cube': choose one of "
            "abs_sum, geometric_mean, max2, product, product2, relu_sum, sum, weighted_sum",
        ),
        (
            "hydra/launcher=dask",
            "error: Could not find 'hydra/launcher/dask': choose one of basic, joblib, ray, ray_aws, ray_cluster",
        ),
        (
            "train.lrr=0.1",
            "error: Could not override 'train.lrr'. Key 'lrr' is not in struct. To append to your config use +train.lrr=0.1.",
        ),
    ],
)
def test_hydras_own_errors_for_unknown_options_and_keys_are_one_line_too(
    project_root, tmp_path, mlflow_store, monkeypatch, override, message
):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    done = run_door(override, f"hydra.run.dir={tmp_path}", cwd=project_root)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message]
    assert recorded_runs(mlflow_store) == []


@pytest.mark.slow
def test_a_diverging_run_exits_nonzero_and_is_recorded_failed_with_its_reason_and_epoch(project_root, tmp_path, mlflow_store):
    done = run_door("train.lr=50", *TINY, f"hydra.run.dir={tmp_path}", cwd=project_root)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: training loss became nan at epoch 1: lower train.lr")
    [run] = recorded_runs(mlflow_store)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure.reason"].startswith("training loss became nan") and run.data.tags["failure.epoch"] == "1"
    assert run.data.params["train.lr"] == "50.0" and "test_mse" not in run.data.metrics


@pytest.mark.slow
def test_hydra_full_error_gives_hydras_own_full_traceback(project_root, tmp_path, mlflow_store):
    done = run_door("train.lrr=1", f"hydra.run.dir={tmp_path}", cwd=project_root, env={**os.environ, "HYDRA_FULL_ERROR": "1"})

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any("config_loader_impl.py" in line for line in lines)  # down to Hydra's own frames
    assert lines[-2:] == [
        "hydra.errors.ConfigCompositionException: Could not override 'train.lrr'.",
        "To append to your config use +train.lrr=1",
    ]
    assert recorded_runs(mlflow_store) == []


@pytest.mark.slow
def test_help_describes_the_app_its_config_groups_and_every_ready_made_study(tmp_path):
    done = run_door("--help", cwd=tmp_path)  # from another directory: the app finds its own conf/

    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("toy-ann: train a tiny network, Dense(width, relu | leaky_relu | linear) -> Dense(1)")
    groups = text[text.index("== Config groups") : text.index("== Ready-made studies")]
    assert "\ntarget: abs_sum, geometric_mean, max2, product, product2, relu_sum, sum, weighted_sum\n" in groups
    assert {line.split(":")[0] for line in groups.splitlines()[1:] if line} == {
        "data",
        "eval",
        "experiment",
        "model",
        "target",
        "tracking",
        "train",
    }
    studies = text[text.index("== Ready-made studies") : text.index("== Config ==")]
    named = {line.split()[0] for line in studies.splitlines()[1:] if line.startswith("  ") and not line.startswith("   ")}
    assert named == {path.stem for path in (CONF_DIR / "experiment").glob("*.yaml")}
    assert "train:\n  engine: compiled\n" in text  # the config these overrides compose


@pytest.mark.slow
def test_a_jobs_results_are_on_the_terminal_and_in_its_hydra_log(project_root, tmp_path, mlflow_store):
    done = run_door(*TINY, f"hydra.run.dir={tmp_path}", cwd=project_root)

    assert done.returncode == 0, done.stderr[-3000:]
    [run] = recorded_runs(mlflow_store)
    first = f"target sum  (MLflow run {run.info.run_id})"
    terminal = done.stdout.splitlines()
    summary = terminal[terminal.index(first) :]  # plain on the terminal, as printed before
    assert any(line.startswith("  recovered formula f(X) = ") for line in summary)
    log = (tmp_path / "run.log").read_text()
    assert f"[pipeline.results][INFO] - {first}\n" + "\n".join(summary[1:]) in log
