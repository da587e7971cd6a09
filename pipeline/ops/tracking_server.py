"""An MLflow tracking server on loopback, backed by a real PostgreSQL server, for sweeps whose jobs log
over HTTP instead of sharing one sqlite file (`tracking=server`).

    python -m pipeline.ops.tracking_server start     # PostgreSQL, then `mlflow server` against it
    python -m pipeline.ops.tracking_server status
    python -m pipeline.ops.tracking_server stop      # both; the database and artifacts stay for the next start

Everything lives in one state directory (default `.tracking-server/` at the project root): the
database cluster, its two passwords (owner-only files), the artifacts, both logs, and `server.json`,
which says what runs where. The server logs in as `mlflow`, which owns its database and nothing more;
the cluster's superuser is kept for creating it. PostgreSQL refuses to run as root; as root, its
commands run as the `postgres` user that Debian's `postgresql` package creates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.errors import PipelineError
from pipeline.files.atomic import read_json, write_json

DEFAULT_STATE_DIR = PROJECT_ROOT / ".tracking-server"
DATABASE = "mlflow"
DATABASE_OWNER = "mlflow"  # what mlflow server logs in as: no superuser
SUPERUSER = "toyann_admin"
SUPERUSER_PASSWORD_FILE = "postgres-password"
OWNER_PASSWORD_FILE = "mlflow-db-password"
RUNNING_FILE = "server.json"
PG_CTL_NOT_RUNNING = 3  # `pg_ctl status`: 0 running, 3 not running, 4 no data directory
INSTALL_HINT = "install PostgreSQL's server (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`)"


class ServerError(PipelineError):
    """The tracking server or its database could not be started or stopped."""


@dataclass(frozen=True)
class RunningServer:
    """What `start` left running: enough for `status` and `stop` in another process."""

    tracking_uri: str
    database_port: int
    mlflow_pid: int
    postgres_bin: str
    as_user: str | None  # the user PostgreSQL runs as when we are root

    def save(self, state_dir: Path) -> None:
        write_json(state_dir / RUNNING_FILE, asdict(self))

    @classmethod
    def load(cls, state_dir: Path) -> RunningServer | None:
        running = state_dir / RUNNING_FILE
        if not running.is_file():
            return None
        try:
            return cls(**read_json(running))
        except (ValueError, TypeError) as error:
            raise ServerError(f"{running} is damaged ({error}): stop what runs by hand, then delete it") from None


def free_loopback_port() -> int:
    """A port nothing listens on now, for servers of tests and benchmarks that must not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin_dir() -> Path:
    """Where initdb and pg_ctl are: on PATH, else Debian's versioned directory (newest first)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    if versions:
        return versions[0].parent
    raise ServerError(f"PostgreSQL's initdb and pg_ctl are not installed: {INSTALL_HINT}")


def _as_user() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


def _postgres_command(bin_dir: Path, as_user: str | None, tool: str, *args: str) -> list[str]:
    command = [str(bin_dir / tool), *args]
    return ["runuser", "-u", as_user, "--", *command] if as_user else command


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServerError(f"{what} failed ({' '.join(command)}): {(done.stderr or done.stdout).strip()[-800:]}")


def _health(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_new_password(path: Path, owner: str | None = None) -> None:
    """Owner-only from its first byte: the state directory itself must be world-traversable as root."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as password:
        password.write(secrets.token_urlsafe(24))
    if owner:
        shutil.chown(path, owner)


def _init_database_cluster(bin_dir: Path, as_user: str | None, data_dir: Path, state_dir: Path) -> None:
    """A new cluster whose superuser logs in with a generated password, over TCP only."""
    data_dir.mkdir(parents=True, exist_ok=True)  # a failed initdb's leftovers: initdb then says what to do
    if as_user:
        shutil.chown(data_dir, as_user)
    _write_new_password(state_dir / SUPERUSER_PASSWORD_FILE, as_user)  # initdb, run as as_user, reads it
    _write_new_password(state_dir / OWNER_PASSWORD_FILE)
    _run(
        _postgres_command(
            bin_dir,
            as_user,
            "initdb",
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--auth=scram-sha-256",
            f"--pwfile={state_dir / SUPERUSER_PASSWORD_FILE}",
        ),
        "initdb",
    )


