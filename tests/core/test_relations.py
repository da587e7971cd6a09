"""Reading the answer back from the weights: the relations, their residuals, and the post's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import Space
from pipeline.core.relations import (
    exact_weights_for,
    format_formula,
    format_power_formula,
    recover_relation,
    relation_residuals,
    relu_active_fraction,
)
from pipeline.core.targets import LinearRelation
from pipeline.core.weights import NetworkWeights, forward


def test_exact_weights_satisfy_the_relations_and_compute_the_target(weighted):
    weights = exact_weights_for(weighted, w2=2.5, b1=50.0)
    z = np.random.default_rng(0).normal(size=(1000, 5))

    residuals = relation_residuals(recover_relation(weights), weighted)

    assert residuals.m_residual < 1e-12 and residuals.c_residual < 1e-12
    assert residuals.hold(atol=1e-3)
    np.testing.assert_allclose(forward(weights, z), z @ weighted.slope + weighted.intercept, atol=1e-10)
    assert relu_active_fraction(weights, z) == 1.0


@pytest.mark.parametrize("field, delta", [("W1", 0.01), ("b1", 0.01), ("w2", 0.01), ("b2", 0.01)])
def test_perturbed_weights_break_the_relations(weighted, field, delta):
    weights = exact_weights_for(weighted, w2=2.5, b1=50.0)
    value = getattr(weights, field)
    perturbed = NetworkWeights(**{**weights.__dict__, field: value + delta})

    residuals = relation_residuals(recover_relation(perturbed), weighted)

    assert not residuals.hold(atol=1e-3)


def test_residuals_report_the_size_of_the_miss_not_just_a_verdict(weighted):
    recovered = LinearRelation(slope=weighted.slope + np.array([0, 0.002, 0, -0.005, 0]), intercept=weighted.intercept + 0.0004)

    residuals = relation_residuals(recovered, weighted)

    assert residuals.m_residual == pytest.approx(0.005)
    assert residuals.c_residual == pytest.approx(0.0004)
    assert not residuals.hold(atol=1e-3) and residuals.hold(atol=1e-2)


def test_relu_active_fraction_counts_rows_where_the_hidden_unit_is_on():
    weights = NetworkWeights(W1=np.array([1.0]), b1=0.0, w2=1.0, b2=0.0)
    z = np.array([[-2.0], [-1.0], [0.0], [1.0], [3.0]])

    assert relu_active_fraction(weights, z) == pytest.approx(2 / 5)
    np.testing.assert_array_equal(forward(weights, z), [0, 0, 0, 1, 3])


def test_formulas_use_the_posts_format(weighted):
    assert format_formula(weighted, Space.linear) == "f(X) = 1.45*x1 + 0.05*x2 + -0.84*x3 + -0.38*x4 + 0.19*x5 + -0.85"
    ones = LinearRelation(np.ones(3), -0.0001)
    assert format_formula(ones, Space.linear) == "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + -0.0"
    assert format_formula(ones, Space.log) == "log f(X) = 1.0*log(x1) + 1.0*log(x2) + 1.0*log(x3) + -0.0"
    assert format_power_formula(LinearRelation(np.array([1.0, 0.5]), 0.25)) == "f(X) = e^0.25 * x1^1.0 * x2^0.5"
