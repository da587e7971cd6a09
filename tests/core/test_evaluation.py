"""Scoring a network: its numbers, the share of initialisations that converged, and an overflow as a failure."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pipeline.config import Coefficients, Space
from pipeline.core.draws import DrawnCoefficients
from pipeline.core.evaluation import evaluate_network, evaluate_training, inits_summary
from pipeline.core.relations import exact_weights_for
from pipeline.core.targets import LinearRelation, expected_relation, make_problem
from pipeline.core.weights import NetworkWeights, TrainingRecord
from pipeline.errors import TrainingDiverged
from tests.helpers import CONVERGED


def test_inits_summary_gives_the_share_that_converged_and_the_share_whose_relu_died():
    dead = replace(CONVERGED, relations_hold=False, relu_active_fraction=0.0, test_mse=2.0)
    stuck = replace(CONVERGED, relations_hold=False, relu_active_fraction=0.6)

    summary = inits_summary([CONVERGED, dead, stuck, CONVERGED])

    assert summary == {"inits": 4.0, "relations_hold_share": 0.5, "relu_dead_share": 0.25}


def test_a_network_with_nan_weights_scores_an_infinite_mse_instead_of_crashing():
    problem = make_problem(np.ones((4, 2)), np.ones((3, 2)), LinearRelation(np.ones(2), 0.0), Space.log)
    broken = NetworkWeights(W1=np.array([np.nan, 1.0]), b1=0.0, w2=1.0, b2=0.0)

    evaluation = evaluate_network(broken, problem, atol=1e-3)

    assert evaluation.test_mse == math.inf and not evaluation.relations_hold


def product_problem() -> tuple:
    x = np.array([[2.0, 3.0], [1.0, 4.0]])
    relation = expected_relation(Coefficients.ones, 2, DrawnCoefficients(np.zeros(2), 0.0))
    return make_problem(x, x, relation, Space.log), relation


def test_a_primary_network_whose_mse_overflows_fails_as_diverged_with_its_loss_history():
    problem, _ = product_problem()
    far_off = NetworkWeights(W1=np.array([1.0, 1.0]), b1=10.0, w2=1e6, b2=0.0)  # exp() of ~1e7 overflows
    record = TrainingRecord(far_off, far_off, loss_history=[3.0, 2.0], seconds=0.1)

    with pytest.raises(TrainingDiverged, match=r"test MSE is inf .*lower train.lr \(was 0.5\)") as error:
        evaluate_training([record], problem, atol=1e-3, lr=0.5)

    assert error.value.loss_history == [3.0, 2.0] and error.value.epoch == 2


def test_every_initialisation_is_scored_primary_first_and_only_the_primary_must_be_finite():
    problem, relation = product_problem()
    exact = exact_weights_for(relation, w2=2.0, b1=30.0)
    far_off = NetworkWeights(W1=np.array([1.0, 1.0]), b1=10.0, w2=1e6, b2=0.0)
    records = [TrainingRecord(w, w, [1.0], 0.1) for w in (exact, far_off)]

    primary, other = evaluate_training(records, problem, atol=1e-3, lr=0.5)

    assert primary.relations_hold and primary.test_mse < 1e-18
    assert other.test_mse == math.inf and not other.relations_hold
