"""Turn clips into log-mel windows: each worker of the decoder pool takes a chunk of clips and decodes, cuts,
resamples and featurises it (one resampling and one STFT per sample rate in the chunk), and this process
gathers the chunks in order. All the work is in the workers, so it spreads over every core."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import pandas as pd
import torch

from zoo.config import FeatureConfig
from zoo.data.audio import DecodeError, fit_length, resample, source_windows
from zoo.data.decode import decoder_pool, load_clip, worker_count
from zoo.data.features import LogMel

CHUNK = 64  # clips per task: small enough to balance the workers, large enough to batch the STFT
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


def featurise(paths: list[str], features: FeatureConfig) -> Chunk:
    """Decode the clips at `paths` and turn each into its windows' log-mels (in a worker)."""
    chunk, by_rate = Chunk(), {}
    frame_rate = features.sample_rate / features.hop_length
    for row, clip in enumerate(map(load_clip, paths)):
        if isinstance(clip, DecodeError):
            chunk.info.append({"windows": 0, "reason": str(clip)})
            continue
        cut, seconds = source_windows(clip, features.samples, features.sample_rate, features.max_windows)
        chunk.info.append(
            {
                "sample_rate": clip.sample_rate,
                "channels": clip.channels,
                "md5": clip.md5,
                "bits": clip.bits,
                "peak_db": clip.peak_db,
                "duration_s": round(clip.duration_s, 4),
                "windows": len(cut),
                "reason": "",
            }
        )
        by_rate.setdefault(clip.sample_rate, []).append((row, cut, seconds))
    for rate, items in by_rate.items():  # one resampling and one STFT per rate
        waves = resample(torch.cat([cut for _, cut, _ in items]), rate, features.sample_rate)
        with torch.inference_mode():
            chunk.x.append(_logmel(features)(fit_length(waves, features.samples)))
        chunk.owner += [row for row, cut, _ in items for _ in range(len(cut))]
        chunk.start += [t * frame_rate for _, _, seconds in items for t in seconds]
    return chunk


def featurise_table(table: pd.DataFrame, features: FeatureConfig, progress: Progress | None = None):
    """Every clip of `table` featurised by the decoder pool, in order: (one dict per clip, as in Chunk.info;
    {x: windows, clip: the row each came from, start: where in it, in frames})."""
    paths = table["path"].tolist()
    tasks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    info, xs, owners, starts, skipped = [], [], [], [], 0
    ahead = 2 * worker_count()  # tasks in flight: every worker busy, memory bounded
    with decoder_pool() as pool:  # leaving the block (an error, Ctrl-C, SIGTERM) terminates the workers
        pending = [pool.submit(featurise, task, features) for task in tasks[:ahead]]
        for number in range(len(tasks)):
            if number + ahead < len(tasks):
                pending.append(pool.submit(featurise, tasks[number + ahead], features))
            chunk, pending[number] = pending[number].result(), None
            base = number * CHUNK
            info += chunk.info
            xs += chunk.x
            owners += [base + row for row in chunk.owner]
            starts += chunk.start
            skipped += sum(1 for item in chunk.info if item["reason"])
            if progress:
                progress(min(base + CHUNK, len(paths)), len(paths), skipped)
    x = torch.cat(xs) if xs else torch.empty(0, 1, features.n_mels, features.frames)
    tensors = {
        "x": x,
        "clip": torch.tensor(owners, dtype=torch.long),
        "start": torch.tensor(starts, dtype=torch.float32),
    }
    return info, tensors
