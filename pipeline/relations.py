"""Reading the answer back from the weights: the post's relations, their residuals, and the formulas.

The network is f(z) = w2 * max(0, z·W1 + b1) + b2. Wherever the ReLU is active it is linear, with
slope w2*W1 and intercept w2*b1 + b2; so it represents z·m + c exactly when those equal m and c
and b1 + z·W1 > 0 on the data (the condition the post derives).
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.targets import LinearRelation, Space


@dataclass(frozen=True)
class NetworkWeights:
    """The seven numbers of the post's network (for x_size 5), named as in the post."""

    W1: np.ndarray  # noqa: N815 - the post's name for the hidden kernel, shape (x_size,)
    b1: float
    w2: float
    b2: float

    def to_dict(self) -> dict[str, Any]:
        return {"W1": [float(v) for v in self.W1], "b1": float(self.b1), "w2": float(self.w2), "b2": float(self.b2)}

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.W1))) and all(math.isfinite(v) for v in (self.b1, self.w2, self.b2))

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> NetworkWeights:
        return cls(
            W1=np.asarray(payload["W1"], dtype=np.float64),
            b1=float(payload["b1"]),
            w2=float(payload["w2"]),
            b2=float(payload["b2"]),
        )


def hidden_preactivation(weights: NetworkWeights, z: np.ndarray) -> np.ndarray:
    return z @ weights.W1 + weights.b1


def forward(weights: NetworkWeights, z: np.ndarray) -> np.ndarray:
    """The network's output, computed from its weights alone (float64)."""
    return weights.w2 * np.maximum(0.0, hidden_preactivation(weights, z)) + weights.b2


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
