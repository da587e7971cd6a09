"""The targets: their values, their local slope and intercept row by row, and their formulas in the post's style."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from pipeline.config import CONF_DIR, Coefficients, Function, Space
from pipeline.core.draws import DrawnCoefficients, draw_post_stream
from pipeline.core.evaluation import evaluate_network
from pipeline.core.relations import exact_weights_for
from pipeline.core.targets import COEFFICIENT_RULES, FUNCTIONS, expected_relation, target_problem
from pipeline.core.weights import NetworkWeights
from pipeline.errors import ConfigError

DRAWN = DrawnCoefficients(slope=np.array([0.5, -1.0, 2.0]), intercept=0.3)


def test_each_coefficient_rule_gives_the_slope_and_intercept_it_names():
    ones = expected_relation(Coefficients.ones, 3, DRAWN)
    drawn = expected_relation(Coefficients.drawn, 3, DRAWN)
    mean = expected_relation(Coefficients.mean, 4, DRAWN)
    np.testing.assert_array_equal(ones.slope, [1, 1, 1])
    assert ones.intercept == 0.0
    np.testing.assert_array_equal(drawn.slope, DRAWN.slope)
    assert drawn.intercept == 0.3
    np.testing.assert_array_equal(mean.slope, [0.25] * 4)


def test_every_coefficient_rule_and_every_function_of_the_config_has_its_entry():
    assert set(COEFFICIENT_RULES) == set(Coefficients)
    assert set(FUNCTIONS) == set(Function)


def test_sum_target_is_the_row_sum(problem_of):
    x = np.random.default_rng(1).normal(size=(50, 3))
    problem = problem_of(Function.affine, x, x[:10])
    np.testing.assert_allclose(problem.y_train, x.sum(axis=1))


def test_weighted_sum_target_is_the_posts_formula(problem_of):
    x = np.random.default_rng(2).normal(size=(50, 3))
    problem = problem_of(Function.affine, x, x[:10], drawn=DRAWN)
    np.testing.assert_allclose(problem.y_train, (x * DRAWN.slope).sum(axis=1) + DRAWN.intercept)


def test_product_target_trains_on_logs_of_the_product(problem_of):
    x = np.random.default_rng(3).gamma(1, 1, size=(50, 3))
    problem = problem_of(Function.affine, x, x[:10], space=Space.log)
    np.testing.assert_allclose(problem.z_train, np.log(x))
    np.testing.assert_allclose(problem.y_train, np.log(x.prod(axis=1)))


def test_product_target_rejects_nonpositive_inputs_with_a_config_error(problem_of):
    x = np.array([[1.0, 2.0], [0.5, 0.0]])
    with pytest.raises(ConfigError, match=r"1 values are <= 0 .*use target\.dataset=gamma"):
        problem_of(Function.affine, x, x, space=Space.log)


Z = np.array(
    [[1.0, 2.0, -5.0], [-3.0, 1.0, 9.0], [0.5, -0.5, 0.0], [-1.0, -4.0, 2.0]]
)  # with DRAWN, z·m + c = -11.2, 15.8, 1.05, 7.8


def test_relu_of_affine_is_the_affine_map_where_it_is_positive_and_zero_elsewhere(problem_of):
    function = problem_of(Function.relu_of_affine, Z, Z, drawn=DRAWN).function
    maps = function.local_maps(Z)

    np.testing.assert_allclose(function.values(Z), [0.0, 15.8, 1.05, 7.8])
    np.testing.assert_array_equal(maps.slope, [[0, 0, 0], DRAWN.slope, DRAWN.slope, DRAWN.slope])
    np.testing.assert_array_equal(maps.intercept, [0.0, 0.3, 0.3, 0.3])


def test_abs_of_affine_is_the_affine_map_where_it_is_positive_and_its_negative_elsewhere(problem_of):
    function = problem_of(Function.abs_of_affine, Z, Z, drawn=DRAWN).function
    maps = function.local_maps(Z)

    np.testing.assert_allclose(function.values(Z), [11.2, 15.8, 1.05, 7.8])
    np.testing.assert_array_equal(maps.slope, [-DRAWN.slope, DRAWN.slope, DRAWN.slope, DRAWN.slope])
    np.testing.assert_array_equal(maps.intercept, [-0.3, 0.3, 0.3, 0.3])


def test_max_of_inputs_takes_the_first_k_inputs_and_the_slope_of_the_largest(problem_of):
    function = problem_of(Function.max_of_inputs, Z, Z, inputs=2).function
    maps = function.local_maps(Z)

    np.testing.assert_array_equal(function.values(Z), [2.0, 1.0, 0.5, -1.0])
    np.testing.assert_array_equal(maps.slope, [[0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(maps.intercept, [0, 0, 0, 0])
    assert function.relation is None


def test_product_of_inputs_has_values_but_no_local_map(problem_of):
    function = problem_of(Function.product_of_inputs, Z, Z, inputs=2).function
    every_input = problem_of(Function.product_of_inputs, Z, Z).function

    np.testing.assert_array_equal(function.values(Z), [2.0, -3.0, -0.25, 4.0])
    np.testing.assert_array_equal(every_input.values(Z), [-10.0, -27.0, -0.0, 8.0])
    assert function.local_maps(Z) is None and function.relation is None


@pytest.mark.parametrize("function", [f for f in Function if f.piecewise_affine])
def test_every_piecewise_affine_target_is_its_local_map_on_every_row(problem_of, function):
    z = np.random.default_rng(4).normal(size=(500, 3))
    target = problem_of(function, z, z, drawn=DRAWN).function

    maps = target.local_maps(z)

    np.testing.assert_allclose((z * maps.slope).sum(axis=1) + maps.intercept, target.values(z), atol=1e-12)


CONFIGURED_TARGETS = sorted(path.stem for path in (CONF_DIR / "target").glob("*.yaml"))
AFFINE_TARGETS = [
    name
    for name in CONFIGURED_TARGETS
    if yaml.safe_load((CONF_DIR / "target" / f"{name}.yaml").read_text())["function"] == "affine"
]


def configured_problem(run_config, name: str, *overrides: str):
    run = run_config(f"target={name}", "data.n_train=400", "data.n_test=100", *overrides)
    draws = draw_post_stream(run.data)
    return target_problem(run.target, draws.splits[run.target.dataset], draws.coefficients), run


@pytest.mark.parametrize("name", ["sum", "weighted_sum", "product"])
def test_the_posts_targets_are_the_posts_values_to_the_last_bit(run_config, name):
    problem, run = configured_problem(run_config, name)
    draws = draw_post_stream(run.data)
    x = draws.splits[run.target.dataset].x_train
    relation = expected_relation(run.target.coefficients, x.shape[1], draws.coefficients)
    z = np.log(x) if run.target.space is Space.log else x

    np.testing.assert_array_equal(problem.y_train, z @ relation.slope + relation.intercept)


@pytest.mark.parametrize(
    "name, formula",
    [
        ("sum", "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0"),
        ("product", "log f(X) = 1.0*log(x1) + 1.0*log(x2) + 1.0*log(x3) + 1.0*log(x4) + 1.0*log(x5) + 0.0"),
        ("relu_sum", "f(X) = max(0, 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0)"),
        ("abs_sum", "f(X) = |1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0|"),
        ("max2", "f(X) = max(x1, x2)"),
        ("product2", "f(X) = x1 * x2"),
    ],
)
def test_each_configured_target_writes_its_formula_in_the_posts_style(run_config, name, formula):
    problem, _ = configured_problem(run_config, name)
    assert problem.function.formula(problem.space) == formula


@pytest.mark.parametrize("name", CONFIGURED_TARGETS)
def test_every_configured_target_carries_its_name_and_exact_width(run_config, name):
    problem, run = configured_problem(run_config, name)
    assert (problem.name, problem.exact_width, problem.function.kind) == (name, run.target.exact_width, run.target.function)


@pytest.mark.parametrize("name", AFFINE_TARGETS)
def test_every_configured_affine_target_is_represented_exactly_by_the_posts_weights(run_config, model_config, eval_config, name):
    problem, _ = configured_problem(run_config, name)

    weights = exact_weights_for(problem.relation, w2=3.0, b1=40.0)
    evaluation = evaluate_network(weights, problem, model=model_config(), eval_=eval_config)

    assert evaluation.relations_hold and evaluation.m_residual < 1e-12 and evaluation.c_residual < 1e-12
    assert evaluation.test_mse < 1e-18 and evaluation.local_relation_share == 1.0
    assert evaluation.relu_active_fraction == 1.0 and evaluation.relu_active_fraction_test == 1.0


@pytest.mark.parametrize("name", AFFINE_TARGETS)
@pytest.mark.parametrize("field", ["W1", "b1", "w2", "b2"])
def test_every_configured_affine_target_rejects_perturbed_weights(run_config, model_config, eval_config, name, field):
    problem, _ = configured_problem(run_config, name)
    exact = exact_weights_for(problem.relation, w2=3.0, b1=40.0)
    perturbed = NetworkWeights(**{**exact.__dict__, field: getattr(exact, field) + 0.01})

    evaluation = evaluate_network(perturbed, problem, model=model_config(), eval_=eval_config)

    assert not evaluation.relations_hold and evaluation.test_mse > 0 and evaluation.local_relation_share == 0.0


def test_product_is_scored_on_the_original_scale(problem_of, model_config, eval_config):
    x = np.array([[2.0, 3.0], [1.0, 4.0]])
    problem = problem_of(Function.affine, x, x, space=Space.log)
    off_by_log2 = NetworkWeights(W1=np.array([1.0, 1.0]), b1=10.0, w2=1.0, b2=-10.0 + np.log(2.0))

    evaluation = evaluate_network(off_by_log2, problem, model=model_config(), eval_=eval_config)

    # predictions are 2x the product (12 and 8 instead of 6 and 4): MSE (36 + 16) / 2 on the original scale
    assert evaluation.test_mse == pytest.approx(26.0)
    assert evaluation.c_residual == pytest.approx(np.log(2.0))
    assert evaluation.recovered_formula_original == "f(X) = e^0.69 * x1^1.0 * x2^1.0"
