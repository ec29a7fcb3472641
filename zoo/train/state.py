"""One fit's moving parts from epoch to epoch, and what a checkpoint of an unfinished run keeps of them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.optim.swa_utils import AveragedModel

from zoo.train.augment import Crops
from zoo.train.batches import Resident
from zoo.train.stopping import Selection


@dataclass
class FitState:
    """One fit's moving parts, from epoch to epoch: the splits and losses, and what a checkpoint keeps."""

    model: nn.Module
    train: Resident
    val: Resident
    crops: Crops | None
    criterion: nn.Module  # training: weighted unless sampling already balances the classes
    val_criterion: nn.Module  # validation: class-weighted, whatever the sampling
    num_classes: int
    optimizer: torch.optim.Optimizer
    scheduler: ReduceLROnPlateau
    scaler: torch.amp.GradScaler
    selection: Selection
    average: AveragedModel | None = None  # the weights' moving average (protocol.ema_epochs), or None
    state: dict = field(default_factory=lambda: {"epoch": 0, "best_state": None, "history": []})

    def load(self, saved: dict) -> None:
        """Continue from an unfinished run's checkpoint (the model's weights are loaded already)."""
        for name in ("optimizer", "scheduler", "scaler"):
            getattr(self, name).load_state_dict(saved[name])
        self.state = {k: saved[k] for k in self.state}
        if self.average is not None:
            self.average.load_state_dict(saved["average"])
        # a checkpoint of an older zoo kept the loss rule's state beside the others
        old = {"best_loss": saved.get("best_loss", math.inf), "bad_epochs": saved.get("bad_epochs", 0)}
        self.selection.load_state_dict(saved.get("selection", old))

    def payload(self) -> dict:
        """The checkpoint of an unfinished run."""
        parts = {k: getattr(self, k).state_dict() for k in ("optimizer", "scheduler", "scaler", "selection")}
        average = {"average": self.average.state_dict()} if self.average is not None else {}
        return {"model": self.model.state_dict(), **parts, **average, **self.state}

    def keep_best(self) -> None:
        """The weights validated (the model's, or their moving average), copied to the CPU, become the best
        so far."""
        weights = (self.average.module if self.average is not None else self.model).state_dict().items()
        self.state["best_state"] = {k: v.detach().to("cpu", copy=True) for k, v in weights}


def moving_average(model: nn.Module, steps: float) -> AveragedModel:
    """An exponential moving average of `model`'s weights and buffers with a time constant of `steps`
    optimizer steps, warmed up as TensorFlow's ExponentialMovingAverage(num_updates): after n updates the
    decay is at most (1 + n) / (10 + n), so a short run's average is not still half its random start.
    Integer buffers (BatchNorm's batch counter) are the model's own."""

    @torch.no_grad()
    def update(averaged: list, current: list, _on_device: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():  # one call per dtype: counters are copied
            for a, c in zip(averaged, current, strict=True):
                a.copy_(c)
            return
        # the update count as kept on the host: reading the copy handed in, on the model's device, would
        # wait for the GPU at every step
        updates = float(average.n_averaged)
        decay = min(1 - 1 / max(1.0, steps), (1 + updates) / (10 + updates))
        torch._foreach_lerp_(averaged, current, 1 - decay)

    average = AveragedModel(model, multi_avg_fn=update, use_buffers=True)  # n_averaged stays on the CPU
    return average
