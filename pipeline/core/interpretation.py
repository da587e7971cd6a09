"""The numbers behind the pictures of how a network computes: where its hidden units sit against their
threshold on the training rows, how the map it draws moves towards the target's m and c over the epochs,
and what it predicts on the test rows where no unit is on.

The post's network represents z·m + c only where b1 + z·W1 > 0, and whether that holds "depends on the
distribution of X": these arrays show how much of the data it holds on, and what the network does elsewhere
(with ReLUs, the constant b2). Pure numpy; pipeline.files.figures draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import Function, ModelConfig
from pipeline.core.regions import largest_active_map, units_on
from pipeline.core.targets import LinearRelation, TargetProblem, from_target_space
from pipeline.core.weights import NetworkWeights, WeightStack, forward, hidden_preactivation, off_slope


@dataclass(frozen=True)
class Preactivations:
    """b1 + z·W1 of every hidden unit on the training rows, and the share of rows where each unit is off
    (at or below zero; never, for a linear unit, which has no threshold)."""

    values: np.ndarray  # (rows, width)
    off_share: np.ndarray  # (width,)

    @property
    def off_rows(self) -> np.ndarray:
        """(width,): how many training rows each unit is off on; printed beside the share, which rounds."""
        return np.rint(self.off_share * len(self.values)).astype(int)


def preactivations(weights: NetworkWeights, problem: TargetProblem, model: ModelConfig) -> Preactivations:
    values = hidden_preactivation(weights, problem.z_train)
    off = ~units_on(weights, problem.z_train, off_slope(model))
    return Preactivations(values=values, off_share=off.mean(axis=0))


@dataclass(frozen=True)
class RelationHistory:
    """The affine map the network draws after each epoch (the largest test region with a unit on, as the
    evaluation reads it), against the target's m and c: how the post's relations come to hold."""

    slope: np.ndarray  # (epochs, x_size): recovered m
    intercept: np.ndarray  # (epochs,): recovered c
    expected: LinearRelation
    m_residual: np.ndarray  # (epochs,): max_i |m_hat_i - m_i|
    c_residual: np.ndarray  # (epochs,): |c_hat - c|

    @property
    def epochs(self) -> np.ndarray:
        """1, 2, ...: epoch k's weights are those after k passes, as the loss history counts them."""
        return np.arange(1, len(self.intercept) + 1)


def _width_one_maps(trajectory: WeightStack, z: np.ndarray, slope_below_zero: float) -> tuple[np.ndarray, np.ndarray]:
    """Every epoch's largest active map of a one-unit network: w2*W1 and w2*b1 + b2 where the unit is on for
    some row, its off branch (slope_below_zero times those, plus b2; the constant b2 for a ReLU) where it is on
    for none. Whether it is on is units_on's verdict epoch by epoch (one row's worth of memory, not epochs x
    rows); the products keep find_regions' order, so every epoch matches it exactly."""
    on_somewhere = np.array([units_on(weights, z, slope_below_zero).any() for weights in trajectory])
    unit_slope = np.where(on_somewhere, 1.0, slope_below_zero) * trajectory.w2[:, 0]  # (epochs,)
    return unit_slope[:, None] * trajectory.W1[:, :, 0], unit_slope * trajectory.b1[:, 0] + trajectory.b2


def _region_maps(trajectory: WeightStack, z: np.ndarray, slope_below_zero: float) -> tuple[np.ndarray, np.ndarray]:
    """Every epoch's largest active map of a wider network: its regions read epoch by epoch."""
    maps = [largest_active_map(weights, z, slope_below_zero) for weights in trajectory]
    return np.stack([m.slope for m in maps]), np.array([m.intercept for m in maps])


def relation_history(trajectory: WeightStack, problem: TargetProblem, model: ModelConfig) -> RelationHistory | None:
    """Read on the test rows, as the evaluation reads the learned weights: its last epoch is the evaluation's
    recovered m and c. None for a target without one m and c everywhere (the evaluation has none either)."""
    if problem.function.kind is not Function.affine or problem.relation is None:
        return None
    slope_below_zero = off_slope(model)
    read = _width_one_maps if trajectory.W1.shape[2] == 1 else _region_maps
    slope, intercept = read(trajectory, problem.z_test, slope_below_zero)
    expected = problem.relation
    return RelationHistory(
        slope=slope,
        intercept=intercept,
        expected=expected,
        m_residual=np.max(np.abs(slope - expected.slope), axis=1),
        c_residual=np.abs(intercept - expected.intercept),
    )


@dataclass(frozen=True)
class Predictions:
    """The network on the test rows, on the original scale where the post scores it, and how many of its
    units are on at each row: where none is, a ReLU network outputs its constant b2 whatever the input."""

    true: np.ndarray  # (rows,)
    predicted: np.ndarray  # (rows,)
    units_on: np.ndarray  # (rows,): count of hidden units on

    @property
    def no_unit_on(self) -> np.ndarray:
        return self.units_on == 0


def predictions(weights: NetworkWeights, problem: TargetProblem, model: ModelConfig) -> Predictions:
    slope_below_zero = off_slope(model)
    z = problem.z_test
    with np.errstate(over="ignore"):  # a far-off network's exp overflows to inf, as in its evaluation
        predicted = from_target_space(forward(weights, z, slope_below_zero), problem.space)
    return Predictions(
        true=from_target_space(problem.function.values(z), problem.space),
        predicted=predicted,
        units_on=units_on(weights, z, slope_below_zero).sum(axis=1),
    )
