"""Pictures of how a trained network computes, drawn from pipeline.core.interpretation's numbers: the hidden
pre-activation against the threshold on the training rows, the recovered m and c over the epochs, and the
predictions on the test rows with the rows where no unit is on marked. Each is a Figure, named by the file
it is saved as, for the report page and the MLflow run alike."""

from __future__ import annotations

import math

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pipeline.config import Activation, ModelConfig, Space
from pipeline.core.interpretation import (
    Preactivations,
    Predictions,
    RelationHistory,
    preactivations,
    predictions,
)
from pipeline.core.targets import TargetProblem, input_names
from pipeline.core.weights import NetworkWeights
from pipeline.files.layout import PREACTIVATION_FIGURE, PREDICTIONS_FIGURE, RELATIONS_FIGURE

MAX_UNIT_PANELS = 16  # a wider network's first units only: 64 panels are unreadable at any size

THRESHOLD_LABELS = {
    Activation.relu: "ReLU threshold",
    Activation.leaky_relu: "leaky ReLU kink",
    Activation.linear: "0 (a linear unit has no threshold)",
}
OFF_COLOR = "tab:red"


def _percent(share: float) -> str:
    """Three significant digits, so 0.025% stays 0.025% instead of rounding to 0.03% or to nothing."""
    return f"{100 * share:.3g}%"


def _bins_split_at_zero(values: np.ndarray, count: int = 60) -> np.ndarray:
    """Equal bins with 0 an edge when the values straddle it: no bar mixes rows on both sides of the threshold."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.array([low - 0.5, low + 0.5])
    if not low < 0 < high:
        return np.linspace(low, high, count + 1)
    step = (high - low) / count
    return step * np.arange(math.floor(low / step), math.ceil(high / step) + 1)


def _preactivation_panel(axes: Axes, values: np.ndarray, off_rows: int, off_share: float, fontsize: str) -> None:
    edges = _bins_split_at_zero(values)
    off = (values <= 0) & (off_share > 0)  # a linear unit is never off, whatever its sign
    axes.hist([values[off], values[~off]], bins=edges.tolist(), stacked=True, log=True, color=[OFF_COLOR, "tab:blue"])
    axes.axvline(0.0, color="black", linestyle="--", linewidth=1)
    highest = float(np.histogram(values, bins=edges)[0].max())
    axes.set_ylim(0.5, highest * 40)  # headroom on the log axis: the text sits above the bars
    axes.text(
        0.02,
        0.97,
        f"off on {_percent(off_share)} of training rows\n({off_rows:,} of {len(values):,})",
        transform=axes.transAxes,
        va="top",
        fontsize=fontsize,
        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1},
    )
    axes.set_ylabel("training rows")


def preactivation_figure(pre: Preactivations, target: str, activation: Activation, space: Space) -> Figure:
    """Where each unit's b1 + z·W1 falls on the training rows: the post's relations hold only on the rows
    right of the threshold. Log counts, so a handful of rows below it still shows."""
    width = pre.values.shape[1]
    shown = min(width, MAX_UNIT_PANELS)
    columns = min(shown, 4)
    rows = math.ceil(shown / columns)
    figure = Figure(figsize=(6, 4) if shown == 1 else (3.2 * columns, 2.6 * rows + 0.8), layout="constrained")
    inputs = "log X" if space is Space.log else "X"
    for unit, axes in enumerate(figure.subplots(rows, columns, squeeze=False).flat):
        if unit >= shown:
            axes.set_axis_off()
            continue
        _preactivation_panel(
            axes, pre.values[:, unit], int(pre.off_rows[unit]), float(pre.off_share[unit]), "medium" if shown == 1 else "small"
        )
        axes.set_xlabel(f"b1 + {inputs}·W1")
        if width > 1:
            axes.set_title(f"unit {unit + 1}")
    key = [
        Line2D([], [], color="black", linestyle="--", linewidth=1, label=THRESHOLD_LABELS[activation]),
        *([Patch(color=OFF_COLOR, label="rows off")] if pre.off_share.any() else []),
        Patch(color="tab:blue", label="rows on"),
    ]
    if shown == 1:
        figure.axes[0].legend(handles=key, loc="upper right")
    else:
        figure.legend(handles=key, loc="outside lower center", ncols=3)
    units = "" if width == 1 else f" (first {shown} of {width} units)" if shown < width else f" ({width} units)"
    figure.suptitle(f"{target}: hidden pre-activation on the training rows{units}")
    return figure


def relations_figure(history: RelationHistory, target: str, atol: float, space: Space) -> Figure:
    """The map the network draws after each epoch against the target's: the post's relations w2*W1 = m and
    w2*b1 + b2 = c coming to hold (or not), and when their residuals fall below the evaluation's atol."""
    figure = Figure(figsize=(6, 6), layout="constrained")
    coefficients, residuals = figure.subplots(2, 1, sharex=True)
    epochs = history.epochs
    names = input_names(history.slope.shape[1], space)
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        coefficients.plot(epochs, history.slope[:, i], color=color, label=f"m of {name}")
        coefficients.axhline(history.expected.slope[i], color=color, linestyle="--", linewidth=1)
    coefficients.plot(epochs, history.intercept, color="black", label="c")
    coefficients.axhline(history.expected.intercept, color="black", linestyle="--", linewidth=1, label="true (dashed)")
    coefficients.set_ylabel("recovered m and c")
    coefficients.legend(fontsize="small", ncols=2 if len(names) > 3 else 1)
    coefficients.set_title(f"{target}: recovered slope and intercept by epoch")
    residuals.plot(epochs, history.m_residual, color="tab:blue", label="m residual (max over inputs)")
    residuals.plot(epochs, history.c_residual, color="black", label="c residual")
    residuals.axhline(atol, color=OFF_COLOR, linestyle=":", label=f"atol {atol:g}")
    residuals.set_yscale("log")
    residuals.set_xscale("log")  # the first epochs do most of the moving; the last hundreds settle the digits
    residuals.set_xlabel("epoch")
    residuals.set_ylabel("|recovered − true|")
    residuals.legend(fontsize="small")
    return figure


