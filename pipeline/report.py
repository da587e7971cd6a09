"""What a person reads: the loss curve, and the summary table of every target, like the post's results."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.figure import Figure  # noqa: E402

from pipeline.evaluation import Evaluation  # noqa: E402


def loss_curve_figure(loss_history: Sequence[float], title: str) -> Figure:
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(range(1, len(loss_history) + 1), loss_history)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("training MSE")
    axes.set_title(title)
    return figure


def loss_csv(loss_history: Sequence[float]) -> str:
    """epoch,loss rows: what `dvc plots` draws."""
    return "epoch,loss\n" + "".join(f"{epoch},{loss!r}\n" for epoch, loss in enumerate(loss_history, start=1))


def summary_markdown(evaluations: Mapping[str, Evaluation]) -> str:
    lines = [
        "# Results",
        "",
        "| target | test MSE | max abs m residual | abs c residual | relations hold | ReLU active (train) "
        "| true formula | recovered formula |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, ev in evaluations.items():
        verdict = f"{'yes' if ev.relations_hold else 'NO'} (atol {ev.atol:g})"
        lines.append(
            f"| {name} | {ev.test_mse:.3g} | {ev.m_residual:.2g} | {ev.c_residual:.2g} | {verdict} "
            f"| {ev.relu_active_fraction:.4f} | `{ev.true_formula}` | `{ev.recovered_formula}` |"
        )
    originals = {name: ev for name, ev in evaluations.items() if ev.true_formula_original}
    if originals:
        lines += ["", "On the original scale (log-space targets):", ""]
        for name, ev in originals.items():
            lines.append(f"- {name}: true `{ev.true_formula_original}`, recovered `{ev.recovered_formula_original}`")
    return "\n".join(lines) + "\n"
