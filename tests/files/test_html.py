"""Self-contained HTML: escaped text, inline images, nothing loaded from outside; templates shipped in the wheel."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from pipeline.files.html import figure_html, page_html, png_html, table_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2])
    return figure


def texts(markup: str, tag: str) -> list[str]:
    """What a browser shows in each <tag>: `[^<]*` fails on any markup left unescaped inside, and unescaping
    lets the test hold whichever spelling the escaper picks (&quot; or &#34;)."""
    return [html.unescape(inner) for inner in re.findall(rf"<{tag}>([^<]*)</{tag}>", markup)]


def test_table_cells_and_header_are_escaped_so_formulas_stay_text():
    header = ["target", "<b>formula</b>"]
    rows = [["sum", 'f(X) = x1 < x2 & "q"'], ["product", 1.5e-07]]

    table = table_html(header, rows)

    assert texts(table, "th") == ["target", "<b>formula</b>"]
    assert texts(table, "td") == ["sum", 'f(X) = x1 < x2 & "q"', "product", "1.5e-07"]
    assert "<td>f(X) = x1 &lt; x2 &amp; " in table
    assert table.count("<tr>") == 3


def test_a_figure_is_an_img_whose_png_is_an_inline_data_uri():
    image = figure_html(small_figure(), alt='loss of "sum" <1>')

    prefix = '<img src="data:image/png;base64,'
    assert image.startswith(prefix)
    encoded = image[len(prefix) :].split('"', 1)[0]
    assert base64.b64decode(encoded).startswith(PNG_SIGNATURE)
    alt = re.search(r'alt="([^"<>]*)"', image)
    assert alt is not None and html.unescape(alt.group(1)) == 'loss of "sum" <1>'


def test_png_bytes_are_embedded_as_given_with_an_escaped_alt():
    png = PNG_SIGNATURE + b"made elsewhere, e.g. the pictures of how a network computes"

    image = png_html(png, alt="sum: <preactivation.png>")

    encoded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', image)
    assert encoded is not None and base64.b64decode(encoded.group(1)) == png
    assert 'alt="sum: &lt;preactivation.png&gt;"' in image


def test_a_page_escapes_its_title_and_headings_and_loads_nothing_from_outside():
    sections = [("Results <all>", table_html(["a"], [[1]])), ("Loss", figure_html(small_figure(), "loss"))]

    page = page_html("toy & ann", sections)

    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "<title>toy &amp; ann</title>" in page and "<h2>Results &lt;all&gt;</h2>" in page
    assert "<table>" in page and "data:image/png;base64," in page
    outside_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may spell "http"
    assert "http" not in outside_images and 'src="//' not in page and "<link" not in page and "<script" not in page


def test_a_section_stays_html_when_a_caller_adds_its_own_markup_to_a_table():
    """The sweep summary appends its verdict paragraph to a table: neither may come out escaped."""
    page = page_html("Sweep summary", [("Jobs", table_html(["job"], [["0"]]) + "<p>relations hold in 1 of 1 jobs</p>")])

    assert "<td>0</td>" in page and "<p>relations hold in 1 of 1 jobs</p>" in page and "&lt;" not in page


@pytest.mark.slow
def test_the_page_templates_ship_in_the_built_wheel(project_copy: Path, tmp_path: Path):
    """The templates are package data, not modules: an installed toy-ann-lab renders pages only if the wheel
    carries them. Built without isolation, from this environment's setuptools, so the test needs no network."""
    pytest.importorskip("setuptools")
    templates = sorted(p.name for p in (project_copy / "pipeline/files/templates").glob("*.html"))

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), "."],
        cwd=project_copy,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = sorted(Path(n).name for n in zipfile.ZipFile(wheel).namelist() if n.startswith("pipeline/files/templates/"))

    assert templates == ["figure.html", "page.html", "table.html"]
    assert shipped == templates, 'pyproject.toml: [tool.setuptools.package-data] "pipeline.files" = ["templates/*.html"]'
