"""The numbers behind the pictures: the share of training rows below the threshold, the recovered m and c of
every epoch (its last the evaluation's), and the test predictions on the original scale with the rows where no
unit is on."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import Activation, Function, Space
from pipeline.core.draws import DrawnCoefficients
from pipeline.core.evaluation import evaluate_network
from pipeline.core.interpretation import preactivations, predictions, relation_history
from pipeline.core.regions import find_regions
from pipeline.core.relations import exact_weights_for
from pipeline.core.targets import LinearRelation
from pipeline.core.weights import NetworkWeights, WeightStack

Z_LINE = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])  # one input, three rows at or below 0
RNG = np.random.default_rng(0)
X_TRAIN, X_TEST = RNG.normal(size=(400, 3)), RNG.normal(size=(300, 3))


def scaled(weights: NetworkWeights, factor: float) -> NetworkWeights:
    """The same network with its first layer scaled and its output bias shifted: off by a known amount."""
    return NetworkWeights(W1=weights.W1 * factor, b1=weights.b1, w2=weights.w2, b2=weights.b2 + (factor - 1.0))


def random_trajectory(epochs: int, width: int, seed: int) -> WeightStack:
    """A made-up training: weights that wander, some epochs with units off on every test row."""
    rng = np.random.default_rng(seed)
    return WeightStack(
        W1=rng.normal(size=(epochs, 3, width)),
        b1=rng.normal(scale=3.0, size=(epochs, width)),
        w2=rng.normal(size=(epochs, width)),
        b2=rng.normal(size=epochs),
    )


def test_the_share_off_counts_the_training_rows_at_or_below_zero(problem_of, model_config):
    problem = problem_of(Function.affine, Z_LINE, Z_LINE)
    weights = NetworkWeights(W1=np.array([[1.0, -1.0, 1.0]]), b1=np.array([0.0, 0.0, 10.0]), w2=np.ones(3), b2=0.0)

    pre = preactivations(weights, problem, model_config(width=3))

    np.testing.assert_array_equal(pre.values, np.column_stack([Z_LINE[:, 0], -Z_LINE[:, 0], Z_LINE[:, 0] + 10.0]))
    np.testing.assert_array_equal(pre.off_share, [3 / 8, 6 / 8, 0.0])
    np.testing.assert_array_equal(pre.off_rows, [3, 6, 0])


def test_a_linear_unit_is_never_off_whatever_the_sign_of_its_preactivation(problem_of, model_config):
    problem = problem_of(Function.affine, Z_LINE, Z_LINE)

    pre = preactivations(NetworkWeights(W1=[1.0], b1=0.0, w2=1.0, b2=0.0), problem, model_config(activation=Activation.linear))

    np.testing.assert_array_equal(pre.off_share, [0.0])


def test_the_relation_history_of_a_training_that_converges_ends_on_the_true_m_and_c(problem_of, model_config):
    problem = problem_of(Function.affine, X_TRAIN, X_TEST)
    exact = exact_weights_for(LinearRelation(np.ones(3), 0.0), w2=2.0, b1=30.0)
    trajectory = WeightStack.of([scaled(exact, factor) for factor in (1.5, 1.1, 1.01, 1.0)])

    history = relation_history(trajectory, problem, model_config())

    assert history is not None
    np.testing.assert_array_equal(history.epochs, [1, 2, 3, 4])
    np.testing.assert_allclose(history.m_residual, [0.5, 0.1, 0.01, 0.0], atol=1e-12)
    np.testing.assert_allclose(history.c_residual, [0.5, 0.1, 0.01, 0.0], atol=1e-12)
    np.testing.assert_allclose(history.slope[-1], np.ones(3), atol=1e-12)
    assert history.expected.intercept == 0.0 and abs(history.intercept[-1]) < 1e-12


def test_an_epoch_with_the_unit_off_on_every_test_row_reads_the_constant_b2(problem_of, model_config):
    problem = problem_of(Function.affine, X_TRAIN, X_TEST)
    dead = NetworkWeights(W1=np.ones(3), b1=-100.0, w2=2.0, b2=0.7)

    history = relation_history(WeightStack.of([dead]), problem, model_config())

    assert history is not None
    np.testing.assert_array_equal(history.slope, [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(history.intercept, [0.7])
    np.testing.assert_array_equal(history.m_residual, [1.0])


@pytest.mark.parametrize("activation", [Activation.relu, Activation.leaky_relu, Activation.linear])
def test_a_one_unit_history_reads_every_epoch_as_its_regions_do(problem_of, model_config, activation):
    """The width-1 history is computed for all epochs at once; it must be the regions' reading of each."""
    problem = problem_of(Function.affine, X_TRAIN, X_TEST)
    model = model_config(activation=activation)
    trajectory = random_trajectory(40, width=1, seed=1)
    slope_below_zero = {Activation.relu: 0.0, Activation.leaky_relu: model.negative_slope, Activation.linear: 1.0}[activation]

    history = relation_history(trajectory, problem, model)

    maps = [find_regions(weights, problem.z_test, slope_below_zero).largest_active.map for weights in trajectory]
    assert history is not None
    assert any(not (w.b1[0] + problem.z_test @ w.W1[:, 0] > 0).any() for w in trajectory)  # some epochs are dead
    np.testing.assert_array_equal(history.slope, np.stack([m.slope for m in maps]))
    np.testing.assert_array_equal(history.intercept, [m.intercept for m in maps])


