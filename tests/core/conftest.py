"""Fixtures of the core's tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pipeline.config import Activation, Coefficients, Dataset, EvalConfig, Function, ModelConfig, Space, TargetConfig
from pipeline.core.draws import DrawnCoefficients, Split
from pipeline.core.evaluation import Evaluation, evaluate_network
from pipeline.core.relations import exact_weights_for
from pipeline.core.targets import LinearRelation, TargetProblem, target_problem
from pipeline.core.weights import NetworkWeights


@pytest.fixture
def weighted() -> LinearRelation:
    """The post's weighted sum: its drawn m and c, rounded as it prints them."""
    return LinearRelation(slope=np.array([1.45, 0.05, -0.84, -0.38, 0.19]), intercept=-0.85)


@pytest.fixture
def post_sum_network() -> NetworkWeights:
    """The sum network the post learned, as it prints its weights."""
    return NetworkWeights(
        W1=np.array([0.3583921492099762, 0.3583921790122986, 0.3583920896053314, 0.3583921790122986, 0.3583921492099762]),
        b1=2.801814556121826,
        w2=2.790241241455078,
        b2=-7.817744731903076,
    )


@pytest.fixture
def eval_config() -> EvalConfig:
    """conf/eval's: the post's atol, and exact on 99% of the test rows."""
    return EvalConfig(atol=1e-3, local_share=0.99, best_of_last=100, converged_r2=0.999)


@pytest.fixture
def model_config() -> Callable[..., ModelConfig]:
    """model_config(width, activation): the model group as a run gives it (the post's: width 1, ReLU)."""

    def make(width: int = 1, activation: Activation = Activation.relu, negative_slope: float = 0.3) -> ModelConfig:
        return ModelConfig(seed=42, width=width, activation=activation, negative_slope=negative_slope)

    return make


@pytest.fixture
def problem_of() -> Callable[..., TargetProblem]:
    """problem_of(Function.abs_of_affine, x_train, x_test, ...): a target's problem on given inputs, built as
    the doors build it (target_problem), with ones for its coefficients unless `drawn` says otherwise."""

    def make(
        function: Function,
        x_train: np.ndarray,
        x_test: np.ndarray,
        *,
        space: Space = Space.linear,
        drawn: DrawnCoefficients | None = None,
        inputs: int | None = None,
        exact_width: int | None = 1,
        name: str = "target",
    ) -> TargetProblem:
        target = TargetConfig(
            name=name,
            dataset=Dataset.gamma if space is Space.log else Dataset.gaussian,
            space=space,
            coefficients=Coefficients.ones if drawn is None else Coefficients.drawn,
            function=function,
            inputs=inputs,
            exact_width=exact_width,
        )
        zeros = DrawnCoefficients(slope=np.zeros(x_train.shape[1]), intercept=0.0)
        return target_problem(target, Split(x_train=x_train, x_test=x_test), zeros if drawn is None else drawn)

    return make


@pytest.fixture
def converged(problem_of, model_config, eval_config) -> Evaluation:
    """The post's construction scored on the sum of three Gaussian inputs: every relation holds."""
    x = np.random.default_rng(0).normal(size=(200, 3))
    problem = problem_of(Function.affine, x, x[:100])
    weights = exact_weights_for(LinearRelation(np.ones(3), 0.0), w2=2.0, b1=30.0)
    return evaluate_network(weights, problem, model=model_config(), eval_=eval_config)
