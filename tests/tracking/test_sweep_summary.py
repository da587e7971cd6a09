"""A sweep's summary, from plain results: a row per job with only the swept keys, the jobs grouped by setting
with the seeds as replicates, failures counted, the replicates' distribution, figures by each setting key."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from matplotlib.axes import Axes

from pipeline.core.replicates import summarise_replicates
from pipeline.tracking.sweep_summary import JobResult, SweepSummary, post_placement
from tests.helpers import CONVERGED


def job(number: int, lr: str, status: str = "FINISHED", holds: bool = True, mse: float = 1e-4) -> JobResult:
    metrics = {
        "test_mse": mse,
        "m_residual": 1e-6,
        "c_residual": 2e-6,
        "relations_hold": float(holds),
        "relu_active_fraction": 1.0,
    }
    evaluation = {"true_m": [1.0, 1.0], "recovered_m": [1.0, 0.999], "true_c": 0.0, "recovered_c": 0.001, "atol": 1e-3}
    finished = status == "FINISHED"
    return JobResult(
        number,
        {"target": "sum", "train.lr": lr, "train.epochs": "5"},
        status,
        None if finished else "training loss became nan",
        metrics if finished else {},
        evaluation if finished else None,
    )


def seeded_job(number: int, overrides: dict[str, str], status: str = "FINISHED") -> JobResult:
    """A job of a sweep over settings and `model.seed`: its test MSE is the seed times a setting's scale (sum 1e-4,
    product 10x; lr 0.01 100x), so a group's seeds 1, 2, 3 give a median of 2 scales and quartiles of 1.5 and 2.5;
    its relations hold for seeds 1 and 2."""
    seed = int(overrides["model.seed"])
    scale = 1e-4 * (10 if overrides.get("target") == "product" else 1) * (100 if overrides.get("train.lr") == "0.01" else 1)
    metrics = {
        "test_mse": scale * seed,
        "m_residual": 1e-6 * seed,
        "c_residual": 1e-5 * seed,
        "relations_hold": float(seed != 3),
        "linear_regions": 1.0,
    }
    evaluation = {"true_m": [1.0, 1.0], "recovered_m": [1.0, 1.0], "true_c": 0.0, "recovered_c": 0.0, "atol": 1e-3}
    finished = status == "FINISHED"
    return JobResult(
        number,
        overrides,
        status,
        None if finished else "training loss became nan",
        metrics if finished else {},
        evaluation if finished else None,
    )


def swept(values: dict[str, list[str]]) -> list[JobResult]:
    """Every combination of the values, in Hydra's order (the last key fastest); `model.seed` among the keys."""
    combinations = itertools.product(*values.values())
    return [seeded_job(number, dict(zip(values, chosen, strict=True))) for number, chosen in enumerate(combinations)]


def the_issues_sweep() -> list[JobResult]:
    """`-m target=sum,product model.seed=1,2,3 train.lr=0.003,0.01`."""
    return swept({"target": ["sum", "product"], "model.seed": ["1", "2", "3"], "train.lr": ["0.003", "0.01"]})


RESIDUALS_OVER_SEEDS = ["2e-06 [1.5e-06, 2.5e-06]", "2e-05 [1.5e-05, 2.5e-05]"]  # m and c of seeds 1, 2, 3


def errorbars_of(axes: Axes) -> list[tuple[str, str]]:
    """(label, colour) of each series of medians drawn on the axes."""
    return [(bars.get_label(), bars.lines[0].get_color()) for bars in axes.containers]


def tick_labels(axes: Axes) -> list[str]:
    return [label.get_text() for label in axes.get_xticklabels()]


def test_summary_has_one_row_per_job_with_only_the_swept_keys_and_counts_failures_as_not_holding():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.01", holds=False), job(2, "10", status="FAILED")])

    header, *rows = summary.rows()

    assert header[:2] == ["job", "train.lr"]  # target and epochs were the same in every job
    assert [row[1] for row in rows] == ["0.001", "0.01", "10"]
    assert rows[2][-1] == "FAILED: training loss became nan"
    assert summary.metrics() == {
        "jobs": 3.0,
        "jobs_failed": 1.0,
        "jobs_missing": 0.0,
        "groups": 3.0,
        "relations_hold_share": 1 / 3,
    }
    assert "relations hold in 1 of 3 jobs (33%); 1 failed" in summary.markdown()
    assert summary.csv().splitlines()[1].startswith("0,0.001,0.0001,")


