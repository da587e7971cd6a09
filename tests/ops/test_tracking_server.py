"""`python -m pipeline.ops.tracking_server`: a real PostgreSQL server and `mlflow server` against it, on
loopback; stopped whole, restarted with the runs kept, and never confused by a stale pid or a port in use."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from pipeline.ops import tracking_server
from pipeline.ops.tracking_server import free_loopback_port
from tests.helpers import api, rest


@pytest.mark.slow
@pytest.mark.integration
def test_stop_ends_postgres_and_the_mlflow_server_and_a_restart_keeps_the_runs(state_dir):
    first = tracking_server.start(state_dir, port=free_loopback_port(), database_port=free_loopback_port())
    created = rest(api(first.tracking_uri), "/experiments/create", {"name": "kept"})["experiment_id"]
    assert tracking_server.start(state_dir, port=free_loopback_port(), database_port=free_loopback_port()) == first
    assert tracking_server.main(["status", "--dir", str(state_dir)]) == 0
    for password in ("postgres-password", "mlflow-db-password"):
        assert (state_dir / password).stat().st_mode & 0o777 == 0o600
        assert (state_dir / password).read_bytes() not in Path(f"/proc/{first.mlflow_pid}/cmdline").read_bytes()

    assert tracking_server.stop(state_dir)

    assert not tracking_server.RunningServer.load(state_dir)
    assert subprocess.run(["pgrep", "-f", f"postgres -D {state_dir}"], capture_output=True).returncode == 1
    with pytest.raises(ProcessLookupError):
        os.kill(first.mlflow_pid, 0)
    second = tracking_server.start(state_dir, port=free_loopback_port(), database_port=free_loopback_port())
    try:
        assert (
            rest(api(second.tracking_uri), "/experiments/get-by-name?experiment_name=kept")["experiment"]["experiment_id"]
            == created
        )
    finally:
        tracking_server.stop(state_dir)
    assert tracking_server.stop(state_dir) is False  # nothing left to stop
    assert tracking_server.main(["status", "--dir", str(state_dir)]) == 1


@pytest.mark.slow
@pytest.mark.integration
def test_a_database_port_in_use_fails_with_the_fix_and_leaves_nothing_running(state_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(
            tracking_server.ServerError, match=r"PostgreSQL did not start on 127\.0\.0\.1:\d+ .*choose another --db-port"
        ):
            tracking_server.start(state_dir, port=free_loopback_port(), database_port=taken.getsockname()[1])

    assert tracking_server.RunningServer.load(state_dir) is None
    assert subprocess.run(["pgrep", "-f", f"postgres -D {state_dir}"], capture_output=True).returncode == 1


@pytest.mark.slow
@pytest.mark.integration
def test_stop_never_signals_a_process_that_only_reused_the_servers_pid(state_dir):
    stale = tracking_server.RunningServer("http://127.0.0.1:9", 9, os.getpid(), str(tracking_server.postgres_bin_dir()), None)
    stale.save(state_dir)  # as after a reboot: this pid is now the test's own process

    assert tracking_server.stop(state_dir)

    assert tracking_server.RunningServer.load(state_dir) is None  # and we are still here
