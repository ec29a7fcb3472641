"""Generate the embedded default data set: deterministic animal-call-like sounds of up to 12 kinds.

Each class has several "recordings" (the groups): a recording fixes a base pitch, a call
duration range and a background noise level; its clips add pitch jitter, timing and noise.
Splits hold out whole recordings, so a model must generalise across them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

VERSION = 3  # bump when the generator changes: the files are then made anew
SNRS_DB = (5.0, 10.0, 20.0)


def _tone(freq: np.ndarray, sr: int) -> np.ndarray:
    """A sinusoid following an instantaneous-frequency track (Hz per sample)."""
    return np.sin(2 * np.pi * np.cumsum(freq) / sr)


def _clicks(n: int, sr: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    times = np.arange(rng.uniform(0, 1 / rate), n / sr, 1 / rate)
    times += rng.normal(0, 0.08 / rate, len(times))  # a little jitter in the inter-click interval
    click = np.hanning(24) * rng.standard_normal(24)
    for t in times:
        i = int(t * sr)
        if 0 <= i < n - len(click):
            out[i : i + len(click)] += click
    return out


def _call(kind: str, n: int, sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    ramp = np.linspace(0, 1, n)
    if kind == "whistle":
        return _tone(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)), sr)
    if kind == "upsweep":
        return _tone(f0 * (1 + ramp), sr)
    if kind == "downsweep":
        return _tone(f0 * (2 - ramp), sr)
    if kind == "u_call":
        return _tone(f0 * (1 + 0.8 * (2 * ramp - 1) ** 2), sr)
    if kind == "trill":
        return _tone(f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(9, 14) * t)), sr)
    if kind == "moan":
        return _tone(f0 / 20 * (1.3 - 0.3 * ramp), sr)
    if kind == "harmonic":
        base = f0 / 6
        return sum(_tone(np.full(n, base * k), sr) / k for k in range(1, 7))
    if kind == "pulsed":
        gate = (np.sin(2 * np.pi * rng.uniform(12, 18) * t) > 0.3).astype(float)
        return gate * _tone(np.full(n, f0), sr)
    if kind == "clicks_slow":
        return _clicks(n, sr, rng.uniform(6, 10), rng)
    if kind == "clicks_fast":
        return _clicks(n, sr, rng.uniform(28, 40), rng)
    if kind == "buzz":
        return _clicks(n, sr, rng.uniform(110, 160), rng)
    if kind == "knock":
        noise = rng.standard_normal(n)
        gate = (np.sin(2 * np.pi * rng.uniform(2.5, 4) * t) > 0.7).astype(float)
        return np.convolve(noise, np.ones(8) / 8, mode="same") * gate  # low-passed noise bursts
    raise ValueError(kind)


KINDS = (  # the first six are the demo's (the default `kinds`): tones, sweeps, pulses, clicks, noise
    "whistle",
    "upsweep",
    "pulsed",
    "clicks_fast",
    "knock",
    "harmonic",
    "trill",
    "u_call",
    "downsweep",
    "moan",
    "clicks_slow",
    "buzz",
)


def make_clip(kind: str, sr: int, base_f0: float, noise_db: float, rng: np.random.Generator) -> np.ndarray:
    """One clip: a call of random length placed at a random time in noise at a random SNR."""
    length = int(sr * rng.uniform(0.6, 1.4))
    call_n = int(sr * rng.uniform(0.35, 0.8))
    call = _call(kind, call_n, sr, base_f0 * rng.uniform(0.9, 1.1), rng)
    call *= np.hanning(call_n) ** 0.25  # soft onset and offset
    call /= np.sqrt(np.mean(call**2)) + 1e-9
    clip = np.zeros(length)
    start = rng.integers(0, max(1, length - call_n))
    clip[start : start + call_n] += call[: length - start]
    snr = rng.choice(SNRS_DB) + noise_db
    noise = np.cumsum(rng.standard_normal(length)) * 0.02 + rng.standard_normal(length)  # reddish background
    noise *= 10 ** (-snr / 20) / (np.sqrt(np.mean(noise**2)) + 1e-9)
    clip += noise
    return (0.3 * clip / np.abs(clip).max()).astype(np.float32)


def _mixed(clip: np.ndarray, kind: str, kinds: tuple, mix: int, sr: int, rng: np.random.Generator):
    """(the clip with 0 to mix - 1 calls of other kinds added, at 0 +/- 6 dB; its labels joined by ";")."""
    others = [k for k in kinds if k != kind]
    extra = list(rng.choice(others, size=int(rng.integers(0, mix)), replace=False))
    out = clip.astype(np.float64)
    for other in extra:
        call = make_clip(other, sr, rng.uniform(1000, 3000), 0.0, rng)[: len(out)]
        out[: len(call)] += call * 10 ** (rng.uniform(-6, 6) / 20)
    return (0.3 * out / np.abs(out).max()).astype(np.float32), ";".join(sorted([kind, *extra]))


def generate(
    root: Path,
    recordings: int = 16,
    clips_per_recording: int = 4,
    sample_rate: int = 16000,
    seed: int = 0,
    mix: int = 1,
    kinds: int = len(KINDS),
) -> pd.DataFrame:
    """Write the data set under `root` (once: reused while its settings match) and return its clip table.
    kinds: how many of KINDS (the first ones) are classes. mix > 1: the multi-label variant, each clip its
    recording's call plus up to mix - 1 calls of other kinds
    (a `labels` column)."""
    import soundfile as sf

    root = Path(root)
    settings = {
        "version": VERSION,
        "recordings": recordings,
        "clips_per_recording": clips_per_recording,
        "sample_rate": sample_rate,
        "seed": seed,
        "kinds": kinds,
        **({"mix": mix} if mix > 1 else {}),
    }
    manifest = root / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("settings") == settings:
        return pd.read_csv(root / "clips.csv").assign(path=lambda t: [str(root / p) for p in t["path"]])
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    rows = []
    for kind in KINDS[:kinds]:
        (tmp / kind).mkdir(parents=True)
        for rec in range(recordings):
            base_f0 = rng.uniform(1000, 3000)  # sweeps reach 2 x f0: stay below Nyquist at 16 kHz
            noise_db = rng.uniform(-3, 3)
            for i in range(clips_per_recording):
                rel = f"{kind}/rec{rec:02d}_{i:02d}.wav"
                clip = make_clip(kind, sample_rate, base_f0, noise_db, rng)
                row = {"path": rel, "label": kind, "group": f"{kind}/rec{rec:02d}"}
                if mix > 1:
                    clip, labels = _mixed(clip, kind, KINDS[:kinds], mix, sample_rate, rng)
                    row = {**row, "label": None, "labels": labels}
                sf.write(tmp / rel, clip, sample_rate, subtype="PCM_16")
                rows.append({k: v for k, v in row.items() if v is not None})
    table = pd.DataFrame(rows)
    table.to_csv(tmp / "clips.csv", index=False)
    (tmp / "manifest.json").write_text(json.dumps({"settings": settings}, indent=2))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return table.assign(path=[str(root / p) for p in table["path"]])
