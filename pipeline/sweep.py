"""Hydra sweeps in MLflow: one parent run per multirun, one child run per job, a summary at the end.

`conf/config.yaml` registers `SweepTracking` as a Hydra callback. It runs in the process that launches
the jobs: it opens the parent run before any job starts and leaves the parent's id in the sweep
directory, where every job finds it (`current_sweep_job`), whichever launcher runs the jobs and in
whatever process. MLflow is imported only once a sweep starts, so a single run stays quick to validate.
"""
from __future__ import annotations

import atexit
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from pipeline.config import to_tracking_config
from pipeline.errors import ConfigError, PipelineError
from pipeline.files import read_json, write_json, write_text
from pipeline.interrupts import interruption_status

if TYPE_CHECKING:
    from pipeline.sweep_report import SweepSummary

log = logging.getLogger(__name__)

HANDOFF_FILE = "mlflow_sweep.json"  # in the sweep directory: the parent run's id and store, for the jobs
SUMMARY_DIR = "summary"  # in the sweep directory, and the parent run's artifacts
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests a run under this parent
JOB_TAG = "sweep.job"
OVERRIDES_TAG = "sweep.overrides"
OVERRIDE_TAG_PREFIX = "override."  # one tag per override: filter and group the UI by any swept key


def parse_overrides(overrides: list[str]) -> list[tuple[str, str]]:
    """Hydra override strings as (key, value) pairs, the way Hydra itself reads them."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [(override.get_key_element().lstrip("+~"), override.get_value_element_as_str()) for override in parsed]


@dataclass(frozen=True)
class SweepJob:
    """One job of a sweep: where its parent run is, and which job it is."""

    parent_run_id: str
    store_uri: str
    experiment_id: str
    number: int
    overrides: tuple[tuple[str, str], ...]

    def tags(self) -> dict[str, str]:
        return {
            PARENT_TAG: self.parent_run_id,
            JOB_TAG: str(self.number),
            OVERRIDES_TAG: self.describe_overrides(),
            **{f"{OVERRIDE_TAG_PREFIX}{key}": value for key, value in self.overrides},
        }

    def describe_overrides(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.overrides)

    def run_name(self) -> str:
        """So the UI's nested list reads `#3 target=sum model.seed=1`."""
        return f"#{self.number} {self.describe_overrides()}".strip()


def current_sweep_job() -> SweepJob | None:
    """The running Hydra job's place in its sweep; None outside a multirun, or if no parent was opened."""
    hydra_config = HydraConfig.get()
    if hydra_config.mode != RunMode.MULTIRUN:
        return None
    handoff = Path(hydra_config.sweep.dir) / HANDOFF_FILE
    if not handoff.is_file():
        return None
    parent = read_json(handoff)
    return SweepJob(
        parent_run_id=parent["run_id"],
        store_uri=parent["store_uri"],
        experiment_id=parent["experiment_id"],
        number=int(hydra_config.job.num),
        overrides=tuple(parse_overrides(list(hydra_config.overrides.task))),
    )


def _refuse_swept_tracking(config: DictConfig) -> None:
    """Every child must land in its parent's store and experiment."""
    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    swept = [override.get_key_element() for override in overrides if override.is_sweep_override()]
    swept += list(OmegaConf.select(config, "hydra.sweeper.params", default=None) or {})
    for key in swept:
        if key.lstrip("+~").startswith("tracking"):
            raise ConfigError(
                f"{key} is swept, but a sweep records all its jobs under one parent run in one store and "
                "experiment: set tracking.* once per sweep and run one sweep per store"
            )


class SweepTracking(Callback):
    """Opens the sweep's parent run before the jobs start and closes it with their summary."""

    def __init__(self) -> None:
        self.parent = None  # (Store, run id) once opened

    # Hydra turns an exception in a callback into a warning and carries on, so each hook reports its own
    # failure and exits: a sweep never runs untracked, and never ends 0 without its summary.

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            self._open_parent(config)
        except Exception as error:
            reason = error if isinstance(error, PipelineError) else f"could not open the sweep's MLflow run: {error!r}"
            print(f"error: {reason}", file=sys.stderr)
            sys.exit(2)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        try:
            summary, out_dir = self._summarise(config)
        except Exception as error:
            log.exception("sweep summary failed")
            self._close_if_still_open()
            print(f"error: the sweep's summary failed ({error!r}); its jobs' runs are in MLflow", file=sys.stderr)
            sys.exit(1)
        print(f"\nsweep: {len(summary.jobs)} jobs, MLflow parent run {self.parent[1]}, summary in {out_dir}\n")
        print(summary.markdown())
        if summary.failed:
            print(f"error: {summary.failed} of {len(summary.jobs)} jobs failed (status and reason above)", file=sys.stderr)
            sys.exit(1)

    def _open_parent(self, config: DictConfig) -> None:
        from pipeline import tracking

        _refuse_swept_tracking(config)
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        tags = {"sweep.dir": str(sweep_dir), OVERRIDES_TAG: " ".join(config.hydra.overrides.task)}
        name = f"sweep {sweep_dir.parent.name}/{sweep_dir.name}"
        store, run_id = tracking.start_parent_run(to_tracking_config(config), name, tags)
        self.parent = (store, run_id)
        atexit.register(self._close_if_still_open)
        handoff = {"run_id": run_id, "store_uri": store.uri, "experiment_id": store.experiment_id}
        write_json(sweep_dir / HANDOFF_FILE, handoff)
        log.info("MLflow parent run %s in %s", run_id, store.uri)

    def _summarise(self, config: DictConfig) -> tuple[SweepSummary, Path]:
        """The children's results as a summary, written to the sweep directory and the parent run, which ends
        FAILED if any job failed."""
        from pipeline import tracking
        from pipeline.sweep_report import JobResult, SweepSummary

        store, run_id = self.parent
        jobs = [JobResult.from_child(child) for child in tracking.runs_tagged(store, PARENT_TAG, run_id)]
        summary = SweepSummary(sorted(jobs, key=lambda job: job.number))
        out_dir = Path(config.hydra.sweep.dir).resolve() / SUMMARY_DIR
        figures = summary.figures()
        for name, text in summary.files(figures).items():
            write_text(out_dir / name, text)
        for name, figure in figures.items():
            figure.savefig(out_dir / name)
        status = "FAILED" if summary.failed else "FINISHED"
        tracking.finish_parent_run(store, run_id, summary.metrics(), out_dir, status)
        return summary, out_dir

    def _close_if_still_open(self) -> None:
        """A sweep that stopped before its end must not leave its parent RUNNING: KILLED after Ctrl-C or
        SIGTERM, FAILED after a crash."""
        from pipeline import tracking

        if self.parent is not None:
            store, run_id = self.parent
            tracking.end_if_running(store, run_id, interruption_status())
