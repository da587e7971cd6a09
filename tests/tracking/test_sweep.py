"""Hydra sweeps in MLflow as a user runs them (`python -m pipeline.run -m ...`): one parent run, a child per
job, failures recorded and counted, a summary at the end; and the callback's parts, in process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from pipeline.ops.tracking_server import free_loopback_port
from pipeline.tracking import sweep
from pipeline.tracking.store import Store
from pipeline.tracking.sweep import MULTIRUN_FILE, SweepParent, SweepTracking, fixed_params, jobs_launched
from pipeline.tracking.tags import JOB_TAG, OVERRIDE_TAG_PREFIX, PARENT_TAG
from tests.helpers import TINY, job_params, multirun_config, recorded_runs, rest, run_door, sweep_runs


@pytest.mark.slow
def test_parallel_joblib_sweep_on_a_fresh_store_records_a_parent_and_every_child_whole(project_root, tmp_path, mlflow_store):
    assert not Path(mlflow_store.removeprefix("sqlite:///")).exists()  # brand-new store: the race case

    done = run_door(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=8",
        "target=sum,product",
        "model.seed=1,2,3,4",
        *TINY,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=project_root,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    [parent], children = sweep_runs(mlflow_store)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["jobs"] == 8 and parent.data.metrics["jobs_failed"] == 0
    assert len(children) == 8
    assert sorted(int(child.data.tags[JOB_TAG]) for child in children) == list(range(8))
    client = MlflowClient(tracking_uri=mlflow_store)
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags[PARENT_TAG] == parent.info.run_id
        assert child.data.tags[f"{OVERRIDE_TAG_PREFIX}model.seed"] in {"1", "2", "3", "4"}
        assert {"test_mse", "m_residual", "c_residual", "relations_hold", "relu_active_fraction"} <= set(child.data.metrics)
        assert [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep_summary.csv", "sweep_groups.csv", "sweep_summary.md", "sweep_report.html", "by_target.png"} <= artifacts
    assert not [path for path in artifacts if "seed" in path]  # seeds are replicates, never an axis
    assert (tmp_path / "sweep" / "summary" / "sweep_summary.csv").read_text().count("\n") == 9
    assert "| job | target | model.seed | test_mse |" in done.stdout


@pytest.mark.slow
def test_failed_jobs_are_failed_children_with_reasons_and_the_sweep_ends_nonzero(failing_sweep):
    done, uri = failing_sweep

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "error: 2 of 3 jobs failed (status and reason above)"
    [parent], children = sweep_runs(uri)
    assert parent.info.status == "FAILED"
    assert parent.data.metrics["jobs_failed"] == 2
    by_job = {int(child.data.tags[JOB_TAG]): child for child in children}
    assert [by_job[job].info.status for job in range(3)] == ["FINISHED", "FAILED", "FAILED"]
    assert by_job[1].data.tags["failure.reason"].startswith("training loss became nan at epoch 1: lower train.lr")
    assert by_job[1].data.tags["failure.epoch"] == "1"
    assert by_job[2].data.tags["failure.reason"] == "train.lr=-1.0 is not allowed: must be a positive finite number"
    assert by_job[2].data.params["train.lr"] == "-1"  # as composed: the value never became a valid config
    assert "FAILED: train.lr=-1.0 is not allowed" in done.stdout


@pytest.mark.slow
def test_a_tracking_server_on_loopback_serves_the_sweep_parent_and_children_over_rest(failing_sweep, tmp_path):
    _, uri = failing_sweep
    port = free_loopback_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        experiment = None
        for _ in range(120):
            try:
                experiment = rest(base, "/experiments/get-by-name?experiment_name=toy-ann")["experiment"]
                break
            except OSError:
                assert server.poll() is None, "mlflow server exited"
                time.sleep(0.5)
        assert experiment is not None, "mlflow server did not answer within 60 s"

        found = rest(base, "/runs/search", {"experiment_ids": [experiment["experiment_id"]], "filter": "tags.`sweep.dir` != ''"})
        [parent] = found["runs"]
        parent_id = parent["info"]["run_id"]
        children = rest(
            base,
            "/runs/search",
            {
                "experiment_ids": [experiment["experiment_id"]],
                "filter": f"tags.`{PARENT_TAG}` = '{parent_id}'",
            },
        )["runs"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert len(children) == 3
    assert sorted(child["info"]["status"] for child in children) == ["FAILED", "FAILED", "FINISHED"]
    assert {metric["key"] for metric in parent["data"]["metrics"]} >= {"jobs", "jobs_failed", "relations_hold_share"}


@pytest.mark.slow
def test_sweeping_the_tracking_store_is_refused_before_any_run(project_root, tmp_path, mlflow_store):
    done = run_door("-m", "tracking.experiment=a,b", f"hydra.sweep.dir={tmp_path}", cwd=project_root)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: tracking.experiment is swept")
    assert sweep_runs(mlflow_store) == ([], [])


def sweep_config(task: list[str], params: dict | None = None, sweeper: str = "BasicSweeper") -> DictConfig:
    return OmegaConf.create(
        {
            "hydra": {
                "sweeper": {"_target_": f"hydra._internal.core_plugins.basic_sweeper.{sweeper}", "params": params},
                "overrides": {"task": task},
            }
        }
    )


def test_a_swept_tracking_key_stops_the_sweep_before_its_parent_run_with_one_line(capsys, mlflow_store, tmp_path):
    config = OmegaConf.merge(
        sweep_config(["target=sum,product", "tracking.experiment=a,b"]), {"hydra": {"sweep": {"dir": str(tmp_path)}}}
    )

    with pytest.raises(SystemExit) as stopped:
        SweepTracking().on_multirun_start(config=config)

    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: tracking.experiment is swept, but a sweep records all its jobs under one parent run in one store and "
        "experiment: set tracking.* once per sweep and run one sweep per store"
    ]
    assert sweep_runs(mlflow_store) == ([], [])


def test_jobs_launched_by_the_basic_sweeper_are_the_product_of_each_keys_values():
    assert jobs_launched(sweep_config(["target=sum,product", "model.seed=range(1,4)", "train.epochs=2"])) == 6
    assert jobs_launched(sweep_config(["target=sum,product"], {"model.seed": "1,2,3"})) == 6
    assert jobs_launched(sweep_config(["target=sum,product"], {"target": "sum"})) == 2  # the command line wins
    assert jobs_launched(sweep_config(["train.lr=0.1"], {"train.lr": "0.003,0.03", "model.seed": "1,2"})) == 2
    assert jobs_launched(sweep_config(["train.epochs=2"])) == 1
    assert jobs_launched(sweep_config(["target=glob(*)"])) is None  # needs Hydra's config loader
    assert jobs_launched(sweep_config(["train.lr=interval(0.001,0.1)"])) is None  # the basic sweeper refuses it
    assert jobs_launched(sweep_config(["target=sum,product"], sweeper="OptunaSweeper")) is None


def test_the_parent_run_travels_with_the_pickled_callback_to_each_jobs_process(monkeypatch):
    opened = SweepTracking()
    opened.parent = SweepParent("parent-id", Store("sqlite:////x/mlflow.db", "7", "toy-ann"), "driver-host")
    copy_in_worker = cloudpickle.loads(cloudpickle.dumps(opened))  # as the joblib and Ray launchers ship it
    monkeypatch.setattr(sweep, "_parent_of_this_job", None)

    copy_in_worker.on_job_start(config=OmegaConf.create())

    assert sweep._parent_of_this_job == opened.parent


@pytest.mark.slow
def test_a_job_whose_config_moves_it_to_another_experiment_fails_inside_its_sweep(project_root, tmp_path, mlflow_store):
    studies = tmp_path / "conf" / "experiment"
    studies.mkdir(parents=True)
    (studies / "elsewhere.yaml").write_text("# @package _global_\ntracking:\n  experiment: elsewhere\n")
    (studies / "here.yaml").write_text("# @package _global_\n")

    done = run_door(
        "-m",
        "experiment=here,elsewhere",
        *TINY,
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=project_root,
    )

    assert done.returncode == 1
    [_parent], children = sweep_runs(mlflow_store)
    assert sorted(child.info.status for child in children) == ["FAILED", "FINISHED"]
    [moved] = [child for child in children if child.info.status == "FAILED"]
    assert "a sweep records all its jobs in one store and experiment" in moved.data.tags["failure.reason"]
    assert recorded_runs(mlflow_store, experiment="elsewhere") == []


@pytest.mark.slow
def test_the_parent_run_carries_the_sweeps_fixed_params_and_its_multirun_yaml(failing_sweep):
    _, uri = failing_sweep
    [parent], children = sweep_runs(uri)
    [finished] = [child for child in children if child.info.status == "FINISHED"]

    shared = {key: value for key, value in finished.data.params.items() if key != "train.lr"}
    assert parent.data.params == shared  # the swept key is the one left out
    assert parent.data.params["train.epochs"] == "2" and parent.data.params["target.name"] == "sum"
    client = MlflowClient(tracking_uri=uri)
    assert MULTIRUN_FILE in {artifact.path for artifact in client.list_artifacts(parent.info.run_id)}
    logged = Path(client.download_artifacts(parent.info.run_id, MULTIRUN_FILE, str(Path(uri.removeprefix("sqlite:///")).parent)))
    assert logged.read_text() == (Path(parent.data.tags["sweep.dir"]) / MULTIRUN_FILE).read_text()


def test_a_swept_key_is_left_out_of_the_fixed_params_with_what_lies_under_it(hydra_app):
    params = fixed_params(multirun_config(["target=sum,product", "model.seed=1,2", "train.epochs=2"]))

    everything = job_params(["target=sum", "model.seed=1", "train.epochs=2"])
    assert params == {key: value for key, value in everything.items() if not key.startswith(("target.", "model.seed"))}
    assert params["train.epochs"] == "2"


def test_a_swept_global_group_leaves_out_every_key_one_of_its_options_sets(hydra_app):
    params = fixed_params(multirun_config(["experiment=quick,post"]))

    assert not {"data.n_train", "data.n_test", "train.epochs"} & params.keys()  # what experiment=quick sets
    assert params["train.lr"] == "0.003" and params["data.seed"] == "42"


def test_the_sweepers_params_count_as_the_basic_sweeper_applies_them_the_command_line_winning(hydra_app):
    config = multirun_config(["train.lr=0.1"], {"train.lr": "0.003,0.03", "model.seed": "0,1000", "train.inits": "4"})

    params = fixed_params(config)

    assert params["train.lr"] == "0.1" and params["train.inits"] == "4"
    assert "model.seed" not in params
