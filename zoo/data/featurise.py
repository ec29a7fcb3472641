"""Turn clips into log-mel windows: each decoder thread takes a chunk of clips and decodes, cuts, resamples
and featurises it (one resampling and one STFT per sample rate and bucket of lengths), and the calling
thread gathers the chunks in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
import torch

from zoo.config import FeatureConfig
from zoo.data.audio import DecodeError, fit_length, window_starts
from zoo.data.decode import decoder_threads, load_clip, worker_count
from zoo.data.features import FLOOR_DB, LogMel
from zoo.data.resampling import resample, resampled_reach, source_needed

CHUNK = 64  # clips per task: small enough to balance the workers, large enough to batch the STFT
BUCKET = 8  # frames: windows padded to about as far are transformed together
Progress = Callable[[int, int, int], None]  # (clips done, clips in all, clips skipped)


@dataclass
class Chunk:
    """Some clips, featurised: per clip what decoding found (or the reason it was skipped), per window its
    log-mel, the clip it came from (a position in the chunk) and where in the clip it starts, in frames."""

    info: list[dict] = field(default_factory=list)
    x: list[torch.Tensor] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    start: list[float] = field(default_factory=list)


@lru_cache(maxsize=4)
def _logmel(features: FeatureConfig) -> LogMel:
    return LogMel(features)


def window_logmels(cut: torch.Tensor, used: list[int], rate: int, features: FeatureConfig) -> torch.Tensor:
    """(k, length) windows at `rate`, the first used[i] samples of window i audio and the rest zeros (a clip
    shorter than the window, padded) -> (k, 1, n_mels, frames) log-mels at features.sample_rate: the numbers
    of LogMel(resample(window)) to float rounding, without the work on the padding. A frame that sees only
    zeros is the floor (FLOOR_DB) exactly, so each window is resampled and transformed only as far as its
    audio reaches; windows that reach about as far (within BUCKET frames) share one resampling and one STFT.
    """
    f, logmel = features, _logmel(features)
    half = f.n_fft // 2
    out = torch.full((len(cut), 1, f.n_mels, f.frames), FLOOR_DB)
    reach = torch.tensor([resampled_reach(u, rate, f.sample_rate) for u in used])
    needed = (reach + half + f.hop_length - 1) // f.hop_length  # frame j sees [j*hop - half, j*hop + half)
    bucket = torch.clamp((needed + BUCKET - 1) // BUCKET * BUCKET, max=f.frames)
    for frames in bucket.unique().tolist():
        rows = (bucket == frames).nonzero()[:, 0]
        if frames == f.frames:  # the whole window, its end reflected as the STFT pads it
            out[rows] = logmel(fit_length(resample(cut[rows], rate, f.sample_rate), f.samples))
            continue
        samples = (frames - 1) * f.hop_length + half  # what the first `frames` frames see: no padding
        waves = resample(cut[rows, : source_needed(samples, rate, f.sample_rate)], rate, f.sample_rate)
        out[rows, ..., :frames] = logmel(fit_length(waves[:, :samples], samples), frames)
    return out


def clip_windows(waves: list[np.ndarray], rate: int, features: FeatureConfig):
    """The windows of clips at one `rate` (audio.window_starts), cut at that rate into one (windows, length)
    tensor, each long enough to give features.samples once resampled (windows of equal length resample as
    one batch): a clip shorter than the window is padded with zeros at the end. With where each clip's
    windows start (seconds, a list per clip) and how many samples of each window are audio (window_logmels'
    `used`)."""
    length = -(-features.samples * rate // features.sample_rate)  # ceil: never short after resampling
    starts = [window_starts(len(wave), length, features.max_windows) for wave in waves]
    cut = np.zeros((sum(map(len, starts)), length), np.float32)
    used = []
    for wave, clip_starts in zip(waves, starts):
        for s in clip_starts:
            part = wave[s : s + length]
            cut[len(used), : len(part)] = part
            used.append(len(part))
    return torch.from_numpy(cut), [[s / rate for s in clip_starts] for clip_starts in starts], used


def featurise(paths: list[str], features: FeatureConfig) -> Chunk:
    """Decode the clips at `paths` and turn each into its windows' log-mels (in a worker)."""
    chunk, by_rate = Chunk(), {}
    frame_rate = features.sample_rate / features.hop_length
    for row, clip in enumerate(map(load_clip, paths)):
        if isinstance(clip, DecodeError):
            chunk.info.append({"windows": 0, "reason": str(clip)})
            continue
        chunk.info.append(
            {
                "sample_rate": clip.sample_rate,
                "channels": clip.channels,
                "md5": clip.md5,
                "bits": clip.bits,
                "peak_db": clip.peak_db,
                "duration_s": round(clip.duration_s, 4),
                "windows": 0,  # set below
                "reason": "",
            }
        )
        by_rate.setdefault(clip.sample_rate, []).append((row, clip.wave))
    for rate, items in by_rate.items():  # per rate: one resampling and one STFT per bucket of windows
        cut, seconds, used = clip_windows([wave for _, wave in items], rate, features)
        with torch.inference_mode():
            chunk.x.append(window_logmels(cut, used, rate, features))
        for (row, _), clip_seconds in zip(items, seconds):
            chunk.info[row]["windows"] = len(clip_seconds)
            chunk.owner += [row] * len(clip_seconds)
            chunk.start += [t * frame_rate for t in clip_seconds]
    return chunk


def featurise_table(
    table: pd.DataFrame,
    features: FeatureConfig,
    write: Callable[[torch.Tensor], None],
    progress: Progress | None = None,
) -> tuple[list[dict], dict]:
    """Every clip of `table` featurised by the decoder threads, in order: each chunk's windows handed to
    `write` as soon as it and those before it are done (none kept here: a cache file grows while the threads
    work, and memory holds only the chunks in flight). Returns one dict per clip (as in Chunk.info) and
    {clip: the row each window came from, start: where in it, in frames}."""
    paths = table["path"].tolist()
    tasks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    info, owners, starts, skipped = [], [], [], 0
    ahead = 2 * worker_count()  # tasks in flight: every thread busy, memory bounded
    with decoder_threads() as pool:
        pending = [pool.submit(featurise, task, features) for task in tasks[:ahead]]
        for number in range(len(tasks)):
            if number + ahead < len(tasks):
                pending.append(pool.submit(featurise, tasks[number + ahead], features))
            chunk, pending[number] = pending[number].result(), None
            base = number * CHUNK
            info += chunk.info
            for x in chunk.x:
                write(x)
            owners += [base + row for row in chunk.owner]
            starts += chunk.start
            skipped += sum(1 for item in chunk.info if item["reason"])
            if progress:
                progress(min(base + CHUNK, len(paths)), len(paths), skipped)
    return info, {
        "clip": torch.tensor(owners, dtype=torch.long),
        "start": torch.tensor(starts, dtype=torch.float32),
    }
