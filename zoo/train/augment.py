"""Train-time augmentation, the protocol's and not a model's: random crops, warps, shifts, masks, mixup."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torchaudio

from zoo.config import Protocol

if TYPE_CHECKING:
    from zoo.train.batches import Resident


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

    def __call__(self, data: Resident, idx: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
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


def augment_batch(x: torch.Tensor, y: torch.Tensor, p: Protocol):
    """A normalised training batch under the protocol's augmentations, in order: mel and time warps, time
    shift, SpecAugment, mixup. Returns mixup's (x, y, the partners' y, the weight of y)."""
    x = warp(warp(x, p.freq_warp, axis=2), p.time_warp, axis=3)
    return mixup(spec_augment(time_shift(x, p.time_shift), p), y, p.mixup_alpha)


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
