"""The DVC pipeline's report: every target in one table, as Markdown and as a self-contained page."""

from __future__ import annotations

import base64
import re
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
        "| sum | 0.0001 | 1e-06 | 1e-06 | yes (atol 0.001) | 100.00% | 1 (0 of 1 units dead) | 0.9997 "
        "| `f(X) = 1.0*x1 + 0.0` | `f(X) = 1.0*x1 + 0.0` |" in summary
    )
    assert "## Linear regions: sum\n\n| units on | share of test rows | slope | intercept | the network there |" in summary
    assert "- product: true `f(X) = e^0.0 * x1^1.0`, recovered `f(X) = e^-0.0 * x1^1.0`" in summary


def test_html_summary_holds_the_same_rows_and_one_inline_loss_curve_per_target():
    page = summary_page({"sum": CONVERGED, "product": PRODUCT}, {"sum": [1.0, 0.1], "product": [2.0, 0.2]})

    assert "<td>yes (atol 0.001)</td>" in page and "<td>f(X) = e^-0.0 * x1^1.0</td>" in page
    assert page.count('src="data:image/png;base64,') == 2


def test_html_summary_shows_each_targets_pictures_of_how_it_computes_in_their_own_section():
    pictures = {"preactivation.png": b"\x89PNG one", "predicted_vs_true.png": b"\x89PNG two"}

    page = summary_page({"sum": CONVERGED}, {"sum": [1.0, 0.1]}, figures={"sum": pictures})

    section = page.split("<h2>How sum computes</h2>", 1)[1]
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', section)
    assert [(base64.b64decode(png), alt) for png, alt in embedded] == [
        (b"\x89PNG one", "sum: preactivation.png"),
        (b"\x89PNG two", "sum: predicted_vs_true.png"),
    ]


def test_html_summary_without_pictures_has_no_section_for_them():
    page = summary_page({"sum": CONVERGED}, {"sum": [1.0, 0.1]})

    assert "computes</h2>" not in page


def test_a_target_without_m_and_c_shows_n_a_and_its_regions_and_why_it_cannot_be_exact():
    note = "abs_sum is exact at width 2; this network has 1 hidden unit, so it cannot represent it exactly"
    regions = [
        {"pattern": "1", "share": 0.5, "slope": [1.0], "intercept": 0.0, "formula": "f(X) = 1.0*x1 + 0.0"},
        {"pattern": "0", "share": 0.5, "slope": [0.0], "intercept": 0.0, "formula": "f(X) = 0.0*x1 + 0.0"},
    ]
    abs_sum = replace(
        CONVERGED,
        m_residual=None,
        c_residual=None,
        relations_hold=None,
        local_relation_share=0.5,
        width_note=note,
        linear_regions=2,
        regions=regions,
    )

    summary = summary_markdown({"abs_sum": abs_sum})
    page = summary_page({"abs_sum": abs_sum}, {"abs_sum": [1.0, 0.5]})

    assert "| abs_sum | 0.0001 | n/a | n/a | n/a | 50.00% | 2 (0 of 1 units dead) |" in summary
    assert "| 0 | 50.00% | 0 | 0 | `f(X) = 0.0*x1 + 0.0` |" in summary and note in summary
    assert f"<p>{note}</p>" in page and page.count("<td>f(X) = ") == 2 + 2  # the summary's two formulas, two regions


def test_the_bars_of_an_absolute_value_do_not_split_the_markdown_table():
    abs_sum = replace(CONVERGED, true_formula="f(X) = |1.0*x1 + 0.0|")

    summary = summary_markdown({"abs_sum": abs_sum})

    assert "| `f(X) = \\|1.0*x1 + 0.0\\|` |" in summary
