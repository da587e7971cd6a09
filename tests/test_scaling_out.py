"""Beyond one machine, on loopback: a real PostgreSQL server and `mlflow server` against it
(`pipeline.tracking_server`), a sweep run by Hydra's Ray launcher on a local Ray cluster that logs to
them over HTTP, checked through MLflow's REST API; and everything it started is stopped."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from pipeline import tracking_server
from pipeline.launchers import RAY_LAUNCHER, RAY_SINGLE_NODE_SWITCH, RayOnLoopback
from pipeline.tracking_server import free_loopback_port
from pipeline.sweep import JOB_TAG, PARENT_TAG
from tests.conftest import TINY
from tests.test_run import run_door
from tests.test_sweep import rest


def install_postgres_if_missing() -> None:
    """The test brings its own PostgreSQL server, from Debian's `postgresql` package."""
    try:
        tracking_server.postgres_bin_dir()
        return
    except tracking_server.ServerError:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail(f"PostgreSQL's server is not installed and this user cannot install it: {tracking_server.INSTALL_HINT}")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    tracking_server.postgres_bin_dir()


def addresses_in_ray_logs() -> set[str]:
    """The IP addresses (of ip:port) in the logs of the latest Ray session on this machine."""
    logs = Path(tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    found = (re.findall(r"\b((?:\d{1,3}\.){3}\d{1,3}):\d+", f.read_text(errors="replace")) for f in logs.rglob("*.*"))
    return {address for addresses in found for address in addresses}


def listeners() -> set[tuple[str, str]]:
    """(address, port) of every listening TCP socket on this machine."""
    table = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return {tuple(line.split()[3].rsplit(":", 1)) for line in table.splitlines()}


def on_loopback(address: str) -> bool:
    return address.removeprefix("[::ffff:").rstrip("]").startswith("127.") or address == "[::1]"


def processes_named(name: str) -> set[int]:
    found = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found}


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """Outside pytest's private (0700) temporary tree: as root, PostgreSQL runs as `postgres`, who must reach it."""
    install_postgres_if_missing()
    made = Path(tempfile.mkdtemp(prefix="toy-ann-tracking-server-"))
    made.chmod(0o755)
    yield made
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


def api(running: tracking_server.RunningServer) -> str:
    return f"{running.tracking_uri}/api/2.0/mlflow"


def ray_sweep(
    running: tracking_server.RunningServer, sweep_dir: Path, *overrides: str, launcher: str = "ray"
) -> subprocess.CompletedProcess:
    return run_door(
        "-m", f"hydra/launcher={launcher}", "tracking=server", f"tracking.uri={running.tracking_uri}", *overrides, *TINY,
        f"hydra.sweep.dir={sweep_dir}", cwd=Path(__file__).resolve().parents[1],
    )


def assert_recorded_over_http(running: tracking_server.RunningServer, state_dir: Path, sweep_dir: Path, jobs: int) -> None:
    """Read back through the REST API: a FINISHED parent with `jobs` FINISHED children, each with its metrics,
    its loss history and its artifacts, uploaded through the server into its artifact root."""
    experiment = rest(api(running), "/experiments/get-by-name?experiment_name=toy-ann")["experiment"]
    search = {"experiment_ids": [experiment["experiment_id"]]}
    [parent] = rest(api(running), "/runs/search", {**search, "filter": f"tags.`sweep.dir` = '{sweep_dir}'"})["runs"]
    parent_id = parent["info"]["run_id"]
    children = rest(api(running), "/runs/search", {**search, "filter": f"tags.`{PARENT_TAG}` = '{parent_id}'"})["runs"]
    assert parent["info"]["status"] == "FINISHED"
    parent_metrics = {(m["key"], m["value"]) for m in parent["data"]["metrics"]}
    assert {("jobs", jobs), ("jobs_failed", 0), ("jobs_missing", 0)} <= parent_metrics
    assert sorted(int(tags_of(child)[JOB_TAG]) for child in children) == list(range(jobs))
    artifact_root = state_dir / "artifacts" / experiment["experiment_id"]
    for child in children:
        assert child["info"]["status"] == "FINISHED"
        assert {"test_mse", "m_residual", "c_residual", "relations_hold"} <= {m["key"] for m in child["data"]["metrics"]}
        history = rest(api(running), f"/metrics/get-history?run_id={child['info']['run_id']}&metric_key=train_loss")
        assert [point["step"] for point in history["metrics"]] == [1, 2]
        assert child["info"]["artifact_uri"].startswith("mlflow-artifacts:")
        stored = {f.name for f in (artifact_root / child["info"]["run_id"] / "artifacts").iterdir()}
        assert {"weights.json", "model.keras", "evaluation.json"} <= stored
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


