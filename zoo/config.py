"""Read registry.toml (plus command-line overrides) into frozen dataclasses; unknown keys are errors."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from zoo.errors import ZooError

REGISTRY_FILE = "registry.toml"
# a name that becomes a folder (a data set's id, a model variant's name): one path component, no way out
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


def at_least(low: float) -> dict:
    """Field metadata: values >= low."""
    return {"range": (low, None, False)}


def above(low: float) -> dict:
    """Field metadata: values > low."""
    return {"range": (low, None, True)}


def fraction() -> dict:
    """Field metadata: a share strictly between 0 and 1."""
    return {"range": (0.0, 1.0, True)}


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
    normalise: str = "split"

    @property
    def samples(self) -> int:
        """Waveform length that gives exactly `frames` frames (centred STFT)."""
        return (self.frames - 1) * self.hop_length

    def check(self, where: str) -> None:
        if self.normalise not in ("split", "clip", "level"):
            raise ZooError(f'{where}: normalise = {self.normalise!r}; use "split", "clip" or "level".')
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
    # the validation score that picks the epoch restored at the end, and that early stopping watches:
    # val_loss | val_accuracy | val_macro_f1 (zoo.train.stopping; the learning-rate plateau watches the loss).
    # val_accuracy by measurement (README); runs made under val_loss, the rule before it, keep their ids
    select: str = field(default="val_accuracy", metadata={"off": "val_loss"})
    # Early stopping on that score: stop after this many epochs without a better one...
    early_stop_patience: int = field(default=10, metadata=at_least(1))
    # ...but never before this epoch: a small, noisy validation set must not stop a run that is still learning
    min_epochs: int = field(default=20, metadata=at_least(1))
    seed: int = field(default=0, metadata=at_least(0))
    # > 1: each model trained with seeds seed, seed + 1, ... (one run each, folds x seeds in all); adding a
    # seed later trains only the new runs
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
    # draw classes equally often each epoch (the loss is then unweighted) instead of weighting the loss
    balanced_sampling: bool = False
    # > 0: clip the gradients' global norm to this
    grad_clip: float = field(default=0.0, metadata={**at_least(0), "off": 0.0})
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16 + GradScaler)
    compile: bool = False  # torch.compile the model (pays a compile time up front; helps long GPU runs)
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def check(self, where: str) -> None:
        from zoo.train.stopping import SELECT

        if self.select not in SELECT:
            raise ZooError(f"{where}: select = {self.select!r}; use {', '.join(map(repr, SELECT))}.")
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


# The search space every model is tuned over (zoo.train.tuning): a Protocol field -> [low, high,
# "log" | "linear" | "int"]. [tuning.space] in registry.toml replaces it (e.g. adding
# freq_warp = [0.0, 0.3, "linear"]).
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
    sampler: str = "tpe"  # tpe (Optuna's TPESampler) | random; seeded by the run's seed
    pruner: str = "median"  # median (stop a trial whose score lies below the median of earlier ones) | none
    epochs: int = field(default=0, metadata=at_least(0))  # epochs per trial; 0: the protocol's
    # where studies live: "" for tuning.db in each run folder (resumable; optuna-dashboard opens it), or an
    # RDB URL (e.g. postgresql://...) that trials on several hosts share
    storage: str = ""
    space: Mapping[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_SPACE))

    def check(self, where: str) -> None:
        if self.sampler not in ("tpe", "random"):
            raise ZooError(f'{where}: sampler = {self.sampler!r}; use "tpe" or "random".')
        if self.pruner not in ("median", "none"):
            raise ZooError(f'{where}: pruner = {self.pruner!r}; use "median" or "none".')
        names = {f.name: f for f in fields(Protocol)}
        for key, value in self.space.items():
            if key not in names or not isinstance(names[key].default, (int, float)):
                raise ZooError(f"{where}: space.{key} is not a numeric protocol setting{_hint(key, names)}.")
            ok = isinstance(value, list) and len(value) == 3 and value[2] in ("log", "linear", "int")
            if ok:
                low, high, kind = value
                ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)) and low < high
                ok = ok and (kind != "log" or low > 0) and (kind != "int" or float(low).is_integer())
                for bound in (low, high) if ok else ():
                    _check_range(names[key], type(names[key].default)(bound), f"{where} space.{key}")
            if not ok:
                raise ZooError(
                    f'{where}: space.{key} = {value!r}; give [low, high, "log" | "linear" | "int"] with '
                    'low < high (above 0 for "log"), e.g. [0.0001, 0.01, "log"].'
                )

    @property
    def identity(self) -> dict:
        """What makes two tuned runs comparable (and their ids): the procedure and budget, not the storage."""
        return {k: v for k, v in settings_dict(self).items() if k != "storage"}


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "synthetic"  # a registered data set (`zoo datasets`)
    root: str = ""  # data root; relative paths are relative to registry.toml
    id: str = ""  # name of its experiments/ and leaderboard/ entries; default: `name`
    # byte-identical files: "drop" (one copy kept; all dropped if labels differ) or "keep"
    duplicates: str = "drop"
    options: Mapping[str, Any] = field(default_factory=dict)  # passed to the data set's loader

    @property
    def key(self) -> str:
        return self.id or self.name


@dataclass(frozen=True)
class Paths:
    cache: str = "cache"
    experiments: str = "experiments"
    leaderboard: str = "leaderboard"


@dataclass(frozen=True)
class Settings:
    """Everything registry.toml says, after overrides. Paths are absolute."""

    root: Path  # the folder holding registry.toml
    dataset: DatasetConfig
    features: FeatureConfig
    splits: SplitConfig
    protocol: Protocol
    tuning: TuningConfig
    models: Mapping[str, Mapping[str, Any]]  # model name -> params, in file order (`zoo run --all`)
    plugins: tuple[str, ...]  # local plugin modules (absolute paths)
    paths: Paths
    # the [features] keys registry.toml and --set give: they override the data set's recommendation
    feature_overrides: Mapping[str, Any] = field(default_factory=dict)
    # where `features` came from, below those keys: "dataset" (its recommendation) or "inspected" (what
    # inspecting the train split recommends, for a data set that recommends none); "registry" when
    # [features] or --set give keys over it; "" before the data set is known
    features_source: str = ""

    def path(self, which: str) -> Path:
        return self.root / getattr(self.paths, which)

    def with_recommended_features(
        self, recommended: Mapping[str, Any], dataset: str, source: str = "dataset"
    ) -> "Settings":
        """These settings with `features` = the defaults, then the `recommended` features (the data set's,
        or `source` "inspected": from its train split), then [features] of registry.toml and --set (each key
        checked as in registry.toml)."""
        unknown = sorted(set(recommended) - {f.name for f in fields(FeatureConfig)})
        if unknown:
            raise ZooError(f"data set {dataset!r} recommends an unknown feature setting {unknown[0]!r}.")
        values = {**recommended, **self.feature_overrides}
        where = f"[features] (data set {dataset!r}'s recommendation, then registry.toml and --set)"
        source = "registry" if self.feature_overrides else source
        return dataclasses.replace(
            self, features=_build(FeatureConfig, values, where), features_source=source
        )

    @property
    def data_root(self) -> Path | None:
        return (self.root / self.dataset.root) if self.dataset.root else None


SECTIONS = {
    "dataset": DatasetConfig,
    "features": FeatureConfig,
    "splits": SplitConfig,
    "protocol": Protocol,
    "tuning": TuningConfig,
    "paths": Paths,
}


def find_registry(start: Path | None = None) -> Path:
    """registry.toml in `start` (default: the working directory) or its nearest parent."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / REGISTRY_FILE).is_file():
            return folder / REGISTRY_FILE
    raise ZooError(
        f"No {REGISTRY_FILE} in {start} or its parents: run zoo from the project folder, pass "
        f"--registry FILE, or write one here with `zoo init`."
    )


