"""The one failure path of both doors: recorded once, one line for the user, the exit code that says what
happened; a sweep's job goes on after a failure but not after an interruption."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import time

import pytest
from mlflow.exceptions import MlflowException

from pipeline.errors import ConfigError, DiskFull, TrackingError, TrainingDiverged
from pipeline.failures import ExitCode, FailurePath, interrupt_on_signals, interruption_status
from pipeline.tracking.runs import RunRecorder, open_store
from tests.helpers import recorded_runs

HINT = "a rerun starts afresh"


class Recorder:
    """What `failures.record` is given: here, just each (error, status) it was called with."""

    def __init__(self, fails_with: Exception | None = None):
        self.calls: list[tuple[BaseException, str]] = []
        self.fails_with = fails_with

    def __call__(self, error: BaseException, status: str) -> None:
        self.calls.append((error, status))
        if self.fails_with is not None:
            raise self.fails_with


def fail_inside(error: BaseException, record: Recorder | None = None, *, keep_going: bool = False) -> None:
    with FailurePath(HINT, keep_going=keep_going) as failures:
        failures.record = record
        raise error


def test_the_exit_codes_are_what_shells_and_ci_read():
    assert (ExitCode.JOBS_FAILED, ExitCode.USER_ERROR, ExitCode.INTERRUPTED) == (1, 2, 130)


def test_a_pipeline_error_prints_one_line_exits_2_and_is_recorded_failed_once(capsys):
    error, record = ConfigError("train.lr=-1.0 is not allowed: must be a positive finite number"), Recorder()

    with pytest.raises(SystemExit) as stopped:
        fail_inside(error, record)

    assert stopped.value.code == ExitCode.USER_ERROR
    assert capsys.readouterr().err == "error: train.lr=-1.0 is not allowed: must be a positive finite number\n"
    assert record.calls == [(error, "FAILED")]


@pytest.mark.parametrize(("interruption", "named"), [(KeyboardInterrupt("SIGTERM"), "SIGTERM"), (KeyboardInterrupt(), "SIGINT")])
def test_an_interruption_exits_130_with_the_rerun_hint_and_is_recorded_killed_once(capsys, interruption, named):
    record = Recorder()

    with pytest.raises(SystemExit) as stopped:
        fail_inside(interruption, record)

    assert stopped.value.code == ExitCode.INTERRUPTED
    assert capsys.readouterr().err == f"error: interrupted by {named}: a rerun starts afresh\n"
    assert record.calls == [(interruption, "KILLED")]


def test_a_bug_reraises_with_its_traceback_and_is_recorded_failed_once(capsys):
    bug, record = ZeroDivisionError("division by zero"), Recorder()

    with pytest.raises(ZeroDivisionError) as raised:
        fail_inside(bug, record)

    assert raised.value is bug
    assert capsys.readouterr().err == ""
    assert record.calls == [(bug, "FAILED")]


def test_keep_going_swallows_a_pipeline_error_after_its_line_and_its_record(capsys):
    diverged, record = (
        TrainingDiverged("training loss became nan at epoch 1: lower train.lr (was 50.0)", [float("nan")]),
        Recorder(),
    )

    fail_inside(diverged, record, keep_going=True)  # the sweep goes on

    assert capsys.readouterr().err == "error: training loss became nan at epoch 1: lower train.lr (was 50.0)\n"
    assert record.calls == [(diverged, "FAILED")]


def test_keep_going_swallows_a_bug_but_records_it_failed_and_logs_it_under_the_jobs_name(caplog):
    bug, record = KeyError("x"), Recorder()

    with FailurePath(HINT, keep_going=True, label="job #3 target=sum") as failures:
        failures.record = record
        raise bug

    assert record.calls == [(bug, "FAILED")]
    [logged] = caplog.records
    assert logged.getMessage() == "job #3 target=sum failed" and logged.exc_info[1] is bug


def test_keep_going_records_an_interruption_killed_and_passes_it_up_to_stop_the_sweep(capsys):
    interruption, record = KeyboardInterrupt("SIGTERM"), Recorder()

    with pytest.raises(KeyboardInterrupt) as raised:
        fail_inside(interruption, record, keep_going=True)

    assert raised.value is interruption
    assert capsys.readouterr().err == ""  # the sweep's own door reports it
    assert record.calls == [(interruption, "KILLED")]


def test_a_tracking_error_is_never_recorded_in_the_store_that_failed(capsys):
    record = Recorder()

    with pytest.raises(SystemExit) as stopped:
        fail_inside(TrackingError("MLflow store sqlite:////x/mlflow.db is not usable"), record)

    assert stopped.value.code == ExitCode.USER_ERROR and record.calls == []
    assert capsys.readouterr().err == "error: MLflow store sqlite:////x/mlflow.db is not usable\n"


def test_a_failure_before_the_door_knows_its_run_is_reported_but_not_recorded(capsys):
    with pytest.raises(SystemExit) as stopped:
        fail_inside(ConfigError("data.n_train=0 is not allowed"), None)

    assert stopped.value.code == ExitCode.USER_ERROR
    assert capsys.readouterr().err == "error: data.n_train=0 is not allowed\n"


def test_a_failing_recorder_prints_one_line_and_keeps_the_first_error(capsys):
    record = Recorder(fails_with=RuntimeError("database is locked\n(background on this error at: ...)"))

    with pytest.raises(SystemExit) as stopped:
        fail_inside(ConfigError("train.lr=-1.0 is not allowed"), record)

    assert stopped.value.code == ExitCode.USER_ERROR
    assert capsys.readouterr().err.splitlines() == [
        "error: the failure could not be recorded in MLflow either (RuntimeError: database is locked)",
        "error: train.lr=-1.0 is not allowed",
    ]
    assert len(record.calls) == 1


def test_a_failing_recorder_does_not_hide_a_bug(capsys):
    bug = ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError) as raised:
        fail_inside(bug, Recorder(fails_with=OSError("disk full")))

    assert raised.value is bug
    assert capsys.readouterr().err == "error: the failure could not be recorded in MLflow either (OSError: disk full)\n"


def raised_while_handling(cause: BaseException, wrapper: Exception) -> Exception:
    """`wrapper`, raised from `cause` while handling yet another error: how libraries bury an OSError."""
    try:
        try:
            raise cause
        except BaseException as handled:
            try:
                raise RuntimeError("cleaning up after it failed as well") from handled
            except RuntimeError:
                raise wrapper from handled
    except Exception as buried:
        return buried


def sqlite_full_error(tmp_path) -> sqlite3.OperationalError:
    """sqlite's own SQLITE_FULL, from a database capped at a few pages."""
    database = sqlite3.connect(tmp_path / "capped.sqlite")
    database.execute("PRAGMA max_page_count = 2")
    try:
        database.execute("CREATE TABLE t (x)")
        database.executemany("INSERT INTO t VALUES (?)", [(b"x" * 4096,)] * 8)
    except sqlite3.OperationalError as full:
        return full
    finally:
        database.close()
    raise AssertionError("a database capped at 2 pages took 32 kB")


