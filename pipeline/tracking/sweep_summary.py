"""A sweep's summary: the jobs grouped by setting (every swept key but the seeds) with the median and quartiles
of their results over the seeds, one row per job (its swept values, MSE, residuals, verdicts, linear regions,
the distribution over its replicates, status), the share of jobs whose relations hold, and plots of each
setting's results by each swept key, a colour per target. Free of MLflow."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import ScaledTranslation

from pipeline.core.replicates import Placement, Spread
from pipeline.failures import RunStatus
from pipeline.files.html import figure_html, page_html, table_html
from pipeline.tracking.tags import FAILURE_TAG, JOB_TAG, OVERRIDE_TAG_PREFIX

# Keys that draw another sample of the same setting rather than change it: the seeds of the initialisation (and
# batch order) and of the data, and how many replicates a job trains at once. Jobs that differ only in these are
# one setting, summarised over them, and no figure has them as an axis: seed 2 is not "more" than seed 1.
REPLICATE_KEYS = ("model.seed", "data.seed", "train.replicates")

# A column is shown when some job has its metric: no m and c for max2, no local relations for product2.
RESULT_COLUMNS = (
    "test_mse",
    "m_residual",
    "c_residual",
    "relations_hold",
    "local_relation_share",
    "local_relations_hold",
    "converged",
    "linear_regions",
    "dead_units",
    "relu_active_fraction",
)
INITS_COLUMNS = ("relations_hold_share", "local_relations_hold_share", "relu_dead_share")  # jobs of several networks
GROUPED_COLUMNS = ("test_mse", "m_residual", "c_residual")  # summarised over a setting's seeds
VERDICTS = {
    "relations_hold": "relations hold",
    "local_relations_hold": "the local relations hold (exact)",
    "converged": "converged (a verdict holds and the test R² reaches eval.converged_r2)",
}
# What a job of several replicates always logs about their distribution when its target has a verdict
# (`converged_share_low`/`_high`: Wilson 95%); the w2 < 0 failures (width 1 only), the converged replicates'
# spread (when some converged) and the post's figure (its three targets) come when they exist.
DISTRIBUTION_METRICS = ("replicates", "converged_share", "converged_share_low", "converged_share_high")
# The rest of a job's distribution in the CSV, full precision, where the job has them.
DISTRIBUTION_DETAIL = (
    "w2_negative_failure_share",
    "converged_test_mse_min",
    "converged_test_mse_q1",
    "converged_test_mse_median",
    "converged_test_mse_q3",
    "converged_test_mse_max",
    "post_test_mse",
    "post_test_mse_percentile",
)
MARKERS = ("o", "s", "^", "D", "v", "P")  # one per series of a figure, when a third key splits a target's settings
DODGE = 0.12  # on a categorical axis, the spacing of the points that share a category, so their bars stay apart
POINT_DODGE = 4.0  # on a numeric axis the same, in points: the value it marks stays where it is


@dataclass(frozen=True)
class JobResult:
    number: int
    overrides: dict[str, str]  # key -> value, as typed on the command line
    status: str  # MLflow's: FINISHED, or FAILED or KILLED
    failure: str | None
    metrics: dict[str, float]
    evaluation: dict[str, Any] | None  # the child's evaluation.json

    @classmethod
    def from_child(cls, child: Any) -> JobResult:
        """From a recorded child run (`tracking.runs.RecordedRun`)."""
        overrides = {
            key[len(OVERRIDE_TAG_PREFIX) :]: value for key, value in child.tags.items() if key.startswith(OVERRIDE_TAG_PREFIX)
        }
        return cls(
            int(child.tags[JOB_TAG]), overrides, child.status, child.tags.get(FAILURE_TAG), child.metrics, child.evaluation
        )

    @property
    def finished(self) -> bool:
        return self.status == RunStatus.FINISHED

    def holds(self, verdict: str) -> bool:
        """A verdict of VERDICTS, true only for a finished job whose metric says so."""
        return self.finished and self.metrics.get(verdict) == 1.0

    @property
    def target(self) -> str:
        """What the job trained on, when the sweep chose it: the colour of its points."""
        return self.overrides.get("target", "")


@dataclass(frozen=True)
class JobGroup:
    """The jobs of one setting: the same value of every swept key but REPLICATE_KEYS. Its numbers are over its
    finished jobs (a failed one has none); its shares over all its jobs, a failed one counting as not holding, as
    the parent's shares do."""

    setting: tuple[tuple[str, str], ...]  # (key, value) for each swept key but the seeds
    jobs: tuple[JobResult, ...]

    def value(self, key: str) -> str:
        return dict(self.setting)[key]

    @property
    def failed(self) -> int:
        return sum(not job.finished for job in self.jobs)

    @property
    def target(self) -> str:
        """One per group: when the sweep varies the target it is part of the setting, else every job shares it."""
        return self.jobs[0].target

    def quartiles(self, metric: str) -> tuple[float, float, float] | None:
        """(q1, median, q3) of a metric over the finished jobs that have it; None when none has it."""
        values = [job.metrics[metric] for job in self.jobs if job.finished and metric in job.metrics]
        if not values:
            return None
        spread = Spread.of(values)
        return spread.q1, spread.median, spread.q3

    def held(self, verdict: str) -> int:
        """How many hold the verdict; for `converged`, a job of several replicates counts each that converged."""
        return sum(_replicates_converged(job) if verdict == "converged" else job.holds(verdict) for job in self.jobs)

    def judged(self, verdict: str) -> int:
        """How many networks the verdict was asked of: a job's replicates for `converged`, else its jobs."""
        return sum(_replicate_count(job) if verdict == "converged" else 1 for job in self.jobs)

    def share(self, verdict: str) -> float:
        return self.held(verdict) / self.judged(verdict)


