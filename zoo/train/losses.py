"""The protocol's losses, the same for every model: class-weighted cross-entropy for one label per clip,
BCE with logits and per-class positive weights for several."""

from __future__ import annotations

import torch
from torch import nn


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """n / (k * n_c): each class weighs the same in the loss, however many clips it has."""
    counts = torch.bincount(y, minlength=num_classes).float()
    return len(y) / (num_classes * counts.clamp_min(1))


def positive_weights(y: torch.Tensor) -> torch.Tensor:
    """Multi-label: negatives / positives per class in the training split (BCE's pos_weight), so that a
    rare class's few positives weigh as much as its many negatives; at most 100, 1 for a class never seen."""
    positives = y.float().sum(0)
    return torch.where(positives > 0, (len(y) - positives) / positives.clamp_min(1), 1.0).clamp(1e-3, 100.0)


def losses_for(
    y_train: torch.Tensor, num_classes: int, balanced: bool, device
) -> tuple[nn.Module, nn.Module]:
    """(the training loss, the validation loss): weighted by the training split's class counts (training
    unweighted when balanced sampling already evens the classes out)."""
    if y_train.ndim == 2:  # several labels per clip: a sigmoid per class
        weights = positive_weights(y_train).to(device)
        criterion = nn.BCEWithLogitsLoss(pos_weight=weights)
        return criterion, criterion
    weights = class_weights(y_train, num_classes).to(device)
    train = nn.CrossEntropyLoss(weight=torch.ones_like(weights) if balanced else weights)
    return train, nn.CrossEntropyLoss(weight=weights)
