"""The DVC door: one module per stage of dvc.yaml, each a thin edge that reads params.yaml and files."""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

from pipeline.compose import PARAMS_FILE, check_params_current
from pipeline.config import PipelineConfig, load_pipeline_config
from pipeline.data import coefficients_path, dataset_path, load_coefficients, load_split
from pipeline.errors import ConfigError, PipelineError
from pipeline.interrupts import interrupt_on_signals
from pipeline.targets import TargetProblem, target_problem


def run_stage(stage: Callable[[PipelineConfig, list[str]], None]) -> None:
    """Configure logging, load and check params.yaml, run the stage; a failure the user can fix ends in
    one line on stderr and exit code 2, an interruption (Ctrl-C, SIGTERM) in one line and 130."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    interrupt_on_signals()
    try:
        pipeline = load_pipeline_config(PARAMS_FILE)
        if "DVC_EXP_NAME" not in os.environ:  # `dvc exp run` composed params.yaml itself, -S overrides included
            check_params_current(OmegaConf.to_container(OmegaConf.load(PARAMS_FILE)))
        stage(pipeline, sys.argv[1:])
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as error:
        print(f"error: {error.filename} is missing: run `dvc repro`, which recreates what the stages write", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interruption:  # every output is written atomically: nothing half-written stays
        print(f"error: interrupted by {interruption or 'SIGINT'}: `dvc repro` reruns the stage", file=sys.stderr)
        sys.exit(130)


def load_problem(pipeline: PipelineConfig, target_name: str) -> TargetProblem:
    """A target's training problem from the files the generate stage wrote."""
    target = pipeline.run_config(target_name).target
    data_dir = Path(pipeline.paths.data)
    split = load_split(dataset_path(data_dir, target.dataset), pipeline.data.x_size)
    drawn = load_coefficients(coefficients_path(data_dir), pipeline.data.x_size)
    return target_problem(split, drawn, target.coefficients, target.space)


def target_argument(pipeline: PipelineConfig, args: list[str]) -> str:
    """The one argument of a per-target stage: a key of params.yaml's `targets`."""
    if len(args) != 1:
        raise ConfigError(f"expected one target name, one of {', '.join(pipeline.targets)}; got {args}")
    pipeline.run_config(args[0])  # names the allowed targets if it is not one
    return args[0]
