"""A sweep across two hosts, for real: two network namespaces joined by a virtual link, each with its own
address and host name, neither reachable from the machine itself. On the head host: PostgreSQL, the
tracking server (with users, as beyond loopback it must be) and a Ray head with no CPUs, so every job runs
on the worker host, a Ray node that joined over the link. A sweep from the head records over HTTP; the same
sweep on a sqlite store of the head fails on the worker host with the one-line error, each job counted
missing."""

from __future__ import annotations

import json
import time

import pytest

from pipeline.tracking.tags import OWNER_HOST_TAG, PARENT_TAG
from tests.helpers import TINY, TwoHosts

JOBS = 4


@pytest.mark.integration
@pytest.mark.slow
def test_a_sweep_from_the_head_host_runs_its_jobs_on_the_worker_host_and_records_them_over_http(two_hosts: TwoHosts):
    hosts = two_hosts
    sweep_dir = hosts.folder / "http-sweep"
    started = time.monotonic()
    done = hosts.on_head(
        "-m", "pipeline.run", "-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={hosts.ray_address}",
        "tracking=server", f"tracking.uri={hosts.tracking_uri}", f"model.seed=range(1,{JOBS + 1})", *TINY,
        f"hydra.sweep.dir={sweep_dir}",
    )  # fmt: skip
    minutes = (time.monotonic() - started) / 60

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = hosts.runs_on_server()
    parents = [run for run in runs if PARENT_TAG not in run["tags"]]
    assert len(parents) == 1 and parents[0]["tags"][OWNER_HOST_TAG] == hosts.head_name, runs
    children = [run for run in runs if run["tags"].get(PARENT_TAG) == parents[0]["run_id"]]
    assert sorted(child["status"] for child in children) == ["FINISHED"] * JOBS
    assert {child["tags"][OWNER_HOST_TAG] for child in children} == {hosts.worker_name}
    print(f"\n{JOBS} runs over two hosts in {minutes * 60:.1f} s: {JOBS / minutes:.1f} runs per minute")


@pytest.mark.integration
@pytest.mark.slow
def test_the_same_sweep_on_a_sqlite_store_of_the_head_fails_on_the_worker_host_each_job_counted_missing(two_hosts: TwoHosts):
    hosts = two_hosts
    store = f"sqlite:///{hosts.folder / 'head.db'}"
    done = hosts.on_head(
        "-m", "pipeline.run", "-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={hosts.ray_address}",
        f"tracking.uri={store}", "model.seed=1,2", *TINY, f"hydra.sweep.dir={hosts.folder / 'sqlite-sweep'}",
    )  # fmt: skip

    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert (
        f"this job runs on {hosts.worker_name}, but its sweep records into {store}, which only {hosts.head_name} reaches"
        in output
    )
    assert "error: 2 of 2 jobs left no run under the parent" in output
    assert json.loads(hosts.head_python(_METRICS_OF_PARENT.format(store=store)))["jobs_missing"] == 2


_METRICS_OF_PARENT = """
import json
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri="{store}")
[parent] = client.search_runs([client.get_experiment_by_name("toy-ann").experiment_id])
print(json.dumps(parent.data.metrics))
"""
