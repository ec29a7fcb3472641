"""Apply a finished run to recordings on disk: find the audio files named, decode and featurise each one
ahead of the model (in a thread), and collect each file's windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from zoo.apply.inference import TrainedRun, Windows
from zoo.data.audio import DecodeError, read_clip
from zoo.data.clips import AUDIO_SUFFIXES
from zoo.errors import ZooError
from zoo.evaluate import clip_pool


@dataclass
class Recording:
    """What predictions keep of a file once its windows are cut: not its audio."""

    duration_s: float
    sample_rate: int


def audio_files(paths: Iterable[str]) -> list[Path]:
    """Files named, files under folders named (recursively, by suffix), and glob patterns; sorted, once."""
    import glob

    found: list[Path] = []
    for item in paths:
        matches = [Path(m) for m in sorted(glob.glob(item, recursive=True))]
        if not matches and not Path(item).exists():
            raise ZooError(f"{item}: no such file or folder, and no file matches it as a pattern.")
        for path in matches or [Path(item)]:
            if path.is_dir():
                found += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            else:
                found.append(path)  # an unreadable file is reported when it is read
    return list(dict.fromkeys(found))


def _windows(run: TrainedRun, path: Path, hop_s: float | None, policy: str):
    """(the file's Recording, or the DecodeError; window starts; log-mels; padded)."""
    try:
        clip = read_clip(path, hashed=False)  # predictions need the audio, not its md5 (0.1 s per 50 MB)
    except DecodeError as exc:
        return exc, None, None, None
    if policy == "evaluation":
        starts, logmels, padded = run.evaluation_windows(clip)
    else:
        starts, logmels, padded = run.sliding_logmels(torch.from_numpy(clip.wave), clip.sample_rate, hop_s)
    return Recording(clip.duration_s, clip.sample_rate), starts, logmels, padded


def featurised(run: TrainedRun, paths: list[Path], hop_s: float | None, policy: str) -> Iterator[tuple]:
    """_windows() of each file, the next file's decoded and featurised in a thread while the caller runs the
    model on this one (libsndfile and torch release the GIL; a thread, unlike a process, sends no audio
    through a pipe: 100 MB per 10 min of 44.1 kHz)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(_windows, run, p, hop_s, policy) for p in paths[:2]]
        for i, path in enumerate(paths):
            if i + 2 < len(paths):
                pending.append(pool.submit(_windows, run, paths[i + 2], hop_s, policy))
            yield path, *pending[i].result()
            pending[i] = None  # its log-mels are released once used


Report = Callable[[Path, float], None]  # (file done, its duration in seconds)


def apply_to_files(
    run: TrainedRun,
    paths: list[Path],
    what: str = "predict",
    hop_s: float | None = None,
    policy: str = "sliding",
    progress: Report | None = None,
):
    """Run over files: ({path: (Recording, Windows)}, {path: why it was skipped}). policy "sliding" (windows
    every hop_s) or "evaluation" (the windows the run's evaluation used: its predictions.csv, reproduced)."""
    fn = run.probabilities if what == "predict" else run.embeddings
    results, skipped = {}, {}
    for path, clip, starts, logmels, padded in featurised(run, paths, hop_s, policy):
        if isinstance(clip, DecodeError):
            skipped[path] = str(clip)
        else:
            ends = run.ends(starts, clip.duration_s)
            results[path] = (clip, Windows(starts, ends, fn(logmels), padded, clip_pool(run.multilabel)))
        if progress:
            progress(path, 0.0 if isinstance(clip, DecodeError) else clip.duration_s)
    return results, skipped
