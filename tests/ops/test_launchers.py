"""Sweeps beyond one process: Hydra's Ray launcher on a local Ray cluster, or on one started apart, logging
over HTTP to a tracking server on PostgreSQL, checked through MLflow's REST API; only the cluster a sweep
starts itself is kept on loopback; and a job on a cluster started apart still runs TensorFlow with one
thread per pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from pipeline.config import PROJECT_ROOT
from pipeline.ops import tracking_server
from pipeline.ops.launchers import RAY_LAUNCHER, RAY_SINGLE_NODE_SWITCH, RayOnLoopback
from pipeline.ops.threads import INTER_OP, INTER_OP_THREAD, INTRA_OP, XLA_INTRA_OP_THREAD
from pipeline.tracking.tags import JOB_TAG, PARENT_TAG
from tests.helpers import TINY, addresses_in_ray_logs, api, processes_named, rest, run_door, tags_of


def ray_sweep(
    running: tracking_server.RunningServer, sweep_dir: Path, *overrides: str, launcher: str = "ray"
) -> subprocess.CompletedProcess:
    return run_door(
        "-m",
        f"hydra/launcher={launcher}",
        "tracking=server",
        f"tracking.uri={running.tracking_uri}",
        *overrides,
        *TINY,
        f"hydra.sweep.dir={sweep_dir}",
        cwd=PROJECT_ROOT,
    )


def assert_recorded_over_http(running: tracking_server.RunningServer, state_dir: Path, sweep_dir: Path, jobs: int) -> None:
    """Read back through the REST API: a FINISHED parent with `jobs` FINISHED children, each with its metrics,
    its loss history and its artifacts, uploaded through the server into its artifact root."""
    base = api(running.tracking_uri)
    experiment = rest(base, "/experiments/get-by-name?experiment_name=toy-ann")["experiment"]
    search = {"experiment_ids": [experiment["experiment_id"]]}
    [parent] = rest(base, "/runs/search", {**search, "filter": f"tags.`sweep.dir` = '{sweep_dir}'"})["runs"]
    parent_id = parent["info"]["run_id"]
    children = rest(base, "/runs/search", {**search, "filter": f"tags.`{PARENT_TAG}` = '{parent_id}'"})["runs"]
    assert parent["info"]["status"] == "FINISHED"
    parent_metrics = {(m["key"], m["value"]) for m in parent["data"]["metrics"]}
    assert {("jobs", jobs), ("jobs_failed", 0), ("jobs_missing", 0)} <= parent_metrics
    assert sorted(int(tags_of(child)[JOB_TAG]) for child in children) == list(range(jobs))
    artifact_root = state_dir / "artifacts" / experiment["experiment_id"]
    for child in children:
        assert child["info"]["status"] == "FINISHED"
        assert {"test_mse", "m_residual", "c_residual", "relations_hold"} <= {m["key"] for m in child["data"]["metrics"]}
        history = rest(base, f"/metrics/get-history?run_id={child['info']['run_id']}&metric_key=train_loss")
        assert [point["step"] for point in history["metrics"]] == [1, 2]
        assert child["info"]["artifact_uri"].startswith("mlflow-artifacts:")
        stored = {f.name for f in (artifact_root / child["info"]["run_id"] / "artifacts").iterdir()}
        assert {"config.yaml", "weights.json", "evaluation.json"} <= stored  # the model is a LoggedModel of its own
    assert (artifact_root / parent_id / "artifacts" / "sweep_report.html").is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_a_ray_sweep_logs_over_http_to_a_tracking_server_on_postgresql(server, tmp_path):
    running, state_dir = server
    rays_before = processes_named("raylet")

    done = ray_sweep(running, tmp_path / "sweep", "target=sum,product", "model.seed=1,2")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ray Launcher is launching 4 jobs" in done.stdout + done.stderr
    assert_recorded_over_http(running, state_dir, tmp_path / "sweep", jobs=4)
    assert processes_named("raylet") <= rays_before  # the local Ray cluster ended with the sweep
    assert addresses_in_ray_logs() == {"127.0.0.1"}  # it lived on loopback, not the machine's address
    assert not (tmp_path / "mlruns.sqlite").exists()  # no job fell back to $MLFLOW_TRACKING_URI's sqlite file


@pytest.mark.slow
@pytest.mark.integration
def test_a_sweep_runs_on_an_existing_ray_cluster_given_its_address(server, ray_cluster, tmp_path, monkeypatch):
    running, state_dir = server
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # a driver joins with the cluster's token (~/.ray/auth_token)

    done = ray_sweep(
        running,
        tmp_path / "sweep",
        f"hydra.launcher.ray.init.address={ray_cluster}",
        "target=sum,product",
        launcher="ray_cluster",
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Connecting to existing Ray cluster at address: {ray_cluster}" in done.stdout + done.stderr
    assert_recorded_over_http(running, state_dir, tmp_path / "sweep", jobs=2)
    assert addresses_in_ray_logs() == {"127.0.0.1"}


def launcher_config(target: str, address: str | None = None) -> DictConfig:
    return OmegaConf.create({"hydra": {"launcher": {"_target_": target, "ray": {"init": {"address": address}}}}})


@pytest.mark.parametrize(
    ("config", "on_loopback"),
    [
        (launcher_config(RAY_LAUNCHER), True),
        (launcher_config(RAY_LAUNCHER, "auto"), False),  # a cluster of its own: Ray's address is the cluster's
        (launcher_config("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"), False),
    ],
)
def test_only_the_ray_cluster_a_sweep_starts_itself_is_kept_on_loopback(config, on_loopback, monkeypatch):
    monkeypatch.setenv(RAY_SINGLE_NODE_SWITCH, "")  # so that what the callback sets is undone afterwards
    monkeypatch.delenv(RAY_SINGLE_NODE_SWITCH)

    RayOnLoopback().on_multirun_start(config=config)

    assert (os.environ.get(RAY_SINGLE_NODE_SWITCH) == "0") is on_loopback


# Two Ray jobs that report the thread variables and the threads of TensorFlow's two pools, counted by name.
# Like the door's task function, a job names `pipeline`, so a worker imports it when it unpickles the job.
RAY_JOBS = f"""
import collections, os, pathlib, sys
import pipeline, ray

def job():
    import tensorflow as tf
    assert "pipeline" in sys.modules
    tf.function(jit_compile=True)(lambda x: x * 2)(tf.ones(2))
    names = collections.Counter((t / "comm").read_text().strip() for t in pathlib.Path("/proc/self/task").iterdir())
    variables = [os.environ.get("{INTRA_OP}"), os.environ.get("{INTER_OP}")]
    return [*variables, names["{XLA_INTRA_OP_THREAD}"], names["{INTER_OP_THREAD}"], pipeline.__name__]

ray.init(address=sys.argv[1])
for values in ray.get([ray.remote(job).remote() for _ in range(2)]):
    print(*values)
"""


@pytest.mark.slow
@pytest.mark.integration
def test_a_job_on_a_ray_cluster_started_apart_runs_tensorflow_with_one_thread_per_pool(
    without_thread_settings, ray_cluster, monkeypatch
):
    """The driver's environment never reaches such a cluster's workers: each sets the default itself."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")

    done = subprocess.run(
        [sys.executable, "-c", RAY_JOBS, ray_cluster], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert [line.split() for line in done.stdout.splitlines()] == [["1", "1", "1", "1", "pipeline"]] * 2
