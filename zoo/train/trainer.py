"""Train any model under the one protocol: weighted CE, AdamW, plateau LR, early stopping, AMP, resume."""

from __future__ import annotations

import math
import textwrap
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchaudio
from torch import nn

from zoo.config import Protocol
from zoo.errors import ZooError, ZooWarning
from zoo.evaluate.metrics import macro_f1
from zoo.io import write_atomic
from zoo.train.stopping import Selection

EpochCallback = Callable[[dict], None]


class Diverged(ZooError):
    """The loss became NaN or infinite: the run stops as failed, with the epoch."""


@dataclass
class TrainData:
    """Splits in memory as raw log-mels x (N, 1, n_mels, frames) with class indices y (N,), and the
    train-split statistics that normalise them, (x - mean) / std, batch by batch on the device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    mean: torch.Tensor | float = 0.0  # broadcastable to a batch, e.g. (1, 1, n_mels, 1)
    std: torch.Tensor | float = 1.0
    # for random crops: the clip of each training window (a clip's windows adjacent, in time order) and where
    # it starts in its clip, in frames; None: every window is a clip of its own
    clip_train: torch.Tensor | None = None
    start_train: torch.Tensor | None = None


class Resident:
    """A split where the loop can draw batches by index with no per-sample Python: on the device when it
    fits in half its free memory (all of it on CPU), else in pinned host memory with non-blocking copies."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device, mean, std):
        on_device = device.type == "cpu" or x.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device)
        # A resident tensor is normalised once, here; x may also be a memory-mapped zoo.data.cache.Rows (rows
        # read from disk as batches are drawn) or too large for the device: those are normalised per batch.
        self.normalised = on_device and isinstance(x, torch.Tensor)
        if self.normalised:
            self.x = (x.to(device) - self.mean) / self.std
        elif on_device:
            self.x = x.to(device)
        else:
            self.x = x if x.is_pinned() or not isinstance(x, torch.Tensor) else x.pin_memory()
        self.y = y.to(device)
        self.device, self.on_device = device, on_device
        self.index_device = device if on_device else torch.device("cpu")

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs (channels_last) and targets of rows `idx` (on `index_device`), on the device."""
        xb = self.x[idx]
        if not self.on_device:
            xb = xb.pin_memory().to(self.device, non_blocking=True)
        if not self.normalised:
            xb = (xb - self.mean) / self.std
        return xb.contiguous(memory_format=torch.channels_last), self.y[idx.to(self.y.device)]


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


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """n / (k * n_c): each class weighs the same in the loss, however many clips it has."""
    counts = torch.bincount(y, minlength=num_classes).float()
    return len(y) / (num_classes * counts.clamp_min(1))


class Crops:
    """Random crops over whole clips, drawn from the fixed windows of a split: a crop starting between a
    window and its clip's next window is that window's tail joined to the next window's matching frames (a
    gap, where windows are sparser than the window, is joined over). A clip of one window keeps it."""

    def __init__(self, clip: torch.Tensor, start: torch.Tensor, frames: int, device: torch.device):
        follows = torch.zeros(len(clip), dtype=torch.bool)
        follows[:-1] = clip[1:] == clip[:-1]
        self.next = torch.where(follows, torch.arange(len(clip)) + 1, torch.arange(len(clip))).to(device)
        step = torch.zeros(len(clip))
        step[:-1] = (start[1:] - start[:-1]).round()
        self.step = torch.where(follows, step.clamp(0, frames), 0).long().to(device)
        self.frames = frames

    def __call__(self, data: "Resident", idx: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        """The batch `xb` (rows `idx` of `data`) as random crops."""
        step = self.step[idx.to(self.step.device)].to(xb.device)
        if not bool(step.any()):
            return xb
        following, _ = data.batch(self.next[idx.to(self.next.device)].to(idx.device))
        offset = (torch.rand(len(idx), device=xb.device) * (step + 1)).long().clamp_max(step)  # 0..step
        position = offset[:, None] + torch.arange(self.frames, device=xb.device)  # (batch, frames)
        source = torch.where(position >= self.frames, position + (self.frames - step)[:, None], position)
        index = source[:, None, None, :].expand(-1, xb.shape[1], xb.shape[2], -1)
        crops = torch.cat([xb, following], dim=3).gather(3, index)
        return crops.contiguous(memory_format=torch.channels_last)


def spec_augment(x: torch.Tensor, p: Protocol) -> torch.Tensor:
    """SpecAugment on a normalised batch (masked values -> 0, the train mean), on x's device."""
    for _ in range(p.freq_masks):
        x = torchaudio.functional.mask_along_axis_iid(x, p.freq_mask_width, 0.0, axis=2)
    for _ in range(p.time_masks):
        x = torchaudio.functional.mask_along_axis_iid(x, p.time_mask_width, 0.0, axis=3)
    return x


