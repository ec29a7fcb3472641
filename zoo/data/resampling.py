"""Resample with torchaudio's windowed-sinc kernel, computed as a few matrix products instead of its conv1d.

torchaudio's Resample (rates divided by their gcd: `orig` in, `new` out) is a conv1d of `new` filters of
2 * width + orig taps at stride `orig`: output j * new + p is filter p applied at input sample j * orig.
Filter p is zero outside a band of about 2 * width taps around its own phase, so for rates far apart (44.1
-> 16 kHz: 160 filters of 475 taps, 34 of them non-zero) most of the convolution multiplies zeros, and for
rates close together (8 -> 16 kHz: 2 filters of 15 taps) it is too small a product to run fast. Here the
filters' bands become Blocks: a few neighbouring phases (rates far apart) or a few steps of all of them
(close together) as one matrix, so that a batch of waveforms is resampled by a matrix product per Block
over overlapping views of it: the same sums over the non-zero taps only, equal to torchaudio's to float
rounding (tests/test_data.py), 2-8x faster on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torchaudio

MAX_PHASES = 1000  # at most this many filter phases (target / gcd(rate, target)) in a resampling kernel
COLUMNS = 16  # outputs per row of a Block's product: enough for a matrix product to run at speed
SEGMENT = 1 << 20  # input samples resampled at a time: a long recording goes by segments of about this


@dataclass
class Block:
    """`phases` neighbouring phases (Resampler.blocks are in phase order) for `steps` steps at a time: their
    outputs are (the view of the padded input from `start`, `matrix.shape[0]` samples every steps * orig)
    @ matrix."""

    start: int
    phases: int
    matrix: torch.Tensor  # (span, steps * phases): column i * phases + q: the block's q-th phase at step i


class Resampler:
    """torchaudio.transforms.Resample(rate, target)'s numbers, from its kernel, by Blocks."""

    def __init__(self, rate: int, target: int):
        reference = torchaudio.transforms.Resample(rate, target)
        self.orig, self.new = rate // reference.gcd, target // reference.gcd
        self.width = reference.width
        kernel = reference.kernel[:, 0]  # (new, 2 * width + orig)
        nonzero = kernel != 0
        lo = nonzero.int().argmax(dim=1)  # each phase's band: [lo, hi)
        hi = kernel.shape[1] - nonzero.flip(1).int().argmax(dim=1)
        band = int((hi - lo).max())
        if self.new > COLUMNS:  # many phases: groups of neighbours (their bands overlap most)
            self.steps, group = 1, COLUMNS
        else:  # few phases: all of them, for as many steps as keep the span within twice the band
            self.steps = max(1, min(COLUMNS // self.new, band // self.orig + 1))
            group = self.new
        self.blocks = []
        for first in range(0, self.new, group):
            phases = range(first, min(first + group, self.new))
            start = int(lo[first : phases.stop].min())
            span = int(hi[first : phases.stop].max()) - start + (self.steps - 1) * self.orig
            matrix = torch.zeros(span, self.steps, len(phases))
            for i in range(self.steps):
                for q, p in enumerate(phases):
                    at = i * self.orig + int(lo[p]) - start
                    matrix[at : at + int(hi[p] - lo[p]), i, q] = kernel[p, int(lo[p]) : int(hi[p])]
            self.blocks.append(Block(start, len(phases), matrix.reshape(span, -1)))

    def __call__(self, waves: torch.Tensor) -> torch.Tensor:
        """(..., samples) -> (..., ceil(samples * new / orig)), as torchaudio's Resample gives it. A long
        input goes a segment at a time (about SEGMENT samples in all), so that nothing as large as it is
        copied or padded: its zeros beyond the ends are added to each segment that reaches them."""
        shape, length = waves.shape, waves.shape[-1]
        x = waves.reshape(math.prod(shape[:-1]), length)
        target = math.ceil(self.new * length / self.orig)
        out = torch.empty(len(x), target, dtype=x.dtype, device=x.device)
        if len(x) == 0:  # an empty batch
            return out.reshape(*shape[:-1], target)
        steps = length // self.orig + 1  # torchaudio's conv1d over the input padded by (width, width + orig)
        per = max(1, SEGMENT // (len(x) * self.orig * self.steps)) * self.steps  # steps per segment
        for first in range(0, steps, per):
            done = self._segment(x, first, -(-min(per, steps - first) // self.steps))
            end = min(first * self.new + done.shape[1], target)
            out[:, first * self.new : end] = done[:, : end - first * self.new]
        return out.reshape(*shape[:-1], target)

    def _segment(self, x: torch.Tensor, first: int, count: int) -> torch.Tensor:
        """The outputs of steps first ... first + count * self.steps: (n, count * self.steps * new)."""
        stride = self.steps * self.orig
        needed = max(b.start + b.matrix.shape[0] for b in self.blocks) + (count - 1) * stride
        begin = first * self.orig - self.width  # where torchaudio's padded input starts this segment
        part = x[:, max(begin, 0) : max(begin + needed, 0)]
        left = max(0, -begin)
        if left or part.shape[1] + left < needed:
            part = torch.nn.functional.pad(part, (left, needed - left - part.shape[1]))
        outs = []
        for b in self.blocks:
            view = part[:, b.start :].unfold(-1, b.matrix.shape[0], stride)
            outs.append((view @ b.matrix.to(x.device, x.dtype)).view(len(x), count, self.steps, b.phases))
        return (outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)).reshape(len(x), -1)


def resample(waves: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """(..., samples) at `rate` -> at `target`, with torchaudio's windowed-sinc kernel (cached per rate
    pair). A rate that shares almost no factor with the target (4001 Hz -> 16 kHz) would need a kernel of
    millions of taps (gigabytes): it is taken as the nearest multiple of 100 Hz instead, a pitch and tempo
    change of at most 50 / rate (0.025 % at 4001 Hz; callers fit the length to the window)."""
    kernel = _kernel(rate, target)
    return waves if kernel is None else kernel(waves)


def _kernel(rate: int, target: int) -> Resampler | None:
    """The resampler resample() applies (None: the rates are equal)."""
    if rate != target and target // math.gcd(rate, target) > MAX_PHASES:
        rate = max(100, round(rate / 100) * 100)
    return None if rate == target else _resampler(rate, target)


@lru_cache(maxsize=16)
def _resampler(orig: int, new: int) -> Resampler:
    return Resampler(orig, new)  # its Blocks are computed once per rate pair


def resampled_reach(used: int, rate: int, target: int) -> int:
    """Of a waveform whose samples from `used` on are zero: where its resampled samples are all zero from."""
    kernel = _kernel(rate, target)
    if kernel is None:
        return used
    # output step j (new samples) reads the samples [j*orig - width, (j+1)*orig + width)
    return -(-(used + kernel.width) // kernel.orig) * kernel.new


def source_needed(samples: int, rate: int, target: int) -> int:
    """How many samples at `rate` decide the first `samples` of the resampled waveform."""
    kernel = _kernel(rate, target)
    if kernel is None:
        return samples
    return ((samples - 1) // kernel.new + 1) * kernel.orig + kernel.width
