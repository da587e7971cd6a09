"""The DVC baseline on main: dvc.lock, committed with the metrics, the plot data and the report of a full-size
`dvc repro`, is what `dvc metrics diff`, `dvc params diff` and `dvc exp show` compare against. It must record
the code, conf/ and params of the commit it sits in, and the small outputs committed beside it: a change to any
of them calls for a new `dvc repro`. Data and models are left out: a clean clone has none before `dvc pull`."""

from __future__ import annotations

import json

import pytest

from tests.helpers import TARGETS, commit_all, sh, stale_in_dvc_lock

REMAKE = (
    "dvc.lock is stale: run `dvc repro` at the post's settings and commit dvc.lock with metrics/, plots/, "
    "evaluations/ and reports/"
)


def test_the_committed_dvc_lock_records_the_code_conf_and_params_of_the_workspace(project_root):
    if not (project_root / "dvc.lock").is_file():
        pytest.skip("no dvc.lock: main has no DVC baseline yet (`dvc repro` at the post's settings, then commit it)")

    assert stale_in_dvc_lock(project_root) == {}, REMAKE


@pytest.mark.slow
def test_a_dvc_lock_is_current_in_a_clean_clone_and_stale_after_an_edit_to_the_code_params_or_an_output(
    tiny_experiment_copy, tmp_path
):
    commit_all(tiny_experiment_copy, "baseline")  # after `dvc exp run -S <TINY>`
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(tiny_experiment_copy), str(clone), cwd=tmp_path)  # no DVC cache: no data, no models

    assert stale_in_dvc_lock(clone) == {}

    # The committed outputs (`cache: false`) drift when edited or deleted by hand; the cached ones, which this
    # clone has not pulled, do not count.
    metrics = clone / "metrics" / "sum.json"
    metrics.write_text(json.dumps(json.loads(metrics.read_text()) | {"test_mse": 0.5}))
    (clone / "reports" / "summary.html").unlink()

    edited = {"metrics/sum.json": "modified"}
    deleted = {"reports/summary.html": "deleted"}
    assert stale_in_dvc_lock(clone) == {"train@sum": [{"changed outs": edited}], "report": [{"changed outs": deleted}]}

    engine = clone / "pipeline" / "core" / "engines.py"
    engine.write_text(engine.read_text() + "\n# an edit\n")
    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("lr: 0.003", "lr: 0.004"))

    code, lr = {"pipeline": "modified"}, {"params.yaml": {"train": "modified"}}
    assert stale_in_dvc_lock(clone) == {
        "generate": [{"changed deps": code}],
        "train@sum": [{"changed deps": code | lr}, {"changed outs": edited}],
        **{f"train@{name}": [{"changed deps": code | lr}] for name in TARGETS if name != "sum"},
        "report": [{"changed deps": code}, {"changed outs": deleted}],
    }