def test_launched_jobs_that_left_no_run_are_missing_and_the_sweep_did_not_succeed():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.01")], launched=4)

    assert summary.missing == 2 and not summary.succeeded
    assert summary.metrics()["jobs_missing"] == 2.0
    assert summary.markdown().rstrip().endswith("0 failed; 2 launched but left no run")
    assert SweepSummary([job(0, "0.001")], launched=1).succeeded
    assert SweepSummary([job(0, "0.001")]).succeeded  # another sweeper: the count is not known


def test_seeds_are_replicates_so_a_sweep_of_two_targets_two_lrs_and_three_seeds_has_four_groups_of_three():
    summary = SweepSummary(the_issues_sweep())

    header, *rows = summary.group_rows()

    assert header == ["target", "train.lr", "jobs", "failed", "test_mse", "m_residual", "c_residual", "relations_hold"]
    assert rows == [
        ["sum", "0.003", "3", "0", "0.0002 [0.00015, 0.00025]", *RESIDUALS_OVER_SEEDS, "2 of 3 (67%)"],
        ["sum", "0.01", "3", "0", "0.02 [0.015, 0.025]", *RESIDUALS_OVER_SEEDS, "2 of 3 (67%)"],
        ["product", "0.003", "3", "0", "0.002 [0.0015, 0.0025]", *RESIDUALS_OVER_SEEDS, "2 of 3 (67%)"],
        ["product", "0.01", "3", "0", "0.2 [0.15, 0.25]", *RESIDUALS_OVER_SEEDS, "2 of 3 (67%)"],
    ]
    assert summary.metrics()["groups"] == 4.0
    assert summary.rows()[0][:4] == ["job", "target", "model.seed", "train.lr"]  # the record keeps every job's seed
    assert summary.markdown().index("| target | train.lr | jobs |") < summary.markdown().index("| job | target |")


def test_the_groups_csv_holds_each_groups_quartiles_and_shares_at_full_precision():
    groups_csv = SweepSummary(the_issues_sweep()).files({})["sweep_groups.csv"]

    header, first, *_ = (line.split(",") for line in groups_csv.splitlines())

    assert header[:8] == [
        "target",
        "train.lr",
        "jobs",
        "failed",
        "test_mse_q1",
        "test_mse_median",
        "test_mse_q3",
        "m_residual_q1",
    ]
    assert header[-1] == "relations_hold_share"
    assert first[:4] == ["sum", "0.003", "3", "0"]
    assert [float(v) for v in first[4:7]] == pytest.approx([1.5e-4, 2e-4, 2.5e-4])
    assert float(first[-1]) == pytest.approx(2 / 3)


def test_a_groups_quartiles_are_numpys_linear_ones_over_its_finished_jobs():
    jobs = [seeded_job(n, {"target": "sum", "model.seed": seed}) for n, seed in enumerate(["1", "2", "3", "10"])]
    jobs.append(seeded_job(4, {"target": "sum", "model.seed": "7"}, status="FAILED"))

    (group,) = SweepSummary(jobs).groups

    assert group.quartiles("test_mse") == pytest.approx((1.75e-4, 2.5e-4, 4.75e-4))  # 1, 2, 3, 10: the failed has none
    assert group.quartiles("local_relation_share") is None


def test_a_group_with_a_failed_job_counts_it_as_failed_and_not_holding_and_takes_the_median_of_the_rest():
    jobs = the_issues_sweep()
    jobs[4] = seeded_job(4, jobs[4].overrides, status="FAILED")  # sum, seed 3, lr 0.003

    sum_slow = SweepSummary(jobs).group_rows()[1]

    assert sum_slow[:5] == ["sum", "0.003", "3", "1", "0.00015 [0.000125, 0.000175]"]
    assert sum_slow[-1] == "2 of 3 (67%)"  # seeds 1 and 2 hold; the failed seed 3 would not have either
    jobs[0] = seeded_job(0, jobs[0].overrides, status="FAILED")  # and seed 1
    assert SweepSummary(jobs).group_rows()[1][-1] == "1 of 3 (33%)"


