"""The targets: each linear in its own space, so the post's construction represents it exactly."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import CONF_DIR, Coefficients, Space
from pipeline.core.draws import DrawnCoefficients, draw_post_stream
from pipeline.core.evaluation import evaluate_network
from pipeline.core.relations import exact_weights_for
from pipeline.core.targets import COEFFICIENT_RULES, expected_relation, make_problem, target_problem
from pipeline.core.weights import NetworkWeights
from pipeline.errors import ConfigError

DRAWN = DrawnCoefficients(slope=np.array([0.5, -1.0, 2.0]), intercept=0.3)


def test_each_coefficient_rule_gives_the_slope_and_intercept_it_names():
    assert set(COEFFICIENT_RULES) >= {Coefficients.ones, Coefficients.drawn}
    ones = expected_relation(Coefficients.ones, 3, DRAWN)
    drawn = expected_relation(Coefficients.drawn, 3, DRAWN)
    mean = expected_relation(Coefficients.mean, 4, DRAWN)
    np.testing.assert_array_equal(ones.slope, [1, 1, 1])
    assert ones.intercept == 0.0
    np.testing.assert_array_equal(drawn.slope, DRAWN.slope)
    assert drawn.intercept == 0.3
    np.testing.assert_array_equal(mean.slope, [0.25] * 4)


def test_every_coefficient_rule_of_the_config_has_its_function():
    assert set(COEFFICIENT_RULES) == set(Coefficients)


def test_sum_target_is_the_row_sum():
    x = np.random.default_rng(1).normal(size=(50, 3))
    problem = make_problem(x, x[:10], expected_relation(Coefficients.ones, 3, DRAWN), Space.linear)
    np.testing.assert_allclose(problem.y_train, x.sum(axis=1))


def test_weighted_sum_target_is_the_posts_formula():
    x = np.random.default_rng(2).normal(size=(50, 3))
    problem = make_problem(x, x[:10], expected_relation(Coefficients.drawn, 3, DRAWN), Space.linear)
    np.testing.assert_allclose(problem.y_train, (x * DRAWN.slope).sum(axis=1) + DRAWN.intercept)


def test_product_target_trains_on_logs_of_the_product():
    x = np.random.default_rng(3).gamma(1, 1, size=(50, 3))
    problem = make_problem(x, x[:10], expected_relation(Coefficients.ones, 3, DRAWN), Space.log)
    np.testing.assert_allclose(problem.z_train, np.log(x))
    np.testing.assert_allclose(problem.y_train, np.log(x.prod(axis=1)))


def test_product_target_rejects_nonpositive_inputs_with_a_config_error():
    x = np.array([[1.0, 2.0], [0.5, 0.0]])
    with pytest.raises(ConfigError, match=r"1 values are <= 0 .*use target\.dataset=gamma"):
        make_problem(x, x, expected_relation(Coefficients.ones, 2, DRAWN), Space.log)


CONFIGURED_TARGETS = sorted(path.stem for path in (CONF_DIR / "target").glob("*.yaml"))


def configured_problem(run_config, name: str):
    run = run_config(f"target={name}", "data.n_train=400", "data.n_test=100")
    draws = draw_post_stream(run.data)
    return target_problem(run.target, draws.splits[run.target.dataset], draws.coefficients)


@pytest.mark.parametrize("name", CONFIGURED_TARGETS)
def test_every_configured_target_is_represented_exactly_by_the_posts_weights(run_config, name):
    problem = configured_problem(run_config, name)

    evaluation = evaluate_network(exact_weights_for(problem.relation, w2=3.0, b1=40.0), problem, atol=1e-3)

    assert evaluation.relations_hold and evaluation.m_residual < 1e-12 and evaluation.c_residual < 1e-12
    assert evaluation.test_mse < 1e-18
    assert evaluation.relu_active_fraction == 1.0 and evaluation.relu_active_fraction_test == 1.0


@pytest.mark.parametrize("name", CONFIGURED_TARGETS)
@pytest.mark.parametrize("field", ["W1", "b1", "w2", "b2"])
def test_every_configured_target_rejects_perturbed_weights(run_config, name, field):
    problem = configured_problem(run_config, name)
    exact = exact_weights_for(problem.relation, w2=3.0, b1=40.0)
    perturbed = NetworkWeights(**{**exact.__dict__, field: getattr(exact, field) + 0.01})

    evaluation = evaluate_network(perturbed, problem, atol=1e-3)

    assert not evaluation.relations_hold and evaluation.test_mse > 0


def test_product_is_scored_on_the_original_scale():
    x = np.array([[2.0, 3.0], [1.0, 4.0]])
    relation = expected_relation(Coefficients.ones, 2, DRAWN)
    problem = make_problem(x, x, relation, Space.log)
    off_by_log2 = NetworkWeights(W1=np.array([1.0, 1.0]), b1=10.0, w2=1.0, b2=-10.0 + np.log(2.0))

    evaluation = evaluate_network(off_by_log2, problem, atol=1e-3)

    # predictions are 2x the product (12 and 8 instead of 6 and 4): MSE (36 + 16) / 2 on the original scale
    assert evaluation.test_mse == pytest.approx(26.0)
    assert evaluation.c_residual == pytest.approx(np.log(2.0))
    assert evaluation.recovered_formula_original == "f(X) = e^0.69 * x1^1.0 * x2^1.0"