def time_shift(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Each example rolled along time by up to `fraction` of its frames, either way (a call is not always
    where the window puts it)."""
    limit = int(fraction * x.shape[3])
    if limit < 1:
        return x
    shift = torch.randint(-limit, limit + 1, (x.shape[0], 1, 1, 1), device=x.device)
    index = (torch.arange(x.shape[3], device=x.device) - shift) % x.shape[3]
    return x.gather(3, index.expand_as(x)).contiguous(memory_format=torch.channels_last)


def warp(x: torch.Tensor, amount: float, axis: int) -> torch.Tensor:
    """Each example's `axis` (2: mel bins, 3: frames) stretched or squeezed about index 0 by its own factor
    in [1 - amount, 1 + amount], linearly interpolated; what would come from beyond the end repeats the last
    bin."""
    if amount <= 0:
        return x
    n = x.shape[axis]
    scale = 1 + (torch.rand(x.shape[0], device=x.device) * 2 - 1) * amount
    source = (torch.arange(n, device=x.device) / scale[:, None]).clamp(max=n - 1)  # (batch, n)
    low = source.floor().long()
    high = (low + 1).clamp(max=n - 1)
    shape = [x.shape[0], 1, 1, 1]
    shape[axis] = n
    weight = (source - low).view(shape).to(x.dtype)
    low, high = (i.view(shape).expand_as(x) for i in (low, high))
    warped = x.gather(axis, low) * (1 - weight) + x.gather(axis, high) * weight
    return warped.contiguous(memory_format=torch.channels_last)


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float):
    """(x mixed with a shuffled copy of the batch, y, the partners' y, the weight of y), lam ~ Beta(a, a)."""
    if alpha <= 0:
        return x, y, y, 1.0
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    partner = torch.randperm(len(y), device=y.device)
    return lam * x + (1 - lam) * x[partner], y, y[partner], lam


def epoch_order(y: torch.Tensor, num_classes: int, balanced: bool) -> torch.Tensor:
    """The training examples of one epoch: a permutation, or (balanced) as many draws with replacement,
    each class drawn as often as any other."""
    if not balanced:
        return torch.randperm(len(y), device=y.device)
    per_class = torch.bincount(y, minlength=num_classes).float().clamp_min(1)
    return torch.multinomial((1 / per_class)[y], len(y), replacement=True)


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
        # validation loss: class-weighted, whatever the sampling; training loss: weighted unless sampling
        # already balances the classes
        weights = class_weights(data.y_train, data.num_classes).to(device)
        val_criterion = nn.CrossEntropyLoss(weight=weights)
        criterion = nn.CrossEntropyLoss(weight=torch.ones_like(weights) if p.balanced_sampling else weights)
        optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=p.lr_factor, patience=p.lr_patience
        )
        scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        selection = Selection(p.select, p.early_stop_patience, p.min_epochs)
        state = {"epoch": 0, "best_state": None, "history": []}
        saved = self._resume_state()
        if saved is not None:
            model.load_state_dict(saved["model"])
            if saved.get("finished"):  # stopped after training, before evaluation: nothing to redo
                return saved["history"]
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            scaler.load_state_dict(saved["scaler"])
            state = {k: saved[k] for k in state}
            # a checkpoint of an older zoo kept the loss rule's state beside the others
            old = {"best_loss": saved.get("best_loss", math.inf), "bad_epochs": saved.get("bad_epochs", 0)}
            selection.load_state_dict(saved.get("selection", old))
            if self.on_epoch and state["history"]:  # where the resumed run stands (a progress bar's start)
                self.on_epoch({**state["history"][-1], "resumed": True})
        forward = torch.compile(model) if p.compile else model  # `model` keeps the plain state_dict keys

        while state["epoch"] < p.epochs and not selection.should_stop(state["epoch"]):
            epoch = state["epoch"] + 1
            # per-epoch seed: a resumed run repeats the same epochs
            torch.manual_seed(p.seed * 100_003 + epoch)
            start = time.perf_counter()
            train_loss, seen = self.train_epoch(
                forward, train, criterion, optimizer, scaler, data.num_classes, crops, epoch
            )
            train_seconds = time.perf_counter() - start
            val_loss, val_acc, val_f1 = self.validate(forward, val_criterion, val)
            if not math.isfinite(train_loss) or not math.isfinite(val_loss):
                raise Diverged(
                    f"the {'training' if not math.isfinite(train_loss) else 'validation'} loss is "
                    f"{train_loss if not math.isfinite(train_loss) else val_loss} at epoch {epoch}: "
                    "lower protocol.lr, or check the model for unstable layers"
                )
            if epoch >= p.warmup_epochs:  # the plateau schedule starts from the full rate
                scheduler.step(val_loss)
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "val_macro_f1": val_f1,
                "lr": optimizer.param_groups[0]["lr"],
            }
            row["best"] = selection.update(row)
            if row["best"]:
                state["best_state"] = {
                    k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                }
            row |= {"seconds": time.perf_counter() - start, "train_samples_per_s": seen / train_seconds}
            state["history"].append(row)
            state["epoch"] = epoch
            if self.checkpoint:
                self._save(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict(),
                        "selection": selection.state_dict(),
                        **state,
                    }
                )
            if self.on_epoch:
                self.on_epoch(row)

        if state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        if self.checkpoint:  # the finished checkpoint keeps only the best weights
            self._save({"finished": True, "model": model.state_dict(), "history": state["history"]})
        return state["history"]

    def train_epoch(
        self,
        forward,
        train: Resident,
        criterion,
        optimizer,
        scaler,
        num_classes: int,
        crops: Crops | None,
        epoch: int,
    ):
        """One pass over the training split (epoch `epoch`), augmented on the device: (mean loss, examples
        seen)."""
        p = self.p
        forward.train()
        total, seen = torch.zeros((), device=self.device), 0
        order = epoch_order(train.y.to(train.index_device), num_classes, p.balanced_sampling)
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
            if crops:
                xb = crops(train, idx, xb)
            xb = warp(warp(xb, p.freq_warp, axis=2), p.time_warp, axis=3)
            xb, ya, yb, lam = mixup(spec_augment(time_shift(xb, p.time_shift), p), yb, p.mixup_alpha)
            with self.autocast():
                out = forward(xb)
                loss = (
                    lam * criterion(out, ya) + (1 - lam) * criterion(out, yb)
                    if lam < 1
                    else criterion(out, ya)
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if p.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, p.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach() * len(idx)
            seen += len(idx)
        return total.item() / max(1, seen), seen  # .item() waits for the device: the epoch's time is real

    def autocast(self):
        """bf16/fp16 autocast on CUDA (see autocast_dtype), nothing on CPU."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext()

    @torch.inference_mode()
    def validate(self, model, criterion, data: Resident) -> tuple[float, float, float]:
        """Class-weighted loss (as in training), accuracy and macro F1 (zoo.evaluate.metrics) over a split."""
        model.eval()
        if len(data) == 0:
            return float("nan"), float("nan"), float("nan")
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
        return loss_sum / weight_sum, float((pred == y).mean()), float(macro_f1(y, votes, np.ones(len(y))))

    def _resume_state(self) -> dict | None:
        """The saved state to resume from, or None: no checkpoint, or a damaged one (said, then removed)."""
        if not (self.checkpoint and self.checkpoint.is_file()):
            return None
        try:
            return torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        except Exception as exc:  # truncated or garbled: RuntimeError, EOFError, UnpicklingError...
            reason = textwrap.shorten(str(exc), 120, placeholder=" ...")
            warnings.warn(
                ZooWarning(
                    f"{self.checkpoint} is damaged ({type(exc).__name__}: {reason}); "
                    "training this run from the start."
                )
            )
            self.checkpoint.unlink()
            return None

    def _save(self, payload: dict) -> None:
        write_atomic(self.checkpoint, lambda f: torch.save(payload, f))
