"""Judge a trained model on the test split only: metrics with intervals, per-class report, predictions,
plots and report.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import classification_report, confusion_matrix

from zoo.errors import ZooError
from zoo.io import write_atomic, write_csv, write_json, write_text
from zoo.metrics import ECE_BINS, METRICS
from zoo.stats import LEVEL, Scored, every_metric

MISTAKES_SHOWN = 20  # the most confident mistakes listed in report.md
# files of a run folder metrics.json does not record the size of: itself, a failure, the tuning study
# (optuna-dashboard may write to it)
UNRECORDED = ("metrics.json", "failed.json", "tuning.db")


@dataclass
class Evaluation:
    metrics: dict  # every metric of zoo.metrics, its interval (intervals), n_test, classes, confusion matrix
    report: pd.DataFrame  # per class: precision, recall, f1, support
    predictions: pd.DataFrame  # per clip: path, group, label, predicted, correct, confidence, p_<class>...


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


def evaluate(
    probs: np.ndarray, y: np.ndarray, classes: list[str], paths: list[str], groups=None
) -> Evaluation:
    """Metrics of test-set probabilities against the true class indices, each with its 95 % interval
    (bootstrap over `groups`, the recordings the clips came from; each clip its own group when None)."""
    if not np.isfinite(probs).all():
        raise ZooError(
            "the model's test-split probabilities are not finite (NaN or Inf): it is not ranked; "
            "check the model for unstable layers"
        )
    pred = probs.argmax(1)
    labels = list(range(len(classes)))
    scored = Scored(y, probs[None], np.asarray(paths if groups is None else groups, dtype=str))
    scores = every_metric(scored)
    metrics = {name: value for name, (value, _, _) in scores.items()}
    metrics |= {
        "intervals": {name: [low, high] for name, (_, low, high) in scores.items()},
        "interval": f"{LEVEL:.0%} bootstrap over the test clips resampled by group within each class",
        "n_test": int(len(y)),
        "n_groups": int(len(np.unique(scored.groups))),
        "classes": classes,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
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
            "group": scored.groups,
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
    """report.csv, predictions.csv, misclassified.csv, the plots, report.md; metrics.json last."""
    write_csv(run_dir / "report.csv", ev.report)
    write_csv(run_dir / "predictions.csv", ev.predictions)
    wrong = ev.predictions[~ev.predictions["correct"]].sort_values("confidence", ascending=False)
    write_csv(run_dir / "misclassified.csv", wrong)
    plot_confusion(run_dir / "confusion.png", np.array(ev.metrics["confusion_matrix"]), ev.metrics["classes"])
    plot_curves(run_dir / "curves.png", history)
    plot_reliability(run_dir / "reliability.png", ev.predictions)
    metrics = {**ev.metrics, **(extra or {})}
    write_text(run_dir / "report.md", render_report(metrics, ev.report, wrong))
    # the size of every file of the run, so that one truncated or replaced later is found (zoo.runner)
    metrics["files"] = {
        p.name: p.stat().st_size
        for p in sorted(run_dir.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name not in UNRECORDED
    }
    write_json(run_dir / "metrics.json", metrics)


def render_report(metrics: dict, report: pd.DataFrame, wrong: pd.DataFrame) -> str:
    """report.md: one run, readable on GitHub and in an editor."""
    title = metrics.get("model", "model") + (f" on {metrics['dataset']}" if "dataset" in metrics else "")
    fold = metrics.get("fold")
    lines = [
        f"# {title}",
        "",
        f"Run `{metrics.get('run_id', '')}`"
        + (f", fold {fold['index']} of {fold['of']}" if fold else "")
        + (f", seed {metrics['seed']}" if "seed" in metrics else "")
        + f": test split only, {metrics['n_test']} clips from {metrics['n_groups']} recordings (groups). "
        f"Intervals: {metrics['interval']}.",
        "",
        "| metric | value | 95 % interval |",
        "|---|---:|---|",
    ]
    for m in METRICS:
        low, high = metrics["intervals"][m.name]
        better = "higher" if m.higher_is_better else "lower"
        lines.append(
            f"| {m.label} ({better} is better) | {m.format(metrics[m.name])} | "
            f"{m.format(low)} - {m.format(high)} |"
        )
    if "compute" in metrics:
        lines += ["", _compute_line(metrics)]
    lines += ["", "## Per class", "", "| class | precision | recall | F1 | support |"]
    lines += ["|---|---:|---:|---:|---:|"]
    lines += [
        f"| {r['class']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
        for _, r in report.iterrows()
    ]
    lines += [
        "",
        "## Plots",
        "",
        "![confusion matrix](confusion.png)",
        "",
        "![training curves](curves.png)",
        "",
        "![reliability diagram](reliability.png)",
        "",
        f"## The {MISTAKES_SHOWN} most confident mistakes",
        "",
    ]
    if wrong.empty:
        lines.append("None: every test clip is right.")
    else:
        lines += ["| clip | label | predicted | confidence |", "|---|---|---|---:|"]
        lines += [
            f"| {Path(r['path']).name} | {r['label']} | {r['predicted']} | {r['confidence']:.3f} |"
            for _, r in wrong.head(MISTAKES_SHOWN).iterrows()
        ]
    lines += ["", "Every prediction: predictions.csv; every mistake: misclassified.csv; classes: report.csv."]
    return "\n".join(lines) + "\n"


def _compute_line(metrics: dict) -> str:
    c = metrics["compute"]
    return (
        f"Compute: {c['params'] / 1e6:.2f} M parameters, {c['macs'] / 1e6:.1f} M multiply-accumulates per "
        f"window ({c['input']}), {c['latency_ms']:.2f} ms per window on CPU (batch 1, median), "
        f"training {metrics.get('train_seconds', 0):.0f} s on {metrics.get('device', '?')}."
    )


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Lay out, write as PNG (atomically) and close a figure. matplotlib's warnings about the layout (labels
    too long to fit) or glyphs missing from its font (class names in other scripts) are about the picture
    only: they are not printed among the zoo's messages."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    _figure().close(fig)


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
    save_figure(fig, path)


def plot_curves(path: Path, history: list[dict]) -> None:
    plt = _figure()
    h = pd.DataFrame(history)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if not h.empty:
        ax1.plot(h["epoch"], h["train_loss"], label="train loss")
        ax1.plot(h["epoch"], h["val_loss"], label="val loss")
        best = h[h["best"]].iloc[-1] if "best" in h and h["best"].any() else None
        if best is not None:
            ax1.axvline(best["epoch"], color="grey", linestyle=":", label="best (restored)")
        ax2.plot(h["epoch"], h["val_accuracy"], label="val accuracy", color="tab:green")
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
    plt = _figure()
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
