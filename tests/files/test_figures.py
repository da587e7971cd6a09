"""The pictures of how a network computes: which files a target gets, a panel per hidden unit, the rows with
no unit on counted where a reader sees them, and log-log axes only for values that span decades."""

from __future__ import annotations

import numpy as np

from pipeline.config import Activation, Space, to_run_config
from pipeline.core.draws import draw_post_stream
from pipeline.core.interpretation import Preactivations, Predictions, RelationHistory, predictions, relation_history
from pipeline.core.relations import exact_weights_for
from pipeline.core.targets import LinearRelation, TargetProblem, target_problem
from pipeline.core.weights import NetworkWeights, WeightStack
from pipeline.files.figures import (
    PREACTIVATION_FIGURE,
    PREDICTIONS_FIGURE,
    RELATIONS_FIGURE,
    network_figures,
    preactivation_figure,
    predictions_figure,
    relations_figure,
)
from pipeline.files.html import figure_png
from tests.helpers import compose_config, model_config, small_data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def configured_problem(target: str) -> TargetProblem:
    """A configured target on the post's draws at small sizes (400 training rows, 200 test rows)."""
    run = to_run_config(compose_config([f"target={target}"]))
    draws = draw_post_stream(small_data(400, 200))
    return target_problem(run.target, draws.splits[run.target.dataset], draws.coefficients)


def pictures_of(problem: TargetProblem, *epochs: NetworkWeights, width: int = 1) -> dict:
    """network_figures of a network whose epochs were `epochs`, its relations over them read as the job reads them."""
    model = model_config(42, width=width)
    history = relation_history(WeightStack.of(epochs), problem, model)
    return network_figures(epochs[-1], history, problem, model, atol=1e-3)


def off_on_lowest(problem: TargetProblem, rows: int) -> NetworkWeights:
    """The post's exact network for a sum of the inputs, with b1 set so the ReLU is off on exactly the `rows`
    test rows of the lowest sum."""
    sums = np.sort(problem.z_test.sum(axis=1))
    b1 = -float(sums[rows - 1])
    return NetworkWeights(W1=np.ones(5), b1=b1, w2=1.0, b2=-b1)


def legend_texts(figure) -> list[str]:
    return [text.get_text() for axes in figure.axes if axes.get_legend() for text in axes.get_legend().get_texts()]


def test_an_affine_target_gets_all_three_pictures_as_png_files():
    problem = configured_problem("sum")
    exact = exact_weights_for(LinearRelation(np.ones(5), 0.0), w2=2.0, b1=30.0)

    figures = pictures_of(problem, exact, exact)

    assert list(figures) == [PREACTIVATION_FIGURE, RELATIONS_FIGURE, PREDICTIONS_FIGURE]
    assert list(figures) == ["preactivation.png", "relations_over_epochs.png", "predicted_vs_true.png"]
    assert all(figure_png(figure).startswith(PNG_SIGNATURE) for figure in figures.values())


def test_a_target_without_one_m_and_c_gets_no_relations_over_epochs():
    problem = configured_problem("abs_sum")
    weights = NetworkWeights(W1=np.column_stack([np.ones(5), -np.ones(5)]), b1=np.zeros(2), w2=np.ones(2), b2=0.0)

    figures = pictures_of(problem, weights, width=2)

    assert list(figures) == [PREACTIVATION_FIGURE, PREDICTIONS_FIGURE]


def test_the_preactivation_has_one_panel_per_unit_each_with_its_share_off():
    values = np.column_stack([np.linspace(-1, 9, 4000), np.linspace(1, 11, 4000), np.linspace(-5, 5, 4000)])
    pre = Preactivations(values=values, off_share=(values <= 0).mean(axis=0))

    figure = preactivation_figure(pre, "sum", Activation.relu, Space.linear)

    texts = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert len(figure.axes) == 3 and [axes.get_title() for axes in figure.axes] == ["unit 1", "unit 2", "unit 3"]
    assert texts == [
        "off on 10% of training rows\n(400 of 4,000)",
        "off on 0% of training rows\n(0 of 4,000)",
        "off on 50% of training rows\n(2,000 of 4,000)",
    ]


def test_a_few_training_rows_off_are_printed_not_rounded_away():
    values = np.concatenate([-np.ones(25), np.ones(99_975)])[:, None]
    pre = Preactivations(values=values, off_share=np.array([25 / 100_000]))

    figure = preactivation_figure(pre, "product", Activation.relu, Space.log)

    (axes,) = figure.axes
    assert [text.get_text() for text in axes.texts] == ["off on 0.025% of training rows\n(25 of 100,000)"]
    assert axes.get_yscale() == "log" and "ReLU threshold" in legend_texts(figure)


def test_a_wide_networks_preactivation_shows_its_first_units_and_says_so():
    values = np.random.default_rng(0).normal(size=(500, 20))
    pre = Preactivations(values=values, off_share=(values <= 0).mean(axis=0))

    figure = preactivation_figure(pre, "sum", Activation.relu, Space.linear)

    assert sum(axes.axison for axes in figure.axes) == 16
    assert figure.get_suptitle() == "sum: hidden pre-activation on the training rows (first 16 of 20 units)"


def test_the_predicted_vs_true_legend_counts_the_rows_where_the_relu_is_off():
    problem = configured_problem("sum")
    weights = off_on_lowest(problem, rows=7)

    figure = predictions_figure(predictions(weights, problem, model_config(42)), "sum", Activation.relu)

    off_label = f"ReLU off, output {weights.b2:.3g}: 7 of 200 test rows"
    assert legend_texts(figure) == ["a unit on: 193 test rows", off_label, "prediction = truth"]
    (axes,) = figure.axes
    assert axes.get_xscale() == "linear" and axes.get_yscale() == "linear"


def test_a_product_over_decades_is_drawn_on_log_log_axes():
    problem = configured_problem("product")
    assert problem.space is Space.log and problem.z_test.shape[1] == 5  # the inputs are log x
    weights = off_on_lowest(problem, rows=2)

    figure = predictions_figure(predictions(weights, problem, model_config(42)), "product", Activation.relu)

    (axes,) = figure.axes
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    assert f"ReLU off, output {np.exp(weights.b2):.3g}: 2 of 200 test rows" in legend_texts(figure)


def test_rows_with_no_leaky_unit_on_are_not_called_a_constant():
    pred = Predictions(true=np.array([1.0, 2.0, 3.0]), predicted=np.array([0.5, 2.0, 3.0]), units_on=np.array([0, 1, 1]))

    figure = predictions_figure(pred, "sum", Activation.leaky_relu)

    assert "no unit on: 1 of 3 test rows" in legend_texts(figure)


def test_the_relations_over_epochs_show_the_residuals_on_a_log_axis_against_atol():
    slope = np.array([[1.5, 0.5], [1.1, 0.9], [1.0, 1.0]])
    history = RelationHistory(
        slope=slope,
        intercept=np.array([0.3, 0.1, 0.0]),
        expected=LinearRelation(np.ones(2), 0.0),
        m_residual=np.abs(slope - 1).max(axis=1),
        c_residual=np.array([0.3, 0.1, 0.0]),
    )

    figure = relations_figure(history, "sum", atol=1e-3, space=Space.linear)

    coefficients, residuals = figure.axes
    assert coefficients.get_title() == "sum: recovered slope and intercept by epoch"
    assert [text.get_text() for text in coefficients.get_legend().get_texts()] == ["m of x1", "m of x2", "c", "true (dashed)"]
    assert residuals.get_yscale() == "log" and "atol 0.001" in [t.get_text() for t in residuals.get_legend().get_texts()]
