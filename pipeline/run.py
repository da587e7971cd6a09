"""The Hydra door: one run per target, `python -m pipeline.run target=product train.epochs=50`,
or a sweep, `python -m pipeline.run -m target=sum,weighted_sum,product`; `toy-ann` is the same command
(`cli`). `--help` describes the app (conf/hydra/help/toy_ann.yaml).

Only the config machinery is imported up front, so a bad value is reported in about a second,
before TensorFlow, scikit-learn and MLflow (several seconds) are loaded.

Failures take `pipeline.failures`' one path: a single run that fails stops with one line and exit code 2
(a divergence is recorded as a FAILED run); in a sweep every failure is recorded as a FAILED child with
its reason and the sweep goes on, its summary counts the failures and the command then exits 1 (see
`pipeline.tracking.sweep`). Ctrl-C or SIGTERM records the job KILLED and exits 130. Hydra's own errors (an
unknown key or option) are one line too, unless the user sets HYDRA_FULL_ERROR=1 for their traceback.

A job's results go through the `pipeline.results` logger: conf/hydra/job_logging/toy_ann.yaml prints them
plain on the terminal and files them in the job's Hydra log, `<output dir>/run.log`.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf

from pipeline.config import CONF_DIR, to_plain, to_run_config
from pipeline.environment import Environment
from pipeline.errors import ConfigError
from pipeline.failures import ExitCode, FailurePath, interrupt_on_signals
from pipeline.memory import check_fits_in_memory
from pipeline.tracking.sweep import SweepJob, current_sweep_job

if TYPE_CHECKING:
    from pipeline.core.evaluation import Evaluation
    from pipeline.job import TrainedJob

RERUN_HINT = "a rerun starts afresh"
RESULTS_LOGGER = "pipeline.results"  # named in conf/hydra/job_logging/toy_ann.yaml

REGIONS_PRINTED = 8  # the largest linear regions a summary lists; the run's regions.json holds them all

results_log = logging.getLogger(RESULTS_LOGGER)


def describe(name: str, run_id: str, job: TrainedJob) -> str:
    """The human summary of a job: the run's own network, what it computes, then the distribution over its
    replicates or how many initialisations got there."""
    evaluations = job.evaluations
    ev = evaluations[0]
    lines = [f"target {name}  (MLflow run {run_id})", f"  test MSE          {ev.test_mse:.3g}  (last epoch)"]
    if ev.test_mse_at_lowest_train_mse is not None:
        lines.append(
            f"  selected state    test MSE {ev.test_mse_at_lowest_train_mse:.3g} at epoch {ev.lowest_train_mse_epoch}, "
            "the lowest training MSE (original scale) of the last epochs (eval.best_of_last)"
        )
    if ev.relations_hold is not None:
        lines += [
            f"  m residual        {ev.m_residual:.3g}   c residual {ev.c_residual:.3g}",
            f"  relations hold    {ev.relations_hold} at atol {ev.atol:g}",
        ]
    if ev.local_relation_share is not None:
        lines.append(f"  local relations   hold on {ev.local_relation_share:.4f} of test rows (exact: {ev.local_relations_hold})")
    lines += [
        f"  active units      on {ev.relu_active_fraction:.4f} of train rows, {ev.relu_active_fraction_test:.4f} of test rows",
        f"  linear regions    {ev.linear_regions} on the test rows; {ev.dead_units} of {ev.width} units dead, "
        f"{ev.always_active_units} always on",
        f"  true formula      {ev.true_formula}",
        f"  recovered formula {ev.recovered_formula}",
    ]
    if ev.true_formula_original:
        lines += [f"  true, original    {ev.true_formula_original}", f"  recovered, orig.  {ev.recovered_formula_original}"]
    if ev.linear_regions > 1:
        lines += [
            f"  region {r['pattern']:<10} {r['share']:7.2%} of test rows: {r['formula']}" for r in ev.regions[:REGIONS_PRINTED]
        ]
    if ev.width_note:
        lines.append(f"  note              {ev.width_note}")
    if job.replicates is not None:
        lines.append(f"  replicates        {len(evaluations)} (own initialisations and batches, seeds from model.seed up):")
        lines += [f"    {line}" for line in job.replicates.lines()]
    elif len(evaluations) > 1:
        lines.append(f"  initialisations   {len(evaluations)} (seeds from model.seed up, shared batches):")
        lines += _inits_lines(evaluations)
    return "\n".join(lines)


def _inits_lines(evaluations: list[Evaluation]) -> list[str]:
    """How many initialisations got there, and the best one's numbers: what a study of initialisations asks."""
    from pipeline.core.evaluation import best_initialisation, verdict_counts  # loaded by the job that ran

    labels = {"relations_hold": "relations hold", "local_relations_hold": "exact (local)"}
    lines = [
        f"    {labels[verdict]:<16} in {held} of {len(evaluations)}" for verdict, held in verdict_counts(evaluations).items()
    ]
    k, best = best_initialisation(evaluations)
    lines.append(f"    best            init {k}: test MSE {best.test_mse:.3g}, recovered {best.recovered_formula}")
    if best.local_relation_share is not None:
        lines.append(f"                    local relations hold on {best.local_relation_share:.4f} of test rows")
    lines += [
        f"                    region {r['pattern']}: {r['formula']}"
        for r in best.regions[:REGIONS_PRINTED]
        if best.linear_regions > 1
    ]
    return lines


