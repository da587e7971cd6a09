"""Scoring a network: the post's numbers unchanged at width 1, the exact networks the target files name found
exact region by region, the share of initialisations that converged, and an overflow as a failure."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error

from pipeline.config import Activation, Function, Space
from pipeline.core.draws import draw_post_stream
from pipeline.core.evaluation import (
    Evaluation,
    evaluate_network,
    evaluate_training,
    inits_summary,
    lowest_train_mse_state,
    networks_columns,
    networks_table,
)
from pipeline.core.relations import exact_weights_for, format_formula
from pipeline.core.targets import LinearRelation, target_problem
from pipeline.core.weights import NetworkWeights, TrainingRecord, WeightStack
from pipeline.errors import TrainingDiverged

# The weights each target file names as its exact network (conf/target/*.yaml, x_size 5).
ONES = np.ones(5)
E1, E2 = np.eye(5)[0], np.eye(5)[1]
EXACT_NETWORKS = {
    "relu_sum": NetworkWeights(W1=ONES, b1=0.0, w2=1.0, b2=0.0),
    "abs_sum": NetworkWeights(W1=np.column_stack([ONES, -ONES]), b1=np.zeros(2), w2=np.ones(2), b2=0.0),
    "max2": NetworkWeights(W1=np.column_stack([E1 - E2, E2, -E2]), b1=np.zeros(3), w2=np.array([1.0, 1.0, -1.0]), b2=0.0),
}


def configured(run_config, *overrides: str):
    """A configured target's problem (n_test 2000) and its run config."""
    run = run_config(*overrides, "data.n_train=500", "data.n_test=2000")
    draws = draw_post_stream(run.data)
    return target_problem(run.target, draws.splits[run.target.dataset], draws.coefficients), run


def test_the_posts_network_at_width_one_scores_exactly_todays_numbers(run_config, post_sum_network):
    problem, run = configured(run_config, "target=sum")
    w2, b1, b2 = float(post_sum_network.w2[0]), float(post_sum_network.b1[0]), post_sum_network.b2
    W1, z = post_sum_network.W1[:, 0], problem.z_test
    # today's formulas, written out: the line the ReLU draws, and the post's network as it was computed
    m_hat, c_hat = w2 * W1, w2 * b1 + b2
    old_prediction = w2 * np.maximum(0.0, z @ W1 + b1) + b2

    evaluation = evaluate_network(post_sum_network, problem, model=run.model, eval_=run.eval)

    assert evaluation.relu_active_fraction_test > 0.99  # the ReLU is on for most rows
    assert evaluation.m_residual == float(np.max(np.abs(m_hat - np.ones(5))))
    assert evaluation.c_residual == float(abs(c_hat - 0.0))
    assert evaluation.relations_hold is (evaluation.m_residual <= 1e-3 and evaluation.c_residual <= 1e-3)
    assert evaluation.recovered_m == [float(v) for v in m_hat] and evaluation.recovered_c == c_hat
    assert evaluation.recovered_formula == format_formula(LinearRelation(m_hat, c_hat), Space.linear)
    assert evaluation.relu_active_fraction == float(np.mean(problem.z_train @ W1 + b1 > 0))
    assert evaluation.relu_active_fraction_test == float(np.mean(z @ W1 + b1 > 0))
    assert evaluation.test_mse == float(mean_squared_error(z @ np.ones(5) + 0.0, old_prediction))


def test_the_post_relations_at_width_one_read_the_relu_line_even_where_it_is_on_for_fewer_rows_than_off(
    problem_of, model_config, eval_config
):
    """The post's construction with b1 = -0.6: exact where x1 + ... + x5 > 0.6 (39% of the rows), off elsewhere. Its
    relations hold, as the post computes them (w2*W1 and w2*b1 + b2), though most rows are in the off region."""
    x = np.random.default_rng(3).normal(size=(2000, 5))
    problem = problem_of(Function.affine, x, x)
    weights = exact_weights_for(problem.relation, w2=1.0, b1=-0.6)

    evaluation = evaluate_network(weights, problem, model=model_config(), eval_=eval_config)

    assert 0.3 < evaluation.relu_active_fraction_test < 0.5 and evaluation.regions[0]["pattern"] == "0"
    assert evaluation.relations_hold and evaluation.m_residual == 0.0 and evaluation.c_residual == 0.0
    assert evaluation.recovered_formula == "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0"
    assert evaluation.local_relation_share == evaluation.relu_active_fraction_test  # the failure where it is off


