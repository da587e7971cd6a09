"""An MLflow tracking server backed by a real PostgreSQL server, for sweeps whose jobs log over HTTP
instead of sharing one sqlite file (`tracking=server`); on loopback unless told otherwise, and with users
(MLflow's basic-auth app) whenever it listens beyond loopback.

    python -m pipeline.ops.tracking_server start     # PostgreSQL, then `mlflow server` against it
    python -m pipeline.ops.tracking_server start --auth              # with users, still on loopback
    python -m pipeline.ops.tracking_server start --host 10.0.0.5     # beyond loopback: always with users
    python -m pipeline.ops.tracking_server status
    python -m pipeline.ops.tracking_server stop      # both; the database and artifacts stay for the next start

Everything lives in one state directory (default `.tracking-server/` at the project root): the
database cluster, its passwords (owner-only files), the artifacts, both logs, and `server.json`,
which says what runs where. The server logs in as `mlflow`, which owns its databases and nothing more;
the cluster's superuser is kept for creating them. PostgreSQL refuses to run as root; as root, its
commands run as the `postgres` user that Debian's `postgresql` package creates.

`mlflow server` is a tree of processes (uvicorn's supervisor and workers, MLflow's job runner and its
consumers), all in the session `start` opens for it. Killing its first process leaves the rest serving,
so `status`, `stop` and `start` look at the whole session, not at one pid.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

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
AUTH_DATABASE = "mlflow_auth"  # the basic-auth app's users and permissions, owned by DATABASE_OWNER too
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_FILE = "mlflow-admin-password"
FLASK_SECRET_FILE = "mlflow-flask-secret"  # the basic-auth app's CSRF key, the same in every worker
AUTH_CONFIG_FILE = "basic_auth.ini"  # owner-only: its database URI holds the owner's password
# Every user may record into every experiment: all jobs of the project share one ("toy-ann"), which READ,
# MLflow's default, would leave writable by its creator alone. Deleting and managing stay with the owners.
DEFAULT_PERMISSION = "EDIT"
WILDCARD_HOSTS = ("0.0.0.0", "::")
PG_CTL_NOT_RUNNING = 3  # `pg_ctl status`: 0 running, 3 not running, 4 no data directory
INSTALL_HINT = "install PostgreSQL's server (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`)"


class ServerError(PipelineError):
    """The tracking server or its database could not be started or stopped."""


@dataclass(frozen=True)
class RunningServer:
    """What `start` left running: enough for `status` and `stop` in another process."""

    tracking_uri: str
    database_port: int
    mlflow_pid: int  # the first process of the server's session, so also the session's id
    postgres_bin: str
    as_user: str | None  # the user PostgreSQL runs as when we are root
    auth: bool = False  # users by MLflow's basic-auth app (a server.json from before it has none)

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


def _port_answers(uri: str) -> bool:
    """Anything listening, MLflow or not: a port that only a foreign process holds is not free either."""
    parsed = urllib.parse.urlparse(uri)
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=2).close()
    except OSError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: whatever it resolves to, others may reach it
        return False


def _local_uri(host: str, port: int) -> str:
    """Where this machine reaches the server: a wildcard host listens on loopback too."""
    reach = "127.0.0.1" if host in WILDCARD_HOSTS else host
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def _write_owner_only(path: Path, text: str, owner: str | None = None) -> None:
    """Owner-only from its first byte, and whole or not at all: the state directory itself must be
    world-traversable as root."""
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as written:
            written.write(text)
        if owner:
            shutil.chown(temporary, owner)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_new_password(path: Path, owner: str | None = None) -> None:
    _write_owner_only(path, secrets.token_urlsafe(24), owner)


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
    """The `mlflow` database, the basic-auth app's, and their owner, who can do nothing else."""
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
        for database in (DATABASE, AUTH_DATABASE):
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(DATABASE_OWNER))
                )


