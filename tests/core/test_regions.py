"""A network's linear regions read off its weights: the patterns of units on, each one's affine map, and each
row's map, for the ReLU, the leaky ReLU and the linear activation."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import Space
from pipeline.core.regions import active_fraction, find_regions, largest_active_map
from pipeline.core.weights import NetworkWeights, forward

Z2 = np.random.default_rng(0).normal(size=(300, 2))


def random_network(x_size: int, width: int, seed: int) -> NetworkWeights:
    rng = np.random.default_rng(seed)
    return NetworkWeights(W1=rng.normal(size=(x_size, width)), b1=rng.normal(size=width), w2=rng.normal(size=width), b2=0.3)


@pytest.mark.parametrize("off_slope", [0.0, 0.3, 1.0], ids=["relu", "leaky_relu", "linear"])
def test_each_rows_local_map_is_what_the_network_computes_there(off_slope):
    weights = random_network(3, 8, seed=1)
    z = np.random.default_rng(2).normal(size=(2000, 3))

    local = find_regions(weights, z, off_slope).local

    np.testing.assert_allclose((z * local.slope).sum(axis=1) + local.intercept, forward(weights, z, off_slope), atol=1e-12)


def test_regions_are_the_distinct_patterns_largest_first_and_cover_every_row():
    regions = find_regions(random_network(2, 6, seed=3), Z2, 0.0).regions

    shares = [region.share for region in regions]
    assert shares == sorted(shares, reverse=True) and sum(region.rows for region in regions) == len(Z2)
    assert len({region.pattern for region in regions}) == len(regions)
    assert all(len(region.pattern) == 6 and set(region.pattern) <= {"0", "1"} for region in regions)


def test_dead_and_always_active_units_are_counted_and_the_map_of_each_pattern_is_its_on_units():
    # unit 1 is never on (b1 = -100), unit 2 always (b1 = 100), unit 3 where z1 + z2 > 0
    weights = NetworkWeights(
        W1=np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), b1=np.array([-100.0, 100.0, 0.0]), w2=np.array([1.0, 2.0, 3.0]), b2=0.5
    )

    read = find_regions(weights, Z2, 0.0)

    assert (read.linear_regions, read.dead_units, read.always_active_units) == (2, 1, 1)
    by_pattern = {region.pattern: region.map for region in read.regions}
    assert set(by_pattern) == {"011", "010"}
    np.testing.assert_array_equal(by_pattern["011"].slope, [3.0, 5.0])  # 2*(0, 1) + 3*(1, 1)
    np.testing.assert_array_equal(by_pattern["010"].slope, [0.0, 2.0])
    assert by_pattern["011"].intercept == by_pattern["010"].intercept == 200.5
    assert read.regions[0].rows == max(np.count_nonzero(Z2.sum(axis=1) > 0), np.count_nonzero(Z2.sum(axis=1) <= 0))


def test_a_leaky_unit_keeps_its_slope_below_zero_in_the_map_of_the_region_where_it_is_off():
    weights = NetworkWeights(W1=np.array([1.0, -1.0]), b1=0.5, w2=2.0, b2=-1.0)

    by_pattern = {region.pattern: region.map for region in find_regions(weights, Z2, 0.3).regions}

    np.testing.assert_allclose(by_pattern["0"].slope, [0.6, -0.6])  # 0.3 * 2 * (1, -1)
    assert by_pattern["0"].intercept == pytest.approx(0.3 * 2 * 0.5 - 1.0)
    np.testing.assert_array_equal(by_pattern["1"].slope, [2.0, -2.0])
    assert by_pattern["1"].intercept == 0.0


def test_a_linear_network_is_one_region_with_every_unit_on():
    weights = random_network(2, 3, seed=4)

    read = find_regions(weights, Z2, 1.0)

    assert [(region.pattern, region.share) for region in read.regions] == [("111", 1.0)]
    assert (read.dead_units, read.always_active_units) == (0, 3)
    np.testing.assert_allclose(read.dominant.map.slope, weights.W1 @ weights.w2)
    assert active_fraction(weights, Z2, 1.0) == 1.0


def test_active_fraction_counts_rows_where_at_least_one_unit_is_on():
    z = np.array([[-2.0], [-1.0], [0.0], [1.0], [3.0]])
    one = NetworkWeights(W1=np.array([1.0]), b1=0.0, w2=1.0, b2=0.0)
    two = NetworkWeights(W1=np.array([[1.0, -1.0]]), b1=np.array([0.0, -1.5]), w2=np.array([1.0, 1.0]), b2=0.0)

    assert active_fraction(one, z, 0.0) == pytest.approx(2 / 5)  # z = 1, 3
    assert active_fraction(two, z, 0.0) == pytest.approx(3 / 5)  # and z = -2, through the second unit
    assert active_fraction(one, z, 0.3) == pytest.approx(2 / 5)  # a leaky unit is on where it is > 0 too


def test_a_region_reports_its_pattern_share_map_and_formula():
    weights = NetworkWeights(W1=np.array([1.0, -1.0]), b1=10.0, w2=2.0, b2=-20.0)

    region = find_regions(weights, Z2, 0.0).dominant.to_dict(Space.linear)

    assert region == {
        "pattern": "1",
        "share": 1.0,
        "slope": [2.0, -2.0],
        "intercept": 0.0,
        "formula": "f(X) = 2.0*x1 + -2.0*x2 + 0.0",
    }


def test_a_width_64_network_on_ten_thousand_rows_has_thousands_of_regions_and_a_map_per_row():
    weights = random_network(5, 64, seed=5)
    z = np.random.default_rng(6).normal(size=(10_000, 5))

    read = find_regions(weights, z, 0.0)

    assert read.linear_regions > 1000 and sum(region.rows for region in read.regions) == 10_000
    assert read.local.slope.shape == (10_000, 5)


@pytest.mark.parametrize("width", [1, 3, 16])
def test_the_largest_active_map_alone_is_bit_for_bit_the_regions_one(width):
    rng = np.random.default_rng(width)
    weights = NetworkWeights(W1=rng.normal(size=(5, width)), b1=rng.normal(size=width), w2=rng.normal(size=width), b2=0.3)
    z = rng.normal(size=(2000, 5))

    alone, full = largest_active_map(weights, z, 0.0), find_regions(weights, z, 0.0).largest_active.map

    np.testing.assert_array_equal(alone.slope, full.slope)
    assert alone.intercept == full.intercept
