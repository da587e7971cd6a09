"""The post's draws: one legacy NumPy stream, in the post's order, that leaves the global stream alone."""

from __future__ import annotations

import numpy as np

from pipeline.config import Dataset, Space
from pipeline.core.draws import draw_post_stream
from pipeline.core.relations import format_formula
from pipeline.core.targets import LinearRelation
from tests.helpers import small_data


def test_draws_equal_the_posts_global_legacy_stream_in_its_order():
    n_train, n_test, x_size = 300, 50, 5
    np.random.seed(42)
    expected = [
        np.random.normal(0, 1, (n_train, x_size)),
        np.random.normal(0, 1, (n_test, x_size)),
        np.random.normal(0, 1, x_size),
        np.random.normal(0, 1, 1).flatten()[0],
        np.random.gamma(1, 1, (n_train, x_size)),
        np.random.gamma(1, 1, (n_test, x_size)),
    ]

    draws = draw_post_stream(small_data(n_train, n_test, seed=42, x_size=x_size))

    got = [
        draws.splits[Dataset.gaussian].x_train,
        draws.splits[Dataset.gaussian].x_test,
        draws.coefficients.slope,
        draws.coefficients.intercept,
        draws.splits[Dataset.gamma].x_train,
        draws.splits[Dataset.gamma].x_test,
    ]
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(have, want)


def test_default_sizes_draw_the_posts_weighted_sum_coefficients():
    draws = draw_post_stream(small_data(100_000, 10_000, seed=42, x_size=5))
    relation = LinearRelation(draws.coefficients.slope, draws.coefficients.intercept)

    assert format_formula(relation, Space.linear) == ("f(X) = 1.45*x1 + 0.05*x2 + -0.84*x3 + -0.38*x4 + 0.19*x5 + -0.85")


def test_draws_do_not_touch_numpys_global_stream():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    draw_post_stream(small_data(10, 5, seed=42, x_size=3))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_gamma_inputs_are_positive_and_gaussian_have_negatives():
    draws = draw_post_stream(small_data(1000, 100, seed=42, x_size=5))
    assert (draws.splits[Dataset.gamma].x_train > 0).all()
    assert (draws.splits[Dataset.gaussian].x_train < 0).any()
    assert Dataset.gamma.positive and not Dataset.gaussian.positive
