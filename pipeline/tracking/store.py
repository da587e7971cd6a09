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
from pipeline.environment import Environment
from pipeline.errors import TrackingError

DEFAULT_STORE = "mlflow.db"  # at the project root


def resolve_tracking_uri(configured: str | None, environment: Environment) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else one absolute sqlite store at the project root.

    Absolute, so Hydra's output directories and DVC's stage directories never scatter stores; under
    `dvc exp run --queue` or `--temp`, at the root of the main repository (DVC_ROOT), not of DVC's copy.
    """
    root = Path(environment.dvc_root or PROJECT_ROOT)
    return configured or environment.mlflow_tracking_uri or f"sqlite:///{root / DEFAULT_STORE}"


@dataclass(frozen=True)
class Store:
    """Where runs are recorded: a reachable store and an experiment in it."""

    uri: str
    experiment_id: str


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


def artifact_root(uri: str) -> str | None:
    """Beside a local sqlite store (`<store dir>/mlartifacts`), not in whatever the working directory is."""
    database = sqlite_database(uri)
    return None if database is None else (database.resolve().parent / "mlartifacts").as_uri()


def check_reachable(uri: str) -> None:
    """The store answers: a sqlite store's directory exists and its file, if any, is a sqlite database; a
    tracking server or a database server accepts a connection. Without MLflow, in seconds: MLflow retries a
    server that does not answer for minutes. A store that answers but refuses (a wrong password, say) is
    reported when the store is opened."""
    database = sqlite_database(uri)
    if database is not None:
        _check_sqlite(uri, database)
        return
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        _check_server_answers(uri)
    elif parsed.hostname and parsed.scheme.split("+")[0] in DATABASE_PORTS:
        _check_database_answers(uri, parsed.hostname, parsed.port or DATABASE_PORTS[parsed.scheme.split("+")[0]])


DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}  # SQLAlchemy's schemes, their servers' ports
SQLITE_HEADER = b"SQLite format 3\x00"
FIX = "fix tracking.uri or $MLFLOW_TRACKING_URI"


def _shown(uri: str) -> str:
    """The URI as an error may show it: without a password."""
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()


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
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5).close()
    except urllib.error.HTTPError:
        return  # it answered: MLflow's own calls will say what else is wrong
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise TrackingError(
            f"MLflow tracking server {_shown(uri)} does not answer ({reason}): start it (e.g. `python -m "
            f"pipeline.ops.tracking_server start`) or {FIX}"
        ) from None


def _check_database_answers(uri: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        raise TrackingError(f"MLflow store {_shown(uri)} does not answer ({error}): start its database server or {FIX}") from None


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
