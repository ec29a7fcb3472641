"""Plain reference implementations the zoo is measured against (what a first script would do)."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
import torch
import torchaudio

from zoo.config import FeatureConfig


def mel_spectrogram(cfg: FeatureConfig) -> torchaudio.transforms.MelSpectrogram:
    """torchaudio's own MelSpectrogram for `cfg`, as a first script would build it."""
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        f_min=cfg.fmin,
        f_max=cfg.fmax or cfg.sample_rate / 2,
    )


def reference_features(paths: list[str], cfg: FeatureConfig) -> list[torch.Tensor]:
    """librosa-style: load, resample, mel, one clip at a time (no threads, no batching, no cached kernels)."""
    mel = mel_spectrogram(cfg)
    out = []
    for path in paths:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        wave = torch.from_numpy(data.mean(axis=1))
        if rate != cfg.sample_rate:
            wave = torchaudio.functional.resample(wave, rate, cfg.sample_rate)
        wave = torch.nn.functional.pad(wave, (0, max(0, cfg.samples - len(wave))))[: cfg.samples]
        out.append(10 * torch.log10(mel(wave).clamp_min(1e-10))[None, :, : cfg.frames])
    return out


def batched_floor(paths: list[str], cfg: FeatureConfig) -> float:
    """Seconds one process takes at best, batching: every clip decoded by soundfile one after another, then
    per sample rate one resampling and one torchaudio MelSpectrogram call per 256 clips (the zoo's own
    pipeline spreads the same work over processes)."""
    import time

    mel = mel_spectrogram(cfg)
    start = time.perf_counter()
    by_rate: dict[int, list[torch.Tensor]] = {}
    for path in paths:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        wave = torch.from_numpy(data.mean(axis=1))
        length = -(-cfg.samples * rate // cfg.sample_rate)
        by_rate.setdefault(rate, []).append(
            torch.nn.functional.pad(wave, (0, max(0, length - len(wave))))[:length]
        )
    for rate, waves in by_rate.items():
        for i in range(0, len(waves), 256):
            batch = torch.stack(waves[i : i + 256])
            if rate != cfg.sample_rate:
                batch = torchaudio.functional.resample(batch, rate, cfg.sample_rate)
            10 * torch.log10(mel(batch[:, : cfg.samples]).clamp_min(1e-10))
    return time.perf_counter() - start


def librosa_features(paths: list[str], cfg: FeatureConfig) -> list:
    """The librosa way (`pip install librosa`): librosa.load (resampling with soxr), then a mel
    spectrogram and power_to_db, one clip at a time."""
    import librosa

    out = []
    for path in paths:
        wave, _ = librosa.load(path, sr=cfg.sample_rate, mono=True)
        wave = librosa.util.fix_length(wave, size=cfg.samples)
        mel = librosa.feature.melspectrogram(
            y=wave,
            sr=cfg.sample_rate,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            n_mels=cfg.n_mels,
            fmin=cfg.fmin,
            fmax=cfg.fmax or cfg.sample_rate / 2,
        )
        out.append(librosa.power_to_db(mel, top_db=None)[None, :, : cfg.frames])
    return out


class PerClipFiles(torch.utils.data.Dataset):
    """The seed project's layout: one .pt file per spectrogram, read by a DataLoader."""

    def __init__(self, folder: Path):
        self.files = sorted(Path(folder).glob("*.pt"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        item = torch.load(self.files[i], weights_only=True)
        return item["x"], item["y"]


def write_per_clip_files(x: torch.Tensor, y: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(x)):
        torch.save({"x": x[i].clone(), "y": y[i].clone()}, folder / f"{i:06d}.pt")
