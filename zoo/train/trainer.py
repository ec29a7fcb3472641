"""Train any model under the one protocol: weighted CE, AdamW, plateau LR, early stopping, AMP, resume."""

from __future__ import annotations

import math
import textwrap
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from zoo.config import Protocol
from zoo.errors import ZooError, ZooWarning
from zoo.evaluate.metrics import macro_f1, macro_f1_at_thresholds, mean_average_precision
from zoo.io import write_atomic
from zoo.train.augment import Crops, augment_batch, epoch_order
from zoo.train.batches import Resident, TrainData
from zoo.train.losses import losses_for
from zoo.train.state import FitState, moving_average
from zoo.train.stopping import Selection

EpochCallback = Callable[[dict], None]


class Diverged(ZooError):
    """The loss became NaN or infinite: the run stops as failed, with the epoch."""


def pick_device(name: str = "auto") -> torch.device:
    """ "auto" -> cuda when available, else cpu; or the device named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """bf16 on CUDA where supported, else fp16 (with a GradScaler); None (fp32) on CPU or amp off."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class Trainer:
    """Fit a model on TrainData under `protocol`, checkpointing to `checkpoint` every epoch.

    Example::

        history = Trainer(protocol, checkpoint=run_dir / "checkpoint.pt").fit(model, data)
    """

    def __init__(
        self, protocol: Protocol, checkpoint: Path | None = None, on_epoch: EpochCallback | None = None
    ):
        self.p = protocol
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.on_epoch = on_epoch
        self.device = pick_device(protocol.device)
        self.amp_dtype = autocast_dtype(self.device, protocol.amp)

    def fit(self, model: nn.Module, data: TrainData) -> list[dict]:
        """Train until early stopping or `epochs`; returns the history and leaves the best weights in
        `model`."""
        fit = self._setup(model, data)
        saved = self._resume_state()
        if saved is not None:
            model.load_state_dict(saved["model"])
            if saved.get("finished"):  # stopped after training, before evaluation: nothing to redo
                return saved["history"]
            fit.load(saved)
            if self.on_epoch and fit.state["history"]:  # where it stands (a progress bar's start)
                self.on_epoch({**fit.state["history"][-1], "resumed": True})
        forward = torch.compile(model) if self.p.compile else model  # `model` keeps the plain state_dict keys
        while fit.state["epoch"] < self.p.epochs and not fit.selection.should_stop(fit.state["epoch"]):
            self._record(fit, self._epoch(forward, fit, fit.state["epoch"] + 1))
        return self._finish(fit)

    def _setup(self, model: nn.Module, data: TrainData) -> FitState:
        """A fresh run: model and splits on the device, losses, AdamW, plateau schedule, scaler, selection."""
        p, device = self.p, self.device
        if device.type == "cpu":
            # SpecAugment's masked regions give tiny activations; denormal arithmetic on them slowed CPU
            # steps by about 10%
            torch.set_flush_denormal(True)
        model.to(device, memory_format=torch.channels_last)  # faster on CUDA and, measured, on CPU (oneDNN)
        train = Resident(data.x_train, data.y_train, device, data.mean, data.std)
        crops = None
        if p.random_crops and data.clip_train is not None:
            crops = Crops(data.clip_train, data.start_train, data.x_train.shape[3], train.index_device)
        val = Resident(data.x_val, data.y_val, device, data.mean, data.std)
        criterion, val_criterion = losses_for(data.y_train, data.num_classes, p.balanced_sampling, device)
        # fused: one kernel for all parameters per step (+10-15% samples/s measured, efficientnet_b0 on CPU)
        fused = device.type in ("cpu", "cuda")
        optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay, fused=fused)
        scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=p.lr_factor, patience=p.lr_patience)
        scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        selection = Selection(p.select, p.early_stop_patience, p.min_epochs, p.stop_on)
        average = None
        if p.ema_epochs > 0:  # the time constant in steps: ema_epochs epochs of this split's batches
            average = moving_average(model, p.ema_epochs * math.ceil(len(train) / p.batch_size))
        losses = (criterion, val_criterion, data.num_classes)
        return FitState(model, train, val, crops, *losses, optimizer, scheduler, scaler, selection, average)

    def _epoch(self, forward, fit: FitState, epoch: int) -> dict:
        """Train and validate epoch `epoch`, then step the schedule and the selection: the history row."""
        p = self.p
        torch.manual_seed(p.seed * 100_003 + epoch)  # per-epoch seed: a resumed run repeats the same epochs
        start = time.perf_counter()
        train_loss, seen = self.train_epoch(forward, fit, epoch)
        train_seconds = time.perf_counter() - start
        validated = fit.average.module if fit.average is not None else forward
        val_loss, scores = self.validate(validated, fit.val_criterion, fit.val)
        if not math.isfinite(train_loss) or not math.isfinite(val_loss):
            raise Diverged(
                f"the {'training' if not math.isfinite(train_loss) else 'validation'} loss is "
                f"{train_loss if not math.isfinite(train_loss) else val_loss} at epoch {epoch}: "
                "lower protocol.lr, or check the model for unstable layers"
            )
        if epoch >= p.warmup_epochs:  # the plateau schedule starts from the full rate
            fit.scheduler.step(val_loss)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, **scores}
        row["lr"] = fit.optimizer.param_groups[0]["lr"]
        row["best"] = fit.selection.update(row)
        if row["best"]:
            fit.keep_best()
        return row | {"seconds": time.perf_counter() - start, "train_samples_per_s": seen / train_seconds}

    def _record(self, fit: FitState, row: dict) -> None:
        """The epoch's row into the history, the checkpoint, and on_epoch."""
        fit.state["history"].append(row)
        fit.state["epoch"] = row["epoch"]
        if self.checkpoint:
            self._save(fit.payload())
        if self.on_epoch:
            self.on_epoch(row)

    def _finish(self, fit: FitState) -> list[dict]:
        """The best weights left in the model (and, alone, in the checkpoint): the history."""
        if fit.state["best_state"] is not None:
            fit.model.load_state_dict(fit.state["best_state"])
        if self.checkpoint:  # the finished checkpoint keeps only the best weights
            self._save({"finished": True, "model": fit.model.state_dict(), "history": fit.state["history"]})
        return fit.state["history"]

    def train_epoch(self, forward, fit: FitState, epoch: int):
        """One pass over fit's training split (epoch `epoch`), augmented on the device, each step folded into
        fit's weights' average when it keeps one: (mean loss, examples seen)."""
        train, criterion, optimizer, scaler = fit.train, fit.criterion, fit.optimizer, fit.scaler
        p = self.p
        forward.train()
        total, seen = torch.zeros((), device=self.device), 0
        y = train.y.to(train.index_device)
        order = epoch_order(y.argmax(1) if y.ndim == 2 else y, fit.num_classes, p.balanced_sampling)
        steps = math.ceil(len(order) / p.batch_size)
        params = [w for group in optimizer.param_groups for w in group["params"]]
        for step, i in enumerate(range(0, len(order), p.batch_size)):
            if epoch <= p.warmup_epochs:
                for group in optimizer.param_groups:
                    group["lr"] = p.lr * ((epoch - 1) * steps + step + 1) / (p.warmup_epochs * steps)
            idx = order[i : i + p.batch_size]
            if len(idx) < 2:  # a batch of one breaks BatchNorm and adds nothing
                continue
            xb, yb = train.batch(idx)
            if fit.crops:
                xb = fit.crops(train, idx, xb)
            xb, ya, yb, lam = augment_batch(xb, yb, p)
            with self.autocast():
                out = forward(xb)
                loss = criterion(out, ya)
                if lam < 1:  # mixup: the loss of each example's two classes, by their weights
                    loss = lam * loss + (1 - lam) * criterion(out, yb)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if p.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, p.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if fit.average is not None:
                fit.average.update_parameters(forward)
            total += loss.detach() * len(idx)
            seen += len(idx)
        return total.item() / max(1, seen), seen  # .item() waits for the device: the epoch's time is real

    def autocast(self):
        """bf16/fp16 autocast on CUDA (see autocast_dtype), nothing on CPU."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext()

    @torch.inference_mode()
    def validate(self, model, criterion, data: Resident) -> tuple[float, dict]:
        """Class-weighted loss (as in training) and the validation scores over a split: accuracy and macro
        F1 (zoo.evaluate.metrics); multi-label, mAP and macro F1 at 0.5."""
        model.eval()
        if data.y.ndim == 2:
            return self._validate_multilabel(model, criterion, data)
        if len(data) == 0:
            return float("nan"), {"val_accuracy": float("nan"), "val_macro_f1": float("nan")}
        loss_sum, weight_sum, predicted, true = 0.0, 0.0, [], []
        order = torch.arange(len(data), device=data.index_device)
        for i in range(0, len(data), self.p.batch_size * 4):
            xb, yb = data.batch(order[i : i + self.p.batch_size * 4])
            with self.autocast():
                logits = model(xb).float()
            w = criterion.weight[yb]
            loss_sum += (nn.functional.cross_entropy(logits, yb, reduction="none") * w).sum().item()
            weight_sum += w.sum().item()
            predicted.append(logits.argmax(1))
            true.append(yb)
        pred, y = torch.cat(predicted).cpu().numpy(), torch.cat(true).cpu().numpy()
        votes = np.eye(len(criterion.weight))[pred]  # the metric reads the argmax of what it is given
        f1 = float(macro_f1(y, votes, np.ones(len(y))))
        return loss_sum / weight_sum, {"val_accuracy": float((pred == y).mean()), "val_macro_f1": f1}

    def _validate_multilabel(self, model, criterion, data: Resident) -> tuple[float, dict]:
        if len(data) == 0:
            return float("nan"), {"val_map": float("nan"), "val_macro_f1": float("nan")}
        order, step = torch.arange(len(data), device=data.index_device), self.p.batch_size * 4
        logits, true = [], []
        for i in range(0, len(data), step):
            xb, yb = data.batch(order[i : i + step])
            with self.autocast():
                logits.append(model(xb).float())
            true.append(yb.float())
        out, y = torch.cat(logits), torch.cat(true)
        loss = criterion(out, y).item()
        probs, y = torch.sigmoid(out).cpu().numpy(), y.cpu().numpy()
        w = np.ones(len(y))
        scores = {"val_map": float(mean_average_precision(y, probs, w, None))}
        scores["val_macro_f1"] = float(macro_f1_at_thresholds(y, probs, w, np.full_like(probs, 0.5)))
        return loss, scores

    def _resume_state(self) -> dict | None:
        """The saved state to resume from, or None: no checkpoint, or a damaged one (said, then removed)."""
        if not (self.checkpoint and self.checkpoint.is_file()):
            return None
        try:
            return torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        except Exception as exc:  # truncated or garbled: RuntimeError, EOFError, UnpicklingError...
            reason = textwrap.shorten(str(exc), 120, placeholder=" ...")
            damaged = f"{self.checkpoint} is damaged ({type(exc).__name__}: {reason})"
            warnings.warn(ZooWarning(f"{damaged}; training this run from the start."))
            self.checkpoint.unlink()
            return None

    def _save(self, payload: dict) -> None:
        write_atomic(self.checkpoint, lambda f: torch.save(payload, f))
