"""Reading the answer back from the weights: the post's relations, their residuals, and the formulas.

The network is f(z) = w2 * max(0, z·W1 + b1) + b2. Wherever the ReLU is active it is linear, with
slope w2*W1 and intercept w2*b1 + b2; so it represents z·m + c exactly when those equal m and c
and b1 + z·W1 > 0 on the data (the condition the post derives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import Space
from pipeline.core.targets import LinearRelation
from pipeline.core.weights import NetworkWeights, hidden_preactivation


def relu_active_fraction(weights: NetworkWeights, z: np.ndarray) -> float:
    """Share of rows with b1 + z·W1 > 0: where the network is the linear function it recovers."""
    return float(np.mean(hidden_preactivation(weights, z) > 0))


def recover_relation(weights: NetworkWeights) -> LinearRelation:
    """m_hat = w2*W1, c_hat = w2*b1 + b2: the line the network draws where its ReLU is active."""
    return LinearRelation(slope=weights.w2 * weights.W1, intercept=weights.w2 * weights.b1 + weights.b2)


def exact_weights_for(relation: LinearRelation, w2: float, b1: float) -> NetworkWeights:
    """The post's construction, the converse of recover_relation: W1 = m/w2, b2 = c - w2*b1.

    These weights represent z·m + c exactly wherever b1 + z·W1 > 0, so b1 must be large for the data.
    """
    return NetworkWeights(W1=relation.slope / w2, b1=b1, w2=w2, b2=relation.intercept - w2 * b1)


@dataclass(frozen=True)
class RelationResiduals:
    m_residual: float  # max_i |m_hat_i - m_i|
    c_residual: float  # |c_hat - c|

    def hold(self, atol: float) -> bool:
        return self.m_residual <= atol and self.c_residual <= atol


def relation_residuals(recovered: LinearRelation, expected: LinearRelation) -> RelationResiduals:
    return RelationResiduals(
        m_residual=float(np.max(np.abs(recovered.slope - expected.slope))),
        c_residual=float(abs(recovered.intercept - expected.intercept)),
    )


def _rounded(value: float) -> str:
    """The post's number format: str(round(x, 2)), so 1.0, -0.85, -0.0."""
    return str(round(float(value), 2))


def format_formula(relation: LinearRelation, space: Space) -> str:
    """The post's formula line, e.g. `f(X) = 1.45*x1 + 0.05*x2 + -0.85`; in log space, in log x."""
    if space is Space.log:
        terms = [f"{_rounded(m)}*log(x{i + 1})" for i, m in enumerate(relation.slope)]
        return "log f(X) = " + " + ".join(terms) + f" + {_rounded(relation.intercept)}"
    terms = [f"{_rounded(m)}*x{i + 1}" for i, m in enumerate(relation.slope)]
    return "f(X) = " + " + ".join(terms) + f" + {_rounded(relation.intercept)}"


def format_power_formula(relation: LinearRelation) -> str:
    """A log-space relation on the original scale: f(X) = e^c * x1^m1 * ... * xn^mn."""
    factors = [f"x{i + 1}^{_rounded(m)}" for i, m in enumerate(relation.slope)]
    return f"f(X) = e^{_rounded(relation.intercept)} * " + " * ".join(factors)