def test_a_sweep_of_seeds_alone_is_one_group_and_has_no_figure_by_a_seed():
    summary = SweepSummary(swept({"model.seed": ["1", "2", "3"]}))

    assert summary.group_rows() == [
        ["jobs", "failed", "test_mse", "m_residual", "c_residual", "relations_hold"],
        ["3", "0", "0.0002 [0.00015, 0.00025]", *RESIDUALS_OVER_SEEDS, "2 of 3 (67%)"],
    ]
    assert summary.figures() == {}  # no axis to plot on, and true 1s and 0 are not worth a figure


def test_the_issues_sweep_is_plotted_by_lr_and_by_target_a_colour_per_target_and_never_by_a_seed():
    figures = SweepSummary(the_issues_sweep()).figures()

    assert set(figures) == {"by_target.png", "by_train.lr.png"}
    by_lr = figures["by_train.lr.png"].axes
    assert [axes.get_ylabel() for axes in by_lr] == ["test MSE", "relation residual"]  # 2 regions everywhere: no panel
    assert tick_labels(by_lr[0]) == ["0.003", "0.01"]  # the swept values, not 0.004, 0.006, ...
    assert errorbars_of(by_lr[0]) == [("sum", "C0"), ("product", "C1")]
    assert [text.get_text() for text in figures["by_train.lr.png"].legends[0].get_texts()] == ["sum", "product"]
    by_target = figures["by_target.png"].axes[0]
    assert tick_labels(by_target) == ["sum", "product"]
    assert errorbars_of(by_target) == [
        ("sum, train.lr=0.003", "C0"),
        ("sum, train.lr=0.01", "C0"),
        ("product, train.lr=0.003", "C1"),
        ("product, train.lr=0.01", "C1"),
    ]


def test_a_group_median_is_drawn_with_its_quartiles_as_an_asymmetric_bar():
    by_lr = SweepSummary(the_issues_sweep()).figures()["by_train.lr.png"].axes[0]

    sum_bars = by_lr.containers[0]

    assert list(sum_bars.lines[0].get_ydata()) == pytest.approx([2e-4, 2e-2])
    (bars,) = sum_bars.lines[2]
    assert [segment[:, 1].tolist() for segment in bars.get_segments()] == [
        pytest.approx([1.5e-4, 2.5e-4]),
        pytest.approx([1.5e-2, 2.5e-2]),
    ]


def test_a_categorical_key_is_plotted_on_a_categorical_axis_named_by_its_values_and_splits_series_by_a_third_key():
    sweep = {"target": ["sum", "product"], "train.optimizer": ["sgd", "adam"], "train.lr": ["0.0003", "0.03"]}
    jobs = swept(sweep | {"model.seed": ["1", "2"]})

    figures = SweepSummary(jobs).figures()

    assert set(figures) == {"by_target.png", "by_train.optimizer.png", "by_train.lr.png"}
    by_optimizer = figures["by_train.optimizer.png"].axes[0]
    assert tick_labels(by_optimizer) == ["sgd", "adam"]
    assert list(by_optimizer.get_xticks()) == [0, 1]
    assert [label for label, _ in errorbars_of(by_optimizer)][:2] == ["sum, train.lr=0.0003", "sum, train.lr=0.03"]
    by_lr = figures["by_train.lr.png"].axes[0]
    assert by_lr.get_xscale() == "log"  # 0.0003 to 0.03 spans two decades
    assert len({colour for _, colour in errorbars_of(by_lr)}) == 2  # four series, two targets


def width_job(number: int, target: str, width: str, exact: bool | None) -> JobResult:
    """A job of a width sweep: product2 has neither m and c nor local relations, abs_sum has local relations."""
    metrics = {"test_mse": 10.0 ** -int(width), "linear_regions": float(width), "dead_units": 0.0}
    if exact is not None:
        metrics |= {"local_relation_share": float(exact), "local_relations_hold": float(exact)}
    evaluation = {"true_m": None, "recovered_m": None, "true_c": None, "recovered_c": None, "atol": 1e-3}
    return JobResult(number, {"target": target, "model.width": width}, "FINISHED", None, metrics, evaluation)


