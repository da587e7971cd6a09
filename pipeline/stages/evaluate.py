"""Stage `evaluate@<target>`: score the saved weights, write the DVC metrics, record the MLflow run.

Each evaluation records one complete run (config, loss history, weights, model, evaluation), so
re-evaluating with another eval.atol adds a run instead of rewriting an earlier one.
"""
from __future__ import annotations

import logging
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.errors import TrainingDiverged
from pipeline.evaluation import inits_summary
from pipeline.files import write_json
from pipeline.records import MODEL_FILE, load_records
from pipeline.recording import evaluate_and_record, record_failed_target
from pipeline.stages import load_problem, run_stage, target_argument

log = logging.getLogger(__name__)


def evaluate(pipeline: PipelineConfig, args: list[str]) -> None:
    name = target_argument(pipeline, args)
    model_dir, run = Path(pipeline.paths.models) / name, pipeline.run_config(name)
    try:
        run_id, evaluations = evaluate_and_record(run, load_problem(pipeline, name), load_records(model_dir), model_dir / MODEL_FILE)
    except TrainingDiverged as diverged:  # a network whose test MSE overflows: FAILED, and no metrics
        record_failed_target(run, diverged)
        raise
    evaluation = evaluations[0]
    write_json(Path(pipeline.paths.metrics) / f"{name}.json", evaluation.metrics() | inits_summary(evaluations))
    write_json(Path(pipeline.paths.evaluations) / f"{name}.json", evaluation.to_dict())
    log.info("%s: test MSE %.3g, relations hold: %s (MLflow run %s)", name, evaluation.test_mse, evaluation.relations_hold, run_id)


if __name__ == "__main__":
    run_stage(evaluate)
