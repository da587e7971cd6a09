"""Where runs are recorded: the store resolved once, and which stores only this host reaches."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.environment import Environment
from pipeline.errors import TrackingError
from pipeline.tracking import store
from pipeline.tracking.store import check_reachable, only_this_host_reaches, resolve_tracking_uri


def test_tracking_uri_prefers_config_then_environment_then_the_project_store(monkeypatch, project_root, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere.db")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "main-repo"))
    assert resolve_tracking_uri("http://127.0.0.1:5000", Environment.read()) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri(None, Environment.read()) == "sqlite:////elsewhere.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    # DVC's queued and --temp experiments run in a temporary copy; $DVC_ROOT names the main repository.
    assert resolve_tracking_uri(None, Environment.read()) == f"sqlite:///{tmp_path / 'main-repo' / 'mlflow.db'}"
    monkeypatch.delenv("DVC_ROOT")
    assert resolve_tracking_uri(None, Environment.read()) == f"sqlite:///{project_root / 'mlflow.db'}"


def test_a_file_that_is_not_a_sqlite_database_is_refused_before_any_work(tmp_path):
    database = tmp_path / "mlflow.db"
    database.write_text("not a database")

    with pytest.raises(TrackingError) as error:
        check_reachable(f"sqlite:///{database}")

    assert str(error.value) == (
        f"MLflow store sqlite:///{database} is not usable: {database} is not a sqlite database: "
        "fix tracking.uri or $MLFLOW_TRACKING_URI"
    )


def test_a_database_server_that_does_not_answer_is_named_in_seconds_without_its_password():
    start = time.monotonic()
    with pytest.raises(TrackingError) as error:
        check_reachable("postgresql://mlflow:s3cret@127.0.0.1:1/mlflow")

    assert time.monotonic() - start < 10
    assert str(error.value).startswith("MLflow store postgresql://mlflow:***@127.0.0.1:1/mlflow does not answer (")
    assert str(error.value).endswith("start its database server or fix tracking.uri or $MLFLOW_TRACKING_URI")
    assert "s3cret" not in str(error.value)


def test_an_empty_sqlite_file_is_a_store_mlflow_will_make(tmp_path):
    database = tmp_path / "mlflow.db"
    database.touch()

    check_reachable(f"sqlite:///{database}")


def test_a_sqlite_store_in_a_directory_that_does_not_exist_is_refused_with_one_line(tmp_path):
    uri = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"

    with pytest.raises(TrackingError) as error:
        check_reachable(uri)

    assert str(error.value) == (
        f"MLflow store {uri} is not usable: the directory {tmp_path / 'nowhere'} does not exist: "
        "create it or fix tracking.uri or $MLFLOW_TRACKING_URI"
    )
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("uri", "only_this_host"),
    [
        ("sqlite:////work/mlflow.db", True),
        ("/work/mlruns", True),
        ("http://127.0.0.1:5000", True),
        ("http://localhost:5000", True),
        ("http://[::1]:5000", True),
        ("postgresql://u@127.0.0.1/mlflow", True),
        ("postgresql:///mlflow?host=/var/run/postgresql", True),
        ("http://head-node:5000", False),
        ("https://mlflow.example.org", False),
        ("databricks", False),
        ("databricks-uc", False),
    ],
)
def test_file_stores_and_loopback_servers_are_reached_from_this_host_only(uri, only_this_host):
    assert only_this_host_reaches(uri) is only_this_host


@pytest.fixture
def held_store_lock(tmp_path):
    """A new sqlite store whose creation lock another holder has (its own open file: flock tells them apart)."""
    database = tmp_path / "new.db"
    with open(f"{database}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield f"sqlite:///{database}"


def test_waiting_for_a_held_store_lock_ends_in_one_line_naming_it(held_store_lock, monkeypatch):
    monkeypatch.setattr(store, "LOCK_WAIT_SECONDS", 0.3)
    start = time.monotonic()

    with (
        pytest.raises(TrackingError, match=r"^waited 0.3 s for .*new\.db\.lock, which another process holds") as error,
        store.one_creator_at_a_time(held_store_lock),
    ):
        pass

    assert time.monotonic() - start < 5 and "\n" not in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_run_waiting_for_a_held_store_lock_stops_at_once_on_a_signal(held_store_lock, signum, project_root, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": held_store_lock}
    job = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run", "train.epochs=2", f"hydra.run.dir={tmp_path / 'run'}"],
        env=env,
        cwd=project_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(15)  # its imports, then it waits for the lock
    assert job.poll() is None, job.communicate()[1][-2000:]

    sent = time.monotonic()
    job.send_signal(signum)
    _, stderr = job.communicate(timeout=30)

    assert job.returncode == 130 and time.monotonic() - sent < 5, stderr[-2000:]