def test_the_post_relations_of_a_wider_network_read_the_largest_region_with_a_unit_on(problem_of, model_config, eval_config):
    x = np.random.default_rng(1).normal(size=(400, 2))
    problem = problem_of(Function.affine, x, x)  # x1 + x2
    # unit 1 is on everywhere and draws the sum; unit 2 adds 5*x1 where x1 > 1 (about 16% of the rows)
    weights = NetworkWeights(
        W1=np.array([[0.1, 1.0], [0.1, 0.0]]), b1=np.array([50.0, -1.0]), w2=np.array([10.0, 5.0]), b2=-500.0
    )

    evaluation = evaluate_network(weights, problem, model=model_config(width=2), eval_=eval_config)

    assert [region["pattern"] for region in evaluation.regions] == ["10", "11"]
    assert evaluation.relations_hold and evaluation.m_residual < 1e-12 and evaluation.recovered_m == pytest.approx([1.0, 1.0])
    assert evaluation.regions[1]["slope"] == pytest.approx([6.0, 1.0])
    assert evaluation.local_relation_share == evaluation.regions[0]["share"] and not evaluation.local_relations_hold


@pytest.mark.parametrize(
    "name, regions",
    [
        (
            "relu_sum",
            {
                "1": "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0",
                "0": "f(X) = 0.0*x1 + 0.0*x2 + 0.0*x3 + 0.0*x4 + 0.0*x5 + 0.0",
            },
        ),
        (
            "abs_sum",
            {
                "10": "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0",
                "01": "f(X) = -1.0*x1 + -1.0*x2 + -1.0*x3 + -1.0*x4 + -1.0*x5 + 0.0",
            },
        ),
        # max2: x1 where x1 > x2 (whatever x2's sign), x2 elsewhere
        (
            "max2",
            {
                "110": "f(X) = 1.0*x1 + 0.0*x2 + 0.0*x3 + 0.0*x4 + 0.0*x5 + 0.0",
                "101": "f(X) = 1.0*x1 + 0.0*x2 + 0.0*x3 + 0.0*x4 + 0.0*x5 + 0.0",
                "010": "f(X) = 0.0*x1 + 1.0*x2 + 0.0*x3 + 0.0*x4 + 0.0*x5 + 0.0",
                "001": "f(X) = 0.0*x1 + 1.0*x2 + 0.0*x3 + 0.0*x4 + 0.0*x5 + 0.0",
            },
        ),
    ],
)
def test_each_exact_network_a_target_file_names_is_exact_on_every_test_row(run_config, name, regions):
    problem, run = configured(run_config, f"target={name}", f"model.width={EXACT_NETWORKS[name].width}")

    evaluation = evaluate_network(EXACT_NETWORKS[name], problem, model=run.model, eval_=run.eval)

    assert evaluation.local_relation_share == 1.0 and evaluation.local_relations_hold
    assert evaluation.local_slope_residual_max == 0.0 and evaluation.local_intercept_residual_max == 0.0
    assert evaluation.test_mse < 1e-28 and evaluation.width_note is None
    assert {region["pattern"]: region["formula"] for region in evaluation.regions} == regions
    assert sum(region["share"] for region in evaluation.regions) == pytest.approx(1.0)
    assert evaluation.m_residual is None and evaluation.relations_hold is None and evaluation.true_m is None


def test_abs_sum_has_two_regions_of_opposite_slope_and_no_dead_unit(run_config):
    problem, run = configured(run_config, "target=abs_sum", "model.width=2")

    evaluation = evaluate_network(EXACT_NETWORKS["abs_sum"], problem, model=run.model, eval_=run.eval)

    plus, minus = sorted(evaluation.regions, key=lambda region: region["pattern"], reverse=True)
    assert plus["slope"] == [1.0] * 5 and minus["slope"] == [-1.0] * 5
    assert (evaluation.linear_regions, evaluation.dead_units, evaluation.always_active_units) == (2, 0, 0)
    assert evaluation.true_formula == "f(X) = |1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + 0.0|"