def _replicate_count(job: JobResult) -> int:
    return int(job.metrics.get("replicates", 1)) if job.finished else 1


def _replicates_converged(job: JobResult) -> int:
    """Every replicate of a job that converged (its own network for a job of one); none for a failed job."""
    if not job.finished:
        return 0
    if "converged_share" in job.metrics:
        return round(job.metrics["converged_share"] * job.metrics["replicates"])
    return int(job.holds("converged"))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


COUNTS = ("linear_regions", "dead_units")  # whole numbers: 1050 regions, not 1.05e+03


def _cell(job: JobResult, column: str) -> str:
    if column not in job.metrics:
        return ""
    if column in COUNTS:
        return f"{job.metrics[column]:.0f}"
    if column in VERDICTS:
        return "yes" if job.holds(column) else "NO"
    if column.endswith(("_fraction", "_share")):  # 0.99975 must not print as 1
        return f"{job.metrics[column]:.5g}"
    return f"{job.metrics[column]:.3g}"


def _spread_cell(quartiles: tuple[float, float, float] | None) -> str:
    """`median [q1, q3]`, or the median alone when the quartiles are the same (one job in the setting)."""
    if quartiles is None:
        return ""
    q1, median, q3 = quartiles
    return f"{median:.3g}" if q1 == q3 else f"{median:.3g} [{q1:.3g}, {q3:.3g}]"


def _count_of(metrics: dict[str, float], share: str) -> str:
    """A share of a job's replicates as the count it stands for: `14 of 32`."""
    replicates = int(metrics["replicates"])
    return f"{round(metrics[share] * replicates)} of {replicates}"


def _converged_cell(metrics: dict[str, float]) -> str:
    """E.g. `14 of 32 (44%, 95% CI 28-61%)`: how many replicates converged, with the Wilson interval of the share."""
    share, low, high = metrics["converged_share"], metrics["converged_share_low"], metrics["converged_share_high"]
    return f"{_count_of(metrics, 'converged_share')} ({share:.0%}, 95% CI {low * 100:.0f}-{high * 100:.0f}%)"


def _any_converged(metrics: dict[str, float]) -> bool:
    return metrics.get("converged_share", 0.0) > 0 and math.isfinite(metrics.get("converged_test_mse_median", math.nan))


def _converged_mse_cell(metrics: dict[str, float]) -> str:
    """The converged replicates' test MSE: `median [q1, q3], range min-max`."""
    if not _any_converged(metrics):
        return "none converged"
    q1, median, q3, low, high = (metrics[f"converged_test_mse_{name}"] for name in ("q1", "median", "q3", "min", "max"))
    return f"{median:.3g} [{q1:.3g}, {q3:.3g}], range {low:.3g} to {high:.3g}"


