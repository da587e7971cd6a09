from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from pipeline.evaluation import Evaluation, evaluate_network, inits_summary
from pipeline.relations import NetworkWeights
from pipeline.targets import LinearRelation, Space, make_problem

CONVERGED = Evaluation(
    test_mse=1e-4, m_residual=1e-6, c_residual=1e-6, relations_hold=True, relu_active_fraction=0.9997,
    relu_active_fraction_test=0.9998, atol=1e-3, true_formula="f(X) = 1.0*x1 + 0.0", recovered_formula="f(X) = 1.0*x1 + 0.0",
    true_formula_original=None, recovered_formula_original=None, recovered_m=[1.0], recovered_c=0.0, true_m=[1.0], true_c=0.0,
)


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
