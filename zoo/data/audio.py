"""Decode one audio file to a mono float32 waveform at the target rate, and cut it into windows."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from zoo.data.resampling import resample

MAX_RATE = 1_536_000  # the highest sample rate of any recorder or bat detector we know of (8 x 192 kHz)
HEADER_BYTES = 1 << 20  # read when no md5 is wanted: a WAV's chunk headers up to its data are in it
# Bits per sample of soundfile's subtypes (compressed formats have none: 0)
SUBTYPE_BITS = {
    "PCM_S8": 8,
    "PCM_U8": 8,
    "PCM_16": 16,
    "PCM_24": 24,
    "PCM_32": 32,
    "FLOAT": 32,
    "DOUBLE": 64,
    "ULAW": 8,
    "ALAW": 8,
}


class DecodeError(Exception):
    """A clip that cannot be used; the message is the reason shown to the user."""


@dataclass
class Decoded:
    wave: np.ndarray  # mono float32 at the file's own rate
    sample_rate: int  # the file's own rate
    channels: int
    md5: str  # of the file's bytes: byte-identical files are duplicates
    bits: int  # bits per sample as stored (16, 24, 32, 64; 0 for compressed formats)
    peak_db: float  # peak level in dBFS: the recording chain's gain, as a shortcut check sees it

    @property
    def duration_s(self) -> float:
        return len(self.wave) / self.sample_rate


# A part of a recording, named as W3C Media Fragments name one: "reef.wav#t=12.5,16.5" (seconds)
FRAGMENT = re.compile(r"^(?P<file>.+)#t=(?P<start>\d+(?:\.\d+)?),(?P<end>\d+(?:\.\d+)?)$")


def file_of(path: str | Path) -> str:
    """The file a clip's path reads: itself, or the recording a fragment path ("x.wav#t=1,2") is part of."""
    match = FRAGMENT.match(str(path))
    return match["file"] if match and not Path(path).exists() else str(path)


def read_clip(path: str | Path, hashed: bool = True) -> Decoded:
    """The clip `path` names: a file (see read_file), or a part of one, "reef.wav#t=12.5,16.5" (its own md5:
    the recording's and the part's). hashed=False leaves the md5 out ("") where only the audio is wanted."""
    match = FRAGMENT.match(str(path))
    if match is None or Path(path).exists():
        return read_file(path, hashed)
    whole, start, end = _recording(match["file"]), float(match["start"]), float(match["end"])
    first, last = round(start * whole.sample_rate), round(end * whole.sample_rate)
    wave = whole.wave[first:last]
    if len(wave) == 0:
        raise DecodeError(f"the part {start:g}-{end:g} s is beyond the recording ({whole.duration_s:.3f} s)")
    if not np.abs(wave).max() > 0:
        raise DecodeError("silent (all samples are zero)")
    md5 = hashlib.md5(f"{whole.md5}#t={start:g},{end:g}".encode()).hexdigest()
    return dataclasses.replace(whole, wave=np.ascontiguousarray(wave), md5=md5)


_last = threading.local()  # per decoding thread: the recording it read last, and its path


def _recording(path: str) -> Decoded:
    """The recording this thread read last, whole: its parts come one after another (one decoding for all of
    them, and one recording in memory per thread)."""
    if getattr(_last, "path", None) != path:
        _last.path = _last.clip = None  # the previous recording freed before the next is decoded
        _last.clip, _last.path = read_file(path), path
    return _last.clip


