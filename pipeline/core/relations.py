"""Reading the answer back from the weights: the post's relations, the local relations, and the formulas.

The post's network is f(z) = w2 * max(0, z·W1 + b1) + b2. Wherever the ReLU is active it is linear, with
slope w2*W1 and intercept w2*b1 + b2; so it represents z·m + c exactly when those equal m and c and
b1 + z·W1 > 0 on the data (the condition the post derives). A wider network is affine on each of its linear
regions (core.regions), so it represents a piecewise-affine target exactly where, row by row, its local slope
and intercept equal the target's: the local relations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import Space
from pipeline.core.targets import LinearRelation, LocalMaps, affine_expression, formula_line, post_number
from pipeline.core.weights import NetworkWeights


def recover_relation(weights: NetworkWeights) -> LinearRelation:
    """m_hat = w2*W1, c_hat = w2*b1 + b2: the line the network draws where its ReLU is active (at any width,
    where every unit is)."""
    return LinearRelation(slope=weights.W1 @ weights.w2, intercept=float(weights.w2 @ weights.b1 + weights.b2))


def exact_weights_for(relation: LinearRelation, w2: float, b1: float) -> NetworkWeights:
    """The post's construction, the converse of recover_relation: W1 = m/w2, b2 = c - w2*b1.

    These weights represent z·m + c exactly wherever b1 + z·W1 > 0, so b1 must be large for the data.
    """
    return NetworkWeights(W1=relation.slope / w2, b1=np.array([b1]), w2=np.array([w2]), b2=relation.intercept - w2 * b1)


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


@dataclass(frozen=True)
class LocalResiduals:
    """How far the network's local map is from the target's, row by row."""

    slope: np.ndarray  # max_i |network slope_i - target slope_i|
    intercept: np.ndarray  # |network intercept - target intercept|

    def share_within(self, atol: float) -> float:
        """Share of rows where the network is the target's affine piece: both residuals within atol."""
        return float(np.mean((self.slope <= atol) & (self.intercept <= atol)))


def local_residuals(network: LocalMaps, target: LocalMaps) -> LocalResiduals:
    return LocalResiduals(
        slope=np.max(np.abs(network.slope - target.slope), axis=1),
        intercept=np.abs(network.intercept - target.intercept),
    )


def format_formula(relation: LinearRelation, space: Space) -> str:
    """The post's formula line, e.g. `f(X) = 1.45*x1 + 0.05*x2 + -0.85`; in log space, in log x."""
    return formula_line(affine_expression(relation, space), space)


def format_power_formula(relation: LinearRelation) -> str:
    """A log-space relation on the original scale: f(X) = e^c * x1^m1 * ... * xn^mn."""
    factors = [f"x{i + 1}^{post_number(m)}" for i, m in enumerate(relation.slope)]
    return f"f(X) = e^{post_number(relation.intercept)} * " + " * ".join(factors)
