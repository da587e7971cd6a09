"""Fixtures of the scaling-out tests: a PostgreSQL-backed tracking server and a Ray cluster, on loopback,
each stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline.ops import tracking_server
from pipeline.ops.launchers import RAY_SINGLE_NODE_SWITCH
from pipeline.ops.threads import INTER_OP, INTRA_OP
from pipeline.ops.tracking_server import free_loopback_port
from tests.helpers import TwoHosts, install_postgres_if_missing, listeners, namespaces_and_links, on_loopback


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """Outside pytest's private (0700) temporary tree: as root, PostgreSQL runs as `postgres`, who must reach it."""
    install_postgres_if_missing()
    made = Path(tempfile.mkdtemp(prefix="toy-ann-tracking-server-"))
    made.chmod(0o755)
    yield made
    try:
        tracking_server.stop(made)  # what a test that failed midway left running there; nothing, if it stopped it
    finally:
        shutil.rmtree(made)


@pytest.fixture
def server(state_dir: Path) -> Iterator[tuple[tracking_server.RunningServer, Path]]:
    before = listeners()
    running = tracking_server.start(state_dir, port=free_loopback_port(), database_port=free_loopback_port())
    try:
        opened = listeners() - before
        assert {port for _, port in opened} >= {str(running.database_port), running.tracking_uri.rsplit(":", 1)[1]}
        assert all(on_loopback(address) for address, _ in opened), opened
        yield running, state_dir
    finally:
        tracking_server.stop(state_dir)


@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Ray cluster started apart from any sweep, as on a head node, and stopped afterwards. Ray's
    single-node switch keeps it on loopback (the sweep then needs the switch too)."""
    monkeypatch.setenv(RAY_SINGLE_NODE_SWITCH, "0")
    ray, port = str(Path(sys.executable).parent / "ray"), free_loopback_port()
    before = listeners()
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        check=True,
        capture_output=True,
    )
    try:
        opened = listeners() - before
        assert ("127.0.0.1", str(port)) in opened or ("[::ffff:127.0.0.1]", str(port)) in opened, opened
        assert all(on_loopback(address) for address, _ in opened), opened
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], check=True, capture_output=True)


@pytest.fixture
def without_thread_settings(monkeypatch):
    """This process's thread variables (set when it imported `pipeline`) kept from a Ray cluster started next."""
    for name in (INTRA_OP, INTER_OP):
        monkeypatch.delenv(name)


@pytest.fixture
def killed_server(server) -> Iterator[tuple[tracking_server.RunningServer, Path, list[psutil.Process]]]:
    """The `server` fixture's tracking server after a SIGKILL of its first process (`mlflow server`), as the
    kernel's OOM killer or a `kill -9` leaves it: the rest of its session (uvicorn and its workers, MLflow's
    job runner) lives on, orphaned. Whatever of it a test leaves is killed afterwards."""
    running, state_dir = server
    orphans = [
        process
        for process in psutil.process_iter()
        if process.pid != running.mlflow_pid and _session_of(process.pid) == running.mlflow_pid
    ]
    os.kill(running.mlflow_pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # the server is this process's child here; init collects it otherwise
        os.waitpid(running.mlflow_pid, 0)
    try:
        yield running, state_dir, orphans
    finally:
        for process in orphans:
            with contextlib.suppress(psutil.Error):
                process.kill()


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


RAY_PORT = 6390  # the two-host test's Ray head, inside its namespace


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[TwoHosts]:
    """Two namespaces on a veth link (10.231.0.1 and .2, which exist nowhere else), the tracking server with
    users and a Ray head (no CPUs) on the first, a Ray node (two CPUs) on the second; all of it, processes,
    link and namespaces, gone afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CI runs as root)")
    install_postgres_if_missing()
    before = namespaces_and_links()
    suffix = os.getpid() % 100000
    head, worker, head_link, worker_link = f"toyann-h{suffix}", f"toyann-w{suffix}", f"tah{suffix}", f"taw{suffix}"
    folder = Path(tempfile.mkdtemp(prefix="toy-ann-two-hosts-"))
    folder.chmod(0o755)  # PostgreSQL runs as `postgres`
    hosts: TwoHosts | None = None
    try:
        for command in (
            ["ip", "netns", "add", head],
            ["ip", "netns", "add", worker],
            ["ip", "link", "add", head_link, "type", "veth", "peer", "name", worker_link],
            ["ip", "link", "set", head_link, "netns", head],
            ["ip", "link", "set", worker_link, "netns", worker],
            *(
                step
                for namespace, link, address in ((head, head_link, "10.231.0.1"), (worker, worker_link, "10.231.0.2"))
                for step in (
                    ["ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", link],
                    ["ip", "-n", namespace, "link", "set", link, "up"],
                    ["ip", "-n", namespace, "link", "set", "lo", "up"],
                )
            ),
        ):
            subprocess.run(command, check=True, capture_output=True)
        state = folder / "tracking-server"
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_DEDUP_LOGS": "0"}
        hosts = TwoHosts(folder, head, worker, "10.231.0.1", "10.231.0.2", RAY_PORT, 5090, env)
        started = hosts.on_head(
            "-m", "pipeline.ops.tracking_server", "start", "--dir", str(state), "--host", hosts.head_ip,
            "--port", str(hosts.tracking_port), "--db-port", "5491",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr[-3000:]
        env["MLFLOW_TRACKING_USERNAME"] = tracking_server.ADMIN_USERNAME
        env["MLFLOW_TRACKING_PASSWORD"] = (state / tracking_server.ADMIN_PASSWORD_FILE).read_text().strip()
        ray = str(Path(sys.executable).parent / "ray")
        head_node = ["--head", f"--node-ip-address={hosts.head_ip}", f"--port={hosts.ray_port}", "--num-cpus=0"]
        worker_node = [f"--address={hosts.ray_address}", f"--node-ip-address={hosts.worker_ip}", "--num-cpus=2"]
        for on_worker, options in ((False, [*head_node, "--include-dashboard=false"]), (True, worker_node)):
            joined = hosts.run(on_worker, ray, "start", *options, "--disable-usage-stats", timeout=180)
            assert joined.returncode == 0, joined.stderr[-3000:]
        yield hosts
    finally:
        if (
            hosts is not None
        ):  # the server as a user stops it; Ray's processes below (`ray stop` ends every cluster of the machine)
            hosts.on_head("-m", "pipeline.ops.tracking_server", "stop", "--dir", str(folder / "tracking-server"))
        for namespace in (worker, head):
            pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        # What `ray stop` would clear: else the next `ray.init()` of the machine joins this dead cluster.
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.is_file() and current.read_text().strip() == f"10.231.0.1:{RAY_PORT}":
            current.unlink()
        shutil.rmtree(folder, ignore_errors=True)
    assert namespaces_and_links() == before
