"""How sure a score is: bootstrap intervals over test clips resampled by group, and paired comparisons.

Clips cut from one recording (one `group`) are not independent, so a resample draws whole groups with
replacement, within each class (the test split is stratified by class: its class sizes are not drawn by
chance, and a class absent from a resample would move every macro average). A clip bootstrap when every clip
is its own group. A resample is a weight per clip, so that every metric of zoo.evaluate.metrics scores all
resamples in one matrix product. Seeded: the same predictions give the same interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.evaluate.metrics import Metric

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


def group_weights(groups, strata=None, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n) clip weights: each resample draws, within each stratum (a class: `strata` are the
    clips' labels), m - 1 of its m groups with replacement, and a clip weighs the number of times its group
    was drawn times m / (m - 1). A group belongs to the stratum of its clips (of its last clip, if they
    differ). Drawing m - 1 makes the bootstrap variance of a stratum's mean the unbiased one (m draws give
    (m - 1) / m of it: half with two recordings of a class). Classes of a single recording form one stratum
    together (alone, each would be drawn whole every time and add no spread)."""
    _, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = int(index.max()) + 1 if len(index) else 0
    stratum = np.zeros(n_groups, dtype=int)
    if strata is not None and n_groups:
        stratum[index] = np.unique(np.asarray(strata, dtype=str), return_inverse=True)[1]
        alone = np.bincount(stratum)[stratum] == 1
        if alone.sum() > 1:  # classes of one recording say nothing of their spread alone: drawn together
            stratum[alone] = stratum.max() + 1
    order = np.argsort(stratum, kind="stable")  # the groups, stratum by stratum
    rng = np.random.default_rng(seed)
    cells, weights, start = [], [], 0  # (resample, group) cells drawn, and what each draw weighs
    for size in np.bincount(stratum):
        if size == 0:  # a class whose clips all lie in groups of another class
            continue
        drawn = max(1, size - 1)
        picks = order[start + rng.integers(0, size, (resamples, drawn))]
        cells.append((picks + np.arange(resamples)[:, None] * n_groups).ravel())
        weights.append(np.full(picks.size, size / drawn))
        start += size
    flat = np.concatenate(cells) if cells else np.zeros(0, dtype=int)
    counts = np.bincount(flat, np.concatenate(weights) if weights else None, resamples * n_groups)
    counts = counts.reshape(resamples, n_groups)
    return counts[:, index]


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap values."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return round(float(low), 12), round(float(high), 12)  # a weighted 1 may come out as 1 + 1e-16


@dataclass(frozen=True)
class Scored:
    """Test clips scored by one model, pooled over folds (each clip once) and seeds (probabilities of
    each seed kept apart): y (n,), probs (seeds, n, k), groups (n,). Clips are in one order for every model
    scored on the same data (see zoo.leaderboard), so that two Scored can be paired."""

    y: np.ndarray  # (n,) class indices; multi-label: (n, k) 0/1
    probs: np.ndarray
    groups: np.ndarray
    keys: list[str] | None = None  # what each clip is (e.g. fold and path), to pair models on shared clips
    thresholds: np.ndarray | None = None  # multi-label: (seeds, n, k), each clip's run's class thresholds

    @property
    def task(self) -> str:
        return "multilabel" if self.y.ndim == 2 else "single"

    def subset(self, keys: list[str]) -> "Scored":
        """These clips, in the order of `keys`."""
        position = {k: i for i, k in enumerate(self.keys or [])}
        rows = np.array([position[k] for k in keys], dtype=int)
        t = None if self.thresholds is None else self.thresholds[:, rows]
        return Scored(self.y[rows], self.probs[:, rows], self.groups[rows], list(keys), t)

    def resamples(self, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
        """The bootstrap's clip weights: groups drawn with replacement within each class (multi-label: the
        class of each clip's first label)."""
        strata = self.y.argmax(1) if self.y.ndim == 2 else self.y
        return group_weights(self.groups, strata, resamples, seed)

    def values(self, metric: Metric, weights: np.ndarray | None = None) -> np.ndarray:
        """The metric, averaged over seeds: one value (weights None) or one per resample."""
        thresholds = [None] * len(self.probs) if self.thresholds is None else self.thresholds
        return np.mean([metric(self.y, p, weights, t) for p, t in zip(self.probs, thresholds)], axis=0)


def confidence_interval(scored: Scored, metric: Metric, weights: np.ndarray | None = None):
    """(estimate, low, high): the metric on all clips and its group-bootstrap interval."""
    weights = scored.resamples() if weights is None else weights
    return (float(scored.values(metric)), *interval(scored.values(metric, weights)))


def every_metric(scored: Scored) -> dict[str, tuple[float, float, float]]:
    """Each metric of the clips' task (zoo.evaluate.metrics): (estimate, low, high), all on the same group
    resamples."""
    from zoo.evaluate.metrics import metrics_for

    weights = scored.resamples()
    return {metric.name: confidence_interval(scored, metric, weights) for metric in metrics_for(scored.task)}


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
    if a.y.shape != b.y.shape or not np.array_equal(a.y, b.y):
        raise ValueError("paired comparison needs the same test clips in the same order")
    weights = a.resamples() if weights is None else weights
    diffs = a.values(metric, weights) - b.values(metric, weights)
    p = min(1.0, 2 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return Comparison(float(a.values(metric) - b.values(metric)), *interval(diffs), p)
