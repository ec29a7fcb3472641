"""Decode one audio file to a mono float32 waveform at the target sample rate."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio


class DecodeError(Exception):
    """A clip that cannot be used; the message is the reason shown to the user."""


def load_mono(path: str | Path, sample_rate: int) -> torch.Tensor:
    """Read `path` with soundfile, average channels to mono, resample to `sample_rate`.

    Raises DecodeError (with a short reason) for empty, undecodable, NaN/Inf or silent files.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DecodeError("empty file (0 bytes)")
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except DecodeError:
        raise
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/OSError for bad files
        raise DecodeError(f"cannot decode: {' '.join(str(exc).split())}") from None
    if data.shape[0] == 0:
        raise DecodeError("no audio frames")
    if not np.isfinite(data).all():
        raise DecodeError("contains NaN or Inf samples")
    wave = torch.from_numpy(data.mean(axis=1))
    if not wave.abs().max() > 0:
        raise DecodeError("silent (all samples are zero)")
    if rate != sample_rate:
        wave = _resampler(rate, sample_rate)(wave)
    return wave


@lru_cache(maxsize=16)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    # The transform precomputes its sinc kernel once per rate pair.
    return torchaudio.transforms.Resample(orig, new)


def fit_length(wave: torch.Tensor, samples: int) -> torch.Tensor:
    """Pad with zeros at the end, or crop around the centre, to exactly `samples`."""
    n = wave.shape[-1]
    if n >= samples:
        start = (n - samples) // 2
        return wave[..., start:start + samples]
    return torch.nn.functional.pad(wave, (0, samples - n))
