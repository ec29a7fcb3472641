"""The settings' sections as frozen dataclasses: every field with its default, its range and a comment
(zoo.fields checks a table of values into one; zoo.settings reads registry.toml into them), and the
identities that make run ids."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from zoo.errors import ZooError
from zoo.fields import above, at_least, check_range, choice, fraction, hint
from zoo.train.stopping import SELECT, STOP_ON


@dataclass(frozen=True)
class FeatureConfig:
    """How a clip becomes a log-mel spectrogram of fixed size (n_mels x frames)."""

    # every clip is resampled to this rate (rate must not be a shortcut feature)
    sample_rate: int = field(default=16000, metadata=at_least(1000))
    n_fft: int = field(default=512, metadata=at_least(16))
    hop_length: int = field(default=256, metadata=at_least(1))
    n_mels: int = field(default=64, metadata=at_least(1))
    frames: int = field(default=64, metadata=at_least(2))  # the window: shorter clips are padded at the end
    fmin: float = field(default=0.0, metadata=at_least(0))
    fmax: float = field(default=0.0, metadata=at_least(0))  # 0 means sample_rate / 2
    # A clip about k windows long yields k evenly spaced windows (at most max_windows): all are
    # trained on, and a clip's prediction averages its windows' probabilities. 1: one centre crop.
    max_windows: int = field(default=8, metadata=at_least(1))
    # "split": each mel bin standardised by the train split's mean and std; first, "clip": each window's own
    # mean per bin (over time) removed, which takes away a recording's level and channel colouring; "level":
    # each window's own peak removed (and values floored 80 dB below it), which takes away its gain only
    normalise: str = choice("split", "clip", "level")

    @property
    def samples(self) -> int:
        """Waveform length that gives exactly `frames` frames (centred STFT)."""
        return (self.frames - 1) * self.hop_length

    def check(self, where: str) -> None:
        nyquist = self.sample_rate / 2
        if self.fmax > nyquist:
            raise ZooError(
                f"{where}: fmax = {self.fmax:g} is above half the sample rate ({nyquist:g}); "
                "lower it, or 0 for sample_rate / 2."
            )
        if self.fmin >= (self.fmax or nyquist):
            raise ZooError(f"{where}: fmin = {self.fmin:g} must be below fmax ({self.fmax or nyquist:g}).")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ZooError(
                f"{where}: n_mels = {self.n_mels} needs n_fft >= {2 * (self.n_mels - 1)} "
                f"(n_fft = {self.n_fft} gives {self.n_fft // 2 + 1} frequency bins); "
                "lower n_mels or raise n_fft."
            )


@dataclass(frozen=True)
class SplitConfig:
    """How a clip table without its own split is cut into train/val/test (grouped, stratified)."""

    val: float = field(default=0.15, metadata=fraction())
    test: float = field(default=0.2, metadata=fraction())
    seed: int = field(default=0, metadata=at_least(0))

    def check(self, where: str) -> None:
        if self.val + self.test >= 1:
            raise ZooError(
                f"{where}: val + test = {self.val + self.test:g} leaves nothing to train on; "
                "keep their sum below 1."
            )


@dataclass(frozen=True)
class Protocol:
    """The one training protocol every model is trained under. The defaults are meant for real recordings
    (hundreds to thousands of clips); the demo's registry.toml sets a smaller budget."""

    epochs: int = field(default=60, metadata=at_least(1))
    batch_size: int = field(default=32, metadata=at_least(2))  # a batch of one is skipped (BatchNorm)
    lr: float = field(default=0.002, metadata=above(0))
    weight_decay: float = field(default=0.01, metadata=at_least(0))
    # the learning rate rises linearly to lr over the first warmup_epochs (step by step), then the plateau
    # schedule on validation loss takes over (transformers trained from scratch may need the ramp)
    warmup_epochs: int = field(default=0, metadata={**at_least(0), "off": 0})
    lr_patience: int = field(default=3, metadata=at_least(0))  # ReduceLROnPlateau on validation loss
    lr_factor: float = field(default=0.5, metadata=fraction())
    # the score that picks the epoch restored (zoo.train.stopping; the plateau watches the loss):
    # val_loss | val_accuracy | val_macro_f1; val_accuracy by measurement, val_loss before
    select: str = field(default="val_accuracy", metadata={"choices": SELECT, "off": "val_loss"})
    # what early stopping counts as progress: "select", a better score; "select_or_loss", a better score or a
    # validation loss lower than any before (a stalled score on a small split stops no run still learning).
    # Measured: the same runs on every shared data set (README), so the rule of before stays the default
    stop_on: str = field(default="select", metadata={"choices": STOP_ON, "off": "select"})
    # Early stopping: stop after this many epochs without progress...
    early_stop_patience: int = field(default=10, metadata=at_least(1))
    # ...but never before this epoch: a small, noisy validation set must not stop a run that is still learning
    min_epochs: int = field(default=20, metadata=at_least(1))
    seed: int = field(default=0, metadata=at_least(0))
    # > 1: seeds seed, seed + 1, ...: a run each (folds x seeds in all); a seed added later trains its runs
    seeds: int = field(default=1, metadata=at_least(1))
    # > 1: grouped k-fold cross-validation, one run per fold; the leaderboard shows mean +- std
    folds: int = field(default=1, metadata=at_least(1))
    # Augmentation of training batches, on the device (the same for every model):
    freq_masks: int = field(default=2, metadata=at_least(0))  # SpecAugment masks per example
    freq_mask_width: int = field(default=8, metadata=at_least(0))
    time_masks: int = field(default=2, metadata=at_least(0))
    time_mask_width: int = field(default=8, metadata=at_least(0))
    # each epoch, a training window of a clip longer than one window is a random crop between it and the
    # clip's next window (so crops cover the whole clip), instead of the same fixed window every epoch
    random_crops: bool = True
    time_shift: float = field(default=0.2, metadata=at_least(0))  # roll each window by up to this share of it
    # stretch or squeeze each window's mel axis (about its lowest bin) and time axis (about its start) by a
    # random factor within 1 +- this: voices differ in vocal-tract length and pace, calls in pitch and tempo
    freq_warp: float = field(default=0.0, metadata={"range": (0.0, 1.0, False), "off": 0.0})
    time_warp: float = field(default=0.0, metadata={"range": (0.0, 1.0, False), "off": 0.0})
    mixup_alpha: float = field(default=0.0, metadata=at_least(0))  # > 0: mixup with Beta(a, a) weights
    balanced_sampling: bool = False  # classes drawn equally often (the loss unweighted), not a weighted loss
    grad_clip: float = field(default=0.0, metadata={**at_least(0), "off": 0.0})  # > 0: clip gradients' norm
    # > 0: validate, select and keep the weights' (and buffers') moving average over about this many epochs,
    # not the last step's (Polyak averaging, timm's ModelEma); 2 by measurement (README), 0 the rule before
    ema_epochs: float = field(default=2.0, metadata={**at_least(0), "off": 0.0})
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16 + GradScaler)
    compile: bool = False  # torch.compile the model (pays a compile time up front; helps long GPU runs)
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def check(self, where: str) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise ZooError(f"{where}: device = {self.device!r}; use auto, cpu, cuda or cuda:N.")


