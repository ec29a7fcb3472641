"""Training data on the device: the splits a run trains on, and a split resident where batches are drawn."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
