"""The network as numbers, free of TensorFlow: its weights in the post's names, its output computed from them,
and the record of its training.

A network of the family is f(z) = sum_j w2_j * act(z·W1[:, j] + b1_j) + b2, where every activation is the
identity above zero and a line of slope `off_slope` below it (relu 0, leaky_relu its negative slope, linear
1): piecewise affine, so its weights say exactly what it computes (core.regions).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.config import Activation, ModelConfig


def off_slope(model: ModelConfig) -> float:
    """The activation's slope below zero."""
    return {Activation.relu: 0.0, Activation.leaky_relu: model.negative_slope, Activation.linear: 1.0}[model.activation]


@dataclass(frozen=True)
class NetworkWeights:
    """The post's names for any width: W1 (x_size, width), b1 and w2 (width,), b2 a number.

    A 1-D W1 with numbers for b1 and w2 is the post's width-1 network, as the post writes it.
    """

    W1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    def __post_init__(self) -> None:
        kernel = np.asarray(self.W1, dtype=np.float64)
        object.__setattr__(self, "W1", kernel.reshape(-1, 1) if kernel.ndim == 1 else kernel)
        object.__setattr__(self, "b1", np.asarray(self.b1, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "w2", np.asarray(self.w2, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "b2", float(self.b2))
        if not (self.W1.shape[1] == self.b1.size == self.w2.size):
            raise ValueError(f"W1 {self.W1.shape}, b1 {self.b1.shape} and w2 {self.w2.shape} disagree on the width")

    @property
    def width(self) -> int:
        return int(self.b1.size)

    def to_dict(self) -> dict[str, Any]:
        """Width 1 in the post's form (W1 a list, b1 and w2 numbers); wider, W1 one row per input."""
        if self.width == 1:
            return {"W1": [float(v) for v in self.W1[:, 0]], "b1": float(self.b1[0]), "w2": float(self.w2[0]), "b2": self.b2}
        return {"W1": self.W1.tolist(), "b1": self.b1.tolist(), "w2": self.w2.tolist(), "b2": self.b2}

    def finite(self) -> bool:
        return all(bool(np.all(np.isfinite(v))) for v in (self.W1, self.b1, self.w2)) and math.isfinite(self.b2)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> NetworkWeights:
        return cls(W1=np.asarray(payload["W1"]), b1=payload["b1"], w2=payload["w2"], b2=payload["b2"])


def hidden_preactivation(weights: NetworkWeights, z: np.ndarray) -> np.ndarray:
    """z·W1 + b1, one column per hidden unit: (rows, width)."""
    return z @ weights.W1 + weights.b1


def activate(preactivation: np.ndarray, slope_below_zero: float) -> np.ndarray:
    return np.where(preactivation > 0, preactivation, slope_below_zero * preactivation)


def forward(weights: NetworkWeights, z: np.ndarray, slope_below_zero: float = 0.0) -> np.ndarray:
    """The network's output, computed from its weights alone (float64); the post's ReLU by default."""
    return activate(hidden_preactivation(weights, z), slope_below_zero) @ weights.w2 + weights.b2


STACKED = ("W1", "b1", "w2", "b2")  # a WeightStack's arrays, in the post's names


@dataclass(frozen=True)
class WeightStack:
    """Weight sets of one width stacked on a first axis: the networks an engine trains together, or one
    network's epochs (its trajectory). W1 (n, x_size, width), b1 and w2 (n, width), b2 (n,); float64."""

    W1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def __len__(self) -> int:
        return len(self.b2)

    def __getitem__(self, index: int) -> NetworkWeights:
        return NetworkWeights(W1=self.W1[index], b1=self.b1[index], w2=self.w2[index], b2=self.b2[index])

    def between(self, start: int, stop: int) -> WeightStack:
        """Weight sets start to stop - 1."""
        return WeightStack(**{name: getattr(self, name)[start:stop] for name in STACKED})

    def __iter__(self) -> Iterator[NetworkWeights]:
        return (self[i] for i in range(len(self)))

    @classmethod
    def of(cls, weights: Sequence[NetworkWeights]) -> WeightStack:
        return cls(**{name: np.stack([np.asarray(getattr(w, name)) for w in weights]) for name in STACKED})

    @classmethod
    def concat(cls, stacks: Sequence[WeightStack]) -> WeightStack:
        if len(stacks) == 1:
            return stacks[0]
        return cls(**{name: np.concatenate([getattr(s, name) for s in stacks]) for name in STACKED})

    @classmethod
    def along(cls, stacks: Sequence[WeightStack], index: int) -> WeightStack:
        """The `index`-th network of every stack: one network's trajectory from the engine's epochs."""
        return cls(**{name: np.stack([getattr(s, name)[index] for s in stacks]) for name in STACKED})

    def hidden_preactivation(self, z: np.ndarray) -> np.ndarray:
        """z·W1 + b1 of every weight set at once: (n, rows, width)."""
        return np.einsum("rd,ndh->nrh", z, self.W1) + self.b1[:, None, :]

    def forward(self, z: np.ndarray, slope_below_zero: float = 0.0) -> np.ndarray:
        """Every weight set's output on the rows of z: (n, rows)."""
        return np.einsum("nrh,nh->nr", activate(self.hidden_preactivation(z), slope_below_zero), self.w2) + self.b2[:, None]


@dataclass(frozen=True)
class TrainingRecord:
    """One network's training: what the files and the MLflow run keep."""

    initial: NetworkWeights
    trajectory: WeightStack  # the weights after every epoch, the last one learned
    loss_history: list[float]  # the mean training loss of each epoch, as model.fit reports it
    seconds: float

    @property
    def learned(self) -> NetworkWeights:
        return self.trajectory[len(self.trajectory) - 1]

    def weights_dict(self) -> dict[str, Any]:
        """Both weight sets in the post's names: what weights.json holds, beside the model and in the run."""
        return {"initial": self.initial.to_dict(), "learned": self.learned.to_dict()}
