"""Stage `evaluate@<target>`: score the saved weights, record the MLflow run, write the DVC metrics.

Each evaluation records one complete run (config, loss history, weights, model, evaluation), so
re-evaluating with another eval.atol adds a run instead of rewriting an earlier one. A network whose test
MSE overflows is recorded FAILED and writes no metrics.
"""

from __future__ import annotations

import logging

from pipeline.config import to_plain
from pipeline.core.evaluation import evaluate_training, inits_summary
from pipeline.files.atomic import write_json
from pipeline.files.layout import MODEL_FILE
from pipeline.files.records import load_records
from pipeline.stages import StageContext, run_stage
from pipeline.tracking.runs import RunRecorder, open_store
from pipeline.tracking.store import resolve_tracking_uri

log = logging.getLogger(__name__)


def evaluate(stage: StageContext) -> None:
    run = stage.target_run()
    name, model_dir = run.target.name, stage.layout.model_dir(run.target.name)
    problem, records = stage.problem(run), load_records(model_dir)
    uri = resolve_tracking_uri(run.tracking.uri, stage.environment)
    recorder = RunRecorder(open_store(uri, run.tracking.experiment), name, to_plain(run))
    stage.failures.record = recorder.fail
    evaluations = evaluate_training(records, problem, atol=run.eval.atol, lr=run.train.lr)
    run_id = recorder.record(records, model_dir / MODEL_FILE, evaluations, run.model.seed)
    evaluation = evaluations[0]
    write_json(stage.layout.metrics_file(name), evaluation.metrics() | inits_summary(evaluations))
    write_json(stage.layout.evaluation_file(name), evaluation.to_dict())
    log.info(
        "%s: test MSE %.3g, relations hold: %s (MLflow run %s)", name, evaluation.test_mse, evaluation.relations_hold, run_id
    )


if __name__ == "__main__":
    run_stage(evaluate)
