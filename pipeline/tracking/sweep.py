"""Hydra sweeps in MLflow: one parent run per multirun, one child run per job, a summary at the end.

`conf/config.yaml` registers `SweepTracking` as a Hydra callback. It opens the parent run in the process
that launches the jobs, before any job starts. Every launcher hands the jobs a copy of the callbacks (the
joblib and Ray launchers pickle them, on whatever machine the job runs), so the parent's id travels with
that copy and `on_job_start` tells the job (`current_sweep_job`). MLflow is imported only once a sweep
starts, so a single run stays quick to validate.

The parent carries the sweep's fixed params (`fixed_params`: what every job's params share) from the
start, and Hydra's `multirun.yaml` from the sweep's end. Only Hydra's public API is used: the sweep's
overrides come from the config the callbacks receive and Hydra's override parser, the fixed params from
its compose API.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.config import to_plain, to_run_config, to_tracking_config
from pipeline.environment import Environment
from pipeline.errors import ConfigError, PipelineError
from pipeline.failures import ExitCode, RunStatus, interruption_status
from pipeline.files.atomic import write_text
from pipeline.redaction import redact
from pipeline.tracking.secrets import MULTIRUN_FILE, redact_file
from pipeline.tracking.store import Store, resolve_tracking_uri
from pipeline.tracking.tags import JOB_TAG, OVERRIDE_TAG_PREFIX, OVERRIDES_TAG, PARENT_TAG

if TYPE_CHECKING:
    from pipeline.tracking.owners import ClosedRun, Owner
    from pipeline.tracking.sweep_summary import SweepSummary

log = logging.getLogger(__name__)

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"  # hydra/sweeper=basic's _target_, a name
SUMMARY_DIR = "summary"  # in the sweep directory, and the parent run's artifacts


def parse_overrides(overrides: list[str]) -> list[tuple[str, str]]:
    """Hydra override strings as (key, value) pairs, the way Hydra itself reads them."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [(override.get_key_element().lstrip("+~"), override.get_value_element_as_str()) for override in parsed]


@dataclass(frozen=True)
class SweepParent:
    """The sweep's parent run, where it is recorded, and the host of the process that opened it."""

    run_id: str
    store: Store
    host: str
    process: Owner | None = None  # the sweep's own: a job's process on its host ends with it (tracking.orphans)


_parent_of_this_job: SweepParent | None = None  # set by SweepTracking.on_job_start, in the job's process


@dataclass(frozen=True)
class SweepJob:
    """One job of a sweep: where its parent run is, and which job it is."""

    parent: SweepParent
    number: int
    overrides: tuple[tuple[str, str], ...]

    def tags(self) -> dict[str, str]:
        return {
            PARENT_TAG: self.parent.run_id,
            JOB_TAG: str(self.number),
            OVERRIDES_TAG: self.describe_overrides(),
            **{f"{OVERRIDE_TAG_PREFIX}{key}": redact(value) for key, value in self.overrides},
        }

    def describe_overrides(self) -> str:
        return redact(" ".join(f"{key}={value}" for key, value in self.overrides))

    def run_name(self) -> str:
        """So the UI's nested list reads `#3 target=sum model.seed=1`."""
        return f"#{self.number} {self.describe_overrides()}".strip()


def current_sweep_job() -> SweepJob | None:
    """The running Hydra job's place in its sweep; None outside a multirun, or if no parent was opened."""
    hydra_config = HydraConfig.get()
    if hydra_config.mode != RunMode.MULTIRUN or _parent_of_this_job is None:
        return None
    return SweepJob(
        parent=_parent_of_this_job,
        number=int(hydra_config.job.num),
        overrides=tuple(parse_overrides(list(hydra_config.overrides.task))),
    )


def sweep_overrides(config: DictConfig) -> list[Override]:
    """The sweep's overrides as Hydra's basic sweeper reads them: its params (`hydra.sweeper.params`, e.g.
    from an experiment), then the command line's, where a later key replaces an earlier one."""
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    arguments = [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)
    final: dict[str, Override] = {}
    for override in OverridesParser.create().parse_overrides(arguments):
        final[override.get_key_element()] = override
    return list(final.values())


def jobs_launched(config: DictConfig) -> int | None:
    """How many jobs Hydra's basic sweeper launches for this multirun, counted as it counts them: one per
    combination of the swept values. None where that is not known here: another sweeper (Optuna, Ax)
    decides as it goes, and a glob over config options needs Hydra's config loader."""
    if OmegaConf.select(config, "hydra.sweeper._target_", default=None) != BASIC_SWEEPER:
        return None
    try:
        values = [list(o.sweep_string_iterator()) for o in sweep_overrides(config) if o.is_sweep_override()]
    except HydraException:  # glob(), or an interval, which the basic sweeper refuses
        return None
    return math.prod(len(swept) for swept in values)


