"""What several test modules share that is not a fixture: tiny configs, the doors run as a user runs them,
the project copied, MLflow read back, and small results built by hand. Fixtures live in conftest.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, open_dict

from pipeline.config import (
    CONF_DIR,
    PROJECT_ROOT,
    Activation,
    DataConfig,
    Dataset,
    Dtype,
    Engine,
    GammaConfig,
    GaussianConfig,
    ModelConfig,
    Optimizer,
    RunConfig,
    TrainConfig,
    flatten,
    load_pipeline_config,
    to_plain,
    to_run_config,
)
from pipeline.core.draws import draw_post_stream
from pipeline.core.evaluation import Evaluation
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.environment import Environment
from pipeline.failures import FailurePath
from pipeline.files.layout import PARAMS_FILE, Layout
from pipeline.stages import RERUN_HINT, StageContext
from pipeline.stages.generate import generate
from pipeline.tracking.store import sqlite_database
from pipeline.tracking.tags import PARENT_TAG

if TYPE_CHECKING:
    from pipeline.core.training import TrainingResult  # imports Keras: only the tests that train need it

# Small enough to train in seconds, large enough that the learning test can recover the relations.
TINY = ("data.n_train=256", "data.n_test=64", "train.epochs=2", "train.batch_size=32")
TARGETS = ["sum", "weighted_sum", "product"]  # conf/pipeline.yaml's, in its order
EXPERIMENT = "toy-ann"  # conf/tracking's

# A network whose relations hold: the numbers a summary, a report or a run shows for a converged target.
CONVERGED = Evaluation(
    test_mse=1e-4,
    test_r2=0.99998,
    m_residual=1e-6,
    c_residual=1e-6,
    relations_hold=True,
    relu_active_fraction=0.9997,
    relu_active_fraction_test=0.9998,
    atol=1e-3,
    true_formula="f(X) = 1.0*x1 + 0.0",
    recovered_formula="f(X) = 1.0*x1 + 0.0",
    true_formula_original=None,
    recovered_formula_original=None,
    recovered_m=[1.0],
    recovered_c=0.0,
    true_m=[1.0],
    true_c=0.0,
    width=1,
    exact_width=1,
    width_note=None,
    linear_regions=1,
    dead_units=0,
    always_active_units=1,
    regions=[{"pattern": "1", "share": 1.0, "slope": [1.0], "intercept": 0.0, "formula": "f(X) = 1.0*x1 + 0.0"}],
    local_relation_share=1.0,
    local_relations_hold=True,
    local_slope_residual_p50=1e-6,
    local_slope_residual_p90=1e-6,
    local_slope_residual_max=1e-6,
    local_intercept_residual_p50=1e-6,
    local_intercept_residual_p90=1e-6,
    local_intercept_residual_max=1e-6,
    converged=True,
    w2_negative=False,
    lowest_train_mse_epoch=990,
    test_mse_at_lowest_train_mse=8e-5,
)


# Configs ---------------------------------------------------------------------------------------------------


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """conf/config.yaml composed with the overrides, as the Hydra door composes it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def multirun_config(task: Sequence[str], params: dict[str, str] | None = None) -> DictConfig:
    """What a multirun's callbacks receive for these command-line overrides and sweeper params: the config
    the fixed ones compose, with its hydra node. Call it inside a Hydra context (the hydra_app fixture)."""
    fixed = [o.input_line for o in OverridesParser.create().parse_overrides(list(task)) if not o.is_sweep_override()]
    config = compose(config_name="config", overrides=fixed, return_hydra_config=True)
    with open_dict(config):
        config.hydra.overrides.task = list(task)
        config.hydra.sweeper.params = params
    return config


def job_params(overrides: Sequence[str]) -> dict[str, str]:
    """The params a job's MLflow run records for these overrides: its typed config, flattened. Call it inside
    a Hydra context, as multirun_config."""
    typed = to_run_config(compose(config_name="config", overrides=list(overrides)))
    return {key: str(value) for key, value in flatten(to_plain(typed)).items()}


