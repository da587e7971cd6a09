"""Where runs are recorded: the store a door resolves once (configured, environment, default) and passes
down, and the checks that tell in seconds, before any work, whether it can be used. Free of MLflow, so
the doors can check a store before loading it."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from pipeline.config import PROJECT_ROOT
from pipeline.environment import Environment, bound_mlflow_http_waits
from pipeline.errors import TrackingError
from pipeline.redaction import redact

DEFAULT_STORE = "mlflow.db"  # at the project root


def resolve_tracking_uri(configured: str | None, environment: Environment) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else one absolute sqlite store at the project root.

    Absolute, so Hydra's output directories and DVC's stage directories never scatter stores; under
    `dvc exp run --queue` or `--temp`, at the root of the main repository (DVC_ROOT), not of DVC's copy.
    """
    return configured or environment.mlflow_tracking_uri or f"sqlite:///{store_root(environment) / DEFAULT_STORE}"


def store_root(environment: Environment) -> Path:
    """Where the project's default store and its artifacts live: the project's root, or under DVC's queue
    or temporary copy, the main repository's (DVC_ROOT)."""
    return Path(environment.dvc_root or PROJECT_ROOT)


@dataclass(frozen=True)
class Store:
    """Where runs are recorded: a reachable store and an experiment in it."""

    uri: str
    experiment_id: str
    experiment: str  # its name: what a job's kept run names when the store has gone away (tracking.unrecorded)