def report(summary: str) -> None:
    """A job's results, on the terminal and in its run.log; printed where the logging the user chose
    (`hydra/job_logging=none` or `disabled`) would show them nowhere."""
    if results_log.isEnabledFor(logging.INFO) and results_log.hasHandlers():
        results_log.info(summary)
    else:
        print(summary)


def _record_in_sweep(failures: FailurePath, sweep_job: SweepJob, cfg: DictConfig) -> None:
    """A sweep's job records every failure, a bad value included, as its child run: set before the config
    is even checked, with the config as composed (unresolved: an interpolation may be what is bad)."""
    from pipeline.tracking.runs import RunRecorder

    target = str(OmegaConf.select(cfg, "target.name", default=None, throw_on_resolution_failure=False))
    recorder = RunRecorder(sweep_job.parent.store, target, to_plain(cfg, resolve=False), sweep_job.tags(), sweep_job.run_name())
    failures.record = recorder.fail


# An absolute path: the `toy-ann` script imports this module, and Hydra would read a relative one as a package.
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    sweep_job = current_sweep_job()
    label = f"job {sweep_job.run_name()}" if sweep_job else "the run"
    with FailurePath(RERUN_HINT, keep_going=sweep_job is not None, label=label) as failures:
        if sweep_job is not None:
            _record_in_sweep(failures, sweep_job, cfg)
        run = to_run_config(cfg)
        check_fits_in_memory(run)
        from pipeline.job import run_target  # the heavy imports, only once the config is valid and fits

        out_dir = Path(HydraConfig.get().runtime.output_dir)
        run_id, job = run_target(run, out_dir, Environment.read(), failures, sweep_job)
        report(describe(run.target.name, run_id, job))


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


def cli() -> None:
    """`python -m pipeline.run ...` and `toy-ann ...`: Hydra's command line, with its errors in one line.
    Hydra is told to raise them (HYDRA_FULL_ERROR=1) rather than print its own; a user who set the variable
    asked for Hydra's full traceback, and gets it."""
    interrupt_on_signals()
    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"  # as Hydra reads it
    os.environ["HYDRA_FULL_ERROR"] = "1"
    with FailurePath(RERUN_HINT):
        try:
            main()
        except HydraException as error:
            if full_error:
                raise
            raise ConfigError(composition_error_line(error)) from None
        except BrokenProcessPool:  # a joblib (loky) worker died: the sweep's exit hook will summarise it and say so
            raise SystemExit(ExitCode.JOBS_FAILED) from None


if __name__ == "__main__":
    cli()
