"""Fixtures of the tracking tests: a tiny product problem, a run recorder on the test's store, one job
recorded whole and one failing sweep, each shared by a module, and Hydra initialised on conf/ as a running
app has it."""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
from hydra import initialize_config_dir

from pipeline.config import CONF_DIR, PROJECT_ROOT, Dataset, RunConfig, to_run_config
from pipeline.core.draws import draw_post_stream
from pipeline.core.evaluation import Evaluation
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.environment import MLFLOW_HTTP_WAITS
from pipeline.files.data import load_split, save_split
from pipeline.files.layout import dataset_file
from pipeline.ops.tracking_server import free_loopback_port, postgres_bin_dir
from pipeline.tracking.runs import RunRecorder, open_store
from tests.helpers import EXPERIMENT, TINY, compose_config, install_postgres_if_missing, model_config, record_job

if TYPE_CHECKING:
    from pipeline.core.training import TrainingResult  # imports Keras, which only the tests that train need


@pytest.fixture
def tiny_product(run_config) -> tuple[RunConfig, TargetProblem]:
    run = run_config("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=3", "train.batch_size=32")
    draws = draw_post_stream(run.data)
    split = draws.splits[Dataset.gamma]
    problem = target_problem(run.target, split, draws.coefficients)
    return run, problem


@pytest.fixture
def recorder(ready_store: str) -> RunRecorder:
    """The run of target `sum` in the test's store, not begun yet."""
    return RunRecorder(open_store(ready_store, EXPERIMENT), "sum", {"train": {"lr": 0.003}})


@pytest.fixture(scope="module")
def tiny_network():
    """A Keras network of one input, untrained: what `record` logs as the MLflow Model of a record built by hand."""
    from pipeline.core.network import build_network

    return build_network(1, model_config(seed=0), seed=0)


@dataclass(frozen=True)
class RecordedJob:
    """A job recorded whole, and what it was recorded from."""

    uri: str  # its store's
    run_id: str
    result: TrainingResult
    evaluations: list[Evaluation]
    data_file: Path  # the split it trained and was tested on, as the generate stage writes it
    before: float  # time.time() just before the job opened its store
    after: float  # and just after its run ended


@pytest.fixture(scope="module")
def recorded_product(tmp_path_factory: pytest.TempPathFactory) -> RecordedJob:
    """A tiny product job (3 epochs) on a data file written and read back as the DVC door does, trained,
    evaluated and recorded as both doors do, in a store of the module's own: trained once for the tests that
    only read its run."""
    root = tmp_path_factory.mktemp("recorded_product")
    run = to_run_config(compose_config(["target=product", *TINY, "train.epochs=3"]))
    draws = draw_post_stream(run.data)
    data_file = root / "data" / dataset_file(run.target.dataset)
    save_split(data_file, draws.splits[run.target.dataset])
    problem = target_problem(run.target, load_split(data_file, run.data.x_size), draws.coefficients)
    uri = f"sqlite:///{root / 'mlruns.sqlite'}"
    before = time.time()
    run_id, result, evaluations = record_job(run, problem, uri, root / "model", data_file)
    return RecordedJob(uri, run_id, result, evaluations, data_file, before, time.time())


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, str]:
    """A three-job sweep: one finishes, one diverges (lr 50), one has a bad value (lr -1)."""
    root = tmp_path_factory.mktemp("failing_sweep")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            "-m",
            "target=sum",
            "train.lr=0.003,50,-1",
            *TINY,
            f"hydra.sweep.dir={root / 'sweep'}",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, uri


