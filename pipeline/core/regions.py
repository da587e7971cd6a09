"""A network's linear regions: which hidden units are on where, and the affine map it computes there.

Every unit is the identity where its pre-activation is > 0 (on) and a line of slope `off_slope` below (off),
so on the rows that share an activation pattern the network is one affine map:
slope = sum_j w2_j * s_j * W1[:, j] and intercept = sum_j w2_j * s_j * b1_j + b2, with s_j = 1 if unit j is
on and off_slope if it is off. A linear unit (off_slope 1) has no kink: it counts as on everywhere and never
splits a region. Reading the regions off the weights says exactly what the network computes, at any width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import Space
from pipeline.core.relations import format_formula
from pipeline.core.targets import LinearRelation, LocalMaps
from pipeline.core.weights import NetworkWeights, hidden_preactivation


def units_on(weights: NetworkWeights, z: np.ndarray, off_slope: float) -> np.ndarray:
    """(rows, width): whether each unit passes its pre-activation through unchanged on each row."""
    preactivation = hidden_preactivation(weights, z)
    return np.ones(preactivation.shape, dtype=bool) if off_slope == 1.0 else preactivation > 0


def active_fraction(weights: NetworkWeights, z: np.ndarray, off_slope: float) -> float:
    """Share of rows where at least one unit is on: the post's ReLU active fraction, at any width. A network
    with no unit on anywhere outputs the constant b2 (with ReLUs) and gets no gradient: it is dead."""
    return float(np.mean(units_on(weights, z, off_slope).any(axis=1)))


@dataclass(frozen=True)
class Region:
    """The rows that share one activation pattern, and the affine map the network is there."""

    pattern: str  # one character per unit: "1" on, "0" off
    rows: int
    share: float
    map: LinearRelation

    def to_dict(self, space: Space) -> dict[str, object]:
        return {
            "pattern": self.pattern,
            "share": self.share,
            "slope": self.map.slope.tolist(),
            "intercept": float(self.map.intercept),
            "formula": format_formula(self.map, space),
        }


@dataclass(frozen=True)
class NetworkRegions:
    """A network read on some rows: its linear regions, largest first, and its local map on every row."""

    regions: list[Region]
    dead_units: int  # never on on the rows: with ReLUs, they add nothing to the output there
    always_active_units: int  # on on every row: they never kink the output there
    local: LocalMaps

    @property
    def linear_regions(self) -> int:
        return len(self.regions)

    @property
    def dominant(self) -> Region:
        """The region that covers the most rows."""
        return self.regions[0]

    @property
    def largest_active(self) -> Region:
        """The largest region with a unit on: what the post reads from the weights (at width 1, the line
        w2*W1, w2*b1 + b2, wherever the ReLU is on, however few rows that is); the largest of all when no
        unit is on anywhere (the network is a constant there)."""
        return next((region for region in self.regions if "1" in region.pattern), self.regions[0])


@dataclass(frozen=True)
class _Patterns:
    """The distinct activation patterns on some rows, largest first (equal counts in the patterns' 0/1 order)."""

    on: np.ndarray  # (rows, width): each unit on on each row
    patterns: np.ndarray  # (patterns, width)
    counts: np.ndarray  # (patterns,)
    row_pattern: np.ndarray  # (rows,): each row's pattern, an index into the above


def _patterns(weights: NetworkWeights, z: np.ndarray, off_slope: float) -> _Patterns:
    on = units_on(weights, z, off_slope)
    packed = np.packbits(on, axis=1)  # a row's pattern as bytes: np.unique on these is ~25x faster than on bool rows
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
    _, first_row, row_pattern, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return _Patterns(on, on[first_row][order], counts[order], rank[row_pattern.reshape(-1)])


def _maps(patterns: np.ndarray, weights: NetworkWeights, off_slope: float) -> tuple[np.ndarray, np.ndarray]:
    """Each pattern's affine map: slopes (patterns, x_size) and intercepts (patterns,)."""
    unit_slopes = np.where(patterns, 1.0, off_slope) * weights.w2  # (patterns, width): w2_j * s_j
    return unit_slopes @ weights.W1.T, unit_slopes @ weights.b1 + weights.b2


def largest_active_map(weights: NetworkWeights, z: np.ndarray, off_slope: float) -> LinearRelation:
    """`find_regions(...).largest_active.map` without the other regions: what the post reads from the weights,
    cheap enough to read every epoch of a wide network."""
    found = _patterns(weights, z, off_slope)
    active = np.flatnonzero(found.patterns.any(axis=1))
    index = int(active[0]) if active.size else 0
    slopes, intercepts = _maps(found.patterns, weights, off_slope)  # every pattern's, as find_regions: the same bits
    return LinearRelation(slope=slopes[index], intercept=float(intercepts[index]))


def find_regions(weights: NetworkWeights, z: np.ndarray, off_slope: float) -> NetworkRegions:
    """The activation patterns present on the rows of z, each with its count and map, and each row's map.

    Each distinct pattern's map is computed once (np.unique over the rows' packed patterns), so 10k rows of a
    width-64 network take tens of milliseconds.
    """
    found = _patterns(weights, z, off_slope)
    slopes, intercepts = _maps(found.patterns, weights, off_slope)
    total = len(z)
    texts = [row.tobytes().decode() for row in found.patterns.astype(np.uint8) + ord("0")]
    regions = [
        Region(pattern=text, rows=count, share=count / total, map=LinearRelation(slope=slope, intercept=intercept))
        for text, count, slope, intercept in zip(texts, found.counts.tolist(), slopes, intercepts.tolist(), strict=True)
    ]
    return NetworkRegions(
        regions=regions,
        dead_units=int(np.count_nonzero(~found.on.any(axis=0))),
        always_active_units=int(np.count_nonzero(found.on.all(axis=0))),
        local=LocalMaps(slope=slopes[found.row_pattern], intercept=intercepts[found.row_pattern]),
    )
