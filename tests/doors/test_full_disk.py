"""A full disk, the run folder's or the store's, as a user meets it: `python -m pipeline.run ...` on a small
tmpfs filled to the last byte. One line naming the place and the fix, exit 2, the run FAILED where the store
can take it, and no file left looking whole."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.tracking.runs import open_store
from pipeline.tracking.tags import FAILURE_TAG
from tests.helpers import EXPERIMENT, TINY, recorded_runs, run_door

FIX = (
    "free space there (`df -h {folder}`) or choose another folder (hydra.run.dir for a run's files, tracking.uri for the store's)"
)
STORE_FULL = (
    "error: no room left for the MLflow store (database or disk is full): free space beside its sqlite file "
    "(`df -h` on the folder tracking.uri or $MLFLOW_TRACKING_URI names) or choose another tracking.uri; "
    "the run could not be marked FAILED in the full store either: once it has room, the next run against it "
    "(or `python -m pipeline.runs repair`) marks the run KILLED, its reason then saying killed outright"
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of the test's own, a disk it may fill; unmounted however the test ends."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(disk: Path) -> Path:
    """Write to `disk` until it has no byte left; returns the filler, whose removal makes room again."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler


def error_lines(stderr: str) -> list[str]:
    """What the user is told, without TensorFlow's and MLflow's own logging around it."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_hydras_own_files_on_a_full_disk_are_one_line_and_no_run(project_root, small_disk, mlflow_store):
    run_dir = small_disk / "run"
    fill(small_disk)

    done = run_door(*TINY, f"hydra.run.dir={run_dir}", cwd=project_root)

    assert done.returncode == 2, done.stderr[-3000:]
    assert error_lines(done.stderr) == [  # Hydra's failed write names no file
        "error: no room left on a disk the run writes to (No space left on device): free space (`df -h` on the "
        "run's folder and the store's) or choose other folders (hydra.run.dir, tracking.uri)"
    ]
    assert "Traceback" not in done.stderr
    assert recorded_runs(mlflow_store) == []


@pytest.mark.slow
def test_a_full_run_folder_at_the_models_save_is_one_line_a_failed_run_and_no_file_looking_whole(
    project_root, small_disk, mlflow_store
):
    run_dir = small_disk / "run"
    fill(small_disk)

    # Hydra writes nothing of its own there, so the job's first write, the model's save, is the one that fails.
    done = run_door(*TINY, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null", "hydra/job_logging=disabled", cwd=project_root)

    assert done.returncode == 2, done.stderr[-3000:]
    line = f"error: no room left in {run_dir} (No space left on device, writing model.keras): {FIX.format(folder=run_dir)}"
    assert error_lines(done.stderr) == [line]
    assert "Traceback" not in done.stderr
    [run] = recorded_runs(mlflow_store)
    assert run.info.status == "FAILED" and run.data.tags[FAILURE_TAG] == line.removeprefix("error: ")
    assert list(run_dir.iterdir()) == []  # neither the model, nor weights without it, nor a temporary file


@pytest.mark.slow
def test_a_full_store_is_one_line_saying_the_run_could_not_be_marked_and_the_store_stays_intact(
    project_root, small_disk, ready_store, tmp_path, monkeypatch
):
    open_store(ready_store, EXPERIMENT)  # a store runs were recorded in before: its experiment made
    database = Path(shutil.copyfile(ready_store.removeprefix("sqlite:///"), small_disk / "mlruns.sqlite"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")  # a copy: this process holds none of it open
    filler = fill(small_disk)

    done = run_door(*TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=project_root)

    assert done.returncode == 2, done.stderr[-3000:]
    assert error_lines(done.stderr) == [STORE_FULL]
    assert done.stderr.strip().splitlines()[-1] == STORE_FULL
    filler.unlink()
    with contextlib.closing(sqlite3.connect(database)) as store:
        assert store.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert store.execute("SELECT status FROM runs WHERE status = 'FINISHED'").fetchall() == []
