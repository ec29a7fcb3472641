"""Log-mel spectrograms of fixed size from a batch of equal-length waveforms."""

from __future__ import annotations

import torch
import torchaudio

from zoo.config import FeatureConfig

DB_FLOOR = 1e-10  # power floor before log: -100 dB, so that padding is finite


class LogMel(torch.nn.Module):
    """(batch, samples) waveforms -> (batch, 1, n_mels, frames) log-mel power in dB."""

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels,
            f_min=cfg.fmin, f_max=cfg.fmax or cfg.sample_rate / 2, power=2.0,
        )
        self.frames = cfg.frames

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        spec = 10.0 * torch.log10(self.mel(waves).clamp_min(DB_FLOOR))
        return spec[:, None, :, : self.frames]
