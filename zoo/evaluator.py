"""Judge a trained model on the test split only: metrics, per-class report, predictions, plots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
)

from zoo.errors import ZooError
from zoo.io import write_atomic, write_csv, write_json


@dataclass
class Evaluation:
    metrics: dict  # accuracy, macro precision/recall/F1, n_test, confusion matrix
    report: pd.DataFrame  # per class: precision, recall, f1, support
    predictions: pd.DataFrame  # per clip: path, label, predicted, correct, confidence, p_<class>...


@torch.inference_mode()
def predict(
    model: torch.nn.Module, x: torch.Tensor, device: torch.device, mean=0.0, std=1.0, batch_size: int = 256
) -> np.ndarray:
    """Class probabilities (N, k), in fp32, of raw inputs normalised as (x - mean) / std."""
    model.eval().to(device)
    mean, std = torch.as_tensor(mean, device=device), torch.as_tensor(std, device=device)
    out = []
    for i in range(0, len(x), batch_size):
        xb = ((x[i : i + batch_size].to(device) - mean) / std).contiguous(memory_format=torch.channels_last)
        out.append(torch.softmax(model(xb).float(), dim=1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def clip_probabilities(window_probs: np.ndarray, clip: torch.Tensor, n_clips: int) -> np.ndarray:
    """Mean of each clip's window probabilities: (windows, k) -> (clips, k)."""
    probs = torch.zeros(n_clips, window_probs.shape[1], dtype=torch.float64)
    probs.index_add_(0, clip, torch.from_numpy(window_probs).double())
    return (probs / torch.bincount(clip, minlength=n_clips).clamp_min(1)[:, None]).numpy()


def evaluate(probs: np.ndarray, y: np.ndarray, classes: list[str], paths: list[str]) -> Evaluation:
    """Metrics of test-set probabilities against the true class indices."""
    if not np.isfinite(probs).all():
        raise ZooError(
            "the model's test-split probabilities are not finite (NaN or Inf): it is not ranked; "
            "check the model for unstable layers"
        )
    pred = probs.argmax(1)
    labels = list(range(len(classes)))
    p, r, f1, _ = precision_recall_fscore_support(y, pred, labels=labels, average="macro", zero_division=0)
    cm = confusion_matrix(y, pred, labels=labels)
    metrics = {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_precision": float(p),
        "macro_recall": float(r),
        "macro_f1": float(f1),
        "n_test": int(len(y)),
        "classes": classes,
        "confusion_matrix": cm.tolist(),
    }
    rep = classification_report(
        y, pred, labels=labels, target_names=classes, output_dict=True, zero_division=0
    )
    report = pd.DataFrame(
        [
            {"class": c, **{k: rep[c][k] for k in ("precision", "recall", "f1-score", "support")}}
            for c in classes
        ]
    ).rename(columns={"f1-score": "f1"})
    report["support"] = report["support"].astype(int)
    predictions = pd.DataFrame(
        {
            "path": paths,
            "label": [classes[i] for i in y],
            "predicted": [classes[i] for i in pred],
            "correct": pred == y,
            "confidence": probs.max(1),
        }
    )
    for i, c in enumerate(classes):
        predictions[f"p_{c}"] = probs[:, i]
    return Evaluation(metrics, report, predictions)


def write_evaluation(run_dir: Path, ev: Evaluation, history: list[dict], extra: dict | None = None) -> None:
    """report.csv, predictions.csv, misclassified.csv, confusion.png, curves.png; metrics.json last."""
    write_csv(run_dir / "report.csv", ev.report)
    write_csv(run_dir / "predictions.csv", ev.predictions)
    wrong = ev.predictions[~ev.predictions["correct"]].sort_values("confidence", ascending=False)
    write_csv(run_dir / "misclassified.csv", wrong)
    plot_confusion(run_dir / "confusion.png", np.array(ev.metrics["confusion_matrix"]), ev.metrics["classes"])
    plot_curves(run_dir / "curves.png", history)
    write_json(run_dir / "metrics.json", {**ev.metrics, **(extra or {})})


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path: Path, cm: np.ndarray, classes: list[str]) -> None:
    plt = _figure()
    size = max(5.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    rows = cm.sum(1, keepdims=True).clip(min=1)
    ax.imshow(cm / rows, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(cm):
        if n:
            ax.text(
                j,
                i,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if n / rows[i, 0] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test split; colour = row share)")
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


def plot_curves(path: Path, history: list[dict]) -> None:
    plt = _figure()
    h = pd.DataFrame(history)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if not h.empty:
        ax1.plot(h["epoch"], h["train_loss"], label="train loss")
        ax1.plot(h["epoch"], h["val_loss"], label="val loss")
        best = h.loc[h["val_loss"].idxmin()] if h["val_loss"].notna().any() else None
        if best is not None:
            ax1.axvline(best["epoch"], color="grey", linestyle=":", label="best (restored)")
        ax2.plot(h["epoch"], h["val_accuracy"], label="val accuracy", color="tab:green")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax2.set_xlabel("epoch")
    ax2.set_ylim(0, 1)
    ax2.legend()
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
