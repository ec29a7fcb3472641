"""Put a finished run to work on new recordings: load it from its folder, cut audio into windows as the run
was trained, and return class probabilities or embeddings per window and per file.

Example::

    run = zoo.load_run("1a2b3c4d")  # a run id (or its first characters) under ./experiments, or a folder
    windows = run.predict(waveform, sample_rate)  # windows.values: (windows, classes); windows.mean()
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.config import FeatureConfig, features_identity
from zoo.data.audio import Decoded, fit_length
from zoo.data.features import LogMel
from zoo.data.featurise import clip_windows, window_logmels
from zoo.data.normalise import normalise_windows
from zoo.data.resampling import resample
from zoo.errors import ZooError
from zoo.evaluate import clip_pool
from zoo.runs import folder as files
from zoo.runs.folder import find_run, run_damage
from zoo.runs.plan import without_pretrained
from zoo.train.trainer import autocast_dtype

BATCH = 64  # windows per forward pass: on a CPU, 1.5-2x faster than 256 (baseline_cnn: activations in cache)


@dataclass
class Windows:
    """Windows of one recording: where each starts and ends (seconds) and the model's output for each."""

    start_s: np.ndarray
    end_s: np.ndarray
    values: np.ndarray  # (windows, classes) probabilities, or (windows, dim) embeddings
    padded: bool  # the recording was shorter than one window: padded at the end, as in training
    pool: str = "mean"  # how its run's evaluation made a clip's probabilities from its windows (clip_pool)

    def mean(self) -> np.ndarray:
        """The mean over its windows."""
        return self.values.mean(axis=0)

    def summary(self) -> np.ndarray:
        """The recording's probabilities, as the run's evaluation scores a clip: the mean over its windows, or
        (a multi-label run) their maximum."""
        return self.values.max(axis=0) if self.pool == "max" else self.mean()


