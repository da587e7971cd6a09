"""The one failure path of both doors: a run that cannot finish is recorded FAILED or KILLED exactly once,
the user reads one line, and the process exits with the code that says what happened.

Ctrl-C and SIGTERM are one interruption: both unwind like KeyboardInterrupt, so every `finally` and exit
hook runs (no half-written file stays, no MLflow run is left RUNNING), and an interruption ends runs
KILLED where a crash ends them FAILED.

A full disk is the user's to fix, wherever the libraries raise it from: it is found in the error's chain
and reported as a DiskFull.
"""

from __future__ import annotations

import enum
import errno
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from pipeline.errors import DiskFull, PipelineError, TrackingError
from pipeline.redaction import redact

log = logging.getLogger(__name__)


class RunStatus(str, enum.Enum):
    """MLflow's statuses of a run that has ended."""

    FINISHED = "FINISHED"
    FAILED = "FAILED"  # a failure, or a crash
    KILLED = "KILLED"  # an interruption: Ctrl-C or SIGTERM


RecordFailure = Callable[[BaseException, RunStatus], object]  # the error, and how its run ends


class ExitCode(enum.IntEnum):
    JOBS_FAILED = 1  # a sweep finished, but some of its jobs did not
    USER_ERROR = 2  # a failure the user can fix: the printed line says how
    INTERRUPTED = 130  # Ctrl-C or SIGTERM, as shells report a SIGINT


def interrupt_on_signals() -> None:
    """For the doors' main processes: SIGTERM's default would end the process without any cleanup."""

    def interrupt(signum: int, frame: object) -> None:
        for other in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup short
            signal.signal(other, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def interruption_status() -> RunStatus:
    """How a run ends whose owner stopped before its end: KILLED if a signal stopped this process, else
    FAILED. The signal handler ignores further signals once one arrived, and that is what tells."""
    return RunStatus.KILLED if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN else RunStatus.FAILED


def ending_status(error: BaseException) -> RunStatus:
    """How the run of work that `error` stopped ends: KILLED for an interruption, FAILED for the rest."""
    return RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED


def interruption_reason(interruption: KeyboardInterrupt) -> str:
    """`interrupted by SIGTERM`: the signal the handler raised with, or SIGINT for Python's own Ctrl-C."""
    return f"interrupted by {str(interruption) or 'SIGINT'}"


NO_ROOM = (errno.ENOSPC, errno.EDQUOT)  # no space left on the device; the user's disk quota exceeded
SQLITE_FULL = "database or disk is full"  # sqlite's SQLITE_FULL, as SQLAlchemy and MLflow pass its text on
STORE_LEFT_RUNNING = (
    "the run could not be marked FAILED in the full store either: once it has room, the next run against it "
    "(or `python -m pipeline.runs repair`) marks the run KILLED, its reason then saying killed outright"
)


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it was raised from or while handling, outermost first: Keras, SQLAlchemy and
    MLflow wrap the OSError or sqlite error that says the disk is full, or raise anew while handling it."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        cause = pending.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        pending += [linked for linked in (cause.__cause__, cause.__context__) if linked is not None]


def disk_full(error: BaseException) -> DiskFull | None:
    """The full disk behind `error`, as the one line that names where and what to do; None if none is."""
    chain = list(causes(error))
    no_room = [cause for cause in chain if isinstance(cause, OSError) and cause.errno in NO_ROOM]
    if no_room:  # one that names its file says where; a write or a close that failed names none
        return DiskFull(_no_room_line(next((cause for cause in no_room if cause.filename is not None), no_room[0])))
    if any(SQLITE_FULL in str(cause) for cause in chain):
        return DiskFull(
            f"no room left for the MLflow store ({SQLITE_FULL}): free space beside its sqlite file "
            "(`df -h` on the folder tracking.uri or $MLFLOW_TRACKING_URI names) or choose another tracking.uri"
        )
    return None


def _no_room_line(error: OSError) -> str:
    if error.filename is None:
        return (
            f"no room left on a disk the run writes to ({error.strerror}): free space (`df -h` on the run's "
            "folder and the store's) or choose other folders (hydra.run.dir, tracking.uri)"
        )
    written = Path(error.filename)
    return (
        f"no room left in {written.parent} ({error.strerror}, writing {written.name}): free space there "
        f"(`df -h {written.parent}`) or choose another folder (hydra.run.dir for a run's files, tracking.uri for the store's)"
    )


class FailurePath:
    """`with FailurePath(hint) as failures:` around a door's work. Once the door knows where the work's run
    would be recorded it sets `failures.record`; from then on a failure is recorded through it once (an
    unusable store, a TrackingError, is not written to), then:

    - a failure the user can fix (PipelineError, a full disk too): its one line on stderr, exit 2;
    - an interruption: one line naming the signal and `rerun_hint`, exit 130;
    - anything else is a bug: its traceback.

    With `keep_going` (a sweep's job) a failure is recorded and reported but the sweep goes on, and an
    interruption is recorded and passed up to stop the sweep, whose own door reports it.
    """

    def __init__(self, rerun_hint: str, *, keep_going: bool = False, label: str = "the job"):
        self.rerun_hint = rerun_hint
        self.keep_going = keep_going
        self.label = label  # what a crash's log line names, so a sweep's interleaved logs tell the jobs apart
        self.record: RecordFailure | None = None

    def __enter__(self) -> FailurePath:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> bool:
        if error is None or not isinstance(error, (Exception, KeyboardInterrupt)):
            return False  # success, or a SystemExit already decided
        full = None if isinstance(error, (PipelineError, KeyboardInterrupt)) else disk_full(error)
        failure = full or error
        unrecorded = self._record(error, failure)
        if full is not None and unrecorded is not None and disk_full(unrecorded) is not None:
            failure = DiskFull(f"{full}; {STORE_LEFT_RUNNING}")  # one line: a second would only repeat the first
        elif unrecorded is not None:  # keep the first failure: it is what the user must see
            reason = f"{type(unrecorded).__name__}: {unrecorded}".splitlines()[0]
            print(f"error: the failure could not be recorded in MLflow either ({redact(reason)})", file=sys.stderr)
        if isinstance(failure, KeyboardInterrupt):
            if self.keep_going:
                return False
            print(f"error: {interruption_reason(failure)}: {self.rerun_hint}", file=sys.stderr)
            raise SystemExit(ExitCode.INTERRUPTED) from None
        if isinstance(failure, PipelineError):
            print(f"error: {redact(str(failure))}", file=sys.stderr)  # a store's URI may hold its password
            if self.keep_going:
                return True
            raise SystemExit(ExitCode.USER_ERROR) from None
        if self.keep_going:
            log.error("%s failed", self.label, exc_info=error)
            return True
        return False  # a bug: the traceback is the report

    def _record(self, error: BaseException, failure: BaseException) -> Exception | None:
        """Record `failure`, what `error` is to the user, once; returns what stopped the recording, if anything."""
        if self.record is None or isinstance(error, TrackingError):
            return None
        try:
            self.record(failure, ending_status(error))
        except Exception as also:
            return also
        return None
