"""Sound events from window scores, and how well they match the truth (onset/offset tolerances, as sed_eval).

Events are DataFrames with begin_s, end_s (seconds) and label columns; predicted ones also have score.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

EVENT_COLUMNS = ["begin_s", "end_s", "label", "score"]
EPS = 1e-9  # seconds: windows this close count as touching (k * hop_s is not exact in floats)


def _thresholds(thresholds: float | Sequence[float], n_classes: int) -> np.ndarray:
    """One threshold per class, from one float or a sequence of them."""
    values = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if values.size == 1:
        return np.full(n_classes, float(values[0]))
    if values.size != n_classes:
        raise ValueError(f"{values.size} thresholds for {n_classes} classes: give one, or one per class.")
    return values


def _runs(starts: np.ndarray, ends: np.ndarray, probs: np.ndarray) -> list[tuple[float, float, float]]:
    """(begin, end, max prob) of each run of overlapping or touching windows, the windows sorted by start."""
    runs: list[list[float]] = []
    for start, end, prob in zip(starts, ends, probs):
        if runs and start <= runs[-1][1] + EPS:
            runs[-1][1] = max(runs[-1][1], end)
            runs[-1][2] = max(runs[-1][2], prob)
        else:
            runs.append([start, end, prob])
    return [(float(b), float(e), float(p)) for b, e, p in runs]


def events_from_windows(
    starts: Sequence[float],
    ends: Sequence[float],
    probs: np.ndarray,
    classes: Sequence[str],
    thresholds: float | Sequence[float],
) -> pd.DataFrame:
    """The events (begin_s, end_s, label, score) of one recording from its windows' class probabilities.

    `probs` is (windows, classes). For each class, the windows with probability >= its threshold are
    kept, and overlapping or touching ones merge into one event: begin = first start, end = last end,
    score = the highest probability. Sorted by begin, then label.
    """
    starts = np.asarray(starts, dtype=float)
    ends = np.asarray(ends, dtype=float)
    probs = np.asarray(probs, dtype=float).reshape(len(starts), -1) if len(starts) else np.asarray(probs)
    if probs.ndim != 2 or probs.shape != (len(starts), len(classes)) or len(ends) != len(starts):
        raise ValueError(
            f"probs {probs.shape}, {len(starts)} starts, {len(ends)} ends, {len(classes)} classes: "
            "probs must be (windows, classes)."
        )
    limits = _thresholds(thresholds, len(classes))
    order = np.argsort(starts, kind="stable")
    rows = []
    for k, label in enumerate(classes):
        keep = order[probs[order, k] >= limits[k]]
        rows += [(b, e, str(label), p) for b, e, p in _runs(starts[keep], ends[keep], probs[keep, k])]
    events = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    return events.sort_values(["begin_s", "label"], kind="stable").reset_index(drop=True)


def _match(predicted: pd.DataFrame, truth: pd.DataFrame, onset: float, offset: float, share: float) -> int:
    """How many one-to-one matches between events of one label: greedy, closest onsets first.

    sed_eval finds a maximum bipartite matching; greedy can find fewer when one prediction lies within
    the tolerances of two true events and takes the one another prediction needed (close, dense events).
    """
    p_on, p_off = predicted["begin_s"].to_numpy(float), predicted["end_s"].to_numpy(float)
    t_on, t_off = truth["begin_s"].to_numpy(float), truth["end_s"].to_numpy(float)
    onset_gap = np.abs(p_on[:, None] - t_on[None, :])
    offset_gap = np.abs(p_off[:, None] - t_off[None, :])
    offset_limit = np.maximum(offset, share * (t_off - t_on))[None, :]  # a long event earns a looser offset
    ok = (onset_gap <= onset + EPS) & (offset_gap <= offset_limit + EPS)
    pairs = sorted(zip(*np.nonzero(ok)), key=lambda ij: (onset_gap[ij], offset_gap[ij]))
    used_p, used_t = set(), set()
    for i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return len(used_p)


def _scores(tp: int, n_predicted: int, n_true: int) -> dict:
    """precision, recall, f1, tp, fp, fn from counts, never NaN.

    A zero denominator gives 0, except that with nothing predicted and nothing true precision and recall
    are 1.0; F1 is 2tp / (2tp + fp + fn), so it is 0 whenever nothing is predicted or nothing is true
    (both empty included: there is nothing to have found).
    """
    fp, fn = n_predicted - tp, n_true - tp
    if n_predicted == 0 and n_true == 0:
        precision = recall = 1.0
    else:
        precision = tp / n_predicted if n_predicted else 0.0
        recall = tp / n_true if n_true else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def _or_empty(events: pd.DataFrame | None) -> pd.DataFrame:
    """The events, or an empty frame with their columns for None or a column-less empty DataFrame."""
    if events is None or len(events) == 0:
        return pd.DataFrame({"begin_s": [], "end_s": [], "label": []})
    return events


def event_scores(
    predicted: pd.DataFrame,
    truth: pd.DataFrame,
    onset_tolerance: float = 0.2,
    offset_tolerance: float = 0.2,
    offset_share: float = 0.5,
) -> dict:
    """sed_eval's event-based scores of `predicted` events against `truth` (both: begin_s, end_s, label).

    A prediction matches a true event of the same label when their onsets differ by at most
    `onset_tolerance` and their offsets by at most max(`offset_tolerance`, `offset_share` * the true
    event's duration); each true event and each prediction is matched at most once (greedy, closest
    onsets first). Returns precision, recall, f1, tp, fp, fn over all events, and the same per label
    under "per_class" (labels sorted, those of either side).
    """
    predicted, truth = _or_empty(predicted), _or_empty(truth)
    labels = sorted(set(map(str, predicted["label"])) | set(map(str, truth["label"])))
    per_class = {}
    tp_total = 0
    for label in labels:
        mine = predicted[predicted["label"].astype(str) == label]
        true = truth[truth["label"].astype(str) == label]
        tp = (
            _match(mine, true, onset_tolerance, offset_tolerance, offset_share)
            if len(mine) and len(true)
            else 0
        )
        per_class[label] = _scores(tp, len(mine), len(true))
        tp_total += tp
    return {**_scores(tp_total, len(predicted), len(truth)), "per_class": per_class}


def pooled_event_scores(pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame]], **tolerances) -> dict:
    """event_scores over several recordings, each (predicted, truth) matched on its own, the counts summed:
    precision, recall and F1 of all events together, and per class."""
    totals: dict[str, list[int]] = {}
    for predicted, truth in pairs:
        for label, s in event_scores(predicted, truth, **tolerances)["per_class"].items():
            tp, fp, fn = totals.setdefault(label, [0, 0, 0])
            totals[label] = [tp + s["tp"], fp + s["fp"], fn + s["fn"]]
    per_class = {label: _scores(tp, tp + fp, tp + fn) for label, (tp, fp, fn) in sorted(totals.items())}
    tp, fp, fn = (sum(c[i] for c in totals.values()) for i in range(3))
    return {**_scores(tp, tp + fp, tp + fn), "per_class": per_class, "recordings": len(pairs)}
