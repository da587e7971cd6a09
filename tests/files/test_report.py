"""The DVC pipeline's report: every target in one table, as Markdown and as a self-contained page."""

from __future__ import annotations

from dataclasses import replace

from pipeline.files.report import summary_markdown, summary_page
from tests.helpers import CONVERGED

PRODUCT = replace(
    CONVERGED,
    true_formula_original="f(X) = e^0.0 * x1^1.0",
    recovered_formula_original="f(X) = e^-0.0 * x1^1.0",
)


def test_markdown_summary_has_a_row_per_target_and_the_original_scale_of_log_targets():
    summary = summary_markdown({"sum": CONVERGED, "product": PRODUCT})

    assert (
        "| sum | 0.0001 | 1e-06 | 1e-06 | yes (atol 0.001) | 0.9997 | `f(X) = 1.0*x1 + 0.0` | `f(X) = 1.0*x1 + 0.0` |" in summary
    )
    assert "- product: true `f(X) = e^0.0 * x1^1.0`, recovered `f(X) = e^-0.0 * x1^1.0`" in summary


def test_html_summary_holds_the_same_rows_and_one_inline_loss_curve_per_target():
    page = summary_page({"sum": CONVERGED, "product": PRODUCT}, {"sum": [1.0, 0.1], "product": [2.0, 0.2]})

    assert "<td>yes (atol 0.001)</td>" in page and "<td>f(X) = e^-0.0 * x1^1.0</td>" in page
    assert page.count('src="data:image/png;base64,') == 2
