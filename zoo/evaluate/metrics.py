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
    task: str = "single"  # single: y (n,) class indices; multilabel: y (n, k) 0/1, and per-clip thresholds

    def __call__(self, y: np.ndarray, probs: np.ndarray, weights=None, thresholds=None) -> np.ndarray:
        weights = np.ones(len(y)) if weights is None else weights
        if self.task == "single":
            return self.fn(y, probs, weights)
        return self.fn(y, probs, weights, np.full_like(probs, 0.5) if thresholds is None else thresholds)

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


# Several labels per clip (task "multilabel"): y (n, k) 0/1, probs (n, k) independent probabilities, and the
# per-class thresholds (chosen on the validation split) as an (n, k) array: each clip's own run's.


def _present(weights, y):
    """Per class: the weight of its positive clips, (..., k)."""
    return weights @ y


def average_precision(y, probs, weights):
    """Per-class average precision, (..., k): the mean precision at each positive clip, clips ranked by their
    probability (ties in the order given), every clip counted with its weight (AP without interpolation,
    as sklearn's average_precision_score)."""
    out = []
    for c in range(y.shape[1]):
        order = np.argsort(-probs[:, c], kind="stable")
        hit, w = y[order, c], weights[..., order]
        tp, seen = np.cumsum(w * hit, -1), np.cumsum(w, -1)
        precision = np.divide(tp, seen, out=np.zeros_like(tp, dtype=float), where=seen > 0)
        out.append((w * hit * precision).sum(-1) / np.maximum((w * hit).sum(-1), 1e-12))
    return np.stack(out, -1)


def _over_present(per_class, y, weights):
    """The mean of a per-class score over the classes with a positive clip (of non-zero weight)."""
    present = _present(weights, y) > 0
    return (per_class * present).sum(-1) / np.maximum(present.sum(-1), 1)


def mean_average_precision(y, probs, weights, thresholds):
    return _over_present(average_precision(y, probs, weights), y, weights)


def micro_average_precision(y, probs, weights, thresholds):
    """AP over every (clip, class) pair at once: frequent classes weigh more."""
    k = y.shape[1]
    flat = average_precision(y.reshape(-1, 1), probs.reshape(-1, 1), np.repeat(weights, k, axis=-1))
    return flat[..., 0]


def macro_auroc(y, probs, weights, thresholds):
    """Mean over classes with positive and negative clips of the ROC AUC: the weighted share of (positive,
    negative) pairs ranked the right way round (ties count half)."""
    out, valid = [], []
    for c in range(y.shape[1]):
        order = np.argsort(probs[:, c], kind="stable")
        p, hit, w = probs[order, c], y[order, c], weights[..., order]
        neg = w * (1 - hit)
        _, first, counts = np.unique(p, return_index=True, return_counts=True)
        tied = np.add.reduceat(neg, first, axis=-1) if len(p) else neg  # negatives sharing each score
        tie_of = np.repeat(np.arange(len(first)), counts)
        below_tied = np.take(np.cumsum(tied, -1) - tied, tie_of, axis=-1)  # negatives at a lower score
        wins = (w * hit * (below_tied + 0.5 * np.take(tied, tie_of, axis=-1))).sum(-1)
        pos_w, neg_w = (w * hit).sum(-1), neg.sum(-1)
        out.append(wins / np.maximum(pos_w * neg_w, 1e-12))
        valid.append((pos_w > 0) & (neg_w > 0))
    out, valid = np.stack(out, -1), np.stack(valid, -1)
    return (out * valid).sum(-1) / np.maximum(valid.sum(-1), 1)


def macro_f1_at_thresholds(y, probs, weights, thresholds):
    """Macro F1 of the decisions probs >= thresholds (each class's threshold chosen on validation data)."""
    decided = (probs >= thresholds).astype(float)
    tp, true, predicted = weights @ (y * decided), weights @ y, weights @ decided
    return _macro(_ratio(2 * tp, true + predicted), true, predicted)


def top1_accuracy(y, probs, weights, thresholds):
    """Over the clips with a label: how often the most probable class is one of its labels (BirdSet's
    top-1; on clips of one label each, their accuracy)."""
    labelled = (y.sum(1) > 0).astype(float)
    right = y[np.arange(len(y)), probs.argmax(1)] if len(y) else np.zeros(0)
    return _share(weights * labelled, right.astype(float))


def multilabel_ece(y, probs, weights, thresholds):
    """The mean over classes of each class's ECE (ECE_BINS bins of its probability)."""
    bins = np.minimum((probs * ECE_BINS).astype(int), ECE_BINS - 1)  # (n, k)
    total = np.maximum(weights.sum(-1), 1e-12)
    ece = 0.0
    for b in range(ECE_BINS):
        inside = (bins == b).astype(float)
        ece = ece + np.abs(weights @ (inside * (y - probs))) / total[..., None]
    return ece.mean(-1)


def multilabel_brier(y, probs, weights, thresholds):
    """The mean over clips and classes of (p - y)^2 (0 is perfect, 1 worst)."""
    return _share(weights, ((probs - y) ** 2).mean(1))


MULTILABEL_METRICS = (
    Metric("map", "mAP", mean_average_precision, terminal=True, task="multilabel"),
    Metric("micro_ap", "micro AP", micro_average_precision, task="multilabel"),
    Metric("macro_auroc", "macro AUROC", macro_auroc, task="multilabel"),
    Metric("macro_f1", "macro F1", macro_f1_at_thresholds, terminal=True, task="multilabel"),
    Metric("top1_accuracy", "top-1 accuracy", top1_accuracy, task="multilabel"),
    Metric("ece", "ECE", multilabel_ece, higher_is_better=False, task="multilabel"),
    Metric("brier", "Brier", multilabel_brier, higher_is_better=False, task="multilabel"),
)
TASKS = {"single": METRICS, "multilabel": MULTILABEL_METRICS}
# the leaderboard's order: the first, then the second on a tie
RANKS = {"single": ("accuracy", "macro_f1"), "multilabel": ("map", "macro_f1")}
BY_NAME = {m.name: m for m in METRICS}
RANK_BY = RANKS["single"]


def metrics_for(task: str = "single") -> tuple[Metric, ...]:
    return TASKS[task]


def by_name(task: str = "single") -> dict[str, Metric]:
    return {m.name: m for m in TASKS[task]}


def ranking(task: str = "single") -> tuple[list[Metric], list[Metric]]:
    """The task's metrics: those the leaderboard ranks by, in order, and the others."""
    first = [by_name(task)[name] for name in RANKS[task]]
    return first, [m for m in TASKS[task] if m not in first]
