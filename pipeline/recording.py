"""The last step of every run, through either door: score the learned weights and record the MLflow run.

Free of TensorFlow, so the DVC evaluate stage starts quickly.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.config import RunConfig
from pipeline.evaluation import Evaluation, evaluate_network
from pipeline.records import TrainingRecord
from pipeline.report import loss_curve_figure
from pipeline.targets import TargetProblem
from pipeline.tracking import record_run


def evaluate_and_record(
    run: RunConfig, problem: TargetProblem, record: TrainingRecord, model_file: Path
) -> tuple[str, Evaluation]:
    """Returns the MLflow run's id and the evaluation."""
    evaluation = evaluate_network(record.learned, problem, run.eval.atol)
    loss_figure = loss_curve_figure(record.loss_history, run.target.name)
    return record_run(run, record, model_file, loss_figure, evaluation), evaluation
