"""One training run's steps, shared by both doors, and the Hydra door's whole job.

A Hydra job draws the post's stream in memory, trains, evaluates and records one MLflow run; its
model, weights and loss curve also land in its Hydra output directory.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.config import RunConfig
from pipeline.evaluation import Evaluation, evaluate_network
from pipeline.files import write_text
from pipeline.report import loss_csv, loss_curve_figure
from pipeline.targets import TargetProblem, expected_relation, make_problem
from pipeline.tracking import log_evaluation, log_training, training_run
from pipeline.training import TrainingResult, save_training, train_network


def train_and_record(run: RunConfig, problem: TargetProblem, model_dir: Path, loss_file: Path) -> TrainingResult:
    """Inside an open training run: fit, save the model, weights and loss CSV, and log them."""
    result = train_network(
        problem.z_train, problem.y_train, run.model.seed, run.train.epochs, run.train.batch_size, run.train.lr
    )
    model_file = save_training(result, model_dir)
    write_text(loss_file, loss_csv(result.loss_history))
    log_training(result, model_file, loss_curve_figure(result.loss_history, run.target.name))
    return result


def run_target(run: RunConfig, out_dir: Path) -> tuple[str, Evaluation]:
    """The Hydra job: draw, train, evaluate and track one target; returns the MLflow run id and the evaluation."""
    draws = run.data.draw()
    split = draws.splits[run.target.dataset]
    relation = expected_relation(run.target.coefficients, run.data.x_size, draws.coefficients)
    problem = make_problem(split.x_train, split.x_test, relation, run.target.space)
    with training_run(run) as run_id:
        result = train_and_record(run, problem, out_dir, out_dir / "loss.csv")
        evaluation = evaluate_network(result.learned, problem, run.eval.atol)
        log_evaluation(evaluation)
    return run_id, evaluation
