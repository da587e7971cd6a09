"""The post's random draws: one legacy NumPy stream, drawn in the post's order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import DataConfig, Dataset


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    x_test: np.ndarray


@dataclass(frozen=True)
class DrawnCoefficients:
    """The weighted-sum target's `m` and `c`, drawn from the same stream as the data, as the post does."""

    slope: np.ndarray
    intercept: float


@dataclass(frozen=True)
class PostDraws:
    splits: dict[Dataset, Split]
    coefficients: DrawnCoefficients


def draw_post_stream(data: DataConfig) -> PostDraws:
    """Draw everything the post draws, in its order, so seed 42 gives the post's numbers.

    `RandomState(seed)` is the stream `np.random.seed(seed)` drives, without touching global state.
    Order: Gaussian train, Gaussian test, m, c, gamma train, gamma test.
    """
    rng = np.random.RandomState(data.seed)
    normal, gamma = data.gaussian, data.gamma
    gaussian_split = Split(
        x_train=rng.normal(normal.loc, normal.scale, (data.n_train, data.x_size)),
        x_test=rng.normal(normal.loc, normal.scale, (data.n_test, data.x_size)),
    )
    slope = rng.normal(0, 1, data.x_size)
    intercept = float(rng.normal(0, 1, 1).flatten()[0])
    gamma_split = Split(
        x_train=rng.gamma(gamma.shape, gamma.scale, (data.n_train, data.x_size)),
        x_test=rng.gamma(gamma.shape, gamma.scale, (data.n_test, data.x_size)),
    )
    return PostDraws(
        splits={Dataset.gaussian: gaussian_split, Dataset.gamma: gamma_split},
        coefficients=DrawnCoefficients(slope=slope, intercept=intercept),
    )
