"""Self-contained HTML: escaped text, inline images, nothing loaded from outside."""

from __future__ import annotations

import base64
import re

from matplotlib.figure import Figure

from pipeline.files.html import figure_html, page_html, table_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2])
    return figure


def test_table_cells_and_header_are_escaped_so_formulas_stay_text():
    header = ["target", "<b>formula</b>"]
    rows = [["sum", 'f(X) = x1 < x2 & "q"'], ["product", 1.5e-07]]

    table = table_html(header, rows)

    assert "<th>&lt;b&gt;formula&lt;/b&gt;</th>" in table
    assert "<td>f(X) = x1 &lt; x2 &amp; &quot;q&quot;</td>" in table
    assert "<td>1.5e-07</td>" in table
    assert table.count("<tr>") == 3


def test_a_figure_is_an_img_whose_png_is_an_inline_data_uri():
    image = figure_html(small_figure(), alt='loss of "sum" <1>')

    prefix = '<img src="data:image/png;base64,'
    assert image.startswith(prefix)
    encoded = image[len(prefix) :].split('"', 1)[0]
    assert base64.b64decode(encoded).startswith(PNG_SIGNATURE)
    assert 'alt="loss of &quot;sum&quot; &lt;1&gt;"' in image


def test_a_page_escapes_its_title_and_headings_and_loads_nothing_from_outside():
    sections = [("Results <all>", table_html(["a"], [[1]])), ("Loss", figure_html(small_figure(), "loss"))]

    page = page_html("toy & ann", sections)

    assert page.startswith("<!DOCTYPE html>")
    assert "<title>toy &amp; ann</title>" in page and "<h2>Results &lt;all&gt;</h2>" in page
    assert "<table>" in page and "data:image/png;base64," in page
    outside_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may spell "http"
    assert "http" not in outside_images and 'src="//' not in page and "<link" not in page and "<script" not in page