def _compose(config: DictConfig, overrides: list[str]) -> DictConfig | None:
    """The job config these overrides compose, through the Hydra that runs the sweep (and its search path);
    None outside a Hydra app, or where Hydra cannot compose them."""
    if not GlobalHydra.instance().is_initialized():
        return None
    hydra_overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.hydra))
    fixed_hydra = [o.input_line for o in hydra_overrides if o.input_line and not o.is_sweep_override()]
    try:
        return compose(config_name=config.hydra.job.config_name, overrides=[*fixed_hydra, *overrides])
    except (HydraException, OmegaConfBaseException) as error:
        log.warning("could not compose %s for the sweep's fixed params: %s", overrides, error)
        return None


def _params(config: DictConfig) -> dict[str, str]:
    """A job config as a job's params: typed where it is valid, as composed where it is not."""
    from pipeline.tracking.runs import run_params

    try:
        plain = to_plain(to_run_config(config))
    except (PipelineError, OmegaConfBaseException):
        plain = to_plain(config, resolve=False)
    return run_params(plain)


def fixed_params(config: DictConfig) -> dict[str, str]:
    """The params every job of the sweep shares: the config its fixed overrides compose, as a job's params,
    less what a swept override changes. A swept key changes itself and every key under it; a swept config
    group changes every key one of its options sets, wherever that is (an experiment is `_global_`), found
    by composing each option."""
    overrides = sweep_overrides(config)
    fixed = [o.input_line for o in overrides if o.input_line and not o.is_sweep_override()]
    swept = [o for o in overrides if o.is_sweep_override()]
    base = _compose(config, fixed)
    if base is None:
        base = OmegaConf.masked_copy(config, [str(key) for key in config if key != "hydra"])
    params = _params(base)
    changed = {o.key_or_group for o in swept}
    groups = set(OmegaConf.select(config, "hydra.runtime.choices", default=None) or {})
    for override in swept:
        if override.key_or_group not in groups:
            continue
        try:
            options = list(override.sweep_string_iterator())
        except HydraException:  # glob(): the group's own keys, as for any key
            continue
        for option in options:
            composed = _compose(config, [*fixed, f"{override.get_key_element()}={option}"])
            if composed is not None:
                other = _params(composed)
                changed |= {key for key in params.keys() | other.keys() if params.get(key) != other.get(key)}
    return {key: value for key, value in params.items() if not any(_under(key, swept_key) for swept_key in changed)}


