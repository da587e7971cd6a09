from __future__ import annotations

import numpy as np
import pytest

from pipeline.data import (
    Dataset,
    coefficients_path,
    dataset_path,
    draw_post_stream,
    load_coefficients,
    load_split,
    save_coefficients,
    save_split,
)
from pipeline.relations import format_formula
from pipeline.targets import LinearRelation, Space


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

    draws = draw_post_stream(42, x_size, n_train, n_test)

    got = [
        draws.splits[Dataset.gaussian].x_train,
        draws.splits[Dataset.gaussian].x_test,
        draws.coefficients.slope,
        draws.coefficients.intercept,
        draws.splits[Dataset.gamma].x_train,
        draws.splits[Dataset.gamma].x_test,
    ]
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)


def test_default_sizes_draw_the_posts_weighted_sum_coefficients():
    draws = draw_post_stream(42, 5, 100_000, 10_000)
    relation = LinearRelation(draws.coefficients.slope, draws.coefficients.intercept)

    assert format_formula(relation, Space.linear) == (
        "f(X) = 1.45*x1 + 0.05*x2 + -0.84*x3 + -0.38*x4 + 0.19*x5 + -0.85"
    )


def test_draws_do_not_touch_numpys_global_stream():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    draw_post_stream(42, 3, 10, 5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_gamma_inputs_are_positive_and_gaussian_have_negatives():
    draws = draw_post_stream(42, 5, 1000, 100)
    assert (draws.splits[Dataset.gamma].x_train > 0).all()
    assert (draws.splits[Dataset.gaussian].x_train < 0).any()
    assert Dataset.gamma.positive and not Dataset.gaussian.positive


def test_split_and_coefficients_round_trip_through_their_files(tmp_path):
    draws = draw_post_stream(1, 4, 20, 6)
    split = draws.splits[Dataset.gamma]
    save_split(dataset_path(tmp_path, Dataset.gamma), split)
    save_coefficients(coefficients_path(tmp_path), draws.coefficients)

    loaded = load_split(dataset_path(tmp_path, Dataset.gamma))
    coefficients = load_coefficients(coefficients_path(tmp_path))

    np.testing.assert_array_equal(loaded.x_train, split.x_train)
    np.testing.assert_array_equal(loaded.x_test, split.x_test)
    np.testing.assert_array_equal(coefficients.slope, draws.coefficients.slope)
    assert coefficients.intercept == draws.coefficients.intercept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn_coefficients.json", "gamma.npz"]


def test_dataset_files_are_read_without_pickle(tmp_path):
    path = tmp_path / "gaussian.npz"
    np.savez(path, x_train=np.array([{"evil": 1}], dtype=object), x_test=np.zeros((1, 1)))

    with pytest.raises(ValueError, match="allow_pickle"):
        load_split(path)

