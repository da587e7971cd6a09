"""The DVC door: one module per stage of dvc.yaml, each a thin edge that reads params.yaml and files."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import ConfigError, PipelineConfig, PipelineError, load_pipeline_config
from pipeline.data import coefficients_path, dataset_path, load_coefficients, load_split
from pipeline.targets import TargetProblem, expected_relation, make_problem

PARAMS_FILE = Path("params.yaml")
RUN_FILE = "mlflow_run.json"  # written by train, read by evaluate: which MLflow run to complete


def run_stage(stage: Callable[[PipelineConfig, list[str]], None]) -> None:
    """Configure logging, load params.yaml, run the stage; expected failures end in one line and exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        stage(load_pipeline_config(PARAMS_FILE), sys.argv[1:])
    except (PipelineError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def load_problem(pipeline: PipelineConfig, target_name: str) -> TargetProblem:
    """A target's training problem from the files the generate stage wrote."""
    target = pipeline.run_config(target_name).target
    data_dir = Path(pipeline.paths.data)
    split = load_split(dataset_path(data_dir, target.dataset))
    drawn = load_coefficients(coefficients_path(data_dir))
    relation = expected_relation(target.coefficients, pipeline.data.x_size, drawn)
    return make_problem(split.x_train, split.x_test, relation, target.space)


def target_argument(pipeline: PipelineConfig, args: list[str]) -> str:
    """The one argument of a per-target stage: a key of params.yaml's `targets`."""
    if len(args) != 1:
        raise ConfigError(f"expected one target name, one of {', '.join(pipeline.targets)}; got {args}")
    pipeline.run_config(args[0])  # names the allowed targets if it is not one
    return args[0]