def test_a_sweep_over_targets_without_m_and_c_shows_regions_and_the_local_verdict_and_no_coefficients():
    jobs = [width_job(0, "product2", "1", None), width_job(1, "product2", "4", None), width_job(2, "abs_sum", "2", True)]
    summary = SweepSummary(jobs)

    header, *_ = summary.rows()
    figures = summary.figures()

    assert "m_residual" not in header and {"linear_regions", "local_relations_hold"} <= set(header)
    assert set(figures) == {"by_target.png", "by_model.width.png"}
    assert [axes.get_ylabel() for axes in figures["by_model.width.png"].axes] == ["test MSE", "linear regions on the test rows"]
    assert summary.verdict_line() == "the local relations hold (exact) in 1 of 3 jobs (33%); 0 failed"
    assert summary.metrics() == {
        "jobs": 3.0,
        "jobs_failed": 0.0,
        "jobs_missing": 0.0,
        "groups": 3.0,
        "local_relations_hold_share": 1 / 3,
    }
    assert [row[header.index("linear_regions")] for row in summary.rows()[1:]] == ["1", "4", "2"]


def test_the_coefficients_are_plotted_only_when_there_are_more_than_a_couple_of_true_values():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.1")])  # sum: true m 1 and 1, true c 0
    weighted = job(2, "0.1")
    weighted.evaluation.update({"true_m": [0.3, -1.2], "recovered_m": [0.3, -1.2], "true_c": 0.5, "recovered_c": 0.5})

    assert set(summary.figures()) == {"by_train.lr.png"}
    assert set(SweepSummary([job(0, "0.001"), weighted]).figures()) == {"by_train.lr.png", "coefficients.png"}
    assert SweepSummary([job(0, "0.001", status="FAILED")]).figures() == {}  # nothing finished, nothing to plot


def test_summary_shows_the_per_job_shares_when_jobs_trained_several_initialisations():
    several = job(0, "0.001")
    several.metrics.update({"inits": 16.0, "relations_hold_share": 0.75, "relu_dead_share": 0.125})

    header, row = SweepSummary([several]).rows()

    assert header[-3:] == ["relations_hold_share", "relu_dead_share", "status"]
    assert row[-3:-1] == ["0.75", "0.125"]
    assert "relu_dead_share" not in SweepSummary([job(0, "0.001")]).rows()[0]


def replicated(number: int, target: str, post: float | None) -> JobResult:
    """A job of 32 replicates, 14 converged (test MSE 6.2e-09 to 7.3e-07), 2 with w2 < 0."""
    done = job(number, "0.003")
    done.overrides["target"] = target
    done.metrics.update(
        {
            "replicates": 32.0,
            "converged_share": 14 / 32,
            "converged_share_low": 0.2803,
            "converged_share_high": 0.6083,
            "w2_negative_failure_share": 2 / 32,
            "converged_test_mse_min": 6.2e-9,
            "converged_test_mse_q1": 2e-8,
            "converged_test_mse_median": 5e-8,
            "converged_test_mse_q3": 1e-7,
            "converged_test_mse_max": 7.3e-7,
        }
    )
    if post is not None:
        done.metrics.update({"post_test_mse": post, "post_test_mse_percentile": 100 * 2 / 14})
    return done


def test_jobs_of_several_replicates_show_how_many_converged_their_spread_and_where_the_posts_figure_falls():
    summary = SweepSummary([replicated(0, "product", 7.52e-9), replicated(1, "sum", None), job(2, "0.003")])

    header, product, plain_sum, single = summary.rows()

    columns = [
        "replicates",
        "converged",
        "failed with w2 < 0",
        "converged test_mse median [q1, q3], range",
        "post's test_mse among the converged",
    ]
    assert header[-6:-1] == columns
    assert product[-6:-1] == [
        "32",
        "14 of 32 (44%, 95% CI 28-61%)",
        "2 of 32 (6%)",
        "5e-08 [2e-08, 1e-07], range 6.2e-09 to 7.3e-07",
        "7.52e-09: the 14th percentile of the converged replicates, inside their range [6.2e-09, 7.3e-07]",
    ]
    assert plain_sum[-2] == "" and single[-6:-1] == ["", "", "", "", ""]
    assert summary.placement_lines() == [
        "job 0 (target=product): the post's test MSE "
        "7.52e-09: the 14th percentile of the converged replicates, inside their range [6.2e-09, 7.3e-07]"
    ]
    assert summary.csv().splitlines()[0].split(",")[-4:] == [
        "converged_test_mse_max",
        "post_test_mse",
        "post_test_mse_percentile",
        "status",
    ]
    assert "converged" not in SweepSummary([job(0, "0.003")]).rows()[0]


