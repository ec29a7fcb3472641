"""Judge a trained model on the test split only: its probabilities per clip, every metric with its
interval, the per-class report and every prediction (the files made of them: zoo.outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import classification_report, confusion_matrix

from zoo.errors import ZooError
from zoo.evaluate.stats import LEVEL, Scored, every_metric


@dataclass
class Evaluation:
    metrics: dict  # every metric (zoo.evaluate.metrics) and its interval, n_test, classes, confusion matrix
    report: pd.DataFrame  # per class: precision, recall, f1, support
    predictions: pd.DataFrame  # per clip: path, group, label, predicted, correct, confidence, p_<class>...
    history: list[dict] = field(default_factory=list)  # the training history, per epoch (for the outputs)


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    x: torch.Tensor,
    device: torch.device,
    mean=0.0,
    std=1.0,
    batch_size: int = 256,
    multilabel: bool = False,
) -> np.ndarray:
    """Class probabilities (N, k), in fp32, of raw inputs normalised as (x - mean) / std: a softmax over the
    classes, or (multilabel) a sigmoid per class."""
    activation = torch.sigmoid if multilabel else (lambda logits: torch.softmax(logits, dim=1))
    model.eval().to(device)
    mean, std = torch.as_tensor(mean, device=device), torch.as_tensor(std, device=device)
    out = []
    for i in range(0, len(x), batch_size):
        xb = ((x[i : i + batch_size].to(device) - mean) / std).contiguous(memory_format=torch.channels_last)
        out.append(activation(model(xb).float()).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def clip_probabilities(
    window_probs: np.ndarray, clip: torch.Tensor, n_clips: int, pool: str = "mean"
) -> np.ndarray:
    """Each clip's probabilities from its windows': their mean, or (pool "max", several labels per clip:
    a sound anywhere in the clip is in the clip) their maximum. (windows, k) -> (clips, k)."""
    if pool == "max":
        probs = torch.zeros(n_clips, window_probs.shape[1], dtype=torch.float64)
        index = clip[:, None].expand(-1, window_probs.shape[1])
        return probs.scatter_reduce(0, index, torch.from_numpy(window_probs).double(), "amax").numpy()
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