def post_placement(metrics: dict[str, float]) -> str:
    """Where the blog post's one test MSE falls among a job's converged replicates (core.replicates.Placement):
    a single run's figure read against the distribution it was drawn from."""
    post = metrics["post_test_mse"]
    if not _any_converged(metrics):
        return f"{post:.3g}: no replicate converged"
    low, high = metrics["converged_test_mse_min"], metrics["converged_test_mse_max"]
    return Placement(post, metrics["post_test_mse_percentile"], low, high).text()


def _replicate_cells(metrics: dict[str, float], with_post: bool) -> list[str]:
    """The per-job columns of a job of several replicates; blank for a job of one (or a failed job)."""
    post = [post_placement(metrics) if "post_test_mse" in metrics else ""] if with_post else []
    if metrics.get("replicates", 1) <= 1 or not all(name in metrics for name in DISTRIBUTION_METRICS):
        return ["", "", "", ""] + [""] * len(post)
    w2_negative = (
        f"{_count_of(metrics, 'w2_negative_failure_share')} ({metrics['w2_negative_failure_share']:.0%})"
        if "w2_negative_failure_share" in metrics
        else "n/a"
    )
    return [f"{metrics['replicates']:.0f}", _converged_cell(metrics), w2_negative, _converged_mse_cell(metrics), *post]


def _markdown_table(rows: Sequence[Sequence[str]]) -> list[str]:
    header, *body = rows
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@dataclass(frozen=True)
class _Series:
    """The settings of one target that share every swept key but the figure's x: one marker, one colour."""

    label: str | None
    colour: str
    marker: str
    groups: tuple[JobGroup, ...]


