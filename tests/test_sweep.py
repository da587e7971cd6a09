"""Hydra sweeps as a user runs them (`python -m pipeline.run -m ...`): one MLflow parent run, a child per
job, failures recorded and counted, a summary at the end; and the summary itself, from plain results."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cloudpickle
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from pipeline import sweep
from pipeline.errors import TrackingError
from pipeline.job import check_this_host_reaches, run_target
from pipeline.sweep import JOB_TAG, OVERRIDE_TAG_PREFIX, PARENT_TAG, SweepJob, SweepParent, SweepTracking, jobs_launched
from pipeline.sweep_report import JobResult, SweepSummary
from pipeline.tracking import Store, only_this_host_reaches
from pipeline.tracking_server import free_loopback_port
from tests.conftest import TINY
from tests.test_run import run_door


def sweep_runs(uri: str | None = None) -> tuple[list, list]:
    """(parents, children) of the toy-ann experiment."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("toy-ann")
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
    return [r for r in runs if PARENT_TAG not in r.data.tags], [r for r in runs if PARENT_TAG in r.data.tags]


@pytest.mark.slow
def test_parallel_joblib_sweep_on_a_fresh_store_records_a_parent_and_every_child_whole(project_root, tmp_path, mlflow_store):
    assert not Path(mlflow_store.removeprefix("sqlite:///")).exists()  # brand-new store: the race case

    done = run_door(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=8", "target=sum,product", "model.seed=1,2,3,4",
        *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=project_root,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    [parent], children = sweep_runs()
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["jobs"] == 8 and parent.data.metrics["jobs_failed"] == 0
    assert len(children) == 8
    assert sorted(int(child.data.tags[JOB_TAG]) for child in children) == list(range(8))
    client = MlflowClient()
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags[PARENT_TAG] == parent.info.run_id
        assert child.data.tags[f"{OVERRIDE_TAG_PREFIX}model.seed"] in {"1", "2", "3", "4"}
        assert {"test_mse", "m_residual", "c_residual", "relations_hold", "relu_active_fraction"} <= set(child.data.metrics)
        assert [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep_summary.csv", "sweep_summary.md", "sweep_report.html", "vs_model.seed.png", "coefficients.png"} <= artifacts
    assert (tmp_path / "sweep" / "summary" / "sweep_summary.csv").read_text().count("\n") == 9
    assert "| job | target | model.seed | test_mse |" in done.stdout


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, str]:
    """A three-job sweep: one finishes, one diverges (lr 50), one has a bad value (lr -1)."""
    root = tmp_path_factory.mktemp("failing_sweep")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "-m", "target=sum", "train.lr=0.003,50,-1", *TINY, f"hydra.sweep.dir={root / 'sweep'}"],
        cwd=Path(__file__).resolve().parents[1], env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True, text=True, timeout=600,
    )
    return done, uri


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


