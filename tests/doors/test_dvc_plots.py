"""`dvc plots show`: one plot with every target's training loss on a log scale, in a page that carries its own
JavaScript (vega, vega-lite and vega-embed, inlined from vl-convert-python), so it draws with the network off."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dvc.repo import Repo

from pipeline.config import PROJECT_ROOT, load_pipeline_config
from pipeline.files.layout import PARAMS_FILE, Layout
from tests.helpers import TARGETS, sh

PLOTS_DIR = PROJECT_ROOT / ".dvc" / "plots"


def top_level_plots() -> list[dict]:
    with Repo(str(PROJECT_ROOT)) as repo:
        return [plot for plots in repo.index._plots.values() for plot in plots]


def write_loss_curves(project: Path) -> None:
    """Each target's loss CSV, as the train stage writes it, falling from 10 to about 1e-4 over 50 epochs."""
    for offset, target in enumerate(TARGETS):
        rows = "".join(f"{epoch},{10 ** (1 - epoch / 10 - offset / 3)!r}\n" for epoch in range(1, 51))
        path = project / "plots" / "loss" / f"{target}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("epoch,loss\n" + rows)


def plotted_specs(page: str) -> list[dict]:
    """The vega-lite spec of each plot on a page dvc-render wrote (`var spec = {...}; vegaEmbed(...)`)."""
    return [json.loads(spec) for spec in re.findall(r"var spec = (\{.*?\});\s*vegaEmbed\(", page, re.S)]


def test_one_top_level_plot_overlays_every_targets_loss_against_the_epoch():
    layout = Layout(load_pipeline_config(PARAMS_FILE).paths)

    [plot] = top_level_plots()
    [props] = plot.values()

    assert props["template"] == "loss_log" and props["x"] == "epoch"
    assert props["y"] == {str(layout.loss_file(target)): "loss" for target in load_pipeline_config(PARAMS_FILE).targets}


def test_the_loss_template_draws_a_log_scale_with_a_colour_per_target():
    template = json.loads((PLOTS_DIR / "loss_log.json").read_text())
    encoding = template["encoding"]

    assert encoding["y"]["scale"] == {"type": "log"}
    assert encoding["color"]["field"] == "target" and encoding["strokeDash"]["field"] == "rev"
    assert {"calculate": "replace(datum.filename, /[.]csv$/, '')", "as": "target"} in template["transform"]


@pytest.mark.slow
def test_plots_show_writes_one_plot_of_every_target_on_a_page_that_loads_nothing(project_copy):
    write_loss_curves(project_copy)

    shown = sh("dvc", "plots", "show", cwd=project_copy)

    page = (project_copy / "dvc_plots" / "index.html").read_text()
    assert shown.stdout.strip() == (project_copy / "dvc_plots" / "index.html").as_uri()
    assert not re.search(r"<script[^>]*\ssrc=", page) and "cdn." not in page.split("<body>")[1]
    assert "window.vegaEmbed=" in page  # the inlined bundle
    [spec] = plotted_specs(page)
    assert {row["filename"] for row in spec["data"]["values"]} == {f"{target}.csv" for target in TARGETS}
    assert spec["encoding"]["y"]["scale"] == {"type": "log"}
    assert sh("git", "status", "--porcelain", "--untracked-files=all", "dvc_plots", cwd=project_copy).stdout == ""  # ignored


@pytest.mark.slow
def test_the_plots_page_draws_in_a_browser_with_the_network_off(project_copy):
    """Headless Chromium in a network namespace of its own (no interface but loopback, which is down)."""
    chromium, unshare = shutil.which("chromium"), shutil.which("unshare")
    if chromium is None or unshare is None:
        pytest.skip("needs Debian's chromium and util-linux's unshare (apt-get install chromium)")
    write_loss_curves(project_copy)
    sh("dvc", "plots", "show", cwd=project_copy)
    page = project_copy / "dvc_plots" / "index.html"

    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=15000"]
    done = subprocess.run(
        [unshare, "--net", *browser, f"--user-data-dir={project_copy / 'chromium'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )

    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no network namespace for this user: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('aria-roledescription="line mark"') == len(TARGETS)  # vega drew a line per target
    assert all(f">{target}</text>" in done.stdout for target in TARGETS)  # and the legend names them


@pytest.mark.slow  # vl-convert bundles the JavaScript in about 4 s
def test_the_committed_offline_page_is_what_its_generator_makes_from_vl_convert():
    if importlib.util.find_spec("vl_convert") is None:
        pytest.skip("vl-convert-python is not installed (the test extra has it): cannot regenerate the page to compare")
    from pipeline.ops import plots_page

    assert plots_page.PAGE == PLOTS_DIR / "offline.html"
    assert plots_page.offline_page() == plots_page.PAGE.read_text(encoding="utf-8"), (
        "run `python -m pipeline.ops.plots_page` and commit .dvc/plots/offline.html"
    )


def test_the_offline_page_is_dvcs_default_and_leaves_out_dvcs_script_tags():
    """`{scripts}` is where dvc-render puts its <script src> tags for a CDN; `{plot_divs}` takes the plots."""
    with Repo(str(PROJECT_ROOT)) as repo:
        template = Path(repo.dvc_dir) / repo.config["plots"]["html_template"]
    page = template.read_text(encoding="utf-8")

    assert template == PLOTS_DIR / "offline.html"
    assert "{plot_divs}" in page and "{scripts}" not in page
    assert page.lower().count("</script") == 1  # the bundle, inlined, does not end its own script early
