"""Stage `report`: every target's evaluation in one table, like the post's results, as Markdown and as a
self-contained HTML page with each target's loss curve and the pictures of how its network computes, which
its train stage drew beside the model (it opens offline, unlike `dvc plots show`'s)."""

from __future__ import annotations

from pipeline.core.evaluation import Evaluation
from pipeline.files.atomic import read_json, write_text
from pipeline.files.records import loss_from_csv, read_figures
from pipeline.files.report import summary_markdown, summary_page
from pipeline.stages import StageContext, run_stage


def report(stage: StageContext) -> None:
    layout, targets = stage.layout, stage.pipeline.targets
    evaluations = {name: Evaluation(**read_json(layout.evaluation_file(name))) for name in targets}
    loss_histories = {name: loss_from_csv(layout.loss_file(name).read_text(encoding="utf-8")) for name in targets}
    figures = {name: read_figures(layout.model_dir(name)) for name in targets}
    write_text(layout.summary_markdown_file(), summary_markdown(evaluations))
    write_text(layout.summary_page_file(), summary_page(evaluations, loss_histories, figures))


if __name__ == "__main__":
    run_stage(report)
