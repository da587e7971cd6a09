"""The Hydra door: one run per target, `python -m pipeline.run target=product train.epochs=50`,
or a sweep, `python -m pipeline.run -m target=sum,weighted_sum,product`.

Only the config machinery is imported up front, so a bad value is reported in about a second,
before TensorFlow, scikit-learn and MLflow (several seconds) are loaded.

A single run that fails stops with one line and exit code 2 (a divergence is recorded as a FAILED run).
In a sweep every failure is recorded as a FAILED child with its reason and the sweep goes on; the
sweep's summary counts the failures and the command then exits non-zero (see `pipeline.sweep`).
Ctrl-C or SIGTERM records the job KILLED and exits 130.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf

from pipeline.config import RunConfig, flatten, to_plain, to_run_config
from pipeline.errors import Interrupted, PipelineError, TrackingError, TrainingDiverged
from pipeline.interrupts import interrupt_on_signals
from pipeline.sweep import SweepJob, current_sweep_job

if TYPE_CHECKING:
    from pipeline.evaluation import Evaluation

log = logging.getLogger(__name__)


def describe(name: str, run_id: str, evaluations: list[Evaluation]) -> str:
    """The human summary of a job: the run's own network, then how many initialisations converged."""
    ev = evaluations[0]
    lines = [
        f"target {name}  (MLflow run {run_id})",
        f"  test MSE          {ev.test_mse:.3g}",
        f"  m residual        {ev.m_residual:.3g}   c residual {ev.c_residual:.3g}",
        f"  relations hold    {ev.relations_hold} at atol {ev.atol:g}",
        f"  ReLU active       {ev.relu_active_fraction:.4f} of train rows, {ev.relu_active_fraction_test:.4f} of test rows",
        f"  true formula      {ev.true_formula}",
        f"  recovered formula {ev.recovered_formula}",
    ]
    if ev.true_formula_original:
        lines += [f"  true, original    {ev.true_formula_original}", f"  recovered, orig.  {ev.recovered_formula_original}"]
    if len(evaluations) > 1:
        held = sum(other.relations_hold for other in evaluations)
        lines.append(f"  initialisations    relations hold in {held} of {len(evaluations)} (seeds from model.seed up)")
    return "\n".join(lines)


def record_failed_job(
    cfg: DictConfig, run: RunConfig | None, error: BaseException, sweep_job: SweepJob | None, status: str = "FAILED"
) -> str:
    """The failed (or, with status KILLED, interrupted) job as an MLflow run that says why: in its sweep,
    or on its own."""
    from pipeline.recording import record_failed_target, record_failure

    if sweep_job is None:
        return record_failed_target(run, error, status)
    params = flatten(to_plain(run) if run else OmegaConf.to_container(cfg, resolve=True))
    tags = {**sweep_job.tags(), "target": str(OmegaConf.select(cfg, "target.name"))}
    return record_failure(sweep_job.parent.store, sweep_job.run_name(), params, error, tags, status)


def record_or_warn(
    cfg: DictConfig, run: RunConfig | None, error: BaseException, sweep_job: SweepJob | None, status: str = "FAILED"
) -> None:
    """Record the failure unless it is recorded already (it struck while its run was being written) or
    the store is what failed; if recording fails too, say so in one line and keep the first failure."""
    if getattr(error, "recorded", False) or isinstance(error, TrackingError):
        return
    try:
        record_failed_job(cfg, run, error, sweep_job, status)
    except Exception as also:
        reason = f"{type(also).__name__}: {also}".splitlines()[0]
        print(f"error: the failure could not be recorded in MLflow either ({reason})", file=sys.stderr)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    sweep_job, run = current_sweep_job(), None
    try:
        run = to_run_config(cfg)
        from pipeline.job import run_target  # the heavy imports, only once the config is valid

        run_id, evaluations = run_target(run, Path(HydraConfig.get().runtime.output_dir), sweep_job)
    except PipelineError as error:
        if sweep_job is not None or isinstance(error, TrainingDiverged):
            record_or_warn(cfg, run, error, sweep_job)
        print(f"error: {error}", file=sys.stderr)
        if sweep_job is None:
            sys.exit(2)
    except Exception as error:
        if sweep_job is None:
            raise  # a bug, not a failure the user can fix: the traceback is the report
        log.exception("job %d failed", sweep_job.number)  # the rest of the sweep goes on
        record_or_warn(cfg, run, error, sweep_job)
    except KeyboardInterrupt as interruption:
        if getattr(interruption, "recorded", False):
            raise
        if run is not None or sweep_job is not None:
            record_or_warn(cfg, run, Interrupted(f"interrupted by {interruption or 'SIGINT'}"), sweep_job, "KILLED")
        raise  # ends a sweep too
    else:
        print(describe(run.target.name, run_id, evaluations))


def composition_error_line(error: HydraException) -> str:
    """Hydra's own composition errors (a key that does not exist, an unknown option) in one line, like
    every other bad value: what is wrong, and what is allowed or how to fix it."""
    if isinstance(error, MissingConfigException) and error.options:
        what = re.sub(r"^In '[^']*': ", "", str(error).splitlines()[0])
        return f"{what}: choose one of {', '.join(sorted(error.options))}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if error.__cause__ is not None:
        lines.insert(1, str(error.__cause__).splitlines()[0])
    return " ".join(line if line.endswith((".", ":")) else f"{line}." for line in lines)


if __name__ == "__main__":
    interrupt_on_signals()
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra then raises its errors for us to report
    try:
        main()
    except KeyboardInterrupt as interruption:
        print(f"error: interrupted by {interruption or 'SIGINT'}: a rerun starts afresh", file=sys.stderr)
        sys.exit(130)
    except HydraException as error:
        print(f"error: {composition_error_line(error)}", file=sys.stderr)
        sys.exit(2)