def _start_postgres(bin_dir: Path, as_user: str | None, data_dir: Path, port: int, log_file: Path) -> None:
    """Listening on 127.0.0.1 only, with no Unix socket (its default directory may not exist or be ours)."""
    _stop_postgres(bin_dir, as_user, data_dir)  # one left running (its mlflow server died) may be on another port
    log_file.touch()
    if as_user:
        shutil.chown(log_file, as_user)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
    command = _postgres_command(
        bin_dir, as_user, "pg_ctl", "-D", str(data_dir), "-l", str(log_file), "-o", options, "-w", "-t", "60", "start"
    )
    if subprocess.run(command, capture_output=True).returncode != 0:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
        raise ServerError(
            f"PostgreSQL did not start on 127.0.0.1:{port} (log {log_file}): "
            + " | ".join(tail)
            + " (a port in use: choose another --db-port)"
        )


def _database_uri(state_dir: Path, user: str, password_file: str, port: int, database: str) -> str:
    password = (state_dir / password_file).read_text().strip()
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/{database}"


def _create_database_once(state_dir: Path, port: int) -> None:
    """The `mlflow` database and its owner, who can do nothing else."""
    try:
        import psycopg  # what SQLAlchemy, and so mlflow server, uses for postgresql:// URIs
        from psycopg import sql
    except ImportError:
        raise ServerError("psycopg is not installed: pip install -e '.[server]'") from None

    admin = _database_uri(state_dir, SUPERUSER, SUPERUSER_PASSWORD_FILE, port, "postgres")
    owner_password = (state_dir / OWNER_PASSWORD_FILE).read_text().strip()
    with psycopg.connect(admin, autocommit=True) as connection:  # CREATE DATABASE cannot run in a transaction
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DATABASE_OWNER,)).fetchone() is None:
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(DATABASE_OWNER), sql.Literal(owner_password))
            )
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(DATABASE_OWNER))
            )


def start(state_dir: Path, port: int, database_port: int, workers: int = 2, timeout: float = 120) -> RunningServer:
    """PostgreSQL on 127.0.0.1:`database_port`, then `mlflow server` on 127.0.0.1:`port` against it, with
    the artifacts under `state_dir`. Returns at once if this state directory's server already answers."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"http://127.0.0.1:{port}"
    running = RunningServer.load(state_dir)
    if running and _is_mlflow_server(running.mlflow_pid, state_dir):
        if _health(running.tracking_uri):
            return running
        _stop_process_group(running.mlflow_pid)  # alive but not answering: replaced, never orphaned
    if _health(tracking_uri):
        raise ServerError(f"something already answers at {tracking_uri}: stop it or choose another --port")

    bin_dir, as_user = postgres_bin_dir(), _as_user()
    if as_user and subprocess.run(["runuser", "-u", as_user, "--", "test", "-x", str(state_dir)]).returncode != 0:
        raise ServerError(
            f"PostgreSQL refuses to run as root, so it runs as {as_user}, who cannot reach {state_dir}: "
            f"choose a --dir that {as_user} can traverse (every parent directory world-executable, e.g. under /srv)"
        )
    data_dir = state_dir / "postgres"
    if not (data_dir / "PG_VERSION").is_file():
        _init_database_cluster(bin_dir, as_user, data_dir, state_dir)
    _start_postgres(bin_dir, as_user, data_dir, database_port, state_dir / "postgres.log")
    try:
        _create_database_once(state_dir, database_port)
        backend_uri = _database_uri(state_dir, DATABASE_OWNER, OWNER_PASSWORD_FILE, database_port, DATABASE)
        mlflow_pid = _start_mlflow(state_dir, backend_uri, port, workers, timeout)
    except BaseException:
        _stop_postgres(bin_dir, as_user, data_dir)
        raise
    running = RunningServer(tracking_uri, database_port, mlflow_pid, str(bin_dir), as_user)
    running.save(state_dir)
    return running


def _start_mlflow(state_dir: Path, backend_uri: str, port: int, workers: int, timeout: float) -> int:
    """`mlflow server` in its own process group, once it answers /health (its first start creates the
    tables, which takes a while). The database URI, password included, goes by environment, which only
    its user can read, not by command line, which `ps` shows everyone."""
    log_file = state_dir / "mlflow.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--artifacts-destination",
        str(state_dir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    environment = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend_uri}
    with open(log_file, "ab") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=state_dir, env=environment
        )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while not _health(uri):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace").strip().splitlines()[-5:]
                raise ServerError(f"mlflow server did not come up at {uri} (log {log_file}): " + " | ".join(tail))
            time.sleep(0.5)
    except BaseException:  # Ctrl-C too: its own session would outlive us, with no server.json to stop it by
        _stop_process_group(server.pid)
        raise
    return server.pid


def _is_mlflow_server(pid: int, state_dir: Path) -> bool:
    """This state directory's server: server.json may outlive it (a reboot), and a process that merely got
    its pid must never be signalled."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return _alive(pid)  # no /proc (macOS): trust the pid
    return b"server" in command and str(state_dir / "artifacts").encode() in command


