"""The run's plots: confusion matrix, training curves, reliability diagram (confusion.png, curves.png,
reliability.png), each a registered output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import zoo
from zoo.outputs.figures import pyplot, save_figure

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@zoo.hookimpl
def register_outputs(register):
    for name, summary, write in (
        ("confusion.png", "the confusion matrix, coloured by row share", write_confusion),
        ("curves.png", "training curves: losses, validation scores, the epoch kept", write_curves),
        ("reliability.png", "reliability diagram: accuracy against confidence", write_reliability),
        ("pr.png", "several labels per clip: each class's precision-recall curve", write_pr_curves),
    ):
        register(zoo.OutputSpec(name, summary, write, "run"))


def write_confusion(ev, run_dir: Path) -> None:
    import numpy as np

    if "confusion_matrix" not in ev.metrics:  # several labels per clip: no one confusion
        return
    plot_confusion(run_dir / "confusion.png", np.array(ev.metrics["confusion_matrix"]), ev.metrics["classes"])


def write_curves(ev, run_dir: Path) -> None:
    plot_curves(run_dir / "curves.png", ev.history)


def write_reliability(ev, run_dir: Path) -> None:
    if ev.metrics.get("task") == "multilabel":  # its top label is not the clip's one class
        return
    plot_reliability(run_dir / "reliability.png", ev.predictions)


def plot_confusion(path: Path, cm: np.ndarray, classes: list[str]) -> None:
    import numpy as np

    plt = pyplot()
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
    save_figure(fig, path)


def plot_curves(path: Path, history: list[dict]) -> None:
    import pandas as pd

    plt = pyplot()
    h = pd.DataFrame(history)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if not h.empty:
        ax1.plot(h["epoch"], h["train_loss"], label="train loss")
        ax1.plot(h["epoch"], h["val_loss"], label="val loss")
        best = h[h["best"]].iloc[-1] if "best" in h and h["best"].any() else None
        if best is not None:
            ax1.axvline(best["epoch"], color="grey", linestyle=":", label="best (restored)")
        score = "val_accuracy" if "val_accuracy" in h else "val_map"  # multi-label: mAP
        ax2.plot(h["epoch"], h[score], label=score.replace("_", " "), color="tab:green")
        if "val_macro_f1" in h:
            ax2.plot(h["epoch"], h["val_macro_f1"], label="val macro F1", color="tab:purple")
        if best is not None:
            ax2.axvline(best["epoch"], color="grey", linestyle=":")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax2.set_xlabel("epoch")
    ax2.set_ylim(0, 1)
    ax2.legend()
    save_figure(fig, path)


def plot_reliability(path: Path, predictions: pd.DataFrame) -> None:
    """Reliability diagram: accuracy against confidence in ECE_BINS bins, with the share of clips per bin."""
    import numpy as np

    from zoo.evaluate.metrics import ECE_BINS

    plt = pyplot()
    confidence, correct = predictions["confidence"].to_numpy(), predictions["correct"].to_numpy(float)
    edges = np.linspace(0, 1, ECE_BINS + 1)
    which = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    count = np.bincount(which, minlength=ECE_BINS)
    accuracy = np.bincount(which, correct, ECE_BINS) / np.maximum(count, 1)
    fig, (ax, share) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres, width = (edges[:-1] + edges[1:]) / 2, 1 / ECE_BINS
    ax.bar(centres[count > 0], accuracy[count > 0], width=width, edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title("Reliability (test split)")
    share.bar(centres, count / max(1, count.sum()), width=width, color="grey")
    share.set_xlabel("confidence (top class probability)")
    share.set_ylabel("share of clips")
    share.set_xlim(0, 1)
    save_figure(fig, path)


def write_pr_curves(ev, run_dir: Path) -> None:
    """Each class's precision against recall over its thresholds (multi-label runs), its AP in the legend
    and its chosen threshold marked."""
    if ev.metrics.get("task") != "multilabel":
        return
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    classes, labels = ev.metrics["classes"], ev.predictions["labels"].fillna("").str.split(";")
    for c, ap in zip(classes, ev.report["ap"]):
        truth = np.array([c in held for held in labels])
        if not truth.any():
            continue
        precision, recall, cuts = precision_recall_curve(truth, ev.predictions[f"p_{c}"])
        line = ax.plot(recall, precision, label=f"{c} (AP {ap:.2f})")[0]
        at = np.searchsorted(cuts, ev.metrics["thresholds"][c]).clip(0, len(cuts) - 1)
        ax.plot(recall[at], precision[at], "o", color=line.get_color())
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall per class (test split; dot: the validation threshold)")
    ax.legend(fontsize=7, loc="lower left")
    save_figure(fig, run_dir / "pr.png")
