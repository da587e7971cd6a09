"""Where runs are recorded: the store resolved once, which stores only this host reaches, and the checks that
tell in seconds whether a store can be used."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.environment import MLFLOW_HTTP_WAITS, Environment
from pipeline.errors import TrackingError
from pipeline.tracking import store
from pipeline.tracking.store import check_reachable, only_this_host_reaches, resolve_tracking_uri
from tests.helpers import EXPERIMENT

FIX = "fix tracking.uri or $MLFLOW_TRACKING_URI"


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


def test_a_database_server_that_does_not_answer_is_named_in_seconds_without_its_password(hang_guard):
    with hang_guard(30), pytest.raises(TrackingError) as error:
        check_reachable("postgresql://mlflow:s3cret@127.0.0.1:1/mlflow")

    assert str(error.value).startswith("MLflow store postgresql://mlflow:***@127.0.0.1:1/mlflow does not answer (")
    assert str(error.value).endswith(f"start its database server or {FIX}")
    assert "s3cret" not in str(error.value) and "\n" not in str(error.value)


def test_a_port_that_is_not_the_database_servers_is_refused_in_one_line_within_the_connect_timeout(silent_listener, hang_guard):
    # MLflow's own tries held each connection psycopg's 130 s, ten times over.
    with hang_guard(60), pytest.raises(TrackingError) as error:
        check_reachable(f"postgresql://mlflow:s3cret@127.0.0.1:{silent_listener.port}/mlflow")

    assert str(error.value) == (
        f"MLflow store postgresql://mlflow:***@127.0.0.1:{silent_listener.port}/mlflow does not let us in (connection "
        f"timeout expired): check its user, password, database and port, or {FIX}"
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("password_prefix", "database", "refusal"),
    [
        ("not-", "postgres", 'password authentication failed for user "toyann"'),
        ("", "nowhere", 'database "nowhere" does not exist'),
    ],
    ids=["wrong password", "missing database"],
)
def test_a_database_that_refuses_the_login_is_named_in_one_line_without_the_password(
    postgres, password_prefix, database, refusal, hang_guard
):
    password = password_prefix + postgres.password

    with hang_guard(60), pytest.raises(TrackingError) as error:  # MLflow's own tries took 120 s to say why
        check_reachable(postgres.uri(password, database))

    assert str(error.value) == (
        f"MLflow store postgresql://toyann:***@127.0.0.1:{postgres.port}/{database} does not let us in (connection failed: "
        f'connection to server at "127.0.0.1", port {postgres.port} failed: FATAL: {refusal}): check its user, password, '
        f"database and port, or {FIX}"
    )
    assert password not in str(error.value)


@pytest.mark.integration
def test_a_database_that_lets_us_in_passes_the_check(postgres):
    check_reachable(postgres.uri(postgres.password))


def test_a_tracking_server_whose_health_check_fails_is_refused_in_one_line(stand_in_tracking_server):
    uri = stand_in_tracking_server(503, 503)

    with pytest.raises(TrackingError) as error:  # MLflow's own retries took 261 s
        check_reachable(uri)

    assert str(error.value) == (
        f"MLflow tracking server {uri} answers its health check with 503 Service Unavailable: it runs but cannot serve; "
        f"restart it (e.g. `python -m pipeline.ops.tracking_server stop`, then `start`) or {FIX}"
    )


@pytest.mark.usefixtures("mlflow_http_waits_unset")
def test_a_tracking_server_uri_with_credentials_is_checked_without_them(stand_in_tracking_server):
    uri = stand_in_tracking_server(200, 200).replace("http://", "http://alice:s3cret@")

    check_reachable(uri)  # urllib took alice:s3cret@127.0.0.1 for the host, which did not resolve


@pytest.mark.usefixtures("mlflow_http_waits_unset")
def test_mlflow_gives_up_in_seconds_on_a_tracking_server_that_fails_after_the_check(stand_in_tracking_server, hang_guard):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = stand_in_tracking_server(200, 503)  # healthy to the check, then a 503 for every call: half-dead
    check_reachable(uri)

    with hang_guard(60), pytest.raises(MlflowException, match="too many 503 error responses"):  # 247 s unbounded
        MlflowClient(tracking_uri=uri).get_experiment_by_name(EXPERIMENT)


@pytest.mark.usefixtures("mlflow_http_waits_unset")
def test_mlflows_http_waits_the_user_set_are_kept(stand_in_tracking_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")

    check_reachable(stand_in_tracking_server(200, 200))

    assert {name: os.environ[name] for name in MLFLOW_HTTP_WAITS} == {**MLFLOW_HTTP_WAITS, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_run_waiting_for_its_store_to_let_it_in_stops_at_once_on_a_signal(silent_listener, signum, project_root, tmp_path):
    uri = f"postgresql://mlflow:s3cret@127.0.0.1:{silent_listener.port}/mlflow"
    job = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run", "train.epochs=2", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=project_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Its imports, then its check: one connection to find the port open, then the login, which waits.
        waiting = all(silent_listener.accepted.acquire(timeout=180) for _ in range(2))
        job.send_signal(signum)
        _, stderr = job.communicate(timeout=30)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()

    assert waiting, stderr[-2000:]
    assert job.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == f"error: interrupted by {signum.name}: a rerun starts afresh"


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