def small_data(n_train: int, n_test: int, *, seed: int = 42, x_size: int = 5) -> DataConfig:
    """The post's distributions (standard normal, gamma(1, 1)) at the given sizes."""
    return DataConfig(
        seed=seed,
        x_size=x_size,
        n_train=n_train,
        n_test=n_test,
        gaussian=GaussianConfig(loc=0.0, scale=1.0),
        gamma=GammaConfig(shape=1.0, scale=1.0),
    )


def train_config(
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    engine: Engine = Engine.compiled,
    inits: int = 1,
    optimizer: Optimizer = Optimizer.sgd,
    momentum: float = 0.9,
    replicates: int = 1,
    dtype: Dtype = Dtype.float32,
) -> TrainConfig:
    return TrainConfig(
        engine=engine,
        inits=inits,
        replicates=replicates,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        momentum=momentum,
        dtype=dtype,
    )


def model_config(seed: int, width: int = 1, activation: Activation = Activation.relu, negative_slope: float = 0.3) -> ModelConfig:
    """conf/model/default.yaml's network (the post's) unless told otherwise."""
    return ModelConfig(seed=seed, width=width, activation=activation, negative_slope=negative_slope)


def sum_problem(n_train: int, n_test: int = 200) -> TargetProblem:
    """The post's sum target on the post's Gaussian draws (seed 42, five inputs)."""
    target = to_run_config(compose_config(["target=sum"])).target
    draws = draw_post_stream(small_data(n_train, n_test))
    return target_problem(target, draws.splits[Dataset.gaussian], draws.coefficients)


# MLflow, read back -----------------------------------------------------------------------------------------


def recorded_runs(uri: str, experiment: str = EXPERIMENT) -> list:
    """Every run of the experiment in the store at `uri`; none if the experiment, or a sqlite store's file,
    was never made (reading must not make the file)."""
    database = sqlite_database(uri)
    if database is not None and not database.exists():
        return []
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def sweep_runs(uri: str) -> tuple[list, list]:
    """(parents, children) of the toy-ann experiment."""
    runs = recorded_runs(uri)
    return [r for r in runs if PARENT_TAG not in r.data.tags], [r for r in runs if PARENT_TAG in r.data.tags]


def rest(base: str, path: str, payload: dict | None = None) -> dict:
    """One call of MLflow's REST API: GET, or POST with a JSON payload."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# The doors, run as a user runs them ------------------------------------------------------------------------


def run_door(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m pipeline.run ...` in a subprocess (MLflow: the test's store, through the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def sh(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    """Run a command the way a user would, from the copy, with this interpreter's tools first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def set_options(values: tuple[str, ...]) -> list[str]:
    """Overrides as `dvc exp run -S` options."""
    return [arg for value in values for arg in ("-S", value)]


def commit_all(repo: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", message, cwd=repo)


def git_changes(repo: Path) -> dict[str, str]:
    """What git would commit in `repo`: each changed, deleted or new file that is not ignored, with its status
    as `git status --porcelain` shows it (" M" modified, " D" deleted, "??" new)."""
    status = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=repo).stdout
    return {line[3:]: line[:2] for line in status.splitlines()}


def copy_project(project_root: Path, copy: Path) -> Path:
    """The project's files as a clean clone has them (tracked, or new and not ignored), committed in a new repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (project_root / name).is_file():  # a file deleted in the working tree is still in the index
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project_root / name, copy / name)
    sh("git", "init", "-q", cwd=copy)
    commit_all(copy, "copy")
    return copy


def generate_tiny_data(project: Path) -> Path:
    """The generate stage, run on the project's own params.yaml at tiny sizes; returns the data directory."""
    pipeline = load_pipeline_config(project / "params.yaml")
    pipeline.data.n_train, pipeline.data.n_test = 256, 64
    pipeline.paths.data = str(project / pipeline.paths.data)
    generate(StageContext(pipeline, Layout(pipeline.paths), Environment.read(), FailurePath(RERUN_HINT), []))
    return Path(pipeline.paths.data)


