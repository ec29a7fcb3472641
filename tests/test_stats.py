"""The statistics themselves: metric definitions, interval coverage, paired tests, group resampling."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, precision_recall_fscore_support

from zoo.evaluate.metrics import BY_NAME, METRICS, expected_calibration_error
from zoo.evaluate.stats import Scored, confidence_interval, group_weights, paired

ACCURACY, F1 = BY_NAME["accuracy"], BY_NAME["macro_f1"]


def model_outputs(rng, y, p_correct, k, agree=None):
    """Probabilities of a model right with probability p_correct (per clip, or per entry of `agree`:
    clips sharing an entry are right or wrong together)."""
    n = len(y)
    right = rng.random(n if agree is None else agree.max() + 1) < p_correct
    right = right if agree is None else right[agree]
    pred = np.where(right, y, (y + rng.integers(1, k, n)) % k)
    probs = np.full((n, k), 0.3 / (k - 1))
    probs[np.arange(n), pred] = 0.7
    return probs


def test_metrics_match_sklearn_at_unit_weights_and_weights_count_clips():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 300)
    y[:3] = 4  # every class present
    probs = rng.dirichlet(np.ones(5), 300)
    pred = probs.argmax(1)
    p, r, f1, _ = precision_recall_fscore_support(y, pred, labels=range(5), average="macro", zero_division=0)
    assert BY_NAME["accuracy"](y, probs) == pytest.approx(accuracy_score(y, pred))
    assert BY_NAME["macro_precision"](y, probs) == pytest.approx(p)
    assert BY_NAME["macro_recall"](y, probs) == pytest.approx(r)
    assert BY_NAME["macro_f1"](y, probs) == pytest.approx(f1)
    binary = probs[:, :2] / probs[:, :2].sum(1, keepdims=True)
    y2 = (y % 2).astype(int)  # sklearn's binary Brier is half the two-class sum of squares
    assert BY_NAME["brier"](y2, binary) == pytest.approx(2 * brier_score_loss(y2, binary[:, 1]))
    # a weight of 2 is the clip counted twice; a (B, n) weight matrix gives B values
    weights = rng.integers(0, 3, (4, 300)).astype(float)
    for metric in METRICS:
        counts = weights.astype(int)
        repeated = [metric(np.repeat(y, c), np.repeat(probs, c, axis=0)) for c in counts]
        assert metric(y, probs, weights) == pytest.approx(repeated)


def test_ece_of_a_calibrated_and_of_an_overconfident_model():
    rng = np.random.default_rng(2)
    n = 20000
    confidence = rng.uniform(0.5, 1.0, n)
    y = (rng.random(n) > confidence).astype(int)  # class 0 is right with probability `confidence`
    calibrated = np.stack([confidence, 1 - confidence], 1)
    assert expected_calibration_error(y, calibrated, np.ones(n)) < 0.01
    overconfident = np.stack([np.full(n, 0.99), np.full(n, 0.01)], 1)  # says 0.99, right 75 % of the time
    assert expected_calibration_error(y, overconfident, np.ones(n)) == pytest.approx(0.24, abs=0.01)


def test_the_95_percent_interval_covers_the_true_accuracy_93_to_97_percent_of_the_time():
    rng = np.random.default_rng(3)
    n, truth, reps = 400, 0.8, 400
    covered = 0
    for rep in range(reps):
        y = rng.integers(0, 4, n)
        scored = Scored(y, model_outputs(rng, y, truth, 4)[None], np.arange(n))
        weights = group_weights(scored.groups, None, 1000, seed=rep)  # y is drawn: no strata
        _, low, high = confidence_interval(scored, ACCURACY, weights)
        covered += low <= truth <= high
    assert 0.93 <= covered / reps <= 0.97, covered / reps


def test_a_model_compared_with_itself_is_tied():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 200)
    a = Scored(y, model_outputs(rng, y, 0.7, 3)[None], np.arange(200) // 4)
    for metric in (ACCURACY, F1):
        result = paired(a, a, metric)
        assert result.p == 1.0 and result.difference == result.low == result.high == 0.0


def test_a_five_point_difference_on_1000_clips_is_detected():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 10, 1000)
    better = Scored(y, model_outputs(rng, y, 0.85, 10)[None], np.arange(1000))
    worse = Scored(y, model_outputs(rng, y, 0.80, 10)[None], np.arange(1000))
    result = paired(better, worse, ACCURACY)
    assert result.p < 0.05 and 0 < result.low < result.difference < result.high
    assert result.difference == pytest.approx(0.05, abs=0.02)


def test_group_bootstrap_is_wider_than_the_clip_bootstrap_when_clips_of_a_group_agree():
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(100), 5)  # 100 recordings, 5 clips each, right or wrong together
    y = rng.integers(0, 4, 500)
    probs = model_outputs(rng, y, 0.75, 4, agree=groups)[None]
    _, g_low, g_high = confidence_interval(Scored(y, probs, groups), ACCURACY)
    _, c_low, c_high = confidence_interval(Scored(y, probs, np.arange(500)), ACCURACY)
    assert (g_high - g_low) > 1.8 * (c_high - c_low)  # about sqrt(5) = 2.2 times as wide


def test_seeds_are_averaged_and_the_interval_is_reproducible():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 100)
    seeds = np.stack([model_outputs(rng, y, p, 3) for p in (0.6, 0.8)])
    scored = Scored(y, seeds, np.arange(100))
    estimate, low, high = confidence_interval(scored, ACCURACY)
    assert estimate == pytest.approx(np.mean([ACCURACY(y, s) for s in seeds]))
    assert (estimate, low, high) == confidence_interval(scored, ACCURACY)


def clips_of_recordings(rng, k, recordings, clips, p_by_class):
    """k classes of `recordings` recordings each, `clips` clips per recording; each recording has its own
    skill around its class's (clips of one recording are right or wrong together, more or less)."""
    y = np.repeat(np.arange(k), recordings * clips)
    groups = np.repeat(np.arange(k * recordings), clips)
    skill = np.clip(rng.normal(np.repeat(p_by_class, recordings), 0.15), 0, 1)[groups]
    return y, model_outputs(rng, y, skill, k), groups


