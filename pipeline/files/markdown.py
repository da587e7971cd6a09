"""Markdown the project writes (the DVC report, a run's description in MLflow): its one escape."""

from __future__ import annotations


def code_cell(text: str) -> str:
    """A formula as code in a Markdown table cell: the bars of `f(X) = |x1 + x2|` escaped, or they would split
    the cell (GitHub's and MLflow's Markdown split a row on every unescaped `|`, code spans included)."""
    return "`" + text.replace("|", "\\|") + "`"
