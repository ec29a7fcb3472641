import numpy as np
import pandas as pd
import pytest
import torch

from zoo.evaluate.evaluator import clip_probabilities, evaluate
from zoo.outputs import write_run_outputs
from zoo.registry import load_registry


def test_window_probabilities_average_per_clip():
    windows = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    probs = clip_probabilities(windows, torch.tensor([0, 0, 1, 0]), 2)
    np.testing.assert_allclose(probs, [[0.6, 0.4], [0.2, 0.8]], rtol=1e-6)


def test_metrics_report_predictions_and_files(tmp_path):
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    y = np.array([0, 1, 1, 2])
    ev = evaluate(probs, y, ["a", "b", "c"], ["p0", "p1", "p2", "p3"])
    assert ev.metrics["accuracy"] == 0.75
    assert ev.metrics["macro_recall"] == (1 + 0.5 + 1) / 3
    assert ev.metrics["macro_precision"] == (0.5 + 1 + 1) / 3
    assert ev.metrics["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert ev.report.set_index("class").loc["b", "support"] == 2
    assert ev.predictions.loc[2, "predicted"] == "a" and ev.predictions.loc[2, "confidence"] == 0.5
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5}]
    ev.history = history
    write_run_outputs(load_registry(entry_points=()), tmp_path, ev)  # the built-in outputs
    wrong = pd.read_csv(tmp_path / "misclassified.csv")
    assert wrong["path"].tolist() == ["p2"]
    for name in ("report.csv", "report.md", "confusion.png", "curves.png", "reliability.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert list(ev.predictions.columns[-3:]) == ["p_a", "p_b", "p_c"]


def test_metrics_carry_group_bootstrap_intervals_and_report_md_reads_well(tmp_path):
    n = 60
    y = np.arange(n) % 3
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), np.where(np.arange(n) % 10 == 0, (y + 1) % 3, y)] = 0.8  # 6 mistakes
    groups = [f"rec{i // 3}" for i in range(n)]
    ev = evaluate(probs, y, ["a", "b", "c"], [f"clips/{i}.wav" for i in range(n)], groups)
    m = ev.metrics
    assert m["accuracy"] == 0.9 and m["n_groups"] == 20
    for name, (low, high) in m["intervals"].items():
        assert low <= m[name] <= high, name
    assert m["ece"] == pytest.approx(0.9 - 0.8) and 0 < m["brier"] < 2  # all at confidence 0.8, 90 % right
    assert ev.predictions["group"].tolist() == groups
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5}]
    ev.history, ev.metrics = history, {**m, "model": "cnn", "dataset": "birds", "run_id": "abc"}
    write_run_outputs(load_registry(entry_points=()), tmp_path, ev)
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# cnn on birds\n")
    low, high = m["intervals"]["accuracy"]
    assert f"| accuracy (higher is better) | 0.9000 | {low:.4f} - {high:.4f} |" in report
    assert "| ECE (lower is better) | 0.1000 |" in report
    assert "![reliability diagram](reliability.png)" in report and "| 0.wav | a | b | 0.800 |" in report
    assert (tmp_path / "reliability.png").stat().st_size > 0
