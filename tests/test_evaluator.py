import numpy as np
import pandas as pd
import torch

from zoo.evaluator import clip_probabilities, evaluate, write_evaluation


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
    write_evaluation(tmp_path, ev, history)
    wrong = pd.read_csv(tmp_path / "misclassified.csv")
    assert wrong["path"].tolist() == ["p2"]
    for name in ("metrics.json", "report.csv", "predictions.csv", "confusion.png", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert list(pd.read_csv(tmp_path / "predictions.csv").columns[-3:]) == ["p_a", "p_b", "p_c"]
