"""Decode one audio file to a mono float32 waveform at the target rate, and cut it into windows."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio


class DecodeError(Exception):
    """A clip that cannot be used; the message is the reason shown to the user."""


@dataclass
class Decoded:
    wave: torch.Tensor  # mono float32 at the target rate
    sample_rate: int  # the file's own rate
    channels: int
    duration_s: float
    md5: str  # of the file's bytes: byte-identical files are duplicates


def decode(path: str | Path, sample_rate: int) -> Decoded:
    """Read `path` once (bytes hashed, then decoded by soundfile), mix to mono, resample to `sample_rate`.

    Raises DecodeError (with a short reason) for missing, empty, undecodable, NaN/Inf or silent files.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DecodeError("file not found") from None
    except OSError as exc:
        raise DecodeError(f"cannot read: {exc.strerror}") from None
    if not raw:
        raise DecodeError("empty file (0 bytes)")
    try:
        data, rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for bad files
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
    return Decoded(wave, rate, data.shape[1], data.shape[0] / rate, hashlib.md5(raw).hexdigest())


def load_mono(path: str | Path, sample_rate: int) -> torch.Tensor:
    """Just the waveform of `decode`."""
    return decode(path, sample_rate).wave


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


def windows(wave: torch.Tensor, samples: int, max_windows: int) -> torch.Tensor:
    """(k, samples): a clip about k times the window long gives k evenly spaced windows (k <= max_windows);
    shorter clips give one, padded or centre-cropped."""
    n = wave.shape[-1]
    k = min(max_windows, max(1, round(n / samples)))
    if k == 1:
        return fit_length(wave, samples)[None]
    starts = torch.linspace(0, n - samples, k).round().long().tolist()
    return torch.stack([wave[s:s + samples] for s in starts])
