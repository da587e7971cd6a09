"""Stage `evaluate@<target>`: score the saved weights, write the DVC metrics, complete the MLflow run."""
from __future__ import annotations

import logging
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.evaluation import evaluate_network
from pipeline.files import read_json, write_json
from pipeline.relations import load_learned_weights
from pipeline.stages import RUN_FILE, load_problem, run_stage, target_argument
from pipeline.tracking import log_evaluation, resumed_run

log = logging.getLogger(__name__)


def evaluate(pipeline: PipelineConfig, args: list[str]) -> None:
    name = target_argument(pipeline, args)
    model_dir = Path(pipeline.paths.models) / name
    evaluation = evaluate_network(load_learned_weights(model_dir), load_problem(pipeline, name), pipeline.eval.atol)
    write_json(Path(pipeline.paths.metrics) / f"{name}.json", evaluation.to_dict())
    tracked = read_json(model_dir / RUN_FILE)
    with resumed_run(tracked["tracking_uri"], tracked["run_id"]):
        log_evaluation(evaluation)
    log.info("%s: test MSE %.3g, relations hold: %s", name, evaluation.test_mse, evaluation.relations_hold)


if __name__ == "__main__":
    run_stage(evaluate)
