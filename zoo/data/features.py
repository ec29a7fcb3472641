"""Log-mel spectrograms of fixed size from a batch of equal-length waveforms."""

from __future__ import annotations

import torch
import torchaudio

from zoo.config import FeatureConfig

DB_FLOOR = 1e-10  # power floor before log: -100 dB, so that padding is finite
FLOOR_DB = -100.0  # that floor in dB: where a window holds padding


class LogMel(torch.nn.Module):
    """(batch, samples) waveforms -> (batch, 1, n_mels, frames) log-mel power in dB.

    The same numbers as torchaudio's MelSpectrogram(power=2) followed by 10 log10, computed with less
    memory traffic: |X|^2 as re^2 + im^2 (no sqrt then square) and the log in place.
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.n_fft, self.hop, self.frames = cfg.n_fft, cfg.hop_length, cfg.frames
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        fbanks = torchaudio.functional.melscale_fbanks(
            cfg.n_fft // 2 + 1, cfg.fmin, cfg.fmax or cfg.sample_rate / 2, cfg.n_mels, cfg.sample_rate
        )
        self.register_buffer("fbanks", fbanks.T.contiguous(), persistent=False)  # (n_mels, n_freqs)

    def forward(self, waves: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """The first `frames` frames (default: the window's)."""
        spec = torch.stft(
            waves,
            self.n_fft,
            self.hop,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )[..., : frames or self.frames]
        power = spec.real.square() + spec.imag.square()  # (batch, n_freqs, frames)
        mel = torch.matmul(self.fbanks, power)  # (batch, n_mels, frames)
        return mel.clamp_min_(DB_FLOOR).log10_().mul_(10.0)[:, None]
