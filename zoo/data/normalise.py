"""Normalise raw log-mel windows: each window on its own (normalise_windows, as features.normalise says),
and the per-mel-bin statistics of a split (bin_stats), for windows in memory or memory-mapped (Rows)."""

from __future__ import annotations

import torch

from zoo.data.cache import Rows
from zoo.data.features import FLOOR_DB

LEVEL_RANGE_DB = 80.0  # features.normalise = "level": how far below a window's peak its values reach


def normalise_windows(x: torch.Tensor | Rows, mode: str) -> torch.Tensor | Rows:
    """Raw log-mel windows as features.normalise says, before the split's per-bin statistics: "split" as
    they are; "clip" each window less its own mean per mel bin over its sounding frames; "level" each window
    less its own peak, floored LEVEL_RANGE_DB below it (a recording's gain and noise floor then do not tell
    the class). The padding of a short clip, at the floor, does not count. "clip" and "level" read x into
    memory."""
    if mode == "split":
        return x
    x = x[:] if isinstance(x, Rows) else x
    sounding = x > FLOOR_DB + 1
    if mode == "level":
        peak = x.amax(dim=(2, 3), keepdim=True)
        return torch.where(sounding, x - peak, -LEVEL_RANGE_DB).clamp_min(-LEVEL_RANGE_DB)
    frames = sounding.any(dim=2, keepdim=True).float()  # (windows, 1, 1, frames)
    mean = (x * frames).sum(dim=3, keepdim=True) / frames.sum(dim=3, keepdim=True).clamp_min(1)
    return x - mean


def bin_stats(x: torch.Tensor | Rows, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel-bin mean and std (shaped (1, 1, n_mels, 1)) of (N, 1, n_mels, frames) windows, a chunk at a
    time in float64, so that a memory-mapped split gives the same numbers as one in memory."""
    total = torch.zeros(x.shape[2], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for i in range(0, len(x), chunk):
        part = x[i : i + chunk].double()
        total += part.sum(dim=(0, 1, 3))
        squares += (part**2).sum(dim=(0, 1, 3))
    n = len(x) * x.shape[3]
    mean = total / max(1, n)
    std = ((squares - n * mean**2) / max(1, n - 1)).clamp_min(0).sqrt()
    return mean.float().view(1, 1, -1, 1), std.float().clamp_min(1e-3).view(1, 1, -1, 1)