def test_a_network_narrower_than_the_targets_exact_width_is_exact_on_part_of_the_rows_and_says_why(run_config):
    problem, run = configured(run_config, "target=abs_sum")  # the default width, 1
    relu_of_sum = NetworkWeights(W1=ONES, b1=0.0, w2=1.0, b2=0.0)  # |s| where s > 0 only

    evaluation = evaluate_network(relu_of_sum, problem, model=run.model, eval_=run.eval)

    assert 0.4 < evaluation.local_relation_share < 0.6 and not evaluation.local_relations_hold
    assert evaluation.local_slope_residual_max == 1.0 and evaluation.local_slope_residual_p50 in (0.0, 1.0)
    assert (
        evaluation.width_note == "abs_sum is exact at width 2; this network has 1 hidden unit, so it cannot represent it exactly"
    )
    assert evaluation.exact_width == 2 and evaluation.width == 1


def test_a_leaky_network_reads_its_slope_below_zero_and_can_be_exact_for_a_relu_target(run_config):
    problem, run = configured(run_config, "target=relu_sum", "model.width=2", "model.activation=leaky_relu")
    # relu(s) = (leaky(s) + 0.3 * leaky(-s)) / 0.91 for the slope 0.3 below zero
    weights = NetworkWeights(W1=np.column_stack([ONES, -ONES]), b1=np.zeros(2), w2=np.array([1.0, 0.3]) / 0.91, b2=0.0)

    evaluation = evaluate_network(weights, problem, model=run.model, eval_=run.eval)
    as_relu = evaluate_network(weights, problem, model=replace(run.model, activation=Activation.relu), eval_=run.eval)

    assert evaluation.local_relations_hold and evaluation.test_mse < 1e-28
    assert not as_relu.local_relations_hold and as_relu.test_mse > 0.1


def test_a_linear_network_is_one_region_where_the_posts_relations_hold(run_config):
    problem, run = configured(run_config, "target=weighted_sum", "model.width=3", "model.activation=linear")
    m, c = problem.relation.slope, problem.relation.intercept
    # three units that each draw a third of the line, whatever their sign: a linear unit has no kink
    weights = NetworkWeights(
        W1=np.column_stack([m, -m, m]) / 3, b1=np.array([c, -c, c]) / 3, w2=np.array([1.0, -1.0, 1.0]), b2=0.0
    )

    evaluation = evaluate_network(weights, problem, model=run.model, eval_=run.eval)

    assert [region["pattern"] for region in evaluation.regions] == ["111"]
    assert evaluation.relations_hold and evaluation.local_relation_share == 1.0
    assert (evaluation.dead_units, evaluation.always_active_units, evaluation.relu_active_fraction) == (0, 3, 1.0)


def test_a_product_of_inputs_has_no_relations_but_its_regions_are_counted(run_config):
    problem, run = configured(run_config, "target=product2", "model.width=4")
    rng = np.random.default_rng(7)
    weights = NetworkWeights(W1=rng.normal(size=(5, 4)), b1=rng.normal(size=4), w2=rng.normal(size=4), b2=0.0)

    evaluation = evaluate_network(weights, problem, model=run.model, eval_=run.eval)

    assert evaluation.local_relation_share is None and evaluation.local_relations_hold is None
    assert evaluation.m_residual is None and evaluation.recovered_m is None and evaluation.width_note is None
    assert 1 < evaluation.linear_regions <= 16 and evaluation.true_formula == "f(X) = x1 * x2"
    assert set(evaluation.metrics()) == {
        "test_mse",
        "test_r2",
        "relu_active_fraction",
        "relu_active_fraction_test",
        "linear_regions",
        "dead_units",
        "always_active_units",
    }