RUN_FOLDER_FULL = (
    "error: no room left in /data/outputs/run (No space left on device, writing model.keras): free space there "
    "(`df -h /data/outputs/run`) or choose another folder (hydra.run.dir for a run's files, tracking.uri for the store's)"
)
STORE_FULL = (
    "error: no room left for the MLflow store (database or disk is full): free space beside its sqlite file "
    "(`df -h` on the folder tracking.uri or $MLFLOW_TRACKING_URI names) or choose another tracking.uri"
)


def test_a_full_disk_deep_in_an_errors_chain_is_one_line_naming_the_folder_exit_2_and_recorded_failed_with_it(capsys):
    no_space = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/outputs/run/model.keras")
    error, record = raised_while_handling(no_space, ValueError("Keras could not save the model")), Recorder()

    with pytest.raises(SystemExit) as stopped:
        fail_inside(error, record)

    assert stopped.value.code == ExitCode.USER_ERROR
    assert capsys.readouterr().err == RUN_FOLDER_FULL + "\n"
    [(recorded, status)] = record.calls
    assert isinstance(recorded, DiskFull) and f"error: {recorded}" == RUN_FOLDER_FULL and status == "FAILED"


def test_an_exceeded_disk_quota_is_a_full_disk_too(capsys):
    with pytest.raises(SystemExit) as stopped:
        fail_inside(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), "/home/me/outputs/history.json"))

    assert stopped.value.code == ExitCode.USER_ERROR
    quota = "error: no room left in /home/me/outputs (Disk quota exceeded, writing history.json): free space there"
    assert capsys.readouterr().err.startswith(quota)