def features_identity(features: Mapping[str, Any]) -> dict:
    """A run's features (config.json's) as run ids and leaderboard comparisons see them: what they are, not
    where they came from (`source`, recorded since runs existed)."""
    return {k: v for k, v in features.items() if k != "source"}


def digest(config: Any) -> str:
    """12 hex digits identifying a JSON-able config (a run id, a leaderboard row's configuration)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def protocol_identity(protocol: Mapping[str, Any]) -> dict:
    """A protocol (config.json's) as run ids and leaderboard comparisons see it: options added after runs
    existed (metadata "off") are left out while off, so that those runs keep their ids and stay comparable."""
    off = {f.name: f.metadata["off"] for f in fields(Protocol) if "off" in f.metadata}
    return {k: v for k, v in protocol.items() if not (k in off and v == off[k])}


# The search space every model is tuned over (zoo.train.tuning): a Protocol field -> [low, high, "log" |
# "linear" | "int"]. [tuning.space] in registry.toml replaces it (e.g. adds freq_warp = [0.0, 0.3, "linear"]).
DEFAULT_SPACE = {
    "lr": [1e-4, 1e-2, "log"],
    "weight_decay": [1e-4, 0.1, "log"],
    "warmup_epochs": [0, 5, "int"],
}


@dataclass(frozen=True)
class TuningConfig:
    """One tuning budget for every model: `trials` Optuna trials per run (model, fold, seed) over one
    search space, scored on the fold's validation split by protocol.select; 0 trains the protocol as it is."""

    trials: int = field(default=0, metadata=at_least(0))
    sampler: str = choice("tpe", "random")  # Optuna's TPESampler or RandomSampler, seeded by the run's seed
    pruner: str = choice("median", "none")  # median: stop a trial below the median of earlier ones
    epochs: int = field(default=0, metadata=at_least(0))  # epochs per trial; 0: the protocol's
    score: str = choice("late", "best")  # a trial's score: the mean of its later half of epochs | its best
    # the first trial: the protocol's own values of the space's settings (those inside it) | a sampled one
    start: str = choice("protocol", "random")
    # where studies live: "" for tuning.db in each run folder (resumable; optuna-dashboard opens it), or an
    # RDB URL (e.g. postgresql://...) that trials on several hosts share
    storage: str = ""
    space: Mapping[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_SPACE))

    def check(self, where: str) -> None:
        names = {f.name: f for f in fields(Protocol)}
        for key, value in self.space.items():
            if key not in names or not isinstance(names[key].default, (int, float)):
                raise ZooError(f"{where}: space.{key} is not a numeric protocol setting{hint(key, names)}.")
            ok = isinstance(value, list) and len(value) == 3 and value[2] in ("log", "linear", "int")
            if ok:
                low, high, kind = value
                ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)) and low < high
                ok = ok and (kind != "log" or low > 0) and (kind != "int" or float(low).is_integer())
                for bound in (low, high) if ok else ():
                    check_range(names[key], type(names[key].default)(bound), f"{where} space.{key}")
            if not ok:
                raise ZooError(
                    f'{where}: space.{key} = {value!r}; give [low, high, "log" | "linear" | "int"] with '
                    'low < high (above 0 for "log"), e.g. [0.0001, 0.01, "log"].'
                )

    @property
    def identity(self) -> dict:
        """What makes tuned runs comparable (and their ids): the procedure and budget, not the storage; the
        ways before `score` and `start` existed ("best", "random") are left out: those runs keep their ids."""
        before = {"score": "best", "start": "random"}
        return {k: v for k, v in settings_dict(self).items() if k != "storage" and before.get(k) != v}


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "synthetic"  # a registered data set (`zoo datasets`)
    root: str = ""  # data root; relative paths are relative to registry.toml
    id: str = ""  # name of its experiments/ and leaderboard/ entries; default: `name`
    # byte-identical files: "drop" (one copy kept; all dropped if labels differ) or "keep"
    duplicates: str = choice("drop", "keep")
    options: Mapping[str, Any] = field(default_factory=dict)  # passed to the data set's loader

    @property
    def key(self) -> str:
        return self.id or self.name


@dataclass(frozen=True)
class Paths:
    cache: str = "cache"
    experiments: str = "experiments"
    leaderboard: str = "leaderboard"


def settings_dict(obj: Any) -> dict:
    """A dataclass as a plain JSON-able dict (for config.json and fingerprints)."""
    return {f.name: (dict(v) if isinstance(v := getattr(obj, f.name), Mapping) else v) for f in fields(obj)}