class TrainedRun:
    """A finished run, ready to apply: its model (best weights, eval mode), FeatureConfig, train-split
    normalisation, classes and window policy, all read from the run folder."""

    def __init__(self, run_dir: Path, device: str | torch.device = "cpu", registry=None):
        self.dir = Path(run_dir)
        for name in (files.CONFIG, files.METRICS, files.CHECKPOINT, files.NORMALISATION):
            if not (self.dir / name).is_file():
                why = (
                    "it has not finished (`zoo run` resumes it)"
                    if name == files.METRICS
                    else "retrain it with `zoo run --force` (runs before this version did not keep it)"
                    if name == files.NORMALISATION
                    else "the run folder is incomplete"
                )
                raise ZooError(f"{self.dir} has no {name}: {why}.")
        if (damage := run_damage(self.dir)) is not None:
            raise ZooError(f"{self.dir} is damaged ({' '.join(damage)}): `zoo run` retrains it.")
        try:
            self.config = json.loads((self.dir / files.CONFIG).read_text())
            norm = json.loads((self.dir / files.NORMALISATION).read_text())
            state = torch.load(self.dir / files.CHECKPOINT, map_location="cpu", weights_only=False)
        except Exception as exc:
            reason = textwrap.shorten(str(exc), 120, placeholder=" ...")
            raise ZooError(
                f"{self.dir} is damaged ({type(exc).__name__}: {reason}): retrain it with --force."
            ) from None
        if not state.get("finished"):
            raise ZooError(f"{self.dir}/checkpoint.pt is not a finished run's: `zoo run` resumes it.")
        self.run_id = self.config["run_id"]
        self.model_name = self.config["model"]["name"]
        self.classes: list[str] = self.config["dataset"]["classes"]
        self.multilabel = self.config.get("task") == "multilabel"  # a sigmoid per class, not a softmax
        # multi-label: each class's threshold, chosen on the run's validation split (metrics.json)
        cut = json.loads((self.dir / files.METRICS).read_text()).get("thresholds", {})
        self.thresholds = [cut.get(c, 0.5) for c in self.classes] if self.multilabel else None
        self.features = FeatureConfig(**features_identity(self.config["features"]))
        self.device = torch.device(device)
        self.mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, 1, -1, 1).to(self.device)
        self.std = torch.tensor(norm["std"], dtype=torch.float32).view(1, 1, -1, 1).to(self.device)
        model = self._build(state["model"], registry).to(self.device, memory_format=torch.channels_last)
        self.model = model.eval()  # channels_last, as trained: 3-4x faster on a CPU (oneDNN) than NCHW
        # on a GPU, the model runs in bf16 (fp16 where bf16 is missing) as the run's evaluation did
        self.amp_dtype = autocast_dtype(self.device, self.config.get("protocol", {}).get("amp", True))
        self.logmel = LogMel(self.features).to(self.device)
        self._embedding: torch.Tensor | None = None

    def _build(self, weights: dict, registry) -> torch.nn.Module:
        """The run's model from the plugin that built it (the registry given, else the one of the run's
        project: installed plugins and its registry.toml's local modules), with the run's best weights."""
        model = self.config["model"]
        spec = (registry or registry_of(self.dir)).model(model.get("builds", model["name"]))
        params = without_pretrained(model["params"])
        built = spec.build(len(self.classes), **params)
        built.load_state_dict(weights)
        return built

    @property
    def window_s(self) -> float:
        return self.features.samples / self.features.sample_rate

    @property
    def hop_s(self) -> float:
        """The default hop of sliding windows: half a window, down to a whole STFT hop (so that each frame
        of the STFT is computed once for the windows that share it: LogMel.windows; and every instant but
        the ends is in two windows, as with half a window)."""
        f = self.features
        return max(1, f.samples // f.hop_length // 2) * f.hop_length / f.sample_rate

    # windows
    def _starts(self, n: int, hop_s: float | None) -> list[int]:
        """Where sliding windows start in a recording of `n` samples at the run's rate: every `hop_s`
        (default: self.hop_s) and one more ending at its end, so that all of it is seen."""
        size = self.features.samples
        hop = max(1, round((hop_s or self.hop_s) * self.features.sample_rate))
        starts = list(range(0, n - size + 1, hop))
        if starts[-1] + size < n:
            starts.append(n - size)
        return starts

    def _at_run_rate(self, wave: torch.Tensor, sample_rate: int, hop_s: float | None):
        """(the recording at the run's rate, one shorter than a window padded at its end as in training; where
        its sliding windows start, in samples (see _starts; [0] for a short one); whether it was padded)."""
        f = self.features
        wave = resample(wave, sample_rate, f.sample_rate)
        if wave.shape[-1] <= f.samples:
            return fit_length(wave, f.samples), [0], wave.shape[-1] < f.samples
        return wave, self._starts(wave.shape[-1], hop_s), False

    def sliding(self, wave: torch.Tensor, sample_rate: int, hop_s: float | None = None):
        """(starts in seconds, (k, samples) windows at the run's rate, padded): windows every `hop_s` (see
        _starts); a recording shorter than a window is one window, padded at the end as in training."""
        wave, starts, padded = self._at_run_rate(wave, sample_rate, hop_s)
        size = self.features.samples
        return (
            np.array(starts) / self.features.sample_rate,
            torch.stack([wave[s : s + size] for s in starts]),
            padded,
        )

    def sliding_logmels(self, wave: torch.Tensor, sample_rate: int, hop_s: float | None = None):
        """sliding()'s windows as their (k, 1, n_mels, frames) log-mels, each frame of the recording computed
        once (LogMel.windows): the same numbers, in about half the time, with no copy of the windows."""
        wave, starts, padded = self._at_run_rate(wave, sample_rate, hop_s)
        logmels = self.logmel.windows(wave.to(self.device), starts, self.features.samples)
        return np.array(starts) / self.features.sample_rate, logmels, padded

    def evaluation_windows(self, clip: Decoded):
        """The windows the run's evaluation cut from a clip, as their log-mels (zoo.data.featurise makes the
        cache the same way): evenly spaced, covering the clip, at most features.max_windows, cut at the clip's
        own rate then resampled."""
        cut, seconds, used = clip_windows([clip.wave], clip.sample_rate, self.features)
        logmels = window_logmels(cut, used, clip.sample_rate, self.features)
        return np.array(seconds[0]), logmels, clip.duration_s < self.window_s

    # the model
    @torch.inference_mode()
    def inputs(self, waves: torch.Tensor) -> torch.Tensor:
        """(k, samples) waveforms, or their (k, 1, n_mels, frames) log-mels -> normalised log-mels, as the
        model was trained."""
        x = waves.to(self.device, torch.float32)
        x = normalise_windows(x if x.ndim == 4 else self.logmel(x), self.features.normalise)
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.amp_dtype is None:
            return self.model(x)
        with torch.autocast(self.device.type, dtype=self.amp_dtype):
            return self.model(x)

    @torch.inference_mode()
    def probabilities(self, waves: torch.Tensor, batch_size: int = BATCH) -> np.ndarray:
        activation = torch.sigmoid if self.multilabel else (lambda logits: torch.softmax(logits, 1))
        out = [
            activation(self._forward(self.inputs(waves[i : i + batch_size])).float()).cpu()
            for i in range(0, len(waves), batch_size)
        ]
        return torch.cat(out).numpy()

    @torch.inference_mode()
    def embeddings(self, waves: torch.Tensor, batch_size: int = BATCH) -> np.ndarray:
        """The input of the model's last linear layer (its penultimate representation), per window."""
        head = [m for m in self.model.modules() if isinstance(m, torch.nn.Linear)][-1]
        captured: list[torch.Tensor] = []
        hook = head.register_forward_pre_hook(
            lambda _, args: captured.append(args[0].flatten(1).float().cpu())
        )
        try:
            for i in range(0, len(waves), batch_size):
                self._forward(self.inputs(waves[i : i + batch_size]))
        finally:
            hook.remove()
        return torch.cat(captured).numpy()

    # for Python users
    def _apply(self, fn, waveform, sample_rate: int, hop_s: float | None) -> Windows:
        wave = torch.as_tensor(np.asarray(waveform, dtype=np.float32))
        if wave.ndim == 2:  # (channels, samples) -> mono, as the zoo decodes
            wave = wave.mean(0)
        starts, logmels, padded = self.sliding_logmels(wave, sample_rate, hop_s)
        ends = self.ends(starts, wave.shape[-1] / sample_rate)
        return Windows(starts, ends, fn(logmels), padded, clip_pool(self.multilabel))

    def ends(self, starts: np.ndarray, duration_s: float) -> np.ndarray:
        """Where windows starting at `starts` end in a recording of `duration_s` (a padded one: its end)."""
        return np.minimum(starts + self.window_s, duration_s)

    def predict(self, waveform, sample_rate: int, hop_s: float | None = None) -> Windows:
        """Class probabilities of each sliding window of a mono (or (channels, samples)) waveform."""
        return self._apply(self.probabilities, waveform, sample_rate, hop_s)

    def embed(self, waveform, sample_rate: int, hop_s: float | None = None) -> Windows:
        """Penultimate-layer embeddings of each sliding window."""
        return self._apply(self.embeddings, waveform, sample_rate, hop_s)


def load_run(run: str | Path, experiments: str | Path = "experiments", device: str = "cpu") -> TrainedRun:
    """A finished run from its folder, or from its run id (or first characters) under `experiments`."""
    return TrainedRun(find_run(run, experiments), device)


def registry_of(run_dir: Path):
    """The plugins a run was made with: the installed ones and the local modules of the registry.toml of its
    project (the nearest one above the run folder), when there is one."""
    from zoo.registry import load_registry
    from zoo.settings import find_registry, load_settings

    try:
        local = load_settings(find_registry(Path(run_dir))).plugins
    except ZooError:  # a run folder moved out of its project: the installed plugins
        local = ()
    return load_registry(local)
