"""Reading the answer back from the weights: the post's relations, the local relations, and the post's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import Space
from pipeline.core.relations import (
    exact_weights_for,
    format_formula,
    format_power_formula,
    local_residuals,
    recover_relation,
    relation_residuals,
)
from pipeline.core.targets import LinearRelation, LocalMaps
from pipeline.core.weights import NetworkWeights, forward


def test_exact_weights_satisfy_the_relations_and_compute_the_target(weighted):
    weights = exact_weights_for(weighted, w2=2.5, b1=50.0)
    z = np.random.default_rng(0).normal(size=(1000, 5))

    residuals = relation_residuals(recover_relation(weights), weighted)

    assert residuals.m_residual < 1e-12 and residuals.c_residual < 1e-12
    assert residuals.hold(atol=1e-3)
    np.testing.assert_allclose(forward(weights, z), z @ weighted.slope + weighted.intercept, atol=1e-10)


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


def test_the_recovered_relation_of_the_posts_network_is_w2_W1_and_w2_b1_plus_b2_to_the_last_bit(post_sum_network):
    w2, b1, b2 = 2.790241241455078, 2.801814556121826, -7.817744731903076

    recovered = recover_relation(post_sum_network)

    np.testing.assert_array_equal(recovered.slope, w2 * post_sum_network.W1[:, 0])
    assert recovered.intercept == w2 * b1 + b2
    assert format_formula(recovered, Space.linear) == "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + -0.0"


def test_the_recovered_relation_of_a_wider_network_is_its_map_where_every_unit_is_on():
    weights = NetworkWeights(W1=np.array([[1.0, 2.0], [3.0, -1.0]]), b1=np.array([0.5, 1.0]), w2=np.array([2.0, -1.0]), b2=0.25)

    recovered = recover_relation(weights)

    np.testing.assert_array_equal(recovered.slope, [2.0 * 1.0 - 2.0, 2.0 * 3.0 + 1.0])
    assert recovered.intercept == 2.0 * 0.5 - 1.0 + 0.25


def test_local_residuals_are_each_rows_largest_slope_miss_and_its_intercept_miss():
    network = LocalMaps(slope=np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]]), intercept=np.array([0.5, 0.5, 0.0]))
    target = LocalMaps(slope=np.array([[1.0, 2.0005], [1.1, 1.7], [0.0, 0.0]]), intercept=np.array([0.5, 0.4, 0.002]))

    residuals = local_residuals(network, target)

    np.testing.assert_allclose(residuals.slope, [0.0005, 0.3, 0.0])
    np.testing.assert_allclose(residuals.intercept, [0.0, 0.1, 0.002])
    assert residuals.share_within(1e-3) == pytest.approx(1 / 3)  # the third row's intercept misses
    assert residuals.share_within(1e-2) == pytest.approx(2 / 3)


def test_formulas_use_the_posts_format(weighted):
    assert format_formula(weighted, Space.linear) == "f(X) = 1.45*x1 + 0.05*x2 + -0.84*x3 + -0.38*x4 + 0.19*x5 + -0.85"
    ones = LinearRelation(np.ones(3), -0.0001)
    assert format_formula(ones, Space.linear) == "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + -0.0"
    assert format_formula(ones, Space.log) == "log f(X) = 1.0*log(x1) + 1.0*log(x2) + 1.0*log(x3) + -0.0"
    assert format_power_formula(LinearRelation(np.array([1.0, 0.5]), 0.25)) == "f(X) = e^0.25 * x1^1.0 * x2^0.5"