@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Ray cluster started apart from any sweep, as on a head node, and stopped afterwards. Ray's
    single-node switch keeps it on loopback (the sweep then needs the switch too)."""
    monkeypatch.setenv(RAY_SINGLE_NODE_SWITCH, "0")
    ray, port = str(Path(sys.executable).parent / "ray"), free_loopback_port()
    before = listeners()
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        check=True, capture_output=True,
    )
    try:
        opened = listeners() - before
        assert (("127.0.0.1", str(port)) in opened or ("[::ffff:127.0.0.1]", str(port)) in opened), opened
        assert all(on_loopback(address) for address, _ in opened), opened
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.integration
def test_a_sweep_runs_on_an_existing_ray_cluster_given_its_address(server, ray_cluster, tmp_path, monkeypatch):
    running, state_dir = server
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # a driver joins with the cluster's token (~/.ray/auth_token)

    done = ray_sweep(
        running, tmp_path / "sweep", f"hydra.launcher.ray.init.address={ray_cluster}", "target=sum,product",
        launcher="ray_cluster",
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Connecting to existing Ray cluster at address: {ray_cluster}" in done.stdout + done.stderr
    assert_recorded_over_http(running, state_dir, tmp_path / "sweep", jobs=2)
    assert addresses_in_ray_logs() == {"127.0.0.1"}


def tags_of(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["data"]["tags"]}


@pytest.mark.slow
@pytest.mark.integration
def test_stop_ends_postgres_and_the_mlflow_server_and_a_restart_keeps_the_runs(state_dir):
    first = tracking_server.start(state_dir, port=free_loopback_port(), database_port=free_loopback_port())
    created = rest(api(first), "/experiments/create", {"name": "kept"})["experiment_id"]
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
        assert rest(api(second), "/experiments/get-by-name?experiment_name=kept")["experiment"]["experiment_id"] == created
    finally:
        tracking_server.stop(state_dir)
    assert tracking_server.stop(state_dir) is False  # nothing left to stop
    assert tracking_server.main(["status", "--dir", str(state_dir)]) == 1


def launcher_config(target: str, address: str | None = None) -> DictConfig:
    return OmegaConf.create({"hydra": {"launcher": {"_target_": target, "ray": {"init": {"address": address}}}}})


@pytest.mark.parametrize(("config", "on_loopback"), [
    (launcher_config(RAY_LAUNCHER), True),
    (launcher_config(RAY_LAUNCHER, "auto"), False),  # a cluster of its own: Ray's address is the cluster's
    (launcher_config("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"), False),
])
def test_only_the_ray_cluster_a_sweep_starts_itself_is_kept_on_loopback(config, on_loopback, monkeypatch):
    monkeypatch.delenv(RAY_SINGLE_NODE_SWITCH, raising=False)

    RayOnLoopback().on_multirun_start(config=config)

    assert (os.environ.get(RAY_SINGLE_NODE_SWITCH) == "0") is on_loopback


@pytest.mark.integration
def test_a_database_port_in_use_fails_with_the_fix_and_leaves_nothing_running(state_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(tracking_server.ServerError, match=r"PostgreSQL did not start on 127\.0\.0\.1:\d+ .*choose another --db-port"):
            tracking_server.start(state_dir, port=free_loopback_port(), database_port=taken.getsockname()[1])

    assert tracking_server.RunningServer.load(state_dir) is None
    assert subprocess.run(["pgrep", "-f", f"postgres -D {state_dir}"], capture_output=True).returncode == 1


@pytest.mark.integration
def test_stop_never_signals_a_process_that_only_reused_the_servers_pid(state_dir):
    stale = tracking_server.RunningServer("http://127.0.0.1:9", 9, os.getpid(), str(tracking_server.postgres_bin_dir()), None)
    stale.save(state_dir)  # as after a reboot: this pid is now the test's own process

    assert tracking_server.stop(state_dir)

    assert tracking_server.RunningServer.load(state_dir) is None  # and we are still here
