"""`python -m pipeline.ops.tracking_server`: a real PostgreSQL server and `mlflow server` against it, on
loopback; stopped whole, restarted with the runs kept, never confused by a stale pid or a port in use, and
whole again after its first process was killed with SIGKILL (its workers serve on, orphaned, until stopped)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psutil
import pytest

from pipeline.ops import tracking_server
from pipeline.ops.tracking_server import free_loopback_port
from tests.helpers import api, rest


@pytest.mark.slow
@pytest.mark.integration
def test_stop_ends_postgres_and_the_mlflow_server_and_a_restart_keeps_the_runs(state_dir):
    port, database_port = free_loopback_port(), free_loopback_port()
    first = tracking_server.start(state_dir, port=port, database_port=database_port)
    created = rest(api(first.tracking_uri), "/experiments/create", {"name": "kept"})["experiment_id"]
    assert tracking_server.start(state_dir, port=port, database_port=database_port) == first
    with pytest.raises(tracking_server.ServerError, match=f"already runs at {first.tracking_uri}, without users: stop it"):
        tracking_server.start(state_dir, port=free_loopback_port(), database_port=database_port)  # not silently the old one
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


def port_of(uri: str) -> int:
    return urllib.parse.urlparse(uri).port or 0


def answers(uri: str) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port_of(uri)), timeout=2).close()
    except OSError:
        return False
    return True


def still_running(processes: list[psutil.Process]) -> list[int]:
    """Zombies waiting for init to collect them hold no socket: they count as ended."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return running


def listening_on(port: int, processes: list[psutil.Process]) -> list[int]:
    """Each process holding the listening socket (psutil's machine-wide table names one per socket)."""
    return [
        process.pid
        for process in processes
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections(kind="tcp"))
    ]


@pytest.mark.slow
@pytest.mark.integration
def test_stop_after_a_killed_server_process_ends_its_orphaned_workers_and_nothing_answers_any_more(killed_server, capsys):
    running, state_dir, orphans = killed_server
    assert answers(running.tracking_uri)  # the orphans serve on

    assert tracking_server.main(["stop", "--dir", str(state_dir)]) == 0

    assert capsys.readouterr().out == "stopped\n"
    assert still_running(orphans) == []
    assert not answers(running.tracking_uri)
    assert tracking_server.RunningServer.load(state_dir) is None


@pytest.mark.slow
@pytest.mark.integration
def test_status_after_a_killed_server_process_names_it_gone_and_the_workers_that_still_serve(killed_server, capsys):
    running, state_dir, orphans = killed_server
    serving = listening_on(port_of(running.tracking_uri), orphans)
    assert serving  # uvicorn's supervisor and its workers

    assert tracking_server.main(["status", "--dir", str(state_dir)]) == 1

    assert capsys.readouterr().out == (
        f"the mlflow server process {running.mlflow_pid} is gone but its workers {', '.join(map(str, serving))} "
        f"still serve {running.tracking_uri}: stop ends them\n"
    )


@pytest.mark.slow
@pytest.mark.integration
def test_start_after_a_killed_server_process_ends_its_orphaned_workers_and_serves_anew_on_the_same_port(killed_server, capsys):
    running, state_dir, orphans = killed_server

    again = tracking_server.start(state_dir, port=port_of(running.tracking_uri), database_port=running.database_port)

    assert again.tracking_uri == running.tracking_uri and again.mlflow_pid != running.mlflow_pid
    assert still_running(orphans) == []
    assert tracking_server.main(["status", "--dir", str(state_dir)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"MLflow tracking server at {again.tracking_uri} answers (mlflow server pid {again.mlflow_pid}")


@pytest.mark.integration  # finds PostgreSQL's tools before it looks at the port
def test_a_foreign_process_on_the_servers_port_is_named_by_status_refused_by_start_and_left_alone_by_stop(state_dir, capsys):
    port = free_loopback_port()
    foreign = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gone = subprocess.Popen(["true"])
    gone.wait()
    uri = f"http://127.0.0.1:{port}"
    tracking_server.RunningServer(uri, 9, gone.pid, str(tracking_server.postgres_bin_dir()), None).save(state_dir)
    try:
        for _ in range(300):  # a hang guard: http.server listens within a second
            if answers(uri) or foreign.poll() is not None:
                break
            time.sleep(0.1)
        assert answers(uri)
        name = psutil.Process(foreign.pid).name()

        assert tracking_server.main(["status", "--dir", str(state_dir)]) == 1
        assert capsys.readouterr().out == (
            f"the mlflow server process {gone.pid} is gone and pid {foreign.pid} ({name}), not this server, answers "
            f"at {uri}: stop cleans up, then start with another --port\n"
        )
        with pytest.raises(
            tracking_server.ServerError,
            match=re.escape(f"something already answers at {uri} (pid {foreign.pid} ({name})): stop it or choose another --port"),
        ):
            tracking_server.start(state_dir, port=port, database_port=free_loopback_port())
        assert tracking_server.main(["stop", "--dir", str(state_dir)]) == 2
        assert capsys.readouterr().err == (
            f"error: this server stopped, but pid {foreign.pid} ({name}) still answers at {uri}, which is not this "
            "server's: end it if it should not run there\n"
        )
        assert foreign.poll() is None
    finally:
        foreign.kill()
        foreign.wait()