def rest(base: str, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_a_tracking_server_on_loopback_serves_the_sweep_parent_and_children_over_rest(failing_sweep, tmp_path):
    _, uri = failing_sweep
    port = free_loopback_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
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
        children = rest(base, "/runs/search", {
            "experiment_ids": [experiment["experiment_id"]], "filter": f"tags.`{PARENT_TAG}` = '{parent_id}'",
        })["runs"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert len(children) == 3
    assert sorted(child["info"]["status"] for child in children) == ["FAILED", "FAILED", "FINISHED"]
    assert {metric["key"] for metric in parent["data"]["metrics"]} >= {"jobs", "jobs_failed", "relations_hold_share"}


def test_sweeping_the_tracking_store_is_refused_before_any_run(project_root, tmp_path):
    done = run_door("-m", "tracking.experiment=a,b", f"hydra.sweep.dir={tmp_path}", cwd=project_root)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: tracking.experiment is swept")
    assert sweep_runs() == ([], [])


def job(number: int, lr: str, status: str = "FINISHED", holds: bool = True, mse: float = 1e-4) -> JobResult:
    metrics = {"test_mse": mse, "m_residual": 1e-6, "c_residual": 2e-6, "relations_hold": float(holds), "relu_active_fraction": 1.0}
    evaluation = {"true_m": [1.0, 1.0], "recovered_m": [1.0, 0.999], "true_c": 0.0, "recovered_c": 0.001, "atol": 1e-3}
    finished = status == "FINISHED"
    return JobResult(
        number, {"target": "sum", "train.lr": lr, "train.epochs": "5"}, status,
        None if finished else "training loss became nan", metrics if finished else {}, evaluation if finished else None,
    )


def test_summary_has_one_row_per_job_with_only_the_swept_keys_and_counts_failures_as_not_holding():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.01", holds=False), job(2, "10", status="FAILED")])

    header, *rows = summary.rows()

    assert header[:2] == ["job", "train.lr"]  # target and epochs were the same in every job
    assert [row[1] for row in rows] == ["0.001", "0.01", "10"]
    assert rows[2][-1] == "FAILED: training loss became nan"
    assert summary.metrics() == {"jobs": 3.0, "jobs_failed": 1.0, "jobs_missing": 0.0, "relations_hold_share": 1 / 3}
    assert "relations hold in 1 of 3 jobs (33%); 1 failed" in summary.markdown()
    assert summary.csv().splitlines()[1].startswith("0,0.001,0.0001,")


def test_launched_jobs_that_left_no_run_are_missing_and_the_sweep_did_not_succeed():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.01")], launched=4)

    assert summary.missing == 2 and not summary.succeeded
    assert summary.metrics()["jobs_missing"] == 2.0
    assert summary.markdown().rstrip().endswith("0 failed; 2 launched but left no run")
    assert SweepSummary([job(0, "0.001")], launched=1).succeeded
    assert SweepSummary([job(0, "0.001")]).succeeded  # another sweeper: the count is not known


def sweep_config(task: list[str], params: dict | None = None, sweeper: str = "BasicSweeper") -> DictConfig:
    return OmegaConf.create({"hydra": {
        "sweeper": {"_target_": f"hydra._internal.core_plugins.basic_sweeper.{sweeper}", "params": params},
        "overrides": {"task": task},
    }})


def test_jobs_launched_by_the_basic_sweeper_are_the_product_of_each_keys_values():
    assert jobs_launched(sweep_config(["target=sum,product", "model.seed=range(1,4)", "train.epochs=2"])) == 6
    assert jobs_launched(sweep_config(["target=sum,product"], {"model.seed": "1,2,3"})) == 6
    assert jobs_launched(sweep_config(["target=sum,product"], {"target": "sum"})) == 2  # the command line wins
    assert jobs_launched(sweep_config(["target=glob(*)"])) is None  # needs Hydra's config loader
    assert jobs_launched(sweep_config(["target=sum,product"], sweeper="OptunaSweeper")) is None


def test_the_parent_run_travels_with_the_pickled_callback_to_each_jobs_process(monkeypatch):
    opened = SweepTracking()
    opened.parent = SweepParent("parent-id", Store("sqlite:////x/mlflow.db", "7"), "driver-host")
    copy_in_worker = cloudpickle.loads(cloudpickle.dumps(opened))  # as the joblib and Ray launchers ship it
    monkeypatch.setattr(sweep, "_parent_of_this_job", None)

    copy_in_worker.on_job_start(config=OmegaConf.create())

    assert sweep._parent_of_this_job == opened.parent


def test_summary_plots_results_against_each_numeric_swept_key_and_coefficients():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.1")])

    assert set(summary.figures()) == {"vs_train.lr.png", "coefficients.png"}  # target is not a number
    assert SweepSummary([job(0, "0.001", status="FAILED")]).figures() == {}  # nothing finished, nothing to plot


def test_summary_shows_the_per_job_shares_when_jobs_trained_several_initialisations():
    several = job(0, "0.001")
    several.metrics.update({"inits": 16.0, "relations_hold_share": 0.75, "relu_dead_share": 0.125})

    header, row = SweepSummary([several]).rows()

    assert header[-3:] == ["relations_hold_share", "relu_dead_share", "status"]
    assert row[-3:-1] == ["0.75", "0.125"]
    assert "relu_dead_share" not in SweepSummary([job(0, "0.001")]).rows()[0]


def test_summary_page_holds_the_table_and_every_figure_inline():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.1", status="FAILED")])
    figures = summary.figures()

    page = summary.files(figures)["sweep_report.html"]

    assert page.count('src="data:image/png;base64,') == len(figures) == 2
    assert "<td>FAILED: training loss became nan</td>" in page and "relations hold in 1 of 2 jobs; 1 failed" in page


@pytest.mark.slow
def test_a_job_whose_config_moves_it_to_another_experiment_fails_inside_its_sweep(project_root, tmp_path):
    studies = tmp_path / "conf" / "experiment"
    studies.mkdir(parents=True)
    (studies / "elsewhere.yaml").write_text("# @package _global_\ntracking:\n  experiment: elsewhere\n")
    (studies / "here.yaml").write_text("# @package _global_\n")

    done = run_door(
        "-m", "experiment=here,elsewhere", *TINY, f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=project_root,
    )

    assert done.returncode == 1
    [parent], children = sweep_runs()
    assert sorted(child.info.status for child in children) == ["FAILED", "FINISHED"]
    [moved] = [child for child in children if child.info.status == "FAILED"]
    assert "a sweep records all its jobs in one store and experiment" in moved.data.tags["failure.reason"]
    elsewhere = MlflowClient().get_experiment_by_name("elsewhere")
    assert elsewhere is None or MlflowClient().search_runs([elsewhere.experiment_id]) == []


def test_a_job_on_another_host_refuses_a_store_only_the_sweeps_host_reaches(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-node")
    parent = SweepParent("p", Store("sqlite:////work/mlflow.db", "1"), "driver-host")

    with pytest.raises(TrackingError, match="runs on worker-node, but its sweep records into sqlite:////work/mlflow.db, "
                                            "which only driver-host reaches: on a cluster, record to an MLflow tracking"):
        check_this_host_reaches("sqlite:////work/mlflow.db", parent)
    check_this_host_reaches("http://head-node:5000", parent)  # every node reaches it
    monkeypatch.setattr(socket, "gethostname", lambda: "driver-host")
    check_this_host_reaches("sqlite:////work/mlflow.db", parent)


def test_a_job_on_another_host_fails_before_it_makes_a_store_of_its_own_there(run_config, mlflow_store, monkeypatch, tmp_path):
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-node")
    parent = SweepParent("p", Store(mlflow_store, "1"), "driver-host")

    with pytest.raises(TrackingError, match="runs on worker-node"):
        run_target(run_config(*TINY), tmp_path, sweep_job_of(parent))

    assert not Path(mlflow_store.removeprefix("sqlite:///")).exists()


def sweep_job_of(parent: SweepParent) -> SweepJob:
    return SweepJob(parent, number=0, overrides=())


@pytest.mark.parametrize(("uri", "only_this_host"), [
    ("sqlite:////work/mlflow.db", True), ("/work/mlruns", True), ("http://127.0.0.1:5000", True),
    ("http://localhost:5000", True), ("http://[::1]:5000", True), ("postgresql://u@127.0.0.1/mlflow", True),
    ("postgresql:///mlflow?host=/var/run/postgresql", True), ("http://head-node:5000", False),
    ("https://mlflow.example.org", False), ("databricks", False), ("databricks-uc", False),
])
def test_file_stores_and_loopback_servers_are_reached_from_this_host_only(uri, only_this_host):
    assert only_this_host_reaches(uri) is only_this_host