def test_a_perfect_predictor_has_a_point_interval_on_every_metric():
    """A resample that draws no recording of a class does not score that class 0 (issue 18)."""
    y = np.repeat(np.arange(12), 6)  # 12 classes; a class of 1 recording, others of 2 or 3
    groups = np.array([f"{c}-{i % (1 + c % 3)}" for c, i in zip(y, range(len(y)))])
    probs = np.eye(12)[y]
    scored = Scored(y, probs[None], groups)
    for metric in METRICS:
        estimate, low, high = confidence_interval(scored, metric)
        best = 1.0 if metric.higher_is_better else 0.0
        assert estimate == low == high == pytest.approx(best), metric.name
    # and without strata (every group drawn from all), classes go missing from resamples: still 1
    weights = group_weights(groups, None, 500)
    assert (weights @ np.eye(12)[y] == 0).any()  # some resample lacks a class
    assert np.all(F1(y, probs, weights) == 1.0)


def test_macro_averages_are_over_the_classes_with_clips():
    y = np.array([0, 0, 1, 1])
    probs = np.eye(3)[[0, 0, 1, 2]]  # class 2 has no clip; one clip of class 1 is called 2
    assert BY_NAME["macro_recall"](y, probs) == pytest.approx((1 + 0.5) / 2)
    assert BY_NAME["macro_precision"](y, probs) == pytest.approx((1 + 1) / 2)
    assert F1(y, probs) == pytest.approx((1 + 2 / 3) / 2)


def test_the_stratified_resample_keeps_each_class_s_weight():
    y = np.repeat(np.arange(5), 12)
    groups = np.arange(60) // 4  # 3 recordings of 4 clips per class
    weights = group_weights(groups, y, 300)
    per_class = weights @ np.eye(5)[y]
    assert np.allclose(per_class, 12)  # 2 of 3 recordings drawn, each weighing 3/2
    assert len({tuple(w) for w in weights}) > 100


@pytest.mark.parametrize("classes, recordings", [(24, 3), (10, 4)])
def test_the_macro_f1_interval_covers_the_truth_with_few_recordings_per_class(classes, recordings):
    """As for accuracy: the 95 % interval holds the population's macro F1 92-98 % of the time (the
    stratified bootstrap that draws m - 1 of a class's m recordings; unstratified, with an absent class
    scored 0, 30 x 3 gave 0.63)."""
    rng = np.random.default_rng(9)
    p = np.linspace(0.6, 0.95, classes)
    truth = F1(*clips_of_recordings(rng, classes, 5000, 4, p)[:2])
    reps, covered = 400, 0
    for rep in range(reps):
        y, probs, groups = clips_of_recordings(rng, classes, recordings, 4, p)
        scored = Scored(y, probs[None], groups)
        _, low, high = confidence_interval(scored, F1, group_weights(groups, y, 1000, seed=rep))
        covered += low <= truth <= high
    assert 0.92 <= covered / reps <= 0.98, covered / reps
