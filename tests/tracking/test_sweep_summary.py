"""A sweep's summary, from plain results: a row per job with only the swept keys, failures counted, figures."""

from __future__ import annotations

from pipeline.tracking.sweep_summary import JobResult, SweepSummary


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


def test_summary_has_one_row_per_job_with_only_the_swept_keys_and_counts_failures_as_not_holding():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.01", holds=False), job(2, "10", status="FAILED")])

    header, *rows = summary.rows()

    assert header[:2] == ["job", "train.lr"]  # target and epochs were the same in every job
    assert [row[1] for row in rows] == ["0.001", "0.01", "10"]
    assert rows[2][-1] == "FAILED: training loss became nan"
    assert summary.metrics() == {"jobs": 3.0, "jobs_failed": 1.0, "jobs_missing": 0.0, "relations_hold_share": 1 / 3}
    assert "relations hold in 1 of 3 jobs (33%); 1 failed" in summary.markdown()
    assert summary.csv().splitlines()[1].startswith("0,0.001,0.0001,")


def test_launched_jobs_that_left_no_run_are_missing_and_the_sweep_did_not_succeed():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.01")], launched=4)

    assert summary.missing == 2 and not summary.succeeded
    assert summary.metrics()["jobs_missing"] == 2.0
    assert summary.markdown().rstrip().endswith("0 failed; 2 launched but left no run")
    assert SweepSummary([job(0, "0.001")], launched=1).succeeded
    assert SweepSummary([job(0, "0.001")]).succeeded  # another sweeper: the count is not known


def test_summary_plots_results_against_each_numeric_swept_key_and_coefficients():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.1")])

    assert set(summary.figures()) == {"vs_train.lr.png", "coefficients.png"}  # target is not a number
    assert SweepSummary([job(0, "0.001", status="FAILED")]).figures() == {}  # nothing finished, nothing to plot


def test_summary_shows_the_per_job_shares_when_jobs_trained_several_initialisations():
    several = job(0, "0.001")
    several.metrics.update({"inits": 16.0, "relations_hold_share": 0.75, "relu_dead_share": 0.125})

    header, row = SweepSummary([several]).rows()

    assert header[-3:] == ["relations_hold_share", "relu_dead_share", "status"]
    assert row[-3:-1] == ["0.75", "0.125"]
    assert "relu_dead_share" not in SweepSummary([job(0, "0.001")]).rows()[0]


def test_summary_page_holds_the_table_and_every_figure_inline():
    summary = SweepSummary([job(0, "0.001"), job(1, "0.1", status="FAILED")])
    figures = summary.figures()

    page = summary.files(figures)["sweep_report.html"]

    assert page.count('src="data:image/png;base64,') == len(figures) == 2
    assert "<td>FAILED: training loss became nan</td>" in page and "relations hold in 1 of 2 jobs (50%); 1 failed" in page


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
    assert set(figures) == {"vs_model.width.png"}
    assert [axes.get_ylabel() for axes in figures["vs_model.width.png"].axes] == ["test MSE", "linear regions on the test rows"]
    assert summary.verdict_line() == "the local relations hold (exact) in 1 of 3 jobs (33%); 0 failed"
    assert summary.metrics() == {"jobs": 3.0, "jobs_failed": 0.0, "jobs_missing": 0.0, "local_relations_hold_share": 1 / 3}
    assert [row[header.index("linear_regions")] for row in summary.rows()[1:]] == ["1", "4", "2"]


def test_each_target_of_a_sweep_has_its_own_colour():
    jobs = [width_job(0, "product2", "1", None), width_job(1, "abs_sum", "2", True)]

    mse_axes = SweepSummary(jobs).figures()["vs_model.width.png"].axes[0]

    assert [c.get_label() for c in mse_axes.collections] == ["product2", "abs_sum"]
    assert len({tuple(c.get_facecolor()[0]) for c in mse_axes.collections}) == 2
