"""Every path the stages write and read, from params.yaml's `paths`, defined once."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Dataset, PathsConfig, load_pipeline_config
from pipeline.files.layout import Layout
from tests.helpers import TARGETS

ELSEWHERE = PathsConfig(data="in/d", models="out/m", metrics="out/me", plots="out/p", reports="out/r", evaluations="out/e")


def test_each_file_lies_in_the_directory_its_paths_key_names():
    layout = Layout(ELSEWHERE)

    assert layout.data_file(Dataset.gaussian) == Path("in/d/gaussian.npz")
    assert layout.data_file(Dataset.gamma) == Path("in/d/gamma.npz")
    assert layout.coefficients_file() == Path("in/d/drawn_coefficients.json")
    assert layout.model_dir("sum") == Path("out/m/sum")
    assert layout.metrics_file("sum") == Path("out/me/sum.json")
    assert layout.evaluation_file("sum") == Path("out/e/sum.json")
    assert layout.loss_file("sum") == Path("out/p/loss/sum.csv")
    assert layout.summary_markdown_file() == Path("out/r/summary.md")
    assert layout.summary_page_file() == Path("out/r/summary.html")


def test_the_projects_params_put_each_file_where_git_and_dvc_expect_it(project_root):
    layout = Layout(load_pipeline_config(project_root / "params.yaml").paths)

    assert [str(layout.data_file(d)) for d in Dataset] == ["data/gaussian.npz", "data/gamma.npz"]
    assert str(layout.coefficients_file()) == "data/drawn_coefficients.json"
    assert [str(layout.model_dir(t)) for t in TARGETS] == ["models/sum", "models/weighted_sum", "models/product"]
    assert str(layout.metrics_file("product")) == "metrics/product.json"
    assert str(layout.evaluation_file("product")) == "evaluations/product.json"
    assert str(layout.loss_file("product")) == "plots/loss/product.csv"
    assert (str(layout.summary_markdown_file()), str(layout.summary_page_file())) == (
        "reports/summary.md",
        "reports/summary.html",
    )


def test_no_two_targets_or_files_share_a_path():
    layout = Layout(ELSEWHERE)
    per_target = [
        kind(target)
        for target in TARGETS
        for kind in (layout.model_dir, layout.metrics_file, layout.evaluation_file, layout.loss_file)
    ]
    shared = [
        *(layout.data_file(d) for d in Dataset),
        layout.coefficients_file(),
        layout.summary_markdown_file(),
        layout.summary_page_file(),
    ]

    assert len(set(per_target + shared)) == len(per_target) + len(shared)
