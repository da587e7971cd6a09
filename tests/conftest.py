"""Shared fixtures: the real conf/ composed and shrunk, a private MLflow store for every test, and a fresh
copy of the project for the tests that run it as a user does. Helpers that are not fixtures: tests/helpers.py."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import PROJECT_ROOT, RunConfig, to_run_config
from tests.helpers import TINY, compose_config, copy_project, set_options, sh

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def run_config() -> Callable[..., RunConfig]:
    """run_config("target=product", ...): conf/config.yaml composed with the overrides, typed and validated."""

    def make(*overrides: str) -> RunConfig:
        return to_run_config(compose_config(overrides))

    return make


@pytest.fixture(autouse=True)
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own sqlite store, so nothing leaks between tests or into the project's. The code
    never sets MLflow's process-wide URI: the doors read it from the environment, and tests that read runs
    name this store (MlflowClient(tracking_uri=mlflow_store))."""
    uri = f"sqlite:///{tmp_path / 'mlruns.sqlite'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for dvc_variable in ("DVC_ROOT", "DVC_EXP_NAME"):  # set when the suite itself runs under DVC
        monkeypatch.delenv(dvc_variable, raising=False)
    return uri


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new MLflow sqlite store with its tables made: MLflow's migrations take about a second per store."""
    database = tmp_path_factory.mktemp("store-template") / "mlruns.sqlite"
    MlflowClient(tracking_uri=f"sqlite:///{database}").search_experiments()
    return database


@pytest.fixture
def ready_store(mlflow_store: str, store_template: Path) -> str:
    """The test's private store (mlflow_store), as new as MLflow makes one but with its tables already made:
    for the tests that record runs in this process. Tests of what happens on a store that does not exist yet
    use mlflow_store alone."""
    shutil.copyfile(store_template, mlflow_store.removeprefix("sqlite:///"))
    return mlflow_store


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture
def project_copy(project_root: Path, tmp_path: Path) -> Path:
    """The project as a clean clone has it, committed in a new repository under tmp_path."""
    return copy_project(project_root, tmp_path / "project")


@pytest.fixture(scope="session")
def tiny_experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy after one `dvc exp run -n tiny` at TINY sizes into the default MLflow store
    (<copy>/mlflow.db): what the slow tests of the DVC door read. It takes about a minute, so the session makes
    it once; tests only read it (`dvc status`, `dvc exp show`, files, the store), and a test that goes on to
    edit, commit or run takes its own copy (tiny_experiment_copy)."""
    copy = copy_project(PROJECT_ROOT, tmp_path_factory.mktemp("tiny-experiment") / "project")
    with pytest.MonkeyPatch.context() as environment:
        for variable in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME"):
            environment.delenv(variable, raising=False)
        sh("dvc", "exp", "run", "-n", "tiny", *set_options(TINY), cwd=copy)
    return copy


@pytest.fixture
def tiny_experiment_copy(tiny_experiment: Path, tmp_path: Path) -> Path:
    """tiny_experiment copied whole (git history, experiment refs, DVC cache, MLflow store), for a test to edit."""
    return Path(shutil.copytree(tiny_experiment, tmp_path / "project", symlinks=True))


@pytest.fixture
def restored_signals() -> Iterator[None]:
    """For a test that installs the doors' signal handlers in pytest's own process: the old ones come back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