@pytest.mark.parametrize(
    ("post", "percentile", "placement"),
    [
        (7.52e-9, 14.29, "7.52e-09: the 14th percentile of the converged replicates, inside their range [6.2e-09, 7.3e-07]"),
        (6.2e-9, 7.14, "6.2e-09: the 7th percentile of the converged replicates, inside their range [6.2e-09, 7.3e-07]"),
        (3e-8, 21.4, "3e-08: the 21st percentile of the converged replicates, inside their range [6.2e-09, 7.3e-07]"),
        (4e-8, 42.9, "4e-08: the 43rd percentile of the converged replicates, inside their range [6.2e-09, 7.3e-07]"),
        (1e-9, 0.0, "1e-09: the 0th percentile of the converged replicates, below their lowest [6.2e-09, 7.3e-07]"),
        (1.1e-4, 100.0, "0.00011: the 100th percentile of the converged replicates, above their highest [6.2e-09, 7.3e-07]"),
    ],
)
def test_the_posts_figure_is_placed_by_its_percentile_inside_or_outside_the_converged_range(post, percentile, placement):
    metrics = replicated(0, "sum", post).metrics | {"post_test_mse_percentile": percentile}

    assert post_placement(metrics) == placement


def test_the_posts_figure_against_replicates_of_which_none_converged_says_so():
    metrics = replicated(0, "sum", 1.1e-4).metrics
    metrics |= {"converged_share": 0.0, "converged_test_mse_median": float("nan")}

    assert post_placement(metrics) == "0.00011: no replicate converged"


def test_summary_page_holds_the_groups_above_the_jobs_and_every_figure_inline():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.1", status="FAILED")])
    figures = summary.figures()

    page = summary.files(figures)["sweep_report.html"]

    assert page.count('src="data:image/png;base64,') == len(figures) == 1
    assert "<td>FAILED: training loss became nan</td>" in page and "relations hold in 1 of 2 jobs (50%); 1 failed" in page
    assert page.index("<h2>Groups</h2>") < page.index("<h2>Jobs</h2>")


def test_jobs_of_replicates_show_what_their_runs_log_when_none_converged_or_w2_does_not_apply():
    """The metrics a job's run really logs (summarise_replicates), not hand-picked ones: a width-2 job has no
    w2 < 0 count, a job whose replicates all failed no converged spread, and both still get their columns."""
    failed = replace(CONVERGED, test_mse=4.5, converged=False, w2_negative=True)
    wide = replace(CONVERGED, w2_negative=None)
    none_converged = summarise_replicates([failed] * 4, post_test_mse=7.516e-9).metrics()
    wide_converged = summarise_replicates([wide] * 3 + [replace(wide, converged=False)], post_test_mse=None).metrics()
    jobs = [
        JobResult(0, {"target": "product"}, "FINISHED", None, {**CONVERGED.metrics(), **none_converged}, None),
        JobResult(1, {"target": "sum"}, "FINISHED", None, {**CONVERGED.metrics(), **wide_converged}, None),
    ]

    summary = SweepSummary(jobs)

    header, product, wide_sum = summary.rows()
    cells = dict(zip(header, product, strict=True)), dict(zip(header, wide_sum, strict=True))
    assert cells[0]["converged"].startswith("0 of 4 (0%") and cells[0]["failed with w2 < 0"] == "4 of 4 (100%)"
    assert cells[0]["converged test_mse median [q1, q3], range"] == "none converged"
    assert cells[1]["converged"].startswith("3 of 4 (75%") and cells[1]["failed with w2 < 0"] == "n/a"
    assert summary.placement_lines() == ["job 0 (target=product): the post's test MSE 7.52e-09: no replicate converged"]
    assert "converged (a verdict holds and the test R² reaches eval.converged_r2) in 3 of 8 networks" in summary.verdict_line()
