"""The targets: every one is linear in the space it is trained in, so a perfect network's weights must
recover its slope and intercept exactly. A target is a config file (dataset, space, coefficient rule);
only a new coefficient rule needs a member of config.Coefficients and an entry in COEFFICIENT_RULES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.config import Coefficients, Space, TargetConfig
from pipeline.core.draws import DrawnCoefficients, Split
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class LinearRelation:
    """f(z) = z·slope + intercept, with z the inputs in the target's space."""

    slope: np.ndarray
    intercept: float


CoefficientRule = Callable[[int, DrawnCoefficients], LinearRelation]

COEFFICIENT_RULES: dict[Coefficients, CoefficientRule] = {
    Coefficients.ones: lambda x_size, drawn: LinearRelation(slope=np.ones(x_size), intercept=0.0),
    Coefficients.drawn: lambda x_size, drawn: LinearRelation(slope=drawn.slope, intercept=drawn.intercept),
    Coefficients.mean: lambda x_size, drawn: LinearRelation(slope=np.full(x_size, 1.0 / x_size), intercept=0.0),
}


def expected_relation(rule: Coefficients, x_size: int, drawn: DrawnCoefficients) -> LinearRelation:
    return COEFFICIENT_RULES[rule](x_size, drawn)


def to_target_space(x: np.ndarray, space: Space) -> np.ndarray:
    """The network's inputs: x itself, or log x for a log-space target."""
    if space is Space.log:
        if np.any(x <= 0):
            raise ConfigError(
                f"a log-space target needs positive inputs, but {np.count_nonzero(x <= 0)} values are <= 0 "
                f"(min {x.min():.3g}): use target.dataset=gamma with a data.gamma.shape that keeps values above 0"
            )
        return np.log(x)
    return x


def from_target_space(y: np.ndarray, space: Space) -> np.ndarray:
    """Back to the original scale, where the post scores the product."""
    return np.exp(y) if space is Space.log else y


def target_values(z: np.ndarray, relation: LinearRelation) -> np.ndarray:
    """The exact target in its own space, for inputs already in that space."""
    return z @ relation.slope + relation.intercept


@dataclass(frozen=True)
class TargetProblem:
    """What a network is trained and scored on: inputs in the target's space and the exact answer."""

    z_train: np.ndarray
    z_test: np.ndarray
    y_train: np.ndarray
    relation: LinearRelation
    space: Space


def make_problem(x_train: np.ndarray, x_test: np.ndarray, relation: LinearRelation, space: Space) -> TargetProblem:
    z_train = to_target_space(x_train, space)
    return TargetProblem(
        z_train=z_train,
        z_test=to_target_space(x_test, space),
        y_train=target_values(z_train, relation),
        relation=relation,
        space=space,
    )


def target_problem(target: TargetConfig, split: Split, drawn: DrawnCoefficients) -> TargetProblem:
    """A configured target's problem on its dataset's split: what both doors train and score."""
    relation = expected_relation(target.coefficients, split.x_train.shape[1], drawn)
    return make_problem(split.x_train, split.x_test, relation, target.space)
