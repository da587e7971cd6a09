"""The post's random draws (one legacy NumPy stream, in the post's order) and their .npz files."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.files import atomic_path, read_json, write_json


class Dataset(enum.Enum):
    """The two input distributions of the post; gamma's inputs are positive, so logs are defined."""

    gaussian = "gaussian"
    gamma = "gamma"

    @property
    def positive(self) -> bool:
        return self is Dataset.gamma


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


def draw_post_stream(
    seed: int,
    x_size: int,
    n_train: int,
    n_test: int,
    gaussian_loc: float = 0.0,
    gaussian_scale: float = 1.0,
    gamma_shape: float = 1.0,
    gamma_scale: float = 1.0,
) -> PostDraws:
    """Draw everything the post draws, in its order, so seed 42 gives the post's numbers.

    `RandomState(seed)` is the stream `np.random.seed(seed)` drives, without touching global state.
    Order: Gaussian train, Gaussian test, m, c, gamma train, gamma test.
    """
    rng = np.random.RandomState(seed)
    gaussian = Split(
        x_train=rng.normal(gaussian_loc, gaussian_scale, (n_train, x_size)),
        x_test=rng.normal(gaussian_loc, gaussian_scale, (n_test, x_size)),
    )
    slope = rng.normal(0, 1, x_size)
    intercept = float(rng.normal(0, 1, 1).flatten()[0])
    gamma = Split(
        x_train=rng.gamma(gamma_shape, gamma_scale, (n_train, x_size)),
        x_test=rng.gamma(gamma_shape, gamma_scale, (n_test, x_size)),
    )
    return PostDraws(
        splits={Dataset.gaussian: gaussian, Dataset.gamma: gamma},
        coefficients=DrawnCoefficients(slope=slope, intercept=intercept),
    )


def save_split(path: Path, split: Split) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, x_train=split.x_train, x_test=split.x_test)


def load_split(path: Path) -> Split:
    with np.load(path, allow_pickle=False) as archive:
        return Split(x_train=archive["x_train"], x_test=archive["x_test"])


def save_coefficients(path: Path, coefficients: DrawnCoefficients) -> None:
    write_json(path, {"slope": coefficients.slope.tolist(), "intercept": coefficients.intercept})


def load_coefficients(path: Path) -> DrawnCoefficients:
    payload = read_json(path)
    return DrawnCoefficients(slope=np.asarray(payload["slope"], dtype=np.float64), intercept=float(payload["intercept"]))


def dataset_path(data_dir: Path, dataset: Dataset) -> Path:
    return Path(data_dir) / f"{dataset.value}.npz"


def coefficients_path(data_dir: Path) -> Path:
    return Path(data_dir) / "drawn_coefficients.json"