def load_settings(registry_file: Path, overrides: Mapping[str, Any] = ()) -> Settings:
    """Read registry.toml and apply dotted-key overrides, e.g. {"protocol.epochs": 5}."""
    try:
        raw = tomllib.loads(registry_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(
            f"{registry_file}: no such file; pass --registry FILE or create one (see README)."
        ) from None
    except UnicodeDecodeError as exc:
        raise ZooError(
            f"{registry_file}: not UTF-8 text (byte {exc.start}); save it as UTF-8 (TOML must be)."
        ) from None
    except OSError as exc:
        raise ZooError(f"{registry_file}: cannot be read ({exc.strerror}); fix its permissions.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"{registry_file}: not valid TOML ({exc}); fix that line.") from None
    return settings_from_dict(
        with_overrides(raw, overrides), registry_file.resolve().parent, str(registry_file)
    )


def render_registry(models: Mapping[str, Mapping[str, Any]]) -> str:
    """A registry.toml holding every setting at its built-in default (the features commented out: the data
    set's recommendation is in force), and a [models.NAME] table for each of `models` (NAME -> its keys)."""
    lines = [
        "# audio-zoo registry, written by `zoo init` with the built-in defaults: edit freely.",
        "# Every key can be overridden on the command line: `zoo run --all --set protocol.lr=3e-4`.",
    ]
    for section, cls in SECTIONS.items():
        lines += ["", f"[{section}]"]
        # [features] keys override the data set's recommendation: written as comments, not in force
        comment = "# " if cls is FeatureConfig else ""
        if comment:
            lines.append(
                "# each data set recommends its features (`zoo inspect`); a key set here overrides it"
            )
        defaults = [f for f in fields(cls) if f.default is not dataclasses.MISSING]
        lines += [f"{comment}{f.name} = {_toml(f.default)}" for f in defaults]
        for f in fields(cls):  # tables (e.g. [tuning.space]) that hold something by default
            table = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            if table:
                lines += ["", f"[{section}.{f.name}]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
    for name, table in models.items():
        lines += ["", f"[models.{name}]", *(f"{key} = {_toml(value)}" for key, value in table.items())]
    lines += ["", "[plugins]", "modules = []"]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return repr(value)


def with_overrides(raw: dict, overrides: Mapping[str, Any]) -> dict:
    """A copy of `raw` with dotted-key overrides applied in order, e.g. {"protocol.epochs": 5}."""
    raw = copy.deepcopy(raw)
    for key, value in dict(overrides).items():
        _set_dotted(raw, key, value)
    return raw


def settings_from_dict(raw: dict, root: Path, where: str = REGISTRY_FILE) -> Settings:
    known = set(SECTIONS) | {"models", "plugins"}
    for key in raw:
        if key not in known:
            raise ZooError(
                f"{where}: unknown section [{key}]{_hint(key, known)}; known: {', '.join(sorted(known))}."
            )
    built = {name: _build(cls, raw.get(name, {}), f"{where} [{name}]") for name, cls in SECTIONS.items()}
    models = raw.get("models", {})
    if not isinstance(models, dict) or any(not isinstance(v, dict) for v in models.values()):
        raise ZooError(f"{where}: [models] must hold one table per model, e.g. [models.baseline_cnn].")
    plugins = raw.get("plugins", {})
    unknown = set(plugins) - {"modules"}
    if unknown:
        raise ZooError(
            f"{where}: unknown key plugins.{sorted(unknown)[0]}; [plugins] takes only modules = [...]."
        )
    check_folder_name(
        built["dataset"].key, f"{where} [dataset] {'id (or --dataset-id)' if built['dataset'].id else 'name'}"
    )
    for name in models:
        check_folder_name(name, f"{where} [models.{name}]")
        if name == "best":  # `zoo predict best` means the leader
            raise ZooError(f"{where} [models.best]: 'best' names the leader in zoo predict; rename it.")
    modules = plugins.get("modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ZooError(f"{where}: plugins.modules must be a list of file paths.")
    return Settings(
        root=root,
        models=models,
        plugins=tuple(str(root / m) for m in modules),
        feature_overrides=dict(raw.get("features", {})),
        **built,
    )


def check_folder_name(name: str, where: str) -> None:
    """A name that becomes a folder under experiments/, cache/ or leaderboard/ must stay one folder there:
    refused in one line, before any work, when it could name another place ('../x', '/abs', 'a/b')."""
    if not FOLDER_NAME.fullmatch(name):
        raise ZooError(
            f"{where}: {name!r} cannot be a folder name under experiments/ and cache/; use letters, digits "
            "and _ . + - (starting with a letter or digit, at most 100), e.g. 'my_data'."
        )


def settings_dict(obj: Any) -> dict:
    """A dataclass as a plain JSON-able dict (for config.json and fingerprints)."""
    return {f.name: (dict(v) if isinstance(v := getattr(obj, f.name), Mapping) else v) for f in fields(obj)}


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ZooError(f"{where}: must be a table of key = value lines.")
    names = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in names:
            raise ZooError(f"{where}: unknown key {key!r}{_hint(key, names)}; known: {', '.join(names)}.")
        f = names[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if default is not dataclasses.MISSING and not same_kind(default, value):
            raise ZooError(f"{where}: {key} = {value!r} should be {kind_name(default)}.")
    values = {k: (float(v) if isinstance(names[k].default, float) else v) for k, v in values.items()}
    for key, value in values.items():
        _check_range(names[key], value, where)
    built = cls(**values)
    if hasattr(built, "check"):
        built.check(where)
    return built


def _check_range(f: dataclasses.Field, value: Any, where: str) -> None:
    """The range a field's metadata declares (at_least, above, fraction), said in one line when broken."""
    if "range" not in f.metadata:
        return
    low, high, strict = f.metadata["range"]
    if not math.isfinite(value):
        raise ZooError(f"{where}: {f.name} = {value!r} is not a finite number; give one, e.g. {f.default!r}.")
    ok = (value > low if strict else value >= low) and (high is None or value < high)
    if not ok:
        if high is not None:
            wanted = f"between {low:g} and {high:g} (both excluded)"
        else:
            wanted = f"{'above' if strict else 'of at least'} {low:g}"
        raise ZooError(f"{where}: {f.name} = {value!r} is out of range; use a value {wanted}.")


def kind_name(value: Any) -> str:
    """What kind of value `value` is, in words: an integer, a number, a string..."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if default is dataclasses.MISSING or isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, type(default))


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ZooError(f"--set {key}: {part!r} is not a table.")
    node[parts[-1]] = value


def parse_value(text: str) -> Any:
    """A --set value: a TOML literal (5, 0.1, true, "x", [1, 2]) or else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _hint(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
