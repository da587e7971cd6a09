from __future__ import annotations

from dataclasses import replace

from pipeline.evaluation import Evaluation, inits_summary

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
