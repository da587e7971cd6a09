"""A job whose tracking server dies while it trains keeps its whole run in its folder and says how to record
it; `python -m pipeline.runs record` then completes the run it had opened, once the server is back."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.ops.tracking_server import free_loopback_port
from pipeline.tracking.tags import FAILURE_TAG
from pipeline.tracking.unrecorded import KEPT_DIR, RECORDED_FILE
from tests.helpers import EXPERIMENT

# Small, but a training of several seconds: the server is killed once its loss has reached the run (every 2 s).
JOB = ("data.n_train=2048", "data.n_test=64", "train.batch_size=32", "train.epochs=1500")


@contextlib.contextmanager
def mlflow_server(port: int, folder: Path) -> Iterator[subprocess.Popen]:
    """`mlflow server` on a sqlite store in `folder`, in a session of its own, so killing the session ends every
    worker; killed outright when the block ends."""
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--artifacts-destination", str(folder / "artifacts")]
    server = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    try:
        _wait(lambda: _answers(port), "the tracking server to answer")
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.integration
def test_a_job_whose_server_died_keeps_its_run_and_records_it_whole_once_the_server_is_back(tmp_path, project_root):
    port, job_dir = free_loopback_port(), tmp_path / "job"
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    with mlflow_server(port, tmp_path):
        job = subprocess.Popen(
            [sys.executable, "-m", "pipeline.run", f"tracking.uri={uri}", *JOB, f"hydra.run.dir={job_dir}"],
            cwd=project_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            client = MlflowClient(tracking_uri=uri)
            run_id = _wait(lambda: _training_run(client), "the job's loss to reach its run")
        except BaseException:
            job.kill()
            raise
    try:
        _, err = job.communicate(timeout=300)
    finally:
        job.kill()

    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert job.returncode == 2 and len(errors) == 1, err[-3000:]
    assert f"its whole result is kept in {job_dir / KEPT_DIR}" in errors[0]
    assert f"python -m pipeline.runs record {job_dir}" in errors[0]

    with mlflow_server(port, tmp_path):
        recorded = subprocess.run(
            [sys.executable, "-m", "pipeline.runs", "record", str(job_dir), "--tracking-uri", uri],
            cwd=project_root, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert recorded.returncode == 0, recorded.stderr[-3000:]
        assert f"completed run {run_id}" in recorded.stdout
        run = client.get_run(run_id)
        history = client.get_metric_history(run_id, "train_loss")
        artifacts = {artifact.path for artifact in client.list_artifacts(run_id)}
        [model] = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")
        again = subprocess.run(
            [sys.executable, "-m", "pipeline.runs", "record", str(job_dir), "--tracking-uri", uri],
            cwd=project_root, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    assert run.info.status == "FINISHED" and "test_mse" in run.data.metrics and FAILURE_TAG not in run.data.tags
    assert sorted(point.step for point in history) == list(range(1, 1501))
    assert {"config.yaml", "weights.json", "evaluation.json"} <= artifacts
    assert model.status.to_proto() == "READY" or str(model.status).endswith("READY")
    assert (job_dir / KEPT_DIR / RECORDED_FILE).is_file()
    assert again.returncode == 0 and "nothing to record" in again.stdout


def _answers(port: int) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
    except OSError:
        return False
    return True


def _training_run(client: MlflowClient) -> str | None:
    """The id of the run whose training's loss has begun to reach it."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'RUNNING'")
    return runs[0].info.run_id if runs and "train_loss" in runs[0].data.metrics else None


def _wait(found, what: str, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds:g} s for {what}")