def _auth_environment(state_dir: Path, database_port: int) -> dict[str, str]:
    """What MLflow's basic-auth app reads: its configuration file (rewritten each start, since the database
    port may change), and by environment, never by command line, the admin's first password and the CSRF
    key. Both are made once: the admin password only creates the admin in an empty user database, so a new
    one would no longer match."""
    for secret in (ADMIN_PASSWORD_FILE, FLASK_SECRET_FILE):
        if not (state_dir / secret).is_file():
            _write_new_password(state_dir / secret)
    database_uri = _database_uri(state_dir, DATABASE_OWNER, OWNER_PASSWORD_FILE, database_port, AUTH_DATABASE)
    _write_owner_only(
        state_dir / AUTH_CONFIG_FILE,
        "[mlflow]\n"
        f"default_permission = {DEFAULT_PERMISSION}\n"
        f"database_uri = {database_uri}\n"
        f"admin_username = {ADMIN_USERNAME}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(state_dir / AUTH_CONFIG_FILE),
        "MLFLOW_AUTH_ADMIN_PASSWORD": (state_dir / ADMIN_PASSWORD_FILE).read_text().strip(),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": (state_dir / FLASK_SECRET_FILE).read_text().strip(),
    }


def start(
    state_dir: Path,
    port: int,
    database_port: int,
    workers: int = 2,
    timeout: float = 120,
    host: str = "127.0.0.1",
    auth: bool = False,
) -> RunningServer:
    """PostgreSQL on 127.0.0.1:`database_port`, then `mlflow server` on `host`:`port` against it, with the
    artifacts under `state_dir`, and with users if asked or if `host` is beyond loopback: an open server
    there would let anyone who reaches the address read and rewrite every run. Returns at once if this
    state directory's server already answers as asked (else refuses: a server elsewhere than asked would be
    used without a word); ends what is left of one that died first."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    auth = auth or not is_loopback(host)
    tracking_uri = _local_uri(host, port)
    running = RunningServer.load(state_dir)
    if running:
        left = _server_processes(running.mlflow_pid, state_dir)
        if running.mlflow_pid in _pids(left) and _health(running.tracking_uri):
            if running.auth != auth or running.tracking_uri != tracking_uri:
                raise ServerError(
                    f"this state directory's server already runs at {running.tracking_uri}, "
                    f"{'with' if running.auth else 'without'} users: stop it, then start it again as asked"
                )
            return running
        # Its orphaned workers, or a server that no longer answers: replaced, never left behind.
        survivors = _end_session(running.mlflow_pid, state_dir)
        if survivors:
            raise ServerError(
                f"the earlier server's processes {_shown_pids(survivors)} would not end: end them (kill -9), then start"
            )
    if _port_answers(tracking_uri):
        raise ServerError(
            f"something already answers at {tracking_uri} ({_listeners_shown(port)}): stop it or choose another --port"
        )

    if auth and importlib.util.find_spec("flask_wtf") is None:
        raise ServerError("MLflow's basic-auth app needs Flask-WTF, which is not installed: pip install -e '.[server]'")
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
        users = _auth_environment(state_dir, database_port) if auth else {}
        mlflow_pid = _start_mlflow(state_dir, backend_uri, host, port, workers, timeout, users)
    except BaseException:
        _stop_postgres(bin_dir, as_user, data_dir)
        raise
    running = RunningServer(tracking_uri, database_port, mlflow_pid, str(bin_dir), as_user, auth)
    running.save(state_dir)
    return running


def _start_mlflow(
    state_dir: Path, backend_uri: str, host: str, port: int, workers: int, timeout: float, users: dict[str, str]
) -> int:
    """`mlflow server` in a session of its own, once it answers /health (its first start creates the
    tables, which takes a while). The database URI, password included, goes by environment, which only
    its user can read, not by command line, which `ps` shows everyone; so do the basic-auth app's secrets
    (`users`, empty for a server without users)."""
    log_file = state_dir / "mlflow.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--artifacts-destination",
        str(state_dir / "artifacts"),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(["--app-name", "basic-auth"] if users else []),
    ]
    environment = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend_uri, **users}
    with open(log_file, "ab") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=state_dir, env=environment
        )
    uri = _local_uri(host, port)
    deadline = time.monotonic() + timeout
    try:
        while not _health(uri):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace").strip().splitlines()[-5:]
                raise ServerError(f"mlflow server did not come up at {uri} (log {log_file}): " + " | ".join(tail))
            time.sleep(0.5)
    except BaseException:  # Ctrl-C too: its own session would outlive us, with no server.json to stop it by
        _end_session(server.pid, state_dir)
        server.wait()
        raise
    return server.pid


def _server_processes(session: int, state_dir: Path) -> list[psutil.Process]:
    """The live processes of the server's session (its first process's id is the session's, and outlives
    it in every member), and their descendants. A process counts only if it also works in `state_dir` (the
    server's working directory) or names it: server.json may outlive the session (a reboot), and a process
    that merely got one of its ids must never be signalled."""
    members: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if session in (os.getsid(process.pid), os.getpgid(process.pid)) and _works_in(process, state_dir):
                members[process.pid] = process
                members.update({child.pid: child for child in process.children(recursive=True)})
    return sorted((process for process in members.values() if _live(process)), key=lambda process: process.pid)


def _works_in(process: psutil.Process, state_dir: Path) -> bool:
    inside = f"{state_dir}{os.sep}"
    return Path(process.cwd()) == state_dir or any(
        argument == str(state_dir) or inside in argument for argument in process.cmdline()
    )


def _live(process: psutil.Process) -> bool:
    """Running, not a zombie waiting to be collected: that one holds no socket and needs no signal."""
    with contextlib.suppress(psutil.Error):
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    return False


def _pids(processes: list[psutil.Process]) -> list[int]:
    return [process.pid for process in processes]


def _listening(process: psutil.Process, port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(
            connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port
            for connection in process.net_connections(kind="tcp")
        )
    return False


def _listeners_shown(port: int) -> str:
    """Who listens on `port`, every process that holds the socket, by pid and program name (not its command
    line, which may hold another's secrets), for a line that says what to end."""
    listening = [process for process in psutil.process_iter() if _listening(process, port)]
    if not listening:
        return "a process this user cannot see"
    return ", ".join(f"pid {process.pid} ({_name(process)})" for process in listening)


def _name(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return process.name()
    return "gone"


def _end(processes: list[psutil.Process], grace: float = 20) -> list[psutil.Process]:
    """SIGTERM to all at once (MLflow's first process passes it on to uvicorn, whose workers finish their
    requests), SIGKILL to what still runs after `grace` seconds; returns what would not end."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    survivors = _wait_ended(processes, grace)
    for process in survivors:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return _wait_ended(survivors, 5)


def _end_session(session: int, state_dir: Path) -> list[psutil.Process]:
    """Every process of the server's session, also any forked while the first ones were ending; returns
    what would not end."""
    survivors = _end(_server_processes(session, state_dir))
    return survivors or _end(_server_processes(session, state_dir))


def _wait_ended(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(process.pid, os.WNOHANG)  # collect it if it is our child (the server `start` made)
        running = [process for process in processes if _live(process)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


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
    """Stops what `start` left running in this state directory, the whole session of `mlflow server` even
    when its first process is gone; False if nothing was running. "Stopped" must mean that nothing serves
    at its address any more, so a process that would not end, or a foreign one found there, is an error."""
    state_dir = state_dir.resolve()
    running = RunningServer.load(state_dir)
    if running is None:
        return False
    survivors = _end_session(running.mlflow_pid, state_dir)
    _stop_postgres(Path(running.postgres_bin), running.as_user, state_dir / "postgres")
    if survivors:
        pids = " ".join(str(pid) for pid in _pids(survivors))
        raise ServerError(
            f"processes {pids} of the tracking server would not end: end them as their user (kill -9 {pids}), then stop again"
        )
    (state_dir / RUNNING_FILE).unlink()
    port = urllib.parse.urlparse(running.tracking_uri).port or 0
    if _port_answers(running.tracking_uri):
        raise ServerError(
            f"this server stopped, but {_listeners_shown(port)} still answers at {running.tracking_uri}, "
            "which is not this server's: end it if it should not run there"
        )
    return True


def status(state_dir: Path) -> tuple[bool, str]:
    """Whether this state directory's server runs whole and answers, and one line saying what really
    answers at its address and which processes: a killed first process leaves its workers serving."""
    state_dir = state_dir.resolve()
    running = RunningServer.load(state_dir)
    if running is None:
        return False, f"no tracking server answers for {state_dir}"
    uri, leader = running.tracking_uri, running.mlflow_pid
    port = urllib.parse.urlparse(uri).port or 0
    session = _server_processes(leader, state_dir)
    leader_lives = leader in _pids(session)
    left = [process for process in session if process.pid != leader]
    serving = _shown_pids([process for process in left if _listening(process, port)])
    if leader_lives and _health(uri):
        users = " with users" if running.auth else ""
        return True, f"MLflow tracking server at {uri} answers{users} (mlflow server pid {leader}, serving pids {serving})"
    if leader_lives:
        return False, (
            f"the mlflow server process {leader} runs but {uri} does not answer /health "
            f"(log {state_dir / 'mlflow.log'}): stop, then start"
        )
    if serving:
        return False, f"the mlflow server process {leader} is gone but its workers {serving} still serve {uri}: stop ends them"
    if left:
        return False, (
            f"the mlflow server process {leader} is gone and nothing of it serves {uri}, but its processes "
            f"{_shown_pids(left)} still run: stop ends them"
        )
    if _port_answers(uri):
        return False, (
            f"the mlflow server process {leader} is gone and {_listeners_shown(port)}, not this server, answers "
            f"at {uri}: stop cleans up, then start with another --port"
        )
    return False, f"no tracking server answers for {state_dir}: the mlflow server process {leader} is gone (stop cleans up)"


def _shown_pids(processes: list[psutil.Process]) -> str:
    return ", ".join(str(pid) for pid in _pids(processes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ops.tracking_server", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "status", "stop"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_STATE_DIR, help="state directory (default: %(default)s)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address the tracking server listens on; beyond loopback it always has users (default: %(default)s)",
    )
    parser.add_argument("--port", type=int, default=5000, help="the tracking server's port (default: %(default)s)")
    parser.add_argument("--db-port", type=int, default=5433, help="PostgreSQL's port (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="mlflow server worker processes (default: %(default)s)")
    parser.add_argument("--auth", action="store_true", help="users by MLflow's basic-auth app, also on loopback")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            running = start(args.dir, args.port, args.db_port, args.workers, host=args.host, auth=args.auth)
            print(
                f"MLflow tracking server at {running.tracking_uri}, on PostgreSQL at 127.0.0.1:{running.database_port}; "
                f"state in {args.dir}"
            )
            if args.host in WILDCARD_HOSTS:
                print(f"it listens on every address of this machine: other machines reach it at http://<its address>:{args.port}")
            if running.auth:
                password_file = args.dir.resolve() / ADMIN_PASSWORD_FILE
                print(
                    f"with users: clients set MLFLOW_TRACKING_USERNAME={ADMIN_USERNAME} and MLFLOW_TRACKING_PASSWORD to "
                    f'the password in {password_file} (export MLFLOW_TRACKING_PASSWORD="$(cat {password_file})")'
                )
            print(f"record to it: python -m pipeline.run -m tracking=server tracking.uri={running.tracking_uri} ...")
        elif args.action == "status":
            fine, line = status(args.dir)
            print(line)
            return 0 if fine else 1
        else:
            print("stopped" if stop(args.dir) else f"nothing was running for {args.dir}")
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
