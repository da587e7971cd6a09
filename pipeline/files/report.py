"""What a person reads: the loss curve, the summary table of every target, like the post's results, and the
pictures of how each network computes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.figure import Figure

from pipeline.core.evaluation import Evaluation
from pipeline.files.html import figure_html, page_html, png_html, table_html
from pipeline.files.markdown import code_cell


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
    "local relations hold (test rows)",
    "linear regions",
    "units active (train)",
    "true formula",
    "recovered formula",
)
NOT_APPLICABLE = "n/a"  # a number that does not exist for this target (no m and c for max2; no local map for product2)


def _number(value: float | None, spec: str) -> str:
    return NOT_APPLICABLE if value is None else format(value, spec)


def summary_rows(evaluations: Mapping[str, Evaluation]) -> list[list[str]]:
    """One row of text per target, in SUMMARY_HEADER's order: what both the Markdown and the HTML show."""
    return [
        [
            name,
            f"{ev.test_mse:.3g}",
            _number(ev.m_residual, ".2g"),
            _number(ev.c_residual, ".2g"),
            NOT_APPLICABLE if ev.relations_hold is None else f"{'yes' if ev.relations_hold else 'NO'} (atol {ev.atol:g})",
            _number(ev.local_relation_share, ".2%"),
            f"{ev.linear_regions} ({ev.dead_units} of {ev.width} units dead)",
            f"{ev.relu_active_fraction:.4f}",
            ev.true_formula,
            ev.recovered_formula,
        ]
        for name, ev in evaluations.items()
    ]


REGIONS_HEADER = ("units on", "share of test rows", "slope", "intercept", "the network there")


def regions_rows(evaluation: Evaluation) -> list[list[str]]:
    """Every linear region of one network on the test rows, largest first: where it is which affine map."""
    return [
        [
            region["pattern"],
            f"{region['share']:.2%}",
            ", ".join(f"{v:.3g}" for v in region["slope"]),
            f"{region['intercept']:.3g}",
            region["formula"],
        ]
        for region in evaluation.regions
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
        lines.append("| " + " | ".join(numbers) + f" | {code_cell(true_formula)} | {code_cell(recovered_formula)} |")
    originals = _original_scale(evaluations)
    if originals:
        lines += ["", "On the original scale (log-space targets):", ""]
        lines += [f"- {name}: true `{true}`, recovered `{recovered}`" for name, true, recovered in originals]
    for name, ev in evaluations.items():
        lines += ["", f"## Linear regions: {name}", ""]
        lines += [ev.width_note, ""] if ev.width_note else []
        lines += ["| " + " | ".join(REGIONS_HEADER) + " |", "|" + "---|" * len(REGIONS_HEADER)]
        lines += ["| " + " | ".join(row[:-1]) + f" | {code_cell(row[-1])} |" for row in regions_rows(ev)]
    return "\n".join(lines) + "\n"


# Side by side as the page's width allows, tops aligned: the pictures differ in height.
PICTURE_ROW = '<div style="display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start">{}</div>'


def _pictures_html(target: str, pngs: Mapping[str, bytes]) -> str:
    """A target's pictures in the order given, each described by its file name for readers without images."""
    return PICTURE_ROW.format("\n".join(png_html(png, f"{target}: {file_name}") for file_name, png in pngs.items()))


def summary_page(
    evaluations: Mapping[str, Evaluation],
    loss_histories: Mapping[str, Sequence[float]],
    figures: Mapping[str, Mapping[str, bytes]] | None = None,
) -> str:
    """The same table as a self-contained HTML page with each target's loss curve and, given `figures`
    (target -> file name -> PNG bytes, as the run saves them), the pictures of how it computes: it opens offline."""
    sections = [("Results", table_html(SUMMARY_HEADER, summary_rows(evaluations)))]
    originals = _original_scale(evaluations)
    if originals:
        sections.append(
            ("On the original scale (log-space targets)", table_html(("target", "true formula", "recovered formula"), originals))
        )
    for name, ev in evaluations.items():
        note = f"<p>{escape(ev.width_note)}</p>" if ev.width_note else ""
        sections.append((f"Linear regions: {name}", note + table_html(REGIONS_HEADER, regions_rows(ev))))
    for name, history in loss_histories.items():
        sections.append(
            (f"Training loss: {name}", figure_html(loss_curve_figure(history, name), f"training MSE per epoch of {name}"))
        )
    for name, pngs in (figures or {}).items():
        sections.append((f"How {name} computes", _pictures_html(name, pngs)))
    return page_html("toy-ann-lab results", sections)
