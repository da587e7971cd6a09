"""Scoring a trained network: test MSE on the original scale, the relations, and the formulas."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
from sklearn.metrics import mean_squared_error

from pipeline.relations import (
    NetworkWeights,
    format_formula,
    format_power_formula,
    forward,
    recover_relation,
    relation_residuals,
    relu_active_fraction,
)
from pipeline.targets import Space, TargetProblem, from_target_space, target_values


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
    true_formula_original: Optional[str]
    recovered_formula_original: Optional[str]
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
