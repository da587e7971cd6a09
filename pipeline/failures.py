"""The one failure path of both doors: a run that cannot finish is recorded FAILED or KILLED exactly once,
the user reads one line, and the process exits with the code that says what happened.

Ctrl-C and SIGTERM are one interruption: both unwind like KeyboardInterrupt, so every `finally` and exit
hook runs (no half-written file stays, no MLflow run is left RUNNING), and an interruption ends runs
KILLED where a crash ends them FAILED.
"""

from __future__ import annotations

import enum
import logging
import signal
import sys
from collections.abc import Callable
from types import TracebackType

from pipeline.errors import PipelineError, TrackingError

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


class FailurePath:
    """`with FailurePath(hint) as failures:` around a door's work. Once the door knows where the work's run
    would be recorded it sets `failures.record`; from then on a failure is recorded through it once (an
    unusable store, a TrackingError, is not written to), then:

    - a failure the user can fix (PipelineError): its one line on stderr, exit 2;
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
        self._record(error)
        if isinstance(error, KeyboardInterrupt):
            if self.keep_going:
                return False
            print(f"error: {interruption_reason(error)}: {self.rerun_hint}", file=sys.stderr)
            raise SystemExit(ExitCode.INTERRUPTED) from None
        if isinstance(error, PipelineError):
            print(f"error: {error}", file=sys.stderr)
            if self.keep_going:
                return True
            raise SystemExit(ExitCode.USER_ERROR) from None
        if self.keep_going:
            log.error("%s failed", self.label, exc_info=error)
            return True
        return False  # a bug: the traceback is the report

    def _record(self, error: BaseException) -> None:
        if self.record is None or isinstance(error, TrackingError):
            return
        try:
            self.record(error, ending_status(error))
        except Exception as also:  # keep the first failure: it is what the user must see
            reason = f"{type(also).__name__}: {also}".splitlines()[0]
            print(f"error: the failure could not be recorded in MLflow either ({reason})", file=sys.stderr)