def test_metrics_are_numbers_with_stable_names_and_verdicts_as_zero_or_one(converged):
    metrics = converged.metrics()

    assert list(metrics) == [
        "test_mse",
        "test_r2",
        "m_residual",
        "c_residual",
        "relations_hold",
        "relu_active_fraction",
        "relu_active_fraction_test",
        "local_relation_share",
        "local_relations_hold",
        "local_slope_residual_p50",
        "local_slope_residual_p90",
        "local_slope_residual_max",
        "local_intercept_residual_p50",
        "local_intercept_residual_p90",
        "local_intercept_residual_max",
        "linear_regions",
        "dead_units",
        "always_active_units",
        "converged",
        "w2_negative",
    ]
    assert all(type(value) is float for value in metrics.values())
    assert metrics["relations_hold"] == 1.0 and metrics["local_relations_hold"] == 1.0 and metrics["linear_regions"] == 1.0


def test_max2_has_no_m_and_c_metrics_but_has_the_local_ones(run_config):
    problem, run = configured(run_config, "target=max2", "model.width=3")

    metrics = evaluate_network(EXACT_NETWORKS["max2"], problem, model=run.model, eval_=run.eval).metrics()

    assert not {"m_residual", "c_residual", "relations_hold"} & set(metrics)
    assert metrics["local_relation_share"] == 1.0 and metrics["local_relations_hold"] == 1.0


def test_an_evaluation_rebuilds_from_its_json(converged):
    assert Evaluation(**json.loads(json.dumps(converged.to_dict()))) == converged


def test_formulas_are_the_true_and_recovered_ones_and_on_the_original_scale_for_a_log_space_target(run_config, converged):
    problem, run = configured(run_config, "target=product")

    logged = evaluate_network(exact_weights_for(problem.relation, w2=2.0, b1=30.0), problem, model=run.model, eval_=run.eval)

    assert set(converged.formulas()) == {"true_formula", "recovered_formula"}
    assert logged.formulas()["true_formula_original"] == "f(X) = e^0.0 * x1^1.0 * x2^1.0 * x3^1.0 * x4^1.0 * x5^1.0"
    assert logged.formulas()["recovered_formula_original"] == logged.formulas()["true_formula_original"]


def test_inits_summary_gives_the_share_that_converged_and_the_share_whose_units_all_died(converged):
    dead = replace(converged, relations_hold=False, local_relations_hold=False, relu_active_fraction=0.0, test_mse=2.0)
    stuck = replace(converged, relations_hold=False, relu_active_fraction=0.6)

    summary = inits_summary([converged, dead, stuck, converged])

    assert summary == {"inits": 4.0, "relations_hold_share": 0.5, "local_relations_hold_share": 0.75, "relu_dead_share": 0.25}


def test_inits_summary_leaves_out_the_verdicts_that_do_not_apply(converged):
    product2 = replace(converged, relations_hold=None, local_relations_hold=None)

    assert inits_summary([product2, product2]) == {"inits": 2.0, "relu_dead_share": 0.0}


def test_the_networks_table_has_a_column_per_metric_blank_where_it_does_not_apply(converged):
    max2 = replace(converged, m_residual=None, c_residual=None, relations_hold=None)

    header, first, second = networks_table(networks_columns([converged, max2], first_seed=42, kind="init")).splitlines()

    assert header.split(",")[:9] == [
        "init",
        "model_seed",
        "test_mse",
        "test_r2",
        "m_residual",
        "c_residual",
        "relations_hold",
        "relu_active_fraction",
        "relu_active_fraction_test",
    ]
    assert first.split(",")[:2] == ["0", "42"] and first.split(",")[6] == "1.0"
    assert second.split(",")[4:7] == ["", "", ""] and len(second.split(",")) == len(header.split(","))


def test_a_network_with_nan_weights_scores_an_infinite_mse_instead_of_crashing(problem_of, model_config, eval_config):
    problem = problem_of(Function.affine, np.ones((4, 2)), np.ones((3, 2)), space=Space.log)
    broken = NetworkWeights(W1=np.array([np.nan, 1.0]), b1=0.0, w2=1.0, b2=0.0)

    evaluation = evaluate_network(broken, problem, model=model_config(), eval_=eval_config)

    assert evaluation.test_mse == math.inf and not evaluation.relations_hold and evaluation.local_relation_share == 0.0


def product_problem(problem_of):
    x = np.array([[2.0, 3.0], [1.0, 4.0]])
    return problem_of(Function.affine, x, x, space=Space.log)