class SweepSummary:
    def __init__(self, jobs: Sequence[JobResult], launched: int | None = None):
        """`launched`: how many jobs the sweeper started, when it is known; jobs without a run are missing."""
        self.jobs = list(jobs)
        self.missing = max(0, launched - len(self.jobs)) if launched is not None else 0
        self.keys = self._swept_keys()
        self.setting_keys = [key for key in self.keys if key not in REPLICATE_KEYS]
        several = any(job.metrics.get("inits", 1) > 1 or job.metrics.get("replicates", 1) > 1 for job in self.jobs)
        candidates = RESULT_COLUMNS + INITS_COLUMNS if several else RESULT_COLUMNS
        self.columns = tuple(c for c in candidates if any(c in job.metrics for job in self.jobs)) or RESULT_COLUMNS[:1]
        self.verdicts = [v for v in VERDICTS if v in self.columns]
        self.groups = self._groups()
        self.grouped_columns = [c for c in GROUPED_COLUMNS if c in self.columns]
        self.with_replicates = any(job.metrics.get("replicates", 1) > 1 for job in self.jobs)
        self.with_post = self.with_replicates and any("post_test_mse" in job.metrics for job in self.jobs)
        self.targets = list(dict.fromkeys(job.target for job in self.jobs))  # colour k for the k-th: stable

    def _swept_keys(self) -> list[str]:
        """The keys whose value differs between jobs; with a single job, all its overrides."""
        keys = list(dict.fromkeys(key for job in self.jobs for key in job.overrides))
        varying = [key for key in keys if len({job.overrides.get(key) for job in self.jobs}) > 1]
        return varying or keys

    def _groups(self) -> list[JobGroup]:
        """The jobs by setting, in the order the sweep first ran each."""
        by_setting: dict[tuple[tuple[str, str], ...], list[JobResult]] = {}
        for job in self.jobs:
            setting = tuple((key, job.overrides.get(key, "")) for key in self.setting_keys)
            by_setting.setdefault(setting, []).append(job)
        return [JobGroup(setting, tuple(jobs)) for setting, jobs in by_setting.items()]

    @property
    def failed(self) -> int:
        return sum(not job.finished for job in self.jobs)

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.missing

    def metrics(self) -> dict[str, float]:
        """For the parent run: how many jobs, how many failed, how many settings, and for each verdict the jobs have
        (the post's relations, the local relations) the share of jobs where it holds (a failed job counts as not
        holding)."""
        everything = JobGroup((), tuple(self.jobs))
        shares = {f"{verdict}_share": everything.share(verdict) for verdict in self.verdicts} if self.jobs else {}
        if not self.jobs:
            shares = {"relations_hold_share": math.nan}
        return {
            "jobs": float(len(self.jobs)),
            "jobs_failed": float(self.failed),
            "jobs_missing": float(self.missing),
            "groups": float(len(self.groups)),
            **shares,
        }

    def _replicate_headers(self) -> list[str]:
        if not self.with_replicates:
            return []
        headers = ["replicates", "converged", "failed with w2 < 0", "converged test_mse median [q1, q3], range"]
        return headers + (["post's test_mse among the converged"] if self.with_post else [])

    def rows(self) -> list[list[str]]:
        """The record: one row per job."""
        header = ["job", *self.keys, *self.columns, *self._replicate_headers(), "status"]
        body = [
            [
                str(job.number),
                *(job.overrides.get(key, "") for key in self.keys),
                *(_cell(job, c) for c in self.columns),
                *(_replicate_cells(job.metrics, self.with_post) if self.with_replicates else []),
                job.status if job.finished else f"{job.status}: {job.failure or 'no reason recorded'}",
            ]
            for job in self.jobs
        ]
        return [header, *body]

    def group_rows(self) -> list[list[str]]:
        """One row per setting: its values, its jobs and failures, `median [q1, q3]` of each result, and each
        verdict as `held of jobs`."""
        header = [*self.setting_keys, "jobs", "failed", *self.grouped_columns, *self.verdicts]
        body = [
            [
                *(value for _, value in group.setting),
                str(len(group.jobs)),
                str(group.failed),
                *(_spread_cell(group.quartiles(c)) for c in self.grouped_columns),
                *(f"{group.held(v)} of {group.judged(v)} ({group.share(v):.0%})" for v in self.verdicts),
            ]
            for group in self.groups
        ]
        return [header, *body]

    def markdown(self) -> str:
        lines = [f"Groups ({self._groups_note()}):", "", *_markdown_table(self.group_rows()), "", "Jobs:", ""]
        lines += [*_markdown_table(self.rows()), "", self.verdict_line()]
        return "\n".join(lines) + "\n"

    @property
    def one_job_per_group(self) -> bool:
        """No seed swept: a group's numbers are its one job's."""
        return all(len(group.jobs) == 1 for group in self.groups)

    def _groups_note(self) -> str:
        if self.one_job_per_group:
            return "one per setting, one job each"
        return "one per setting of every swept key but the seeds; median [first quartile, third quartile] over its finished jobs"

    def verdict_line(self) -> str:
        """E.g. `relations hold in 2 of 3 jobs (67%); 1 failed`: each verdict the jobs have (`converged` counting
        every replicate of a job of several), then the failures."""
        everything = JobGroup((), tuple(self.jobs))
        parts = [
            f"{VERDICTS[v]} in {everything.held(v)} of {everything.judged(v)} "
            f"{'networks' if everything.judged(v) != len(self.jobs) else 'jobs'} ({everything.share(v):.0%})"
            for v in self.verdicts
        ]
        line = "; ".join([*parts, f"{self.failed} failed"])
        return line + (f"; {self.missing} launched but left no run" if self.missing else "")

    def placement_lines(self) -> list[str]:
        """For the terminal: one line per job with the post's figure, where it falls among the job's converged
        replicates (`job 3 (target=product): the post's test MSE 7.52e-09: the 14th percentile of ...`)."""
        return [
            f"job {job.number} ({self._describe(job)}): the post's test MSE {post_placement(job.metrics)}"
            for job in self.jobs
            if "post_test_mse" in job.metrics
        ]

    def _describe(self, job: JobResult) -> str:
        return " ".join(f"{key}={job.overrides.get(key, '')}" for key in self.keys)

    def csv(self) -> str:
        """Full precision, for pandas and spreadsheets: the metrics themselves, not the table's phrases."""
        candidates = DISTRIBUTION_METRICS + DISTRIBUTION_DETAIL if self.with_replicates else ()
        replicate_columns = [c for c in candidates if any(c in job.metrics for job in self.jobs)]
        rows = [["job", *self.keys, *self.columns, *replicate_columns, "status"]]
        for job in self.jobs:
            values = [str(job.number), *(job.overrides.get(key, "") for key in self.keys)]
            values += [repr(job.metrics[c]) if c in job.metrics else "" for c in (*self.columns, *replicate_columns)]
            rows.append([*values, job.status])
        return _csv_text(rows)

    def groups_csv(self) -> str:
        """The groups at full precision: q1, median and q3 of each result, the share of each verdict."""
        spreads = [f"{c}_{stat}" for c in self.grouped_columns for stat in ("q1", "median", "q3")]
        rows = [[*self.setting_keys, "jobs", "failed", *spreads, *(f"{v}_share" for v in self.verdicts)]]
        for group in self.groups:
            values = [*(value for _, value in group.setting), str(len(group.jobs)), str(group.failed)]
            for column in self.grouped_columns:
                quartiles = group.quartiles(column)
                values += [repr(q) for q in quartiles] if quartiles else ["", "", ""]
            rows.append([*values, *(repr(group.share(v)) for v in self.verdicts)])
        return _csv_text(rows)

    def files(self, figures: dict[str, Figure]) -> dict[str, str]:
        """The summary as Markdown, CSV (the jobs; the groups), and a self-contained HTML page holding the
        figures (it opens offline)."""
        return {
            "sweep_summary.md": self.markdown(),
            "sweep_summary.csv": self.csv(),
            "sweep_groups.csv": self.groups_csv(),
            "sweep_report.html": self.html(figures),
        }

    def html(self, figures: dict[str, Figure]) -> str:
        group_header, *group_body = self.group_rows()
        header, *body = self.rows()
        sections = [
            ("Groups", f"<p>{escape(self._groups_note())}</p>" + table_html(group_header, group_body)),
            ("Jobs", table_html(header, body) + f"<p>{escape(self.verdict_line())}</p>"),
        ]
        sections += [(name.removesuffix(".png").replace("_", " "), figure_html(figure, name)) for name, figure in figures.items()]
        return page_html("Sweep summary", sections)

    def figures(self) -> dict[str, Figure]:
        """Each group's results by each swept key but the seeds (none when only seeds are swept), and true against
        recovered coefficients when there are more than a couple of true values: sum's and product's 1s and 0 make
        two clumps on the diagonal that say nothing the residuals do not."""
        if not any(job.finished for job in self.jobs):
            return {}
        figures = {f"by_{key.replace('/', '_')}.png": self._by(key) for key in self.setting_keys}
        if len(set(_true_coefficients(self._affine_evaluations()))) > 2:
            figures["coefficients.png"] = self._coefficients()
        return figures

    def _numeric(self, key: str) -> bool:
        return all(_number(group.value(key)) is not None for group in self.groups)

    def _series(self, key: str) -> list[_Series]:
        """The settings as series along `key`: one per target and value of every other setting key, coloured by
        target (even when `key` is the target) and marked by those other values."""
        others = [k for k in self.setting_keys if k not in (key, "target")]
        by_series: dict[tuple[str, tuple[str, ...]], list[JobGroup]] = {}
        for group in self.groups:
            rest = tuple(f"{k}={group.value(k)}" for k in others)
            by_series.setdefault((group.target, rest), []).append(group)
        rests = list(dict.fromkeys(rest for _, rest in by_series))
        return [
            _Series(
                ", ".join(part for part in (target, *rest) if part) or None,
                f"C{self.targets.index(target) % 10}",
                MARKERS[rests.index(rest) % len(MARKERS)],
                tuple(groups),
            )
            for (target, rest), groups in by_series.items()
        ]

    def _panels(self) -> list[tuple[str, tuple[str, ...], str]]:
        """(y label, metrics, y scale) for each panel where some finished job has its numbers."""
        done = [job for job in self.jobs if job.finished]
        panels: list[tuple[str, tuple[str, ...], str]] = [("test MSE", ("test_mse",), "log")]
        if any("m_residual" in job.metrics for job in done):
            panels.append(("relation residual", ("m_residual", "c_residual"), "log"))
        regions = [job.metrics["linear_regions"] for job in done if "linear_regions" in job.metrics]
        if len(set(regions)) > 1:  # 1 to 3 regions read best as counts, 1 to 1000 on a log axis; all alike, no panel
            panels.append(
                ("linear regions on the test rows", ("linear_regions",), "log" if _spans_decades(regions) else "linear")
            )
        return panels

    def _by(self, key: str) -> Figure:
        """Test MSE, the relation residuals and the linear regions of each setting by one swept key: a setting's
        median over its seeds, its quartiles as the bar, a colour per target, one legend for all panels."""
        panels = self._panels()
        figure = Figure(figsize=(4.5 * len(panels) + 2.5, 4.3), layout="constrained")  # 2.5 inches for the legend
        axes_row = figure.subplots(1, len(panels), squeeze=False)[0]
        series = self._series(key)
        for axes, (label, metrics, yscale) in zip(axes_row, panels, strict=True):
            self._draw_panel(axes, key, series, metrics, labelled=axes is axes_row[0])
            axes.set(xlabel=key, ylabel=label, yscale=yscale, title=f"{label} by {key}")
            if yscale == "linear":  # a count
                axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            self._set_x_axis(axes, key)
        if len(panels) > 1 and panels[1][1][0] == "m_residual":
            self._mark_residual_panel(axes_row[1])
        handles, labels = axes_row[0].get_legend_handles_labels()
        if labels:
            figure.legend(handles, labels, loc="outside right upper", fontsize="small")
        figure.suptitle(self._figure_note(), fontsize="medium")
        return figure

    def _figure_note(self) -> str:
        if self.one_job_per_group:
            return "one job per setting"
        return "each setting's median over its seeds; the bar spans its first to its third quartile"

    def _mark_residual_panel(self, axes: Axes) -> None:
        """The tolerance the verdict uses, and which marker is which residual (the colours are the figure's legend)."""
        handles = [
            Line2D([], [], color="grey", marker="o", linestyle="none", label="slope m"),
            Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="none", label="intercept c"),
        ]
        atol = next((job.evaluation["atol"] for job in self.jobs if job.finished and job.evaluation), None)
        if atol is not None:
            handles.append(axes.axhline(atol, color="grey", linestyle="--", label=f"eval.atol {atol:g}"))
        axes.legend(handles=handles, fontsize="small")

    def _x_positions(self, key: str) -> dict[str, float]:
        """A value of `key` as a place on the x axis: its number, or its category's index in the sweep's order."""
        values = list(dict.fromkeys(group.value(key) for group in self.groups))
        if self._numeric(key):
            return {value: float(value) for value in values}
        return {value: float(index) for index, value in enumerate(values)}

    def _along(self, key: str, groups: Sequence[JobGroup]) -> list[JobGroup]:
        """Groups in the order of their place on the x axis: a series' line runs left to right, however typed."""
        positions = self._x_positions(key)
        return sorted(groups, key=lambda group: positions[group.value(key)])

    def _draw_panel(self, axes: Axes, key: str, series: list[_Series], metrics: tuple[str, ...], labelled: bool) -> None:
        """A marker at each setting's median with its quartiles as an asymmetric bar; with two metrics (m and c)
        the second's markers hollow. Points at one x sit side by side, so no bar hides another: on a numeric axis
        a few points apart (the value stays readable), on a categorical one across the category's width."""
        numeric = self._numeric(key)
        positions = self._x_positions(key)
        drawn = [
            (one, metric, [(g, q) for g in self._along(key, one.groups) if (q := g.quartiles(metric)) is not None])
            for metric in metrics
            for one in series
        ]
        at_value: dict[str, list[int]] = {}  # which drawn entries have a point at each value, for the dodge
        for index, (_, _, points) in enumerate(drawn):
            for group, _ in points:
                at_value.setdefault(group.value(key), []).append(index)
        for index, (one, metric, points) in enumerate(drawn):
            if not points:
                continue
            x = [positions[g.value(key)] + (0 if numeric else _dodge(at_value[g.value(key)], index)) for g, _ in points]
            shift = _point_dodge(index, len(drawn)) if numeric else 0.0
            q1, median, q3 = np.maximum(np.array([q for _, q in points]).T, 1e-300)  # a log axis: 0 at a floor, not gone
            drawn_bar = axes.errorbar(
                x,
                median,
                yerr=[median - q1, q3 - median] if np.any(q3 > q1) else None,  # one job: no bar, no cap on it
                fmt=one.marker,
                color=one.colour,
                markerfacecolor=one.colour if metric == metrics[0] else "none",
                linestyle="-" if numeric else "none",
                linewidth=0.8,
                capsize=3,
                label=one.label if labelled and metric == metrics[0] else None,
            )
            if shift:  # after the drawing, so the axis limits still come from the values
                data_line, caps, bars = drawn_bar.lines
                offset = axes.transData + ScaledTranslation(shift / 72, 0, axes.figure.dpi_scale_trans)
                for artist in (data_line, *caps, *bars):
                    artist.set_transform(offset)

    def _set_x_axis(self, axes: Axes, key: str) -> None:
        """Ticks at the swept values, labelled as typed: no 1.2, 1.4 between seeds or learning rates."""
        positions = self._x_positions(key)
        if self._numeric(key) and _spans_decades(list(positions.values())):
            axes.set_xscale("log")
        if not self._numeric(key):
            axes.set_xlim(-0.5, len(positions) - 0.5)
        if not self._numeric(key) or len(positions) <= 8:
            axes.set_xticks(list(positions.values()), labels=list(positions))
            axes.set_xticks([], minor=True)

    def _affine_evaluations(self) -> list[tuple[str, dict[str, Any]]]:
        """(target, evaluation) of each finished job whose target has coefficients to recover."""
        return [
            (job.target, job.evaluation)
            for job in self.jobs
            if job.finished and job.evaluation and job.evaluation.get("true_m") is not None
        ]

    def _coefficients(self) -> Figure:
        """True against recovered slopes and intercepts, a colour per target."""
        figure = Figure(figsize=(5, 5), layout="constrained")
        axes = figure.add_subplot()
        affine = self._affine_evaluations()
        for target in dict.fromkeys(target for target, _ in affine):
            evaluations = [ev for of, ev in affine if of == target]
            colour, prefix = f"C{self.targets.index(target) % 10}", f"{target}: " if target else ""
            true_m, recovered_m = ([v for ev in evaluations for v in ev[name]] for name in ("true_m", "recovered_m"))
            axes.scatter(true_m, recovered_m, color=colour, label=f"{prefix}slope m")
            true_c, recovered_c = ([ev[name] for ev in evaluations] for name in ("true_c", "recovered_c"))
            axes.scatter(true_c, recovered_c, color=colour, marker="x", label=f"{prefix}intercept c")
        true = _true_coefficients(affine)
        axes.plot([min(true), max(true)], [min(true), max(true)], color="grey", linestyle="--", label="recovered = true")
        axes.set(xlabel="true coefficient", ylabel="recovered from the weights", title="true against recovered")
        axes.legend(fontsize="small")
        return figure


def _true_coefficients(affine: list[tuple[str, dict[str, Any]]]) -> list[float]:
    """Every true slope and intercept: sum's and product's are only 1 and 0, weighted_sum's drawn ones many."""
    return [value for _, ev in affine for value in (*ev["true_m"], ev["true_c"])]


def _dodge(entries: list[int], index: int) -> float:
    """The offset of entry `index` among the entries drawn at one category, centred on it, all within 0.8 of it."""
    return (entries.index(index) - (len(entries) - 1) / 2) * min(DODGE, 0.8 / len(entries))


def _point_dodge(index: int, entries: int) -> float:
    """The offset, in points, of entry `index` of a numeric axis's entries, centred, all within 24 points."""
    return (index - (entries - 1) / 2) * min(POINT_DODGE, 24 / max(entries - 1, 1))


def _spans_decades(values: Sequence[float]) -> bool:
    """Positive values over more than a decade (learning rates 0.0003 to 0.03, widths 1 to 64): a log axis."""
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) > 1 and max(positive) / min(positive) >= 16
