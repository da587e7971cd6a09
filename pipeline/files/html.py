"""Self-contained HTML pages: tables and inline figures, no external resources, so a report opens offline.

The markup lives in Jinja2 templates beside this module (`templates/`), rendered with autoescaping on:
callers pass plain values, and formulas like `x1 < 0` stay text.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import jinja2

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# PackageLoader reads the templates as package data, so an installed wheel renders the same pages as a checkout.
# StrictUndefined: a misspelt variable fails the render instead of leaving a silent blank on the page.
# trim_blocks and lstrip_blocks: a line holding only a {% for %} tag leaves no blank line in the page.
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pipeline.files"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _render(template: str, **values: object) -> str:
    """A plain str, not Markup: a caller's `table_html(...) + "<p>...</p>"` stays HTML, not escaped again."""
    return _TEMPLATES.get_template(template).render(**values)


def png_html(png: bytes, alt: str) -> str:
    """An <img> whose PNG is a data URI: the page needs no image file beside it."""
    return _render("figure.html", png_base64=base64.b64encode(png).decode("ascii"), alt=alt)


def figure_png(figure: Figure) -> bytes:
    """A figure as PNG bytes, as `savefig` writes the file."""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return png.getvalue()


def figure_html(figure: Figure, alt: str) -> str:
    return png_html(figure_png(figure), alt)


def table_html(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return _render("table.html", header=header, rows=rows)


def page_html(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole page; each section is (heading, inner HTML), the heading escaped, the inner HTML as given."""
    return _render("page.html", title=title, sections=sections)
