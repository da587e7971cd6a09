"""Self-contained HTML pages: tables and inline figures, no external resources, so a report opens offline.

Every piece of text is escaped here, so callers pass plain values and formulas like `x1 < 0` stay text.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
td { font-family: monospace; }
img { max-width: 100%; }
"""


def figure_html(figure: Figure, alt: str) -> str:
    """An <img> whose PNG is a data URI: the page needs no image file beside it."""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    encoded = base64.b64encode(png.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def table_html(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def page_html(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole page; each section is (heading, inner HTML), the heading escaped, the inner HTML as given."""
    body = "".join(f"<section>\n<h2>{html.escape(heading)}</h2>\n{inner}\n</section>\n" for heading, inner in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{body}</body>\n</html>\n"
    )
