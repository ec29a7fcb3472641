"""The metrics, each defined once: its name, how it is computed, how it is written, which way is better.

Every metric is a function of the test clips' true classes, predicted probabilities and clip weights:
weights of shape (n,) give one value, weights of shape (B, n) give B values at once (the bootstrap's
resamples, see zoo.evaluate.stats). The evaluator, metrics.json, the leaderboards (markdown and CSV)
and the CLI's tables read METRICS; adding a metric is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ECE_BINS = 15

# (y (n,) class index, probs (n, k), weights (n,) or (B, n)) -> value () or (B,)
MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    name: str  # key in metrics.json and the CSV leaderboard
    label: str  # column header
    fn: MetricFn
    higher_is_better: bool = True
    digits: int = 4
    terminal: bool = False  # also a column of the CLI's tables (80 columns hold few)

    def __call__(self, y: np.ndarray, probs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return self.fn(y, probs, np.ones(len(y)) if weights is None else weights)

    def format(self, value: float, digits: int | None = None) -> str:
        return f"{value:.{self.digits if digits is None else digits}f}"


def _share(weights: np.ndarray, per_clip: np.ndarray) -> np.ndarray:
    """The weighted mean of a per-clip quantity: (..., n) weights -> (...)."""
    return (weights @ per_clip) / np.maximum(weights.sum(-1), 1e-12)


def accuracy(y, probs, weights):
    return _share(weights, (probs.argmax(1) == y).astype(float))


def _per_class(y, probs, weights):
    """Weighted true positives, true counts and predicted counts per class: (..., k) each."""
    k = probs.shape[1]
    pred = probs.argmax(1)
    true_hot, pred_hot = np.eye(k)[y], np.eye(k)[pred]
    return weights @ (true_hot * pred_hot), weights @ true_hot, weights @ pred_hot


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)  # 0 where undefined, as sklearn


def _macro(per_class, true, predicted):
    """The mean of a per-class score over the classes present: those with a true clip (of non-zero weight).
    A resample that draws no clip of a class leaves that class out instead of scoring it 0, so that a perfect
    predictor scores 1 on every resample. (sklearn's average="macro" also counts a class that is only
    predicted, as 0: the same on any test split that holds every class.)"""
    present = true > 0
    return (per_class * present).sum(-1) / np.maximum(present.sum(-1), 1)


def macro_precision(y, probs, weights):
    tp, true, predicted = _per_class(y, probs, weights)
    return _macro(_ratio(tp, predicted), true, predicted)


def macro_recall(y, probs, weights):
    tp, true, predicted = _per_class(y, probs, weights)
    return _macro(_ratio(tp, true), true, predicted)


def macro_f1(y, probs, weights):
    tp, true, predicted = _per_class(y, probs, weights)
    return _macro(_ratio(2 * tp, true + predicted), true, predicted)


def per_class_f1(y, probs):
    """F1 of each class, (k,): not a leaderboard column, the per-class view's."""
    tp, true, predicted = _per_class(y, probs, np.ones(len(y)))
    return _ratio(2 * tp, true + predicted)


def expected_calibration_error(y, probs, weights):
    """Top-label ECE over ECE_BINS equal-width confidence bins: sum over bins of |accuracy - confidence|
    weighted by the bin's share of clips (Guo et al. 2017)."""
    confidence = probs.max(1)
    correct = (probs.argmax(1) == y).astype(float)
    bins = np.eye(ECE_BINS)[np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)]  # (n, bins)
    gap = weights @ (bins * (correct - confidence)[:, None])  # per bin: sum(correct - confidence)
    return np.abs(gap).sum(-1) / np.maximum(weights.sum(-1), 1e-12)


def brier(y, probs, weights):
    """Multi-class Brier score: the mean over clips of sum_c (p_c - [c = y])^2 (0 is perfect, 2 worst)."""
    return _share(weights, ((probs - np.eye(probs.shape[1])[y]) ** 2).sum(1))


METRICS = (
    Metric("accuracy", "accuracy", accuracy, terminal=True),
    Metric("macro_precision", "macro precision", macro_precision),
    Metric("macro_recall", "macro recall", macro_recall),
    Metric("macro_f1", "macro F1", macro_f1, terminal=True),
    Metric("ece", "ECE", expected_calibration_error, higher_is_better=False),
    Metric("brier", "Brier", brier, higher_is_better=False),
)
BY_NAME = {m.name: m for m in METRICS}
RANK_BY = ("accuracy", "macro_f1")  # the leaderboard's order: the first, then the second on a tie
