"""Scoring a trained network: test MSE on the original scale, the relations, and the formulas."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import mean_squared_error

from pipeline.config import Space
from pipeline.core.relations import (
    format_formula,
    format_power_formula,
    recover_relation,
    relation_residuals,
    relu_active_fraction,
)
from pipeline.core.targets import TargetProblem, from_target_space, target_values
from pipeline.core.weights import NetworkWeights, TrainingRecord, forward
from pipeline.errors import TrainingDiverged


@dataclass(frozen=True)
class Evaluation:
    test_mse: float
    m_residual: float
    c_residual: float
    relations_hold: bool
    relu_active_fraction: float  # on the training rows
    relu_active_fraction_test: float
    atol: float
    true_formula: str
    recovered_formula: str
    # Only for log-space targets: the same formulas on the original scale.
    true_formula_original: str | None
    recovered_formula_original: str | None
    recovered_m: list[float]
    recovered_c: float
    true_m: list[float]
    true_c: float

    def metrics(self) -> dict[str, float]:
        """The numbers MLflow and DVC track (relations_hold as 0/1)."""
        return {
            "test_mse": self.test_mse,
            "m_residual": self.m_residual,
            "c_residual": self.c_residual,
            "relations_hold": float(self.relations_hold),
            "relu_active_fraction": self.relu_active_fraction,
            "relu_active_fraction_test": self.relu_active_fraction_test,
        }

    def formulas(self) -> dict[str, str]:
        """The true and recovered formulas by name (and on the original scale, for a log-space target)."""
        formulas = {"true_formula": self.true_formula, "recovered_formula": self.recovered_formula}
        if self.true_formula_original is not None and self.recovered_formula_original is not None:
            formulas["true_formula_original"] = self.true_formula_original
            formulas["recovered_formula_original"] = self.recovered_formula_original
        return formulas

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """sklearn's MSE, or infinity where a far-off network's predictions (their exp, in log space) or its
    squared errors overflow: a number for that network, not a crash of the whole run."""
    if not np.all(np.isfinite(y_pred)):
        return math.inf
    with np.errstate(over="ignore"):
        return float(mean_squared_error(y_true, y_pred))


def evaluate_network(weights: NetworkWeights, problem: TargetProblem, atol: float) -> Evaluation:
    recovered = recover_relation(weights)
    residuals = relation_residuals(recovered, problem.relation)
    y_test = from_target_space(target_values(problem.z_test, problem.relation), problem.space)
    with np.errstate(over="ignore"):
        y_pred = from_target_space(forward(weights, problem.z_test), problem.space)
    log_space = problem.space is Space.log
    return Evaluation(
        test_mse=_mean_squared_error(y_test, y_pred),
        m_residual=residuals.m_residual,
        c_residual=residuals.c_residual,
        relations_hold=residuals.hold(atol),
        relu_active_fraction=relu_active_fraction(weights, problem.z_train),
        relu_active_fraction_test=relu_active_fraction(weights, problem.z_test),
        atol=atol,
        true_formula=format_formula(problem.relation, problem.space),
        recovered_formula=format_formula(recovered, problem.space),
        true_formula_original=format_power_formula(problem.relation) if log_space else None,
        recovered_formula_original=format_power_formula(recovered) if log_space else None,
        recovered_m=[float(v) for v in recovered.slope],
        recovered_c=float(recovered.intercept),
        true_m=[float(v) for v in problem.relation.slope],
        true_c=float(problem.relation.intercept),
    )


def evaluate_training(records: Sequence[TrainingRecord], problem: TargetProblem, *, atol: float, lr: float) -> list[Evaluation]:
    """Every initialisation's learned weights scored, the primary first. A primary whose test MSE overflows
    has failed like a diverged training: it raises, so no run of it looks finished."""
    evaluations = [evaluate_network(record.learned, problem, atol) for record in records]
    if not math.isfinite(evaluations[0].test_mse):
        raise TrainingDiverged(
            f"the network's test MSE is {evaluations[0].test_mse} (its predictions overflow on the original "
            f"scale): it did not learn the target; lower train.lr (was {lr})",
            records[0].loss_history,
        )
    return evaluations


INIT_COLUMNS = ("test_mse", "m_residual", "c_residual", "relations_hold", "relu_active_fraction", "relu_active_fraction_test")


def inits_summary(evaluations: Sequence[Evaluation]) -> dict[str, float]:
    """How many initialisations were trained, the share whose relations hold (the convergence rate), and
    the share whose ReLU is off on every training row (a dead network: it outputs a constant)."""
    return {
        "inits": float(len(evaluations)),
        "relations_hold_share": sum(ev.relations_hold for ev in evaluations) / len(evaluations),
        "relu_dead_share": sum(ev.relu_active_fraction == 0 for ev in evaluations) / len(evaluations),
    }


def inits_table(evaluations: Sequence[Evaluation], first_seed: int) -> str:
    """One CSV row per initialisation; init k started from model seed first_seed + k."""
    lines = ["init,model_seed," + ",".join(INIT_COLUMNS)]
    for k, ev in enumerate(evaluations):
        values = ev.metrics()
        lines.append(f"{k},{first_seed + k}," + ",".join(repr(values[column]) for column in INIT_COLUMNS))
    return "\n".join(lines) + "\n"