def only_this_host_reaches(uri: str) -> bool:
    """A file store, or a server or database on loopback: a job on another machine would record elsewhere."""
    if uri.startswith("databricks"):  # "databricks", "databricks-uc", "databricks://profile": a remote service
        return False
    host = urlparse(uri).hostname
    if host is None:  # a file, or a database over a Unix socket
        return True
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def sqlite_database(uri: str) -> Path | None:
    """The file of a sqlite store (after sqlite:///, as SQLAlchemy reads it); None for any other store."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite" or not parsed.path[1:]:
        return None
    return Path(parsed.path[1:])


ARTIFACTS_DIR = "mlartifacts"


def artifact_root(uri: str, environment: Environment) -> str | None:
    """Where a new experiment's artifacts go, never into whatever the working directory is (MLflow's
    `./mlruns` for a database store): beside a local sqlite store (`<store dir>/mlartifacts`); for another
    database store, the project's (`<project root>/mlartifacts`). None for a tracking server, which serves
    its own."""
    database = sqlite_database(uri)
    if database is not None:
        return (database.resolve().parent / ARTIFACTS_DIR).as_uri()
    if urlparse(uri).scheme.split("+")[0] in DATABASE_PORTS:
        return (store_root(environment) / ARTIFACTS_DIR).as_uri()
    return None


def check_reachable(uri: str) -> None:
    """The store answers and lets us in: a sqlite store's directory exists and its file, if any, is a sqlite
    database; a tracking server answers its health check, and not with a server error; a database server
    accepts a connection, then a login to its database. In seconds and without MLflow, which retries such a
    store for minutes before it says why (measured 2026-11-30: 120 s for a wrong password or a missing
    database, 261 s for a server answering 503; a port where something else listens held each of ten tries
    psycopg's 130 s, about 23 min). Each wait is bounded (CONNECT_TIMEOUT_SECONDS) and polls a socket, which
    Ctrl-C and SIGTERM interrupt at once (checked with real signals: the wait ends within 0.2 s).

    For a tracking server, MLflow's own retries of every later call are bounded in this process too
    (`bound_mlflow_http_waits`): one that fails after this check gives up in seconds, not minutes."""
    database = sqlite_database(uri)
    if database is not None:
        _check_sqlite(uri, database)
        return
    parsed = urlparse(uri)
    dialect = parsed.scheme.split("+")[0]
    if parsed.scheme in ("http", "https"):
        _check_server_answers(uri)
        bound_mlflow_http_waits(uri_holds_password=redact(uri) != uri)
    elif dialect in DATABASE_PORTS:
        import sqlalchemy  # here: a sqlite store is checked without it

        # Read as SQLAlchemy (and so MLflow) reads it: urllib ends the user information at a `/` of the password.
        url = sqlalchemy.engine.make_url(uri)
        if url.host:  # else a Unix socket, which the login reaches or not
            _check_database_answers(uri, url.host, url.port or DATABASE_PORTS[dialect])
        _check_database_login(uri)


DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}  # SQLAlchemy's schemes, their servers' ports
# Each driver's bound on one connection's wait, in seconds, by SQLAlchemy's name for the driver; a driver not
# named here is given none (its argument would be refused), and the check's TCP connection bounds the rest.
CONNECT_TIMEOUT_ARGUMENTS = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pg8000": "timeout",
    "mysqldb": "connect_timeout",
    "pymysql": "connect_timeout",
    "pyodbc": "timeout",
}
CONNECT_TIMEOUT_SECONDS = 5  # a store's server answers a connection in milliseconds, on a loaded machine too
SQLITE_HEADER = b"SQLite format 3\x00"
FIX = "fix tracking.uri or $MLFLOW_TRACKING_URI"


def _check_sqlite(uri: str, database: Path) -> None:
    if not database.parent.is_dir():
        raise TrackingError(
            f"MLflow store {uri} is not usable: the directory {database.parent} does not exist: create it or {FIX}"
        )
    if database.is_file() and database.stat().st_size:
        with open(database, "rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise TrackingError(f"MLflow store {uri} is not usable: {database} is not a sqlite database: {FIX}")


def _check_server_answers(uri: str) -> None:
    try:
        urllib.request.urlopen(_health_url(uri), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except urllib.error.HTTPError as error:
        error.close()
        if error.code < 500:
            return  # it answered (401: MLflow's own calls send the credentials), and its calls will say what else
        raise TrackingError(
            f"MLflow tracking server {redact(uri)} answers its health check with {error.code} {error.reason}: it "
            f"runs but cannot serve; restart it (e.g. `python -m pipeline.ops.tracking_server stop`, then "
            f"`start`) or {FIX}"
        ) from None
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise TrackingError(
            f"MLflow tracking server {redact(uri)} does not answer ({reason}): start it (e.g. `python -m "
            f"pipeline.ops.tracking_server start`) or {FIX}"
        ) from None


def _health_url(uri: str) -> str:
    """The server's health check, without the user and password a URI may carry: urllib would take them for
    the host, and the check needs none."""
    parsed = urlparse(uri)
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2], path=f"{parsed.path.rstrip('/')}/health").geturl()


def _check_database_answers(uri: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise TrackingError(f"MLflow store {redact(uri)} does not answer ({error}): start its database server or {FIX}") from None


def _check_database_login(uri: str) -> None:
    """One real login, as MLflow's will be, through SQLAlchemy and the driver MLflow uses: MLflow tries ten
    times, for two minutes, before it says that the password is wrong or the database missing, and a port
    that is not the database's holds each try until the driver's default timeout (psycopg: 130 s)."""
    import sqlalchemy  # here, not at the top: a sqlite store is checked without it
    from sqlalchemy.pool import NullPool

    try:
        timeout_argument = CONNECT_TIMEOUT_ARGUMENTS.get(sqlalchemy.engine.make_url(uri).get_driver_name())
        bound = {timeout_argument: CONNECT_TIMEOUT_SECONDS} if timeout_argument else {}
        engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=bound)
        engine.connect().close()
    except ImportError as error:
        raise TrackingError(
            f"MLflow store {redact(uri)} needs a database driver that is not installed ({error}): install it "
            f"(PostgreSQL's, psycopg: `pip install -e '.[server]'`) or {FIX}"
        ) from None
    except sqlalchemy.exc.SQLAlchemyError as error:
        driver_error = getattr(error, "orig", None) or error
        reason = " ".join(str(driver_error).strip().split("\n", 1)[0].split()) or type(driver_error).__name__
        raise TrackingError(
            f"MLflow store {redact(uri)} does not let us in ({reason}): check its user, password, database and port, or {FIX}"
        ) from None


LOCK_WAIT_SECONDS = 120.0  # a store's tables take seconds to create; eight waiting jobs, well under this
LOCK_POLL_SECONDS = 0.1


@contextlib.contextmanager
def one_creator_at_a_time(uri: str) -> Iterator[None]:
    """Processes that start together on a new sqlite store (a parallel sweep's jobs, DVC queue workers)
    race to create its tables and experiment, and lose runs; an exclusive lock beside the file lets one
    create while the others wait, then find it made.

    The wait is bounded and interruptible: the lock is tried, not waited on inside the kernel (a blocking
    flock sat through SIGTERM, SIGINT and a second SIGTERM), so Ctrl-C or SIGTERM ends it at once, and after
    LOCK_WAIT_SECONDS it fails in one line naming the lock."""
    database = sqlite_database(uri)
    if database is None:
        yield
        return
    with open(f"{database}.lock", "a") as lock:
        _take(lock, Path(f"{database}.lock"))
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _take(lock: IO[str], path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TrackingError(
                    f"waited {LOCK_WAIT_SECONDS:g} s for {path}, which another process holds while it creates the "
                    f"store: end that process (`fuser {path}` names it) and run again"
                ) from None
            time.sleep(LOCK_POLL_SECONDS)