@pytest.mark.parametrize("width", [1, 3])
def test_the_last_epoch_of_the_history_is_what_the_evaluation_recovers(problem_of, model_config, eval_config, weighted, width):
    x_train, x_test = RNG.normal(size=(400, 5)), RNG.normal(size=(300, 5))
    drawn = DrawnCoefficients(slope=weighted.slope, intercept=weighted.intercept)
    problem = problem_of(Function.affine, x_train, x_test, drawn=drawn)
    model = model_config(width=width)
    rng = np.random.default_rng(2)
    trajectory = WeightStack(
        W1=rng.normal(size=(3, 5, width)), b1=rng.normal(size=(3, width)), w2=rng.normal(size=(3, width)), b2=rng.normal(size=3)
    )

    history = relation_history(trajectory, problem, model)
    evaluation = evaluate_network(trajectory[2], problem, model=model, eval_=eval_config)

    assert history is not None
    assert history.slope[-1].tolist() == evaluation.recovered_m and float(history.intercept[-1]) == evaluation.recovered_c
    assert float(history.m_residual[-1]) == evaluation.m_residual and float(history.c_residual[-1]) == evaluation.c_residual


@pytest.mark.parametrize("function", [Function.relu_of_affine, Function.abs_of_affine, Function.max_of_inputs])
def test_a_target_without_one_m_and_c_everywhere_has_no_relation_history(problem_of, model_config, function):
    problem = problem_of(function, X_TRAIN, X_TEST)

    assert relation_history(random_trajectory(3, width=1, seed=3), problem, model_config()) is None


def test_the_rows_with_no_unit_on_are_marked_and_predicted_as_the_constant_b2(problem_of, model_config):
    problem = problem_of(Function.affine, Z_LINE, Z_LINE)
    weights = NetworkWeights(W1=np.array([[1.0, 1.0]]), b1=np.array([0.0, -2.0]), w2=np.array([1.0, 0.5]), b2=0.25)

    pred = predictions(weights, problem, model_config(width=2))

    np.testing.assert_array_equal(pred.true, Z_LINE[:, 0])
    np.testing.assert_array_equal(pred.units_on, [0, 0, 0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(pred.no_unit_on, [True, True, True, False, False, False, False, False])
    np.testing.assert_array_equal(pred.predicted[pred.no_unit_on], [0.25, 0.25, 0.25])
    np.testing.assert_array_equal(pred.predicted[5:], [0.25 + 3 + 0.5, 0.25 + 4 + 1.0, 0.25 + 5 + 1.5])


def test_a_log_space_targets_predictions_are_on_the_original_scale(problem_of, model_config):
    x = np.random.default_rng(4).gamma(1.0, size=(50, 3))
    problem = problem_of(Function.affine, x, x, space=Space.log)
    weights = exact_weights_for(LinearRelation(np.ones(3), 0.0), w2=1.0, b1=50.0)

    pred = predictions(weights, problem, model_config())

    np.testing.assert_allclose(pred.true, x.prod(axis=1), rtol=1e-12)
    np.testing.assert_allclose(pred.predicted, x.prod(axis=1), rtol=1e-9)
    assert not pred.no_unit_on.any()
