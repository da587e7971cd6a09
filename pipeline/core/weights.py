"""The post's network as numbers, free of TensorFlow: its weights in the post's names, its output computed
from them, and the record of its training."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NetworkWeights:
    """The seven numbers of the post's network (for x_size 5), named as in the post."""

    W1: np.ndarray
    b1: float
    w2: float
    b2: float

    def to_dict(self) -> dict[str, Any]:
        return {"W1": [float(v) for v in self.W1], "b1": float(self.b1), "w2": float(self.w2), "b2": float(self.b2)}

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.W1))) and all(math.isfinite(v) for v in (self.b1, self.w2, self.b2))

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> NetworkWeights:
        return cls(
            W1=np.asarray(payload["W1"], dtype=np.float64),
            b1=float(payload["b1"]),
            w2=float(payload["w2"]),
            b2=float(payload["b2"]),
        )


def hidden_preactivation(weights: NetworkWeights, z: np.ndarray) -> np.ndarray:
    return z @ weights.W1 + weights.b1


def forward(weights: NetworkWeights, z: np.ndarray) -> np.ndarray:
    """The network's output, computed from its weights alone (float64)."""
    return weights.w2 * np.maximum(0.0, hidden_preactivation(weights, z)) + weights.b2


@dataclass(frozen=True)
class TrainingRecord:
    """One network's training: what the files and the MLflow run keep."""

    initial: NetworkWeights
    learned: NetworkWeights
    loss_history: list[float]  # the mean training loss of each epoch, as model.fit reports it
    seconds: float

    def weights_dict(self) -> dict[str, Any]:
        """Both weight sets in the post's names: what weights.json holds, beside the model and in the run."""
        return {"initial": self.initial.to_dict(), "learned": self.learned.to_dict()}