def _spans_decades(*values: np.ndarray) -> bool:
    """Positive and more than two decades wide: a product of gamma inputs, read on log-log axes."""
    joined = np.concatenate(values)
    joined = joined[np.isfinite(joined)]
    return joined.size > 0 and bool(np.all(joined > 0)) and float(joined.max() / joined.min()) > 100


def _off_words(pred: Predictions, activation: Activation) -> str:
    """What the rows with no unit on are: for ReLUs, where the network outputs one constant (b2, or e^b2 for a
    log-space target), printed so the flat row of crosses reads as that number."""
    if activation is not Activation.relu:
        return "no unit on"
    constant = pred.predicted[pred.no_unit_on]
    return "ReLU off" if constant.size == 0 else f"ReLU off, output {constant[0]:.3g}"


def predictions_figure(pred: Predictions, target: str, activation: Activation) -> Figure:
    """Prediction against truth on the test rows, on the original scale: the rows with no unit on (a ReLU
    network's constant output there) drawn on top, counted in the legend, so a few among thousands show."""
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    off = pred.no_unit_on
    total, off_count = len(off), int(off.sum())
    on_label = f"a unit on: {total - off_count:,} test rows"
    axes.scatter(pred.true[~off], pred.predicted[~off], s=4, alpha=0.4, color="tab:blue", label=on_label)
    axes.scatter(
        pred.true[off],
        pred.predicted[off],
        s=30,
        marker="x",
        color=OFF_COLOR,
        zorder=3,
        label=f"{_off_words(pred, activation)}: {off_count:,} of {total:,} test rows",
    )
    finite = np.concatenate([pred.true, pred.predicted])
    finite = finite[np.isfinite(finite)]
    low, high = float(finite.min()), float(finite.max())
    axes.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1, label="prediction = truth")
    if _spans_decades(pred.true, pred.predicted):
        axes.set_xscale("log")
        axes.set_yscale("log")
    axes.set_xlabel("true value")
    axes.set_ylabel("network's prediction")
    axes.set_title(f"{target}: predicted against true on the test rows")
    axes.legend(loc="upper left", fontsize="small")
    return figure


def network_figures(
    learned: NetworkWeights, history: RelationHistory | None, problem: TargetProblem, model: ModelConfig, atol: float
) -> dict[str, Figure]:
    """The pictures of one trained network by file name; the relations over epochs (`history`, read once by
    the caller, which also logs it) only for a target with one m and c everywhere (an affine one), as the
    evaluation reports them."""
    figures = {
        PREACTIVATION_FIGURE: preactivation_figure(
            preactivations(learned, problem, model), problem.name, model.activation, problem.space
        )
    }
    if history is not None:
        figures[RELATIONS_FIGURE] = relations_figure(history, problem.name, atol, problem.space)
    figures[PREDICTIONS_FIGURE] = predictions_figure(predictions(learned, problem, model), problem.name, model.activation)
    return figures
