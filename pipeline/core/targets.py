"""The targets: functions with known answers. Every one but the product of inputs is piecewise affine, so on
each row it has a local slope and intercept that a network of ReLUs can match exactly, and the post's affine
targets have one slope and intercept everywhere. A target is a config file (dataset, space, coefficient rule,
function); a new coefficient rule needs a member of config.Coefficients and an entry in COEFFICIENT_RULES, a
new function a member of config.Function and an entry in FUNCTIONS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from pipeline.config import Coefficients, Function, Space, TargetConfig
from pipeline.core.draws import DrawnCoefficients, Split
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class LinearRelation:
    """f(z) = z·slope + intercept, with z the inputs in the target's space."""

    slope: np.ndarray
    intercept: float


@dataclass(frozen=True)
class LocalMaps:
    """A piecewise-affine function read row by row: near row i it is z·slope[i] + intercept[i]."""

    slope: np.ndarray  # (rows, inputs)
    intercept: np.ndarray  # (rows,)


CoefficientRule = Callable[[int, DrawnCoefficients], LinearRelation]

COEFFICIENT_RULES: dict[Coefficients, CoefficientRule] = {
    Coefficients.ones: lambda x_size, drawn: LinearRelation(slope=np.ones(x_size), intercept=0.0),
    Coefficients.drawn: lambda x_size, drawn: LinearRelation(slope=drawn.slope, intercept=drawn.intercept),
    Coefficients.mean: lambda x_size, drawn: LinearRelation(slope=np.full(x_size, 1.0 / x_size), intercept=0.0),
}


def expected_relation(rule: Coefficients, x_size: int, drawn: DrawnCoefficients) -> LinearRelation:
    return COEFFICIENT_RULES[rule](x_size, drawn)


# The post's formulas, e.g. `f(X) = 1.45*x1 + 0.05*x2 + -0.85`: shared by the targets and the recovered maps.


def post_number(value: float) -> str:
    """The post's number format: str(round(x, 2)), so 1.0, -0.85, -0.0."""
    return str(round(float(value), 2))


def input_names(count: int, space: Space) -> list[str]:
    """The inputs as the formulas name them: x1, x2, ... or, in log space, log(x1), log(x2), ..."""
    return [f"log(x{i + 1})" if space is Space.log else f"x{i + 1}" for i in range(count)]


def affine_expression(relation: LinearRelation, space: Space) -> str:
    """`1.45*x1 + 0.05*x2 + -0.85`: every term, zeros included, as the post prints them."""
    names = input_names(len(relation.slope), space)
    terms = [f"{post_number(m)}*{name}" for m, name in zip(relation.slope, names, strict=True)]
    return " + ".join(terms) + f" + {post_number(relation.intercept)}"


def formula_line(expression: str, space: Space) -> str:
    """`f(X) = <expression>`, or `log f(X) = ...` for a target learned in log space."""
    return f"{'log ' if space is Space.log else ''}f(X) = {expression}"


class TargetFunction(Protocol):
    """A target's true function of z, the inputs in its space."""

    kind: ClassVar[Function]

    @property
    def relation(self) -> LinearRelation | None:
        """The affine part z·m + c the coefficient rule chose; None for a function of the inputs alone."""

    def values(self, z: np.ndarray) -> np.ndarray: ...

    def local_maps(self, z: np.ndarray) -> LocalMaps | None:
        """Each row's slope and intercept; None where the function is not piecewise affine."""

    def formula(self, space: Space) -> str: ...


def _scaled(relation: LinearRelation, factor: np.ndarray) -> LocalMaps:
    """factor * (z·m + c) row by row: the local maps of an affine function's ReLU (factor 0 or 1) or absolute
    value (factor -1 or 1)."""
    return LocalMaps(slope=factor[:, None] * relation.slope, intercept=factor * relation.intercept)


def _affine(z: np.ndarray, relation: LinearRelation) -> np.ndarray:
    return z @ relation.slope + relation.intercept


@dataclass(frozen=True)
class Affine:
    """z·m + c: the post's targets, one slope and intercept everywhere."""

    kind: ClassVar[Function] = Function.affine
    relation: LinearRelation

    def values(self, z: np.ndarray) -> np.ndarray:
        return _affine(z, self.relation)

    def local_maps(self, z: np.ndarray) -> LocalMaps:
        return _scaled(self.relation, np.ones(len(z)))

    def formula(self, space: Space) -> str:
        return formula_line(affine_expression(self.relation, space), space)


