"""How sure a score is: bootstrap intervals over test clips resampled by group, and paired comparisons.

Clips cut from one recording (one `group`) are not independent, so a resample draws whole groups with
replacement (a clip bootstrap when every clip is its own group). A resample is a weight per clip (how many
times its group was drawn), so that every metric of zoo.metrics scores all resamples in one matrix product.
Seeded: the same predictions give the same interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.metrics import Metric

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


def group_weights(groups, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n) clip weights: each resample draws as many groups as there are, with replacement, and
    a clip weighs the number of times its group was drawn."""
    _, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = int(index.max()) + 1 if len(index) else 0
    draws = np.random.default_rng(seed).integers(0, max(1, n_groups), (resamples, n_groups))
    draws += np.arange(resamples)[:, None] * n_groups  # count each resample's draws in its own row
    counts = np.bincount(draws.ravel(), minlength=resamples * n_groups).reshape(resamples, n_groups)
    return counts[:, index].astype(float)


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap values."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Scored:
    """Test clips scored by one model, pooled over folds (each clip once) and seeds (probabilities of
    each seed kept apart): y (n,), probs (seeds, n, k), groups (n,). Clips are in one order for every model
    scored on the same data (see zoo.leaderboard), so that two Scored can be paired."""

    y: np.ndarray
    probs: np.ndarray
    groups: np.ndarray
    keys: list[str] | None = None  # what each clip is (e.g. fold and path), to pair models on shared clips

    def subset(self, keys: list[str]) -> "Scored":
        """These clips, in the order of `keys`."""
        position = {k: i for i, k in enumerate(self.keys or [])}
        rows = np.array([position[k] for k in keys], dtype=int)
        return Scored(self.y[rows], self.probs[:, rows], self.groups[rows], list(keys))

    def values(self, metric: Metric, weights: np.ndarray | None = None) -> np.ndarray:
        """The metric, averaged over seeds: one value (weights None) or one per resample."""
        return np.mean([metric(self.y, p, weights) for p in self.probs], axis=0)


def confidence_interval(scored: Scored, metric: Metric, weights: np.ndarray | None = None):
    """(estimate, low, high): the metric on all clips and its group-bootstrap interval."""
    weights = group_weights(scored.groups) if weights is None else weights
    return (float(scored.values(metric)), *interval(scored.values(metric, weights)))


def every_metric(scored: Scored) -> dict[str, tuple[float, float, float]]:
    """Each metric of zoo.metrics: (estimate, low, high), all on the same group resamples."""
    from zoo.metrics import METRICS

    weights = group_weights(scored.groups)
    return {metric.name: confidence_interval(scored, metric, weights) for metric in METRICS}


@dataclass(frozen=True)
class Comparison:
    difference: float  # a - b on the same clips
    low: float
    high: float
    p: float  # two-sided: how often the paired resampled difference falls on either side of 0


def paired(a: Scored, b: Scored, metric: Metric, weights: np.ndarray | None = None) -> Comparison:
    """a - b on the same test clips, resampled together by group: the interval of the difference and a
    two-sided p-value (twice the smaller share of resampled differences at or beyond 0, at most 1). A model
    compared with itself gives a difference of 0 and p = 1."""
    if len(a.y) != len(b.y) or not np.array_equal(a.y, b.y):
        raise ValueError("paired comparison needs the same test clips in the same order")
    weights = group_weights(a.groups) if weights is None else weights
    diffs = a.values(metric, weights) - b.values(metric, weights)
    p = min(1.0, 2 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return Comparison(float(a.values(metric) - b.values(metric)), *interval(diffs), p)