def read_file(path: str | Path, hashed: bool = True) -> Decoded:
    """Read `path` (its bytes hashed, or with hashed=False its header only) and mix it to mono, at its own
    rate. Raises DecodeError (with a short reason) for missing, empty, truncated, undecodable, NaN/Inf or
    silent files.

    A whole 16-bit PCM or 32-bit float WAV in the bytes read is taken from them as it is stored (_plain_wav:
    the numbers libsndfile gives, bit for bit, in a tenth of the time on short clips); any other file is
    decoded by soundfile (libsndfile), from its path: through a Python file object (io.BytesIO of the bytes)
    it makes a Python call per read and takes 2-3x as long. Only C code runs for long here (file read, md5,
    libsndfile, numpy), so threads decode in parallel.
    """
    path = Path(path)
    try:
        if hashed:
            raw = path.read_bytes()
        else:  # the header is enough for the truncation check
            with path.open("rb") as f:
                raw = f.read(HEADER_BYTES)
    except FileNotFoundError:
        if path.is_symlink():
            raise DecodeError(
                f"broken symbolic link (to {os.readlink(path)}, which does not exist)"
            ) from None
        raise DecodeError("file not found") from None
    except OSError as exc:
        raise DecodeError(f"cannot read: {exc.strerror}") from None
    if not raw:
        raise DecodeError("empty file (0 bytes)")
    data, rate, subtype = _decode(path, raw)
    if rate > MAX_RATE:
        raise DecodeError(f"sample rate {rate} Hz in its header is not a recording's (over {MAX_RATE} Hz)")
    integers = subtype.startswith("PCM") or subtype in ("ULAW", "ALAW")  # always finite
    if not integers and not np.isfinite(data).all():
        raise DecodeError("contains NaN or Inf samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    peak = float(max(data.max(), -data.min()))
    if not (peak > 0 if data.shape[1] == 1 else np.abs(wave).max() > 0):
        raise DecodeError("silent (all samples are zero)")
    peak_db = float(20 * np.log10(peak))
    return Decoded(
        np.ascontiguousarray(wave),
        rate,
        data.shape[1],
        hashlib.md5(raw).hexdigest() if hashed else "",
        SUBTYPE_BITS.get(subtype, 0),
        round(peak_db, 2),
    )


def _decode(path: Path, raw: bytes) -> tuple[np.ndarray, int, str]:
    """The (frames, channels) float32 samples of `path` (`raw`: its bytes, or their first HEADER_BYTES), its
    rate and soundfile's subtype name; DecodeError when it cannot be decoded or holds less than promised."""
    layout = _wav_layout(raw)
    plain = _plain_wav(raw, layout)
    if plain is not None:
        data, rate, subtype = plain
        promised = len(data)
    else:
        try:
            with sf.SoundFile(str(path)) as f:
                promised, rate, subtype = f.frames, f.samplerate, f.subtype
                data = f.read(dtype="float32", always_2d=True)
        except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for bad files
            reason = " ".join(str(exc).split()).replace(f"Error opening {str(path)!r}: ", "")
            raise DecodeError(f"cannot decode: {reason}") from None
    if data.shape[0] == 0:
        raise DecodeError("no audio frames")
    promised = max(promised, layout.frames if layout and layout.frames else 0)
    if data.shape[0] < 0.99 * promised:  # a few frames short (an encoder's padding) is no loss
        raise DecodeError(
            f"truncated: the header promises {promised / rate:.3f} s, the file holds "
            f"{data.shape[0] / rate:.3f} s"
        )
    return data, rate, subtype


@dataclass
class WavLayout:
    """What a RIFF/WAVE header says: the sample format (1: integers, 3: floats), channels, rate, bytes per
    frame, bits per sample, where the data chunk's samples start and how many frames it promises (None: an
    unknown length, as a stream writes it)."""

    format: int
    channels: int
    rate: int
    block: int
    bits: int
    data: int
    frames: int | None


def _wav_layout(raw: bytes) -> WavLayout | None:
    """The layout of a WAV file's header in `raw` (libsndfile quietly reads what is there instead of what the
    data chunk promises, so a truncated file is seen from this), or None when it is not a WAV or its fmt and
    data chunks are not in `raw`."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return None
    offset, fmt = 12, None
    while offset + 8 <= len(raw):
        chunk, size = raw[offset : offset + 4], struct.unpack_from("<I", raw, offset + 4)[0]
        if chunk == b"fmt " and offset + 24 <= len(raw):
            fmt = struct.unpack_from("<HHI4xHH", raw, offset + 8)  # format, channels, rate, block, bits
        if chunk == b"data":
            if fmt is None or not fmt[1] or not fmt[4]:
                return None
            frames = None if size in (0, 0xFFFFFFFF) else size // (fmt[1] * -(-fmt[4] // 8))
            return WavLayout(*fmt, data=offset + 8, frames=frames)
        offset += 8 + size + (size & 1)
    return None


PLAIN_WAV = {(1, 16): ("<i2", "PCM_16"), (3, 32): ("<f4", "FLOAT")}  # (format, bits): the numpy type


def _plain_wav(raw: bytes, layout: WavLayout | None) -> tuple[np.ndarray, int, str] | None:
    """(frames, channels) float32, the rate and soundfile's subtype name of a 16-bit PCM or 32-bit float WAV
    held whole in `raw`, as libsndfile reads it (integers scaled by 1/32768, exactly), or None for any other
    file (left to libsndfile)."""
    if layout is None or layout.frames is None or (layout.format, layout.bits) not in PLAIN_WAV:
        return None
    if not layout.rate or layout.block != layout.channels * layout.bits // 8:  # odd: libsndfile decides
        return None
    dtype, subtype = PLAIN_WAV[layout.format, layout.bits]
    count = layout.frames * layout.channels
    if layout.data + count * layout.bits // 8 > len(raw):  # truncated, or only the header was read
        return None
    samples = np.frombuffer(raw, dtype, count, layout.data).reshape(layout.frames, layout.channels)
    if subtype == "FLOAT":
        return samples.astype(np.float32), layout.rate, subtype  # a copy: the bytes are read-only
    return np.multiply(samples, np.float32(1 / 32768), dtype=np.float32), layout.rate, subtype


def load_mono(path: str | Path, sample_rate: int) -> torch.Tensor:
    """The whole clip as a mono float32 tensor at `sample_rate`."""
    clip = read_clip(path)
    return resample(torch.from_numpy(clip.wave), clip.sample_rate, sample_rate)


def fit_length(wave: torch.Tensor, samples: int) -> torch.Tensor:
    """Pad with zeros at the end, or crop around the centre, to exactly `samples`."""
    n = wave.shape[-1]
    if n >= samples:
        start = (n - samples) // 2
        return wave[..., start : start + samples]
    return torch.nn.functional.pad(wave, (0, samples - n))


def window_starts(n: int, samples: int, max_windows: int) -> list[int]:
    """Where the windows of a clip of `n` samples start: as few evenly spaced windows as cover the whole clip
    (at most max_windows; more than the window's length apart only then), or one for a short clip."""
    k = min(max_windows, max(1, math.ceil(n / samples - 0.01)))  # 1 % slack: rounding in resampled lengths
    if k == 1 or n <= samples:
        return [max(0, (n - samples) // 2)]  # as fit_length cuts it
    return torch.linspace(0, n - samples, k).round().long().tolist()