@pytest.fixture
def hydra_app() -> Iterator[None]:
    """Hydra initialised on conf/, as inside a running app: its compose API works, as the sweep callback's does."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


@dataclass(frozen=True)
class TrainingSweep:
    """A joblib sweep of two jobs caught while both train: its main process, every process it started then,
    and the job processes by job number (each the owner of its job's run)."""

    main: subprocess.Popen
    processes: tuple[psutil.Process, ...]  # the main process's descendants: loky's workers and its resource tracker
    jobs: dict[int, psutil.Process]
    uri: str
    sweep_dir: Path
    stderr: Path

    def errors(self) -> str:
        return self.stderr.read_text()


SWEEP_START_SECONDS = 300.0  # hang guard: two workers import TensorFlow on the machine's two cores


@pytest.fixture
def training_sweep(ready_store: str, project_root: Path, tmp_path: Path) -> Iterator[TrainingSweep]:
    """`python -m pipeline.run -m hydra/launcher=joblib hydra.launcher.n_jobs=2 model.seed=1,2` at tiny sizes
    but endless epochs, both jobs training, in a store with its tables made (the test reads it as the sweep
    starts); whatever of it is left when the test ends is killed."""
    sweep_dir, stderr = tmp_path / "sweep", tmp_path / "sweep.err"
    command = [sys.executable, "-m", "pipeline.run", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.seed=1,2"]
    command += [
        "data.n_train=256",
        "data.n_test=64",
        "train.batch_size=32",
        "train.epochs=1000000",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": ready_store}
    with open(tmp_path / "sweep.out", "w") as out, open(stderr, "w") as err:
        main = subprocess.Popen(command, cwd=project_root, env=env, stdout=out, stderr=err)
    processes: list[psutil.Process] = []
    try:
        jobs = _jobs_training(main, ready_store, stderr)
        processes = psutil.Process(main.pid).children(recursive=True)
        assert set(jobs.values()) <= set(processes), "the jobs' runs name processes the sweep did not start"
        yield TrainingSweep(main, tuple(processes), jobs, ready_store, sweep_dir, stderr)
    finally:
        for process in processes:
            if process.is_running():
                process.kill()
        if main.poll() is None:
            main.kill()
        main.wait(timeout=60)
        psutil.wait_procs(processes, timeout=30)


def _jobs_training(main: subprocess.Popen, uri: str, stderr: Path) -> dict[int, psutil.Process]:
    """Each job's process, once both jobs' runs are RUNNING: they open them as their training starts."""
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.tags import JOB_TAG, OWNER_PID_TAG

    client = MlflowClient(tracking_uri=uri)
    deadline = time.monotonic() + SWEEP_START_SECONDS
    while time.monotonic() < deadline:
        assert main.poll() is None, f"the sweep ended before its jobs trained: {stderr.read_text()[-3000:]}"
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            running = client.search_runs([experiment.experiment_id], f"attributes.status = 'RUNNING' and tags.`{JOB_TAG}` != ''")
            if len(running) == 2:
                return {int(run.data.tags[JOB_TAG]): psutil.Process(int(run.data.tags[OWNER_PID_TAG])) for run in running}
        time.sleep(1.0)
    raise AssertionError(f"the sweep's two jobs did not both start training within {SWEEP_START_SECONDS} s")


# Stores that answer badly, on loopback, each gone with its test.


@pytest.fixture
def hang_guard() -> Callable[[float], contextlib.AbstractContextManager[None]]:
    """`with hang_guard(seconds):` fails the test if its body still waits then, rather than waiting with it:
    SIGALRM, which ends a wait on a socket as SIGTERM does."""

    @contextlib.contextmanager
    def guard(seconds: float) -> Iterator[None]:
        def hung(signum: int, frame: object) -> None:
            pytest.fail(f"still waiting after {seconds:g} s", pytrace=False)

        previous = signal.signal(signal.SIGALRM, hung)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return guard


@dataclass(frozen=True)
class SilentListener:
    """A port that accepts connections and never says a word: a hung server, or one of another protocol."""

    port: int
    accepted: threading.Semaphore  # released once for every connection it accepts


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # so that the accepting thread sees the test end
    listener = SilentListener(server.getsockname()[1], threading.Semaphore(0))
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])
                listener.accepted.release()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        done.set()
        thread.join()
        for connection in [*held, server]:
            connection.close()


@pytest.fixture
def stand_in_tracking_server() -> Iterator[Callable[[int, int], str]]:
    """`stand_in_tracking_server(health, api)`: a server answering its health check with one HTTP status and
    every other request (MLflow's API) with another, as a half-dead tracking server does with 503; its URI."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(health: int, api: int) -> str:
        class Answer(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(health if self.path == "/health" else api)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                self.do_GET()

            def log_message(self, format: str, *args: object) -> None:  # not on the test's output
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mlflow_http_waits_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's HTTP waits as a user who set none has them; afterwards as they were before the test, whatever
    check_reachable set in this process."""
    for name in MLFLOW_HTTP_WAITS:
        monkeypatch.setenv(name, "")  # recorded, so that the teardown restores what was there
        monkeypatch.delenv(name)


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server on loopback whose superuser logs in with a password over TCP."""

    port: int
    user: str
    password: str

    def uri(self, password: str, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{password}@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A bare PostgreSQL server of the test's own, stopped and deleted afterwards. Outside pytest's private
    (0700) temporary tree: as root, PostgreSQL runs as `postgres`, who must reach it."""
    install_postgres_if_missing()
    bin_dir = postgres_bin_dir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="toy-ann-postgres-"))
    root.chmod(0o755)
    server = Postgres(free_loopback_port(), "toyann", secrets.token_urlsafe(16))
    (root / "password").write_text(server.password)
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(root / "password", "postgres")
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(root / "data")]
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", server.user, "-A", "scram-sha-256"]
        subprocess.run([*as_postgres, *initdb, f"--pwfile={root / 'password'}"], check=True, capture_output=True)
        options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root}"
        subprocess.run([*pg_ctl, "-o", options, "-l", str(root / "log"), "-w", "start"], check=True, capture_output=True)
        yield server
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root)
