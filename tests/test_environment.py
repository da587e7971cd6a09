"""Every environment variable the project reads, read in one place."""

from __future__ import annotations

import pytest

from pipeline.environment import Environment


def test_the_environment_holds_the_store_and_dvcs_variables_as_set(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("DVC_ROOT", "/repos/main")

    assert Environment.read() == Environment(mlflow_tracking_uri="http://127.0.0.1:5000", dvc_root="/repos/main")


@pytest.mark.parametrize("unset", [True, False], ids=["unset", "empty"])
def test_an_unset_or_empty_variable_reads_as_none(monkeypatch, unset):
    for name in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
        if unset:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, "")

    assert Environment.read() == Environment(mlflow_tracking_uri=None, dvc_root=None)


def test_the_environment_is_read_when_asked_not_when_imported(monkeypatch):
    monkeypatch.setenv("DVC_ROOT", "/first")
    first = Environment.read()
    monkeypatch.setenv("DVC_ROOT", "/second")

    assert (first.dvc_root, Environment.read().dvc_root) == ("/first", "/second")
