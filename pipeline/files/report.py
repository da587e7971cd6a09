"""What a person reads: the loss curve, and the summary table of every target, like the post's results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.figure import Figure

from pipeline.core.evaluation import Evaluation
from pipeline.files.html import figure_html, page_html, table_html


def loss_curve_figure(loss_history: Sequence[float], title: str) -> Figure:
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(range(1, len(loss_history) + 1), loss_history)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("training MSE")
    axes.set_title(title)
    return figure


SUMMARY_HEADER = (
    "target",
    "test MSE",
    "max abs m residual",
    "abs c residual",
    "relations hold",
    "ReLU active (train)",
    "true formula",
    "recovered formula",
)


def summary_rows(evaluations: Mapping[str, Evaluation]) -> list[list[str]]:
    """One row of text per target, in SUMMARY_HEADER's order: what both the Markdown and the HTML show."""
    return [
        [
            name,
            f"{ev.test_mse:.3g}",
            f"{ev.m_residual:.2g}",
            f"{ev.c_residual:.2g}",
            f"{'yes' if ev.relations_hold else 'NO'} (atol {ev.atol:g})",
            f"{ev.relu_active_fraction:.4f}",
            ev.true_formula,
            ev.recovered_formula,
        ]
        for name, ev in evaluations.items()
    ]


def _original_scale(evaluations: Mapping[str, Evaluation]) -> list[list[str]]:
    return [
        [name, ev.true_formula_original, ev.recovered_formula_original]
        for name, ev in evaluations.items()
        if ev.true_formula_original and ev.recovered_formula_original
    ]


def summary_markdown(evaluations: Mapping[str, Evaluation]) -> str:
    lines = ["# Results", "", "| " + " | ".join(SUMMARY_HEADER) + " |", "|" + "---|" * len(SUMMARY_HEADER)]
    for *numbers, true_formula, recovered_formula in summary_rows(evaluations):
        lines.append("| " + " | ".join(numbers) + f" | `{true_formula}` | `{recovered_formula}` |")
    originals = _original_scale(evaluations)
    if originals:
        lines += ["", "On the original scale (log-space targets):", ""]
        lines += [f"- {name}: true `{true}`, recovered `{recovered}`" for name, true, recovered in originals]
    return "\n".join(lines) + "\n"


def summary_page(evaluations: Mapping[str, Evaluation], loss_histories: Mapping[str, Sequence[float]]) -> str:
    """The same table as a self-contained HTML page with each target's loss curve: it opens offline."""
    sections = [("Results", table_html(SUMMARY_HEADER, summary_rows(evaluations)))]
    originals = _original_scale(evaluations)
    if originals:
        sections.append(
            ("On the original scale (log-space targets)", table_html(("target", "true formula", "recovered formula"), originals))
        )
    for name, history in loss_histories.items():
        sections.append(
            (f"Training loss: {name}", figure_html(loss_curve_figure(history, name), f"training MSE per epoch of {name}"))
        )
    return page_html("toy-ann-lab results", sections)
