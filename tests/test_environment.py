"""Every environment variable the project reads, read in one place."""

from __future__ import annotations

import pytest

from pipeline.environment import Environment


def test_the_environment_holds_the_store_and_dvcs_variables_as_set(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("DVC_ROOT", "/repos/main")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1a2b3")

    assert Environment.read() == Environment(
        mlflow_tracking_uri="http://127.0.0.1:5000", dvc_root="/repos/main", dvc_experiment="exp-1a2b3"
    )


@pytest.mark.parametrize("unset", [True, False], ids=["unset", "empty"])
def test_an_unset_or_empty_variable_reads_as_none(monkeypatch, unset):
    for name in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME"):
        if unset:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, "")

    assert Environment.read() == Environment(mlflow_tracking_uri=None, dvc_root=None, dvc_experiment=None)


def test_the_environment_is_read_when_asked_not_when_imported(monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "first")
    first = Environment.read()
    monkeypatch.setenv("DVC_EXP_NAME", "second")

    assert (first.dvc_experiment, Environment.read().dvc_experiment) == ("first", "second")
