"""The DVC door: one module per stage of dvc.yaml, each a thin edge that reads params.yaml and files, calls
the core, and writes files and MLflow runs (train records each target's run, evaluation included)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig, RunConfig, load_params, load_pipeline_config, to_plain
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.environment import Environment
from pipeline.errors import ConfigError, DataError
from pipeline.failures import FailurePath, interrupt_on_signals
from pipeline.files.data import load_coefficients, load_split
from pipeline.files.layout import PARAMS_FILE, Layout
from pipeline.memory import check_fits_in_memory
from pipeline.tracking.secrets import RedactLogRecords

RERUN_HINT = "`dvc repro` reruns the stage"


@dataclass
class StageContext:
    """One stage's process: its typed params, where its files are, its environment, its argument, and the
    failure path it runs in."""

    pipeline: PipelineConfig
    layout: Layout
    environment: Environment
    failures: FailurePath
    args: list[str]

    def target_run(self) -> RunConfig:
        """The run of the target a per-target stage is given: its one argument, a key of `targets`; refused
        before any work if it would not fit in memory."""
        if len(self.args) != 1:
            raise ConfigError(f"expected one target name, one of {', '.join(self.pipeline.targets)}; got {self.args}")
        run = self.pipeline.run_config(self.args[0])  # names the allowed targets if it is not one
        check_fits_in_memory(run)
        return run

    def problem(self, run: RunConfig) -> TargetProblem:
        """A target's training problem from the files the generate stage wrote."""
        x_size = self.pipeline.data.x_size
        split = load_split(self.layout.data_file(run.target.dataset), x_size)
        drawn = load_coefficients(self.layout.coefficients_file(), x_size)
        return target_problem(run.target, split, drawn)


def run_stage(stage: Callable[[StageContext], None]) -> None:
    """Configure logging, check and load params.yaml, run the stage in the failure path."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:  # no password in a URI reaches DVC's log either
        handler.addFilter(RedactLogRecords())
    interrupt_on_signals()
    with FailurePath(RERUN_HINT) as failures:
        environment = Environment.read()
        # Imported here, not above, so that `python -m pipeline.stages.compose` runs a module not yet imported.
        from pipeline.stages.compose import check_params_current

        params = load_params(PARAMS_FILE)  # without the file, or with broken YAML: one line
        # DVC sets DVC_ROOT for every stage; a root elsewhere than this project is a --temp or queued copy.
        in_copy = environment.dvc_root is not None and Path(environment.dvc_root).resolve() != PROJECT_ROOT.resolve()
        check_params_current(to_plain(params, resolve=False), in_dvc_copy=in_copy)
        pipeline = load_pipeline_config(PARAMS_FILE)  # stale first: a params.yaml from an older conf/ may not load
        try:
            stage(StageContext(pipeline, Layout(pipeline.paths), environment, failures, sys.argv[1:]))
        except FileNotFoundError as error:
            raise DataError(f"{error.filename} is missing: run `dvc repro`, which recreates what the stages write") from None
