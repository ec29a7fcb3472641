"""Train any model under the one protocol: weighted CE, AdamW, plateau LR, early stopping, AMP, resume."""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torchaudio
from torch import nn

from zoo.config import Protocol
from zoo.io import write_atomic

EpochCallback = Callable[[dict], None]


@dataclass
class TrainData:
    """Normalised splits already in memory: x (N, 1, n_mels, frames) float32, y (N,) long."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int


def pick_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; or the device named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """bf16 on CUDA where supported, else fp16 (with a GradScaler); None (fp32) on CPU or amp off."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """n / (k * n_c): each class weighs the same in the loss, however many clips it has."""
    counts = torch.bincount(y, minlength=num_classes).float()
    return len(y) / (num_classes * counts.clamp_min(1))


def spec_augment(x: torch.Tensor, p: Protocol) -> torch.Tensor:
    """SpecAugment on a normalised batch (masked values -> 0, the train mean), on x's device."""
    for _ in range(p.freq_masks):
        x = torchaudio.functional.mask_along_axis_iid(x, p.freq_mask_width, 0.0, axis=2)
    for _ in range(p.time_masks):
        x = torchaudio.functional.mask_along_axis_iid(x, p.time_mask_width, 0.0, axis=3)
    return x


class Trainer:
    """Fit a model on TrainData under `protocol`, checkpointing to `checkpoint` every epoch.

    Example::

        history = Trainer(protocol, checkpoint=run_dir / "checkpoint.pt").fit(model, data)
    """

    def __init__(self, protocol: Protocol, checkpoint: Path | None = None, on_epoch: EpochCallback | None = None):
        self.p = protocol
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.on_epoch = on_epoch
        self.device = pick_device(protocol.device)
        self.amp_dtype = autocast_dtype(self.device, protocol.amp)

    def fit(self, model: nn.Module, data: TrainData) -> list[dict]:
        """Train until early stopping or `epochs`; returns the history and leaves the best weights in `model`."""
        p, device = self.p, self.device
        memory_format = torch.channels_last  # faster on CUDA and, measured here, on CPU too (oneDNN)
        model.to(device, memory_format=memory_format)
        x_train, y_train = data.x_train.to(device), data.y_train.to(device)
        x_val, y_val = data.x_val.to(device), data.y_val.to(device)
        criterion = nn.CrossEntropyLoss(weight=class_weights(data.y_train, data.num_classes).to(device))
        optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=p.lr_factor, patience=p.lr_patience)
        scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        state = {"epoch": 0, "best_loss": float("inf"), "best_state": None, "bad_epochs": 0, "history": []}
        if self.checkpoint and self.checkpoint.is_file():
            saved = torch.load(self.checkpoint, map_location=device, weights_only=False)
            model.load_state_dict(saved["model"])
            if saved.get("finished"):  # stopped after training, before evaluation: nothing to redo
                return saved["history"]
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            scaler.load_state_dict(saved["scaler"])
            state = {k: saved[k] for k in state}
        autocast = (lambda: torch.autocast(device.type, dtype=self.amp_dtype)) if self.amp_dtype else nullcontext

        while state["epoch"] < p.epochs and state["bad_epochs"] < p.early_stop_patience:
            epoch = state["epoch"] + 1
            torch.manual_seed(p.seed * 100_003 + epoch)  # per-epoch seed: a resumed run repeats the same epochs
            start = time.perf_counter()
            model.train()
            total, seen = torch.zeros((), device=device), 0
            order = torch.randperm(len(y_train), device=device)
            for i in range(0, len(order), p.batch_size):
                idx = order[i:i + p.batch_size]
                if len(idx) < 2:  # a batch of one breaks BatchNorm and adds nothing
                    continue
                xb = spec_augment(x_train[idx], p).contiguous(memory_format=memory_format)
                with autocast():
                    loss = criterion(model(xb), y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total += loss.detach() * len(idx)
                seen += len(idx)
            train_loss = total.item() / max(1, seen)
            val_loss, val_acc = self.validate(model, criterion, x_val, y_val, memory_format, autocast)
            scheduler.step(val_loss)
            improved = val_loss < state["best_loss"] - 1e-4
            if improved:
                state["best_loss"] = val_loss
                state["best_state"] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_acc,
                   "lr": optimizer.param_groups[0]["lr"], "best": improved, "seconds": time.perf_counter() - start}
            state["history"].append(row)
            state["epoch"] = epoch
            if self.checkpoint:
                self._save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), **state})
            if self.on_epoch:
                self.on_epoch(row)

        if state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        if self.checkpoint:  # the finished checkpoint keeps only the best weights
            self._save({"finished": True, "model": model.state_dict(), "history": state["history"]})
        return state["history"]

    @torch.inference_mode()
    def validate(self, model, criterion, x, y, memory_format, autocast) -> tuple[float, float]:
        model.eval()
        if len(y) == 0:
            return float("nan"), float("nan")
        loss_sum, correct = 0.0, 0
        for i in range(0, len(y), self.p.batch_size * 4):
            xb = x[i:i + self.p.batch_size * 4].contiguous(memory_format=memory_format)
            with autocast():
                logits = model(xb).float()
            yb = y[i:i + len(xb)]
            # weighted CE averages by total weight: accumulate the weighted sum and divide once
            w = criterion.weight[yb]
            loss_sum += (nn.functional.cross_entropy(logits, yb, reduction="none") * w).sum().item() / criterion.weight[y].sum().item()
            correct += (logits.argmax(1) == yb).sum().item()
        return loss_sum, correct / len(y)

    def _save(self, payload: dict) -> None:
        write_atomic(self.checkpoint, lambda f: torch.save(payload, f))
