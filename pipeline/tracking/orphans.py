"""A sweep's job process ends within seconds of the sweep's own process, however that died.

A sweep's main process killed outright (SIGKILL, the OOM killer) tells its job processes nothing. Loky's
workers (`hydra/launcher=joblib`) then train on, orphaned to init, and an idle one waits out loky's idle
timeout (300 s): measured, a worker in a job and an idle one both still ran 19 s after their parent's
SIGKILL. So the first job a process of the sweep's host runs starts a watch there: a daemon thread that
asks every second whether the sweep's process (its pid and start time, as `tracking.owners` tells a
process from a later one with its pid) still lives. Once it is gone, a job in progress is interrupted
like Ctrl-C (its failure path ends its run KILLED with the reason) and its process ends after a grace; an
idle one ends at once. A process that never ran a job has no watch (loky's idle timeout ends it), and a
job on another host is not watched: only the sweep's host can tell whether its process lives.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from pipeline.failures import ExitCode
from pipeline.tracking.owners import Owner

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often a job's process asks whether the sweep's process lives
GRACE_SECONDS = 5.0  # for an interrupted job to record its run KILLED before its process ends regardless
# Loky's workers ignore SIGINT (the terminal's Ctrl-C is the sweep process's to handle), so the job is
# interrupted by a signal of its own, which nothing else in a job uses.
INTERRUPT_SIGNAL = signal.SIGUSR1


@dataclass
class SweepWatch:
    """The sweep's process, watched from a job's process, and whether a job runs there now."""

    sweep: Owner
    job_running: threading.Event = field(default_factory=threading.Event)

    def reason(self) -> str:
        """What the interrupted job's run says, after `interrupted by `."""
        return f"the death of the sweep's process (pid {self.sweep.pid} on {self.sweep.host})"

    def interrupt(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(INTERRUPT_SIGNAL, signal.SIG_IGN)  # once: the unwinding must not be cut short
        raise KeyboardInterrupt(self.reason())

    def watch(self) -> None:
        while self.sweep.alive():
            time.sleep(POLL_SECONDS)
        if self.job_running.is_set():
            log.error("interrupted by %s: ending this job", self.reason())
            signal.pthread_kill(threading.main_thread().ident or 0, INTERRUPT_SIGNAL)
            time.sleep(GRACE_SECONDS)  # unless the process ends before: its job recorded, nothing waits for it
        os._exit(ExitCode.INTERRUPTED)


_watch: SweepWatch | None = None  # this process's, once it ran a job


def end_with_the_sweep(sweep: Owner) -> None:
    """At a job's start, in its process: watch the sweep's process, if it is another of this host."""
    global _watch
    here = Owner.of_process(os.getpid())
    if sweep.host != here.host or sweep.pid == here.pid:
        return
    if _watch is None:
        if threading.current_thread() is not threading.main_thread():
            log.warning("this job does not run in its process's main thread: it cannot be interrupted, nor watch its sweep")
            return
        _watch = SweepWatch(sweep)
        signal.signal(INTERRUPT_SIGNAL, _watch.interrupt)
        threading.Thread(target=_watch.watch, name="sweep-process-watch", daemon=True).start()
    _watch.sweep = sweep  # a worker a later sweep reuses (a Ray cluster that outlives sweeps) watches that sweep
    _watch.job_running.set()


def job_ended() -> None:
    """At a job's end, in its process: from now on, the sweep's death ends this process at once."""
    if _watch is not None:
        _watch.job_running.clear()
