"""Fixtures of the scaling-out tests: a PostgreSQL-backed tracking server and a Ray cluster, on loopback,
each stopped afterwards."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.ops import tracking_server
from pipeline.ops.launchers import RAY_SINGLE_NODE_SWITCH
from pipeline.ops.threads import INTER_OP, INTRA_OP
from pipeline.ops.tracking_server import free_loopback_port
from tests.helpers import install_postgres_if_missing, listeners, on_loopback


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
