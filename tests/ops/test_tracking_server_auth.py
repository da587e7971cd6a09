"""`python -m pipeline.ops.tracking_server start --auth`: MLflow's basic-auth app in front of the real server,
users by MLflow's own environment variables, the admin's password in an owner-only file and never on a
command line, and /health open for the project's reachability check."""

from __future__ import annotations

import urllib.error
import urllib.request

import psutil
import pytest
from mlflow.server import get_app_client
from mlflow.tracking import MlflowClient

from pipeline.errors import TrackingError
from pipeline.ops import tracking_server
from pipeline.ops.tracking_server import free_loopback_port, is_loopback
from pipeline.tracking.runs import open_store
from tests.helpers import api, rest

SECRETS = ("mlflow-admin-password", "mlflow-flask-secret", "basic_auth.ini")


def test_is_loopback_tells_the_addresses_only_this_machine_reaches():
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "tracking.example"))


@pytest.mark.slow
@pytest.mark.integration
def test_a_server_with_users_lets_clients_with_mlflows_variables_record_and_answers_others_401(state_dir, monkeypatch, capsys):
    port = free_loopback_port()
    arguments = ["--dir", str(state_dir), "--port", str(port), "--db-port", str(free_loopback_port())]
    assert tracking_server.main(["start", "--auth", *arguments]) == 0
    try:
        uri, running = f"http://127.0.0.1:{port}", tracking_server.RunningServer.load(state_dir)
        password_file = state_dir / "mlflow-admin-password"
        password = password_file.read_text().strip()
        printed = capsys.readouterr().out
        assert f"MLFLOW_TRACKING_USERNAME=admin and MLFLOW_TRACKING_PASSWORD to the password in {password_file}" in printed
        assert password not in printed
        for secret in SECRETS:
            assert (state_dir / secret).stat().st_mode & 0o777 == 0o600
        assert running is not None and running.auth
        server = psutil.Process(running.mlflow_pid)
        for process in [server, *server.children(recursive=True)]:
            assert password not in " ".join(process.cmdline())

        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        with urllib.request.urlopen(f"{uri}/health", timeout=10) as health:  # what pipeline.tracking.store asks
            assert health.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            rest(api(uri), "/experiments/search?max_results=1")
        assert refused.value.code == 401
        with pytest.raises(TrackingError) as unusable:
            open_store(uri, "toy-ann")
        refusal = f"MLflow tracking server {uri} refused this user (401): set MLFLOW_TRACKING_USERNAME"
        assert str(unusable.value).startswith(refusal)
        assert "\n" not in str(unusable.value)

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        store = open_store(uri, "toy-ann")
        get_app_client("basic-auth", tracking_uri=uri).create_user("analyst", "a-password-of-the-analyst")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "analyst")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-password-of-the-analyst")
        recorded = MlflowClient(tracking_uri=uri).create_run(store.experiment_id)  # admin's experiment: EDIT for all
        assert MlflowClient(tracking_uri=uri).get_run(recorded.info.run_id).info.experiment_id == store.experiment_id
        assert tracking_server.main(["status", *arguments[:2]]) == 0
        assert " answers with users " in capsys.readouterr().out
    finally:
        tracking_server.stop(state_dir)