def _stop_process_group(pid: int, grace: float = 20) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):  # it ended after all
            os.killpg(pid, signal.SIGKILL)


def _stop_postgres(bin_dir: Path, as_user: str | None, data_dir: Path) -> None:
    if not data_dir.is_dir():
        return
    status = subprocess.run(
        _postgres_command(bin_dir, as_user, "pg_ctl", "-D", str(data_dir), "status"), capture_output=True, text=True
    )
    if status.returncode == PG_CTL_NOT_RUNNING:
        return
    if status.returncode != 0:  # pg_ctl cannot tell: never report a server stopped that may still run
        raise ServerError(f"cannot tell whether PostgreSQL in {data_dir} runs: {(status.stderr or status.stdout).strip()}")
    _run(_postgres_command(bin_dir, as_user, "pg_ctl", "-D", str(data_dir), "-m", "fast", "-w", "stop"), "stopping PostgreSQL")


def stop(state_dir: Path) -> bool:
    """Stops what `start` left running in this state directory; False if nothing was running."""
    state_dir = state_dir.resolve()
    running = RunningServer.load(state_dir)
    if running is None:
        return False
    if _is_mlflow_server(running.mlflow_pid, state_dir):
        _stop_process_group(running.mlflow_pid)
    _stop_postgres(Path(running.postgres_bin), running.as_user, state_dir / "postgres")
    (state_dir / RUNNING_FILE).unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ops.tracking_server", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "status", "stop"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_STATE_DIR, help="state directory (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="the tracking server's port (default: %(default)s)")
    parser.add_argument("--db-port", type=int, default=5433, help="PostgreSQL's port (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="mlflow server worker processes (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            running = start(args.dir, args.port, args.db_port, args.workers)
            print(
                f"MLflow tracking server at {running.tracking_uri}, on PostgreSQL at 127.0.0.1:{running.database_port}; "
                f"state in {args.dir}"
            )
            print(f"record to it: python -m pipeline.run -m tracking=server tracking.uri={running.tracking_uri} ...")
        elif args.action == "status":
            found = RunningServer.load(args.dir.resolve())
            if found is None or not _health(found.tracking_uri):
                print(f"no tracking server answers for {args.dir}")
                return 1
            print(f"MLflow tracking server at {found.tracking_uri} answers (pid {found.mlflow_pid})")
        else:
            print("stopped" if stop(args.dir) else f"nothing was running for {args.dir}")
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