def test_a_primary_network_whose_mse_overflows_fails_as_diverged_with_its_loss_history(problem_of, model_config, eval_config):
    far_off = NetworkWeights(W1=np.array([1.0, 1.0]), b1=10.0, w2=1e6, b2=0.0)  # exp() of ~1e7 overflows
    record = TrainingRecord(far_off, WeightStack.of([far_off, far_off]), loss_history=[3.0, 2.0], seconds=0.1)

    with pytest.raises(TrainingDiverged, match=r"test MSE is inf .*lower train.lr \(was 0.5\)") as error:
        evaluate_training([record], product_problem(problem_of), model=model_config(), eval_=eval_config, lr=0.5)

    assert error.value.loss_history == [3.0, 2.0] and error.value.epoch == 2


def test_every_initialisation_is_scored_primary_first_and_only_the_primary_must_be_finite(problem_of, model_config, eval_config):
    problem = product_problem(problem_of)
    exact = exact_weights_for(problem.relation, w2=2.0, b1=30.0)
    far_off = NetworkWeights(W1=np.array([1.0, 1.0]), b1=10.0, w2=1e6, b2=0.0)
    records = [TrainingRecord(w, WeightStack.of([w]), [1.0], 0.1) for w in (exact, far_off)]

    primary, other = evaluate_training(records, problem, model=model_config(), eval_=eval_config, lr=0.5)

    assert primary.relations_hold and primary.test_mse < 1e-18
    assert other.test_mse == math.inf and not other.relations_hold


def test_a_network_clipping_the_largest_targets_has_not_converged_though_its_relations_hold(
    problem_of, model_config, eval_config
):
    """The post's w2 < 0 failure: on for the small sums, off (the constant b2) for the largest."""
    x = np.random.default_rng(3).normal(size=(400, 3))
    problem = problem_of(Function.affine, x, x[:200])
    upside_down = NetworkWeights(W1=np.full(3, -0.5), b1=1.0, w2=-2.0, b2=2.0)  # hidden > 0 exactly where sum < 2

    evaluation = evaluate_network(upside_down, problem, model=model_config(), eval_=eval_config)

    assert evaluation.relations_hold and evaluation.w2_negative and evaluation.test_r2 < 0.999
    assert evaluation.converged is False and evaluation.metrics()["converged"] == 0.0
    assert evaluate_network(upside_down, problem, model=model_config(), eval_=replace(eval_config, converged_r2=0.5)).converged


def test_a_network_whose_relations_hold_and_which_explains_the_targets_variance_has_converged(converged):
    assert converged.converged is True and converged.test_r2 > 0.999 and converged.w2_negative is False


def test_the_second_figure_takes_the_state_with_the_lowest_training_mse_among_the_last_epochs(problem_of, model_config):
    x = np.random.default_rng(4).normal(size=(300, 2))
    problem = problem_of(Function.affine, x, x[:100])
    exact = exact_weights_for(problem.relation, w2=1.0, b1=40.0)
    off = replace(exact, b2=exact.b2 + 0.1)
    trajectory = WeightStack.of([exact, off, replace(exact, b2=exact.b2 + 0.01), off])

    assert lowest_train_mse_state(trajectory, problem, model_config(), last=3) == (3, pytest.approx(1e-4))
    assert lowest_train_mse_state(trajectory, problem, model_config(), last=100) == (1, pytest.approx(0.0, abs=1e-20))
    assert lowest_train_mse_state(trajectory, problem, model_config(), last=1) == (4, pytest.approx(1e-2))


def test_the_second_figure_is_scored_on_the_original_scale_of_a_log_space_target(problem_of, model_config, eval_config):
    problem = product_problem(problem_of)
    exact = exact_weights_for(problem.relation, w2=2.0, b1=30.0)
    records = [TrainingRecord(exact, WeightStack.of([replace(exact, b2=exact.b2 + 0.5), exact]), [1.0, 0.5], 0.1)]

    [evaluation] = evaluate_training(records, problem, model=model_config(), eval_=eval_config, lr=0.5)

    assert evaluation.lowest_train_mse_epoch == 2 and evaluation.test_mse_at_lowest_train_mse < 1e-18
