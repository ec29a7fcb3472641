"""Recommend features for a data set from what its clips hold: native rates, durations, energy band."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.data.audio import DecodeError, read_clip

STANDARD_RATES = (8000, 16000, 22050, 32000, 44100, 48000, 96000)
LEVEL_SPREAD_DB = 10.0  # groups whose typical peak levels lie further apart get normalise = "level"
ENERGY_SHARE = 0.99  # the band that holds this share of a clip's energy is the band it needs
SAMPLE = 200  # clips read to find where the energy is (evenly spread over the table)
MIN_SAMPLES = 64  # a clip shorter than this says nothing of its spectrum


def energy_band(wave: np.ndarray, rate: int, share: float = ENERGY_SHARE) -> float:
    """The frequency (Hz) below which `share` of the clip's energy lies (mean power spectrum of 2048-sample
    frames, or the whole clip when shorter); NaN for a clip too short (under MIN_SAMPLES) or silent to say."""
    size = min(2048, len(wave))
    if size < MIN_SAMPLES:
        return math.nan
    frames = np.lib.stride_tricks.sliding_window_view(wave, size)[:: max(1, size // 2)]
    power = (np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2).mean(axis=0)[1:]  # without DC
    if not power.sum() > 0:
        return math.nan
    cumulative = np.cumsum(power) / power.sum()
    return float(np.fft.rfftfreq(size, 1 / rate)[1 + min(np.searchsorted(cumulative, share), len(power) - 1)])


def level_spread(clips: pd.DataFrame) -> float:
    """How far apart (dB) the groups' median peak levels lie, 10th to 90th percentile (each clip its own
    group where the table has no groups): a recorder's gain that differs by group, and so can stand in for
    the class or fail to carry over to new groups."""
    if "peak_db" not in clips or clips["peak_db"].isna().all():
        return 0.0
    groups = clips["group"] if "group" in clips and clips["group"].ne("").any() else clips.index
    medians = clips.groupby(groups)["peak_db"].median().dropna()
    return float(np.percentile(medians, 90) - np.percentile(medians, 10)) if len(medians) > 1 else 0.0


def recommend(clips: pd.DataFrame) -> tuple[dict, dict]:
    """(recommended FeatureConfig settings, the figures behind them) for the decodable `clips` of a
    prepared cache (columns path, sample_rate, duration_s)."""
    usable = clips[clips["reason"] == ""] if "reason" in clips else clips
    picked = usable.iloc[np.linspace(0, len(usable) - 1, min(SAMPLE, len(usable))).astype(int)]
    bands = []
    for path in picked["path"]:
        try:
            clip = read_clip(path)
        except DecodeError:
            continue
        band = energy_band(clip.wave, clip.sample_rate)
        if not math.isnan(band):
            bands.append(band)
    band = float(np.percentile(bands, 90)) if bands else float(usable["sample_rate"].min()) / 2
    lowest = int(usable["sample_rate"].min())
    # the lowest standard rate whose band holds the energy of 9 clips in 10, but not above the median native
    # rate: most clips are then low-passed rather than upsampled (an upsampled clip's empty band can be a
    # shortcut)
    wanted = next((r for r in STANDARD_RATES if r / 2 >= band), STANDARD_RATES[-1])
    rate = min(wanted, int(usable["sample_rate"].median()))
    n_fft = 2 ** round(math.log2(0.032 * rate))  # about 32 ms
    hop = n_fft // 4
    window_s = float(np.clip(usable["duration_s"].median(), 0.5, 5.0))
    frames = max(16, int(round(window_s * rate / hop / 16)) * 16)
    fmax = float(min(rate / 2, math.ceil(band / 500) * 500))
    features = {
        "sample_rate": rate,
        "n_fft": n_fft,
        "hop_length": hop,
        "n_mels": 64 if rate < 32000 else 128,
        "fmin": 0.0 if rate < 32000 else 50.0,
        "fmax": 0.0 if fmax >= rate / 2 else fmax,
        "frames": frames,
    }
    spread = level_spread(usable)
    if spread > LEVEL_SPREAD_DB:
        features["normalise"] = "level"
    below = int((usable["sample_rate"] < rate).sum())
    figures = {
        "clips read": len(bands),
        "energy band (90th percentile of clips)": f"{band:.0f} Hz",
        "native rates": f"{lowest}-{int(usable['sample_rate'].max())} Hz",
        f"clips below {rate} Hz": f"{below} of {len(usable)}",
        "median duration": f"{usable['duration_s'].median():.2f} s",
        "window": f"{frames * hop / rate:.2f} s",
        "peak level spread across groups (10th-90th percentile)": f"{spread:.1f} dB",
    }
    return features, figures
