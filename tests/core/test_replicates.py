"""The distribution over replicates: the share converged with Wilson's interval, the w2 < 0 failures counted
apart, the spread of the test MSE and residuals, and the post's figure placed on the converged replicates."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pipeline.core.replicates import Placement, Spread, ordinal, summarise_replicates, wilson_interval


def test_a_spread_is_the_extremes_quartiles_and_median():
    spread = Spread.of([1.0, 2.0, 3.0, 4.0, 5.0])

    assert spread == Spread(min=1.0, q1=2.0, median=3.0, q3=4.0, max=5.0)
    assert spread.metrics("test_mse") == {
        "test_mse_min": 1.0,
        "test_mse_q1": 2.0,
        "test_mse_median": 3.0,
        "test_mse_q3": 4.0,
        "test_mse_max": 5.0,
    }


@pytest.mark.parametrize(("successes", "trials"), [(14, 40), (0, 12), (32, 32), (13, 32)])
def test_the_share_converged_has_wilsons_95_percent_interval(successes, trials):
    z = 1.959963984540054  # the normal's 97.5% quantile
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)

    low, high = wilson_interval(successes, trials)

    assert low == pytest.approx(centre - half, abs=1e-12) and high == pytest.approx(centre + half, abs=1e-12)
    assert 0.0 <= low <= share <= high <= 1.0


@pytest.mark.parametrize(
    ("figure", "percentile", "position"),
    [(2.5, 50.0, "inside their range"), (0.5, 0.0, "below their lowest"), (9.0, 100.0, "above their highest")],
)
def test_a_published_figure_is_placed_by_the_share_of_converged_replicates_at_or_below_it(figure, percentile, position):
    placement = Placement.of(figure, [1.0, 2.0, 3.0, 4.0])

    assert (placement.percentile, placement.position, placement.low, placement.high) == (percentile, position, 1.0, 4.0)
    assert (
        placement.text()
        == f"{figure:.3g}: the {ordinal(round(percentile))} percentile of the converged replicates, {position} [1, 4]"
    )


@pytest.mark.parametrize(
    ("number", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (11, "11th"), (14, "14th"), (22, "22nd"), (100, "100th")]
)
def test_ordinals_read_as_english(number, text):
    assert ordinal(number) == text


def test_replicates_are_summarised_with_the_w2_failures_counted_apart_and_the_post_placed_on_the_converged(converged):
    failed = replace(converged, test_mse=4.5, converged=False, w2_negative=True)
    lost = replace(converged, test_mse=0.3, converged=False, relations_hold=False, m_residual=0.2, w2_negative=False)
    good = [  # one with w2 < 0, which on a symmetric target clips a tail as few rows as w2 > 0 does: converged
        replace(converged, test_mse=mse, test_mse_at_lowest_train_mse=mse / 2, w2_negative=mse == 2e-8)
        for mse in (1e-8, 2e-8, 4e-8)
    ]

    summary = summarise_replicates([good[0], failed, lost, good[1], failed, good[2]], post_test_mse=1.5e-8)

    assert (summary.replicates, summary.converged, summary.w2_negative_failures) == (6, 3, 2)
    assert summary.converged_test_mse == Spread.of([1e-8, 2e-8, 4e-8])
    assert summary.converged_selected_test_mse == Spread.of([0.5e-8, 1e-8, 2e-8])
    assert summary.test_mse.max == 4.5 and summary.m_residual is not None and summary.m_residual.max == 0.2
    assert summary.post is not None and summary.post.percentile == pytest.approx(100 / 3)
    metrics = summary.metrics()
    assert metrics["converged_share"] == 0.5 and metrics["w2_negative_failure_share"] == pytest.approx(1 / 3)
    assert (metrics["converged_share_low"], metrics["converged_share_high"]) == wilson_interval(3, 6)
    assert metrics["converged_test_mse_median"] == 2e-8 and metrics["post_test_mse"] == 1.5e-8
    assert "converged in 3 of 6 (50%" in summary.lines()[0] and "3 did not, 2 of them with w2 < 0" in summary.lines()[0]


def test_without_a_converged_replicate_there_is_no_converged_spread_and_no_placement(converged):
    failed = replace(converged, test_mse=4.5, converged=False, w2_negative=True)

    summary = summarise_replicates([failed, failed], post_test_mse=7.5e-9)

    assert summary.converged == 0 and summary.converged_test_mse is None and summary.post is None
    assert summary.metrics()["post_test_mse"] == 7.5e-9 and "post_test_mse_percentile" not in summary.metrics()
    assert summary.metrics()["converged_share_low"] == 0.0
    assert summary.lines()[-1] == "the post's test MSE 7.5e-09: no replicate converged to place it among"
    assert np.isclose(summary.metrics()["converged_share_high"], wilson_interval(0, 2)[1])


def test_a_target_without_a_verdict_reports_the_spread_and_no_share_converged(converged):
    product2 = replace(converged, relations_hold=None, local_relations_hold=None, converged=None, w2_negative=None)

    summary = summarise_replicates([product2, replace(product2, test_mse=2e-4)], post_test_mse=None)

    assert summary.converged is None and "converged_share" not in summary.metrics()
    assert summary.metrics()["replicates_test_mse_max"] == 2e-4
    assert summary.lines()[0].startswith("converged: the target has no verdict")
