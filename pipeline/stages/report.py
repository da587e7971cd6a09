"""Stage `report`: every target's evaluation in one table, like the post's results, as Markdown and as a
self-contained HTML page with each target's loss curve (it opens offline, unlike `dvc plots show`'s)."""
from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.evaluation import Evaluation
from pipeline.files import read_json, write_text
from pipeline.report import loss_from_csv, summary_markdown, summary_page
from pipeline.stages import run_stage


def report(pipeline: PipelineConfig, args: list[str]) -> None:
    evaluations_dir = Path(pipeline.paths.evaluations)
    evaluations = {name: Evaluation(**read_json(evaluations_dir / f"{name}.json")) for name in pipeline.targets}
    loss_dir = Path(pipeline.paths.plots) / "loss"
    loss_histories = {name: loss_from_csv((loss_dir / f"{name}.csv").read_text(encoding="utf-8")) for name in pipeline.targets}
    reports_dir = Path(pipeline.paths.reports)
    write_text(reports_dir / "summary.md", summary_markdown(evaluations))
    write_text(reports_dir / "summary.html", summary_page(evaluations, loss_histories))


if __name__ == "__main__":
    run_stage(report)
