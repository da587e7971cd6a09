"""Ctrl-C and SIGTERM as one interruption: both unwind like KeyboardInterrupt, so every `finally` and
exit hook runs (no half-written file stays, no MLflow run is left RUNNING), and those hooks can tell an
interruption, which ends runs KILLED, from a crash, which ends them FAILED."""
from __future__ import annotations

import signal

received: str | None = None  # the name of the signal that interrupted this process, once one has


def interrupt_on_signals() -> None:
    """For the doors' main processes: SIGTERM's default would end the process without any cleanup."""

    def interrupt(signum: int, frame: object) -> None:
        global received
        received = signal.Signals(signum).name
        for other in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup short
            signal.signal(other, signal.SIG_IGN)
        raise KeyboardInterrupt(received)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def interruption_status() -> str:
    """MLflow's status for a run that stopped before its end: KILLED if a signal stopped it, else FAILED."""
    return "KILLED" if received else "FAILED"
