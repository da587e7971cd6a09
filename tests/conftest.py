"""Shared fixtures: the real conf/ composed and shrunk, and a private MLflow store for every test."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir

from pipeline.config import CONF_DIR, PROJECT_ROOT, RunConfig, to_run_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Small enough to train in seconds, large enough that the learning test can recover the relations.
TINY = ("data.n_train=256", "data.n_test=64", "train.epochs=2", "train.batch_size=32")


def compose_config(overrides: Sequence[str] = ()) -> object:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def run_config() -> Callable[..., RunConfig]:
    """run_config("target=product", ...): conf/config.yaml composed with the overrides, typed and validated."""

    def make(*overrides: str) -> RunConfig:
        return to_run_config(compose_config(overrides))

    return make


@pytest.fixture(autouse=True)
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own sqlite store, so nothing leaks between tests or into the project's."""
    uri = f"sqlite:///{tmp_path / 'mlruns.sqlite'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DVC_ROOT", raising=False)  # set when the suite itself runs under DVC
    mlflow.set_tracking_uri(uri)  # an earlier test's in-process run set it to that test's store
    return uri


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