def test_sqlites_database_or_disk_is_full_under_mlflows_wrapping_is_the_stores_full_disk(capsys, tmp_path):
    error, record = raised_while_handling(sqlite_full_error(tmp_path), MlflowException("an MLflow call failed")), Recorder()

    with pytest.raises(SystemExit) as stopped:
        fail_inside(error, record)

    assert stopped.value.code == ExitCode.USER_ERROR
    assert capsys.readouterr().err == STORE_FULL + "\n"
    assert [(str(recorded), status) for recorded, status in record.calls] == [(STORE_FULL.removeprefix("error: "), "FAILED")]


def test_a_full_store_that_cannot_take_the_failure_either_says_so_in_the_same_one_line(capsys, tmp_path):
    full = sqlite_full_error(tmp_path)
    record = Recorder(fails_with=raised_while_handling(full, MlflowException("the run could not be ended")))

    with pytest.raises(SystemExit) as stopped:
        fail_inside(raised_while_handling(full, MlflowException("the run could not be created")), record)

    assert stopped.value.code == ExitCode.USER_ERROR
    assert capsys.readouterr().err == (
        f"{STORE_FULL}; the run could not be marked FAILED in the full store either: once it has room, the next run "
        "against it (or `python -m pipeline.runs repair`) marks the run KILLED, its reason then saying killed outright\n"
    )


def test_a_sweep_job_on_a_full_disk_is_recorded_and_reported_and_the_sweep_goes_on(capsys):
    record = Recorder()

    fail_inside(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/outputs/run/model.keras"), record, keep_going=True)

    assert capsys.readouterr().err == RUN_FOLDER_FULL + "\n"
    assert [status for _, status in record.calls] == ["FAILED"]


@pytest.mark.parametrize("code", [errno.EACCES, errno.EIO, errno.ENOENT])
def test_an_oserror_other_than_a_full_disk_stays_a_bug_with_its_traceback(capsys, code):
    bug, record = OSError(code, os.strerror(code), "/data/outputs/run/model.keras"), Recorder()

    with pytest.raises(OSError) as raised:
        fail_inside(bug, record)

    assert raised.value is bug and capsys.readouterr().err == ""
    assert record.calls == [(bug, "FAILED")]


def test_success_and_a_decided_exit_are_neither_recorded_nor_reported(capsys):
    record = Recorder()
    with FailurePath(HINT) as failures:
        failures.record = record
    with pytest.raises(SystemExit) as stopped, FailurePath(HINT) as failures:
        failures.record = record
        raise SystemExit(1)

    assert stopped.value.code == 1 and record.calls == [] and capsys.readouterr().err == ""


def test_a_divergence_in_the_failure_path_is_one_failed_run_in_the_store(ready_store):
    recorder = RunRecorder(open_store(ready_store, "toy-ann"), "sum", {"train": {"lr": 50.0}})
    diverged = TrainingDiverged("training loss became inf at epoch 2: lower train.lr (was 50.0)", [3.0, float("inf")])

    with pytest.raises(SystemExit):
        fail_inside(diverged, recorder.fail)

    [run] = recorded_runs(ready_store)
    assert run.info.status == "FAILED" and run.data.tags["failure.epoch"] == "2"
    assert run.data.tags["failure.reason"] == str(diverged) and run.data.params["train.lr"] == "50.0"


def test_a_signal_unwinds_as_an_interruption_that_ignores_further_signals(restored_signals):
    assert interruption_status() == "FAILED"  # no signal yet: a run that stops now crashed
    interrupt_on_signals()

    with pytest.raises(KeyboardInterrupt) as raised:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler raises as soon as the signal arrives, cutting the sleep short

    assert str(raised.value) == "SIGTERM"
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    assert interruption_status() == "KILLED"
