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
    run: RunConfig, problem: TargetProblem, records: list[TrainingRecord], model_file: Path
) -> tuple[str, list[Evaluation]]:
    """Score every initialisation's learned weights (the primary first) and record the run; returns the
    MLflow run's id and the evaluations."""
    evaluations = [evaluate_network(record.learned, problem, run.eval.atol) for record in records]
    loss_figure = loss_curve_figure(records[0].loss_history, run.target.name)
    return record_run(run, records[0], model_file, loss_figure, evaluations), evaluations
