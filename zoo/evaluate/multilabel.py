"""Judge a multi-label model on the test split: per-class thresholds chosen on the validation split and
kept, every multi-label metric with its interval, the per-class report (AP, precision, recall, F1 at the
threshold) and every prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.errors import ZooError
from zoo.evaluate.evaluator import Evaluation
from zoo.evaluate.metrics import average_precision
from zoo.evaluate.stats import LEVEL, Scored, every_metric

GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)  # the thresholds a class may get


def choose_thresholds(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per class, the threshold of GRID with the best F1 on these (validation) clips; the lowest of equals,
    0.5 for a class without positive clips there. Only the validation split is ever passed here."""
    chosen = np.full(y.shape[1], 0.5)
    for c in range(y.shape[1]):
        positives = y[:, c].sum()
        if positives == 0:
            continue
        decided = probs[:, c][:, None] >= GRID[None, :]  # (clips, thresholds)
        tp = (decided & (y[:, c][:, None] == 1)).sum(0)
        f1 = 2 * tp / (positives + decided.sum(0))
        chosen[c] = GRID[int(np.argmax(f1))]
    return chosen


def evaluate_multilabel(
    probs: np.ndarray, y: np.ndarray, classes: list[str], paths: list[str], groups, thresholds: np.ndarray
) -> Evaluation:
    """Metrics of test-set probabilities (clips, k) against the 0/1 labels (clips, k), the decisions made at
    `thresholds` (k,), each metric with its group-bootstrap interval."""
    if not np.isfinite(probs).all():
        raise ZooError(
            "the model's test-split probabilities are not finite (NaN or Inf): it is not ranked; "
            "check the model for unstable layers"
        )
    groups = np.asarray(paths if groups is None else groups, dtype=str)
    per_clip = np.broadcast_to(thresholds, probs.shape)
    scored = Scored(y, probs[None], groups, thresholds=per_clip[None])
    scores = every_metric(scored)
    metrics = {name: value for name, (value, _, _) in scores.items()}
    metrics |= {
        "task": "multilabel",
        "intervals": {name: [low, high] for name, (_, low, high) in scores.items()},
        "interval": f"{LEVEL:.0%} bootstrap over the test clips resampled by group within each first label",
        "n_test": int(len(y)),
        "n_groups": int(len(np.unique(groups))),
        "classes": classes,
        "thresholds": dict(zip(classes, map(float, thresholds))),  # chosen on the validation split
    }
    decided = probs >= thresholds
    return Evaluation(
        metrics,
        _report(y, probs, decided, classes, thresholds),
        _predictions(y, probs, decided, classes, paths, groups),
    )


def _report(y, probs, decided, classes, thresholds) -> pd.DataFrame:
    tp, predicted, true = (y * decided).sum(0), decided.sum(0), y.sum(0)
    ratio = lambda a, b: np.divide(a, b, out=np.zeros(len(a)), where=b > 0)  # noqa: E731
    return pd.DataFrame(
        {
            "class": classes,
            "ap": average_precision(y, probs, np.ones(len(y))),
            "precision": ratio(tp, predicted),
            "recall": ratio(tp, true),
            "f1": ratio(2 * tp, true + predicted),
            "threshold": thresholds,
            "support": true.astype(int),
        }
    )


def _predictions(y, probs, decided, classes, paths, groups) -> pd.DataFrame:
    join = lambda row: ";".join(c for c, on in zip(classes, row) if on)  # noqa: E731
    table = pd.DataFrame(
        {
            "path": paths,
            "group": groups,
            "labels": [join(row) for row in y.astype(bool)],
            "predicted": [join(row) for row in decided],
            "correct": (decided == y.astype(bool)).all(1),
            "confidence": probs.max(1) if probs.size else np.zeros(len(y)),
        }
    )
    for i, c in enumerate(classes):
        table[f"p_{c}"] = probs[:, i]
    return table