# PostgreSQL, the tracking server and Ray, on loopback ------------------------------------------------------


def install_postgres_if_missing() -> None:
    """The tests bring their own PostgreSQL server, from Debian's `postgresql` package."""
    from pipeline.ops import tracking_server

    try:
        tracking_server.postgres_bin_dir()
        return
    except tracking_server.ServerError:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail(f"PostgreSQL's server is not installed and this user cannot install it: {tracking_server.INSTALL_HINT}")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    tracking_server.postgres_bin_dir()


def listeners() -> set[tuple[str, str]]:
    """(address, port) of every listening TCP socket on this machine."""
    table = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return {tuple(line.split()[3].rsplit(":", 1)) for line in table.splitlines()}


def on_loopback(address: str) -> bool:
    return address.removeprefix("[::ffff:").rstrip("]").startswith("127.") or address == "[::1]"


def processes_named(name: str) -> set[int]:
    found = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found}


def addresses_in_ray_logs() -> set[str]:
    """The IP addresses (of ip:port) in the logs of the latest Ray session on this machine."""
    logs = Path(tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    found = (re.findall(r"\b((?:\d{1,3}\.){3}\d{1,3}):\d+", f.read_text(errors="replace")) for f in logs.rglob("*.*"))
    return {address for addresses in found for address in addresses}


def api(tracking_uri: str) -> str:
    """The REST API's base of the tracking server at `tracking_uri`."""
    return f"{tracking_uri}/api/2.0/mlflow"


def tags_of(run: dict) -> dict[str, str]:
    """A run's tags, from the REST API's list of key/value pairs."""
    return {tag["key"]: tag["value"] for tag in run["data"]["tags"]}


# A job recorded as the doors record it, and the DVC train stage run in-process ----------------------------


def record_job(
    run: RunConfig, problem: TargetProblem, uri: str, model_dir: Path, data_file: Path | None = None
) -> tuple[str, TrainingResult, list[Evaluation]]:
    """Open the store, train, evaluate and record one job as both doors do (`train_and_evaluate`, then
    `record`): (the run's id, the training, the evaluations)."""
    from pipeline.job import train_and_evaluate
    from pipeline.tracking.runs import RunRecorder, open_store

    recorder = RunRecorder(open_store(uri, run.tracking.experiment), run.target.name, to_plain(run))
    job = train_and_evaluate(run, problem, recorder, data_file, model_dir)
    return job.record(recorder, run.model.seed), job.result, job.evaluations


def tiny_stage(root: Path, *args: str, **train: float) -> StageContext:
    """A DVC stage's context on the project's params.yaml shrunk to tiny sizes (and `train` settings such as
    lr=50), every path under `root`, in a failure path of its own: run a stage in-process with
    `with stage.failures: train(stage)`."""
    pipeline = load_pipeline_config(PARAMS_FILE)
    pipeline.data.n_train, pipeline.data.n_test = 256, 64
    pipeline.train.epochs, pipeline.train.batch_size = 2, 32
    for key, value in train.items():
        setattr(pipeline.train, key, value)
    for name in ("data", "models", "metrics", "plots", "reports", "evaluations"):
        setattr(pipeline.paths, name, str(root / name))
    return StageContext(pipeline, Layout(pipeline.paths), Environment.read(), FailurePath(RERUN_HINT), list(args))


# DVC ------------------------------------------------------------------------------------------------------

# The fix a stage names when params.yaml was composed from another conf/ (pipeline/stages/compose.py).
STALE_PARAMS_FIX = (
    "run `python -m pipeline.stages.compose` after editing conf/, or `dvc exp run` (which composes it, with any -S overrides)"
)


def stale_in_dvc_lock(repo: Path) -> dict[str, list]:
    """What the repository's dvc.lock records that its workspace no longer matches, per stage: changed code,
    conf or params deps, a changed command, changed outs (the committed `cache: false` ones, metrics/,
    evaluations/, plots/loss/ and reports/, edited or deleted by hand, as `dvc status` sees them), and stages
    dvc.lock has but dvc.yaml has not. Left out: outs that are merely not in the cache (a clean clone has no
    data/ or models/ before `dvc pull`), and deps that a stage writes (data, models, evaluations, plot data),
    whose drift shows as the writing stage's changed outs."""
    from dvc.repo import Repo  # DVC takes a second to import: only the tests of the DVC door load it

    with Repo(str(repo)) as dvc:
        stages = list(dvc.index.stages)
        status = dvc.status()
    names = {stage.addressing: stage.name for stage in stages}  # addressing is relative to the working directory
    written = [Path(str(out.def_path)) for stage in stages for out in stage.outs]
    stale: dict[str, list] = {}
    for address, changes in status.items():
        name = names[address]
        for change in changes:
            if isinstance(change, dict) and "changed deps" in change:
                deps = {
                    path: state
                    for path, state in change["changed deps"].items()
                    if not any(w.is_relative_to(path) for w in written)
                }
                if deps:
                    stale.setdefault(name, []).append({"changed deps": deps})
            elif isinstance(change, dict) and "changed outs" in change:
                outs = {path: state for path, state in change["changed outs"].items() if state != "not in cache"}
                if outs:
                    stale.setdefault(name, []).append({"changed outs": outs})
            elif change == "changed command":
                stale.setdefault(name, []).append(change)
    locked = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    for name in sorted(set(locked) - set(names.values())):
        stale[name] = ["in dvc.lock, not in dvc.yaml"]
    return stale


# Two hosts on one machine: network namespaces joined by a virtual link ----------------------------------


@dataclass(frozen=True)
class TwoHosts:
    """A head host and a worker host: each a network namespace with its own address on a virtual link, and
    each command run there in a UTS namespace of its own with the host's name, so `socket.gethostname()`
    tells them apart as on two machines. One file system: `folder` is both hosts'."""

    folder: Path
    head_namespace: str
    worker_namespace: str
    head_ip: str
    worker_ip: str
    ray_port: int
    tracking_port: int
    env: dict[str, str]  # Ray's token, the tracking server's user: what every process of the cluster needs
    head_name: str = "node-1"
    worker_name: str = "node-2"

    @property
    def ray_address(self) -> str:
        return f"{self.head_ip}:{self.ray_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.head_ip}:{self.tracking_port}"

    def command(self, on_worker: bool, *argv: str) -> list[str]:
        namespace, name = (self.worker_namespace, self.worker_name) if on_worker else (self.head_namespace, self.head_name)
        return ["ip", "netns", "exec", namespace, "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name, *argv]

    def run(self, on_worker: bool, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(on_worker, *argv), env=self.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
        )

    def on_head(self, *python_args: str) -> subprocess.CompletedProcess:
        """`python <python_args>` on the head host."""
        return self.run(False, sys.executable, *python_args)

    def head_python(self, code: str) -> str:
        done = self.on_head("-c", code)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def runs_on_server(self) -> list[dict]:
        """Every run of the toy-ann experiment on the head's tracking server: id, status and tags."""
        code = (
            "import json\nfrom mlflow.tracking import MlflowClient\n"
            f"client = MlflowClient(tracking_uri={self.tracking_uri!r})\n"
            "runs = client.search_runs([client.get_experiment_by_name('toy-ann').experiment_id])\n"
            "print(json.dumps([{'run_id': r.info.run_id, 'status': r.info.status, 'tags': r.data.tags} for r in runs]))\n"
        )
        return json.loads(self.head_python(code).strip().splitlines()[-1])


def namespaces_and_links() -> tuple[set[str], set[str]]:
    """The machine's network namespaces and links, by name: what a test that makes them must leave as it found."""
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return (
        {line.split()[0] for line in namespaces.splitlines() if line.strip()},
        {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()},
    )