@dataclass(frozen=True)
class ReluOfAffine:
    """max(0, z·m + c): the ReLU is part of the answer; m and c where z·m + c > 0, zero elsewhere."""

    kind: ClassVar[Function] = Function.relu_of_affine
    relation: LinearRelation

    def values(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, _affine(z, self.relation))

    def local_maps(self, z: np.ndarray) -> LocalMaps:
        return _scaled(self.relation, (_affine(z, self.relation) > 0).astype(np.float64))

    def formula(self, space: Space) -> str:
        return formula_line(f"max(0, {affine_expression(self.relation, space)})", space)


@dataclass(frozen=True)
class AbsOfAffine:
    """|z·m + c|: m and c where z·m + c > 0, -m and -c elsewhere."""

    kind: ClassVar[Function] = Function.abs_of_affine
    relation: LinearRelation

    def values(self, z: np.ndarray) -> np.ndarray:
        return np.abs(_affine(z, self.relation))

    def local_maps(self, z: np.ndarray) -> LocalMaps:
        return _scaled(self.relation, np.where(_affine(z, self.relation) > 0, 1.0, -1.0))

    def formula(self, space: Space) -> str:
        return formula_line(f"|{affine_expression(self.relation, space)}|", space)


@dataclass(frozen=True)
class MaxOfInputs:
    """max(z1, ..., zk): on each row the largest of the first k inputs, so its slope is that input's unit vector."""

    kind: ClassVar[Function] = Function.max_of_inputs
    inputs: int

    @property
    def relation(self) -> None:
        return None

    def values(self, z: np.ndarray) -> np.ndarray:
        return z[:, : self.inputs].max(axis=1)

    def local_maps(self, z: np.ndarray) -> LocalMaps:
        slope = np.zeros(z.shape)
        slope[np.arange(len(z)), np.argmax(z[:, : self.inputs], axis=1)] = 1.0
        return LocalMaps(slope=slope, intercept=np.zeros(len(z)))

    def formula(self, space: Space) -> str:
        return formula_line(f"max({', '.join(input_names(self.inputs, space))})", space)


@dataclass(frozen=True)
class ProductOfInputs:
    """z1 * ... * zk: curved everywhere, so no local map and no finite network that is exact."""

    kind: ClassVar[Function] = Function.product_of_inputs
    inputs: int

    @property
    def relation(self) -> None:
        return None

    def values(self, z: np.ndarray) -> np.ndarray:
        return z[:, : self.inputs].prod(axis=1)

    def local_maps(self, z: np.ndarray) -> None:
        return None

    def formula(self, space: Space) -> str:
        return formula_line(" * ".join(input_names(self.inputs, space)), space)


FunctionRule = Callable[[TargetConfig, int, DrawnCoefficients], TargetFunction]


def _relation(target: TargetConfig, x_size: int, drawn: DrawnCoefficients) -> LinearRelation:
    return expected_relation(target.coefficients, x_size, drawn)


FUNCTIONS: dict[Function, FunctionRule] = {
    Function.affine: lambda target, x_size, drawn: Affine(_relation(target, x_size, drawn)),
    Function.relu_of_affine: lambda target, x_size, drawn: ReluOfAffine(_relation(target, x_size, drawn)),
    Function.abs_of_affine: lambda target, x_size, drawn: AbsOfAffine(_relation(target, x_size, drawn)),
    Function.max_of_inputs: lambda target, x_size, drawn: MaxOfInputs(target.inputs or x_size),
    Function.product_of_inputs: lambda target, x_size, drawn: ProductOfInputs(target.inputs or x_size),
}


def target_function(target: TargetConfig, x_size: int, drawn: DrawnCoefficients) -> TargetFunction:
    return FUNCTIONS[target.function](target, x_size, drawn)


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


@dataclass(frozen=True)
class TargetProblem:
    """What a network is trained and scored on: inputs in the target's space, the true function, and the
    fewest hidden units that represent it exactly (what a narrower network is told it cannot reach)."""

    name: str
    z_train: np.ndarray
    z_test: np.ndarray
    y_train: np.ndarray
    space: Space
    function: TargetFunction
    exact_width: int | None  # None: no finite network is exact

    @property
    def relation(self) -> LinearRelation | None:
        return self.function.relation


def target_problem(target: TargetConfig, split: Split, drawn: DrawnCoefficients) -> TargetProblem:
    """A configured target's problem on its dataset's split: what both doors train and score."""
    function = target_function(target, split.x_train.shape[1], drawn)
    z_train = to_target_space(split.x_train, target.space)
    return TargetProblem(
        name=target.name,
        z_train=z_train,
        z_test=to_target_space(split.x_test, target.space),
        y_train=function.values(z_train),
        space=target.space,
        function=function,
        exact_width=target.exact_width,
    )