def _under(key: str, swept_key: str) -> bool:
    return key == swept_key or key.startswith(f"{swept_key}.")


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
        self.parent: SweepParent | None = None  # once opened
        self.reached_end = False  # Hydra called on_multirun_end: the sweep was not cut short

    # Hydra turns an exception in a callback into a warning and carries on, so each hook reports its own
    # failure and exits: a sweep never runs untracked, and never ends 0 without its summary.

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            self._open_parent(config)
        except Exception as error:
            reason = error if isinstance(error, PipelineError) else f"could not open the sweep's MLflow run: {error!r}"
            print(f"error: {reason}", file=sys.stderr)
            sys.exit(ExitCode.USER_ERROR)

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        """Runs in the job's process, on this callback's copy: the one place a job on another machine can
        learn its parent from."""
        global _parent_of_this_job
        _parent_of_this_job = self.parent
        if self.parent is not None and self.parent.process is not None:
            from pipeline.tracking.orphans import end_with_the_sweep

            end_with_the_sweep(self.parent.process)

    def on_job_end(self, config: DictConfig, job_return: object, **kwargs) -> None:
        """In the job's process: idle now, it ends at once if the sweep's process dies."""
        from pipeline.tracking.orphans import job_ended

        job_ended()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        parent = self.parent
        if parent is None:  # on_multirun_start stopped the sweep before it opened one
            return
        self.reached_end = True
        try:
            summary, out_dir = self._summarise(config, parent)
        except Exception as error:
            self._summary_failed(error)
            sys.exit(ExitCode.JOBS_FAILED)
        self._print(summary, out_dir, parent)
        if summary.missing:
            print(
                f"error: {summary.missing} of {len(summary.jobs) + summary.missing} jobs left no run under the parent "
                f"in {redact(parent.store.uri)}: their logs above say why (a job on another machine cannot reach a "
                "store on this one: record to a tracking server every node reaches, docs/scaling-out.md)",
                file=sys.stderr,
            )
        if summary.failed:
            print(f"error: {summary.failed} of {len(summary.jobs)} jobs failed (status and reason above)", file=sys.stderr)
        if not summary.succeeded:
            sys.exit(ExitCode.JOBS_FAILED)

    def _open_parent(self, config: DictConfig) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        from pipeline.tracking.owners import Owner
        from pipeline.tracking.runs import open_store, start_parent_run

        _refuse_swept_tracking(config)
        tracking = to_tracking_config(config)
        params = [Param(key, value) for key, value in fixed_params(config).items()]
        store = open_store(resolve_tracking_uri(tracking.uri, Environment.read()), tracking.experiment)
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        tags = {"sweep.dir": str(sweep_dir), OVERRIDES_TAG: redact(" ".join(config.hydra.overrides.task))}
        run_id = start_parent_run(store, f"sweep {sweep_dir.parent.name}/{sweep_dir.name}", tags)
        self.parent = SweepParent(run_id, store, socket.gethostname(), Owner.of_process(os.getpid()))
        atexit.register(self._close_if_still_open)
        atexit.register(self._end_early, config)  # runs first
        MlflowClient(tracking_uri=store.uri).log_batch(run_id, params=params)  # which splits them by MLflow's limits
        log.info("MLflow parent run %s in %s", run_id, redact(store.uri))

    def _summarise(self, config: DictConfig, parent: SweepParent, stopped: RunStatus | None = None) -> tuple[SweepSummary, Path]:
        """The children's results as a summary, written to the sweep directory and the parent run, which ends
        FAILED if any job failed, or `stopped` if the sweep stopped before its end."""
        from mlflow.tracking import MlflowClient

        from pipeline.tracking.runs import finish_parent_run, runs_tagged
        from pipeline.tracking.sweep_summary import JobResult, SweepSummary

        store, run_id = parent.store, parent.run_id
        multirun_file = Path(config.hydra.sweep.dir).resolve() / MULTIRUN_FILE
        if multirun_file.is_file():  # another sweeper may not write one
            redact_file(multirun_file)
            MlflowClient(tracking_uri=store.uri).log_artifact(run_id, str(multirun_file))
        jobs = [JobResult.from_child(child) for child in runs_tagged(store, PARENT_TAG, run_id)]
        summary = SweepSummary(sorted(jobs, key=lambda job: job.number), jobs_launched(config))
        out_dir = Path(config.hydra.sweep.dir).resolve() / SUMMARY_DIR
        figures = summary.figures()
        for name, text in summary.files(figures).items():
            write_text(out_dir / name, text)
        for name, figure in figures.items():
            figure.savefig(out_dir / name)
        status = stopped or (RunStatus.FINISHED if summary.succeeded else RunStatus.FAILED)
        finish_parent_run(store, run_id, summary.metrics(), out_dir, status)
        return summary, out_dir

    def _print(self, summary: SweepSummary, out_dir: Path, parent: SweepParent) -> None:
        print(f"\nsweep: {len(summary.jobs)} jobs, MLflow parent run {parent.run_id}, summary in {out_dir}\n")
        print(summary.markdown())
        for line in summary.placement_lines():
            print(line)

    def _summary_failed(self, error: Exception) -> None:
        log.exception("sweep summary failed")
        self._close_if_still_open()
        print(f"error: the sweep's summary failed ({error!r}); its jobs' runs are in MLflow", file=sys.stderr)

    def _end_early(self, config: DictConfig) -> None:
        """At exit, a sweep that stopped before its end still gets the summary of what it recorded. Hydra calls
        no on_multirun_end when the launcher raises (loky's TerminatedWorkerError, when a worker process died)
        or when Ctrl-C or SIGTERM stops the sweep. The runs that died with their processes are closed first
        (KILLED, with the reason), so they count as failed; jobs that never ran count as missing. The parent
        ends KILLED after an interruption, whose one line the door has printed (exit 130), and FAILED after a
        crash, which this line names (the door exits 1)."""
        from pipeline.tracking.owners import close_runs_of_dead_owners

        parent = self.parent
        if parent is None or self.reached_end:
            return
        stopped = interruption_status()
        try:
            died = [run for run in close_runs_of_dead_owners(parent.store) if run.parent_id == parent.run_id]
            summary, out_dir = self._summarise(config, parent, stopped)
        except Exception as error:
            self._summary_failed(error)
            return
        self._print(summary, out_dir, parent)
        if stopped is RunStatus.FAILED:
            print(f"error: the sweep stopped before its end: {_what_stopped(died)}; {_counts(summary)}", file=sys.stderr)

    def _close_if_still_open(self) -> None:
        """A sweep that stopped before its end must not leave its parent RUNNING: KILLED after Ctrl-C or
        SIGTERM, FAILED after a crash."""
        from pipeline.tracking.runs import end_if_running

        if self.parent is not None:
            end_if_running(self.parent.store, self.parent.run_id, interruption_status())


def _what_stopped(died: list[ClosedRun]) -> str:
    """What a crashed sweep can name: the job processes that died (the one killed, and those its launcher
    then stopped, which it cannot tell apart), or else its launcher."""
    if not died:
        return "its launcher failed, with no job's process found dead (the launcher's error says why)"
    pids = ", ".join(str(run.owner.pid) for run in died)
    if len(died) == 1:
        return f"a job's process died without ending its run (pid {pids}: KILLED above)"
    return f"job processes died without ending their runs (pids {pids}: KILLED above)"


def _counts(summary: SweepSummary) -> str:
    launched = len(summary.jobs) + summary.missing
    finished = len(summary.jobs) - summary.failed
    return f"of {launched} jobs {finished} finished, {summary.failed} failed, {summary.missing} never ran (summary above)"
