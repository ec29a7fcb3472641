"""What a plugin registers: ModelSpec, DatasetSpec, ExecutorSpec, OutputSpec (plain data, no torch)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from zoo.errors import ZooError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A model the zoo can train.

    Example::

        ModelSpec(name="tiny_cnn", summary="two conv layers", build=build,
                  defaults={"width": 16})
    """

    name: str  # lower_snake_case; the name used by `zoo run NAME` and in run folders
    summary: str  # one line for `zoo models`
    # build(num_classes, **params) -> nn.Module mapping (batch, 1, n_mels, frames) to logits.
    # Import torch (and anything heavy) inside it, not at module level.
    build: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)  # params `build` accepts, with defaults
    pretrained: bool = False  # whether the model can start from pretrained weights
    weights: str = ""  # where they come from, for `zoo models` (e.g. zoo.weights.Weights.describe())
    pretrained_on: str = (
        ""  # what those weights were trained on ("ImageNet", "AudioSet"): the leaderboard says it
    )
    # resolve(params) -> (params, notes): turns requested params into effective ones before the
    # run id is computed (e.g. pretrained="auto" -> False when no weights are on disk), cheaply.
    resolve: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]] | None = None

    def validate(self) -> None:
        _check_name(self.name, "model")
        if not callable(self.build):
            raise ValueError(f"model {self.name!r}: build must be callable")
        if not isinstance(self.defaults, dict):
            raise ValueError(f"model {self.name!r}: defaults must be a dict")


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: a loader that returns the clip table.

    ``load(root, **options)`` returns a pandas DataFrame with columns ``path`` (audio file),
    ``label``, ``group`` (source recording, speaker or tape; clips of one group never straddle
    splits) and optionally ``split`` (train/val/test) when the data set defines one.
    """

    name: str
    summary: str
    load: Callable[..., Any]
    needs_root: bool = True  # False: the loader makes its own data under `root` (e.g. synthetic)
    defaults: dict[str, Any] = field(default_factory=dict)  # options `load` accepts
    # FeatureConfig settings that fit the collection (e.g. {"sample_rate": 8000}); [features] overrides them
    features: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        _check_name(self.name, "dataset")
        if not callable(self.load):
            raise ValueError(f"dataset {self.name!r}: load must be callable")
        if not isinstance(self.defaults, dict) or not isinstance(self.features, dict):
            raise ValueError(f"dataset {self.name!r}: defaults and features must be dicts")


@dataclass(frozen=True)
class ExecutorSpec:
    """Where a sweep's jobs run: `zoo run --executor NAME`.

    ``build(**options)`` returns an object with ``run(jobs, emit) -> outcomes`` (one zoo.sweep.Outcome per
    job, in order; each job's progress events passed to ``emit``). ``defaults`` are the options it takes,
    checked as a model's params are; the CLI passes ``--jobs``, ``--address`` and ``--gpus-per-job`` where
    the executor takes them. Example::

        ExecutorSpec(name="slurm", summary="one sbatch job per run", build=SlurmExecutor,
                     defaults={"partition": "gpu"})
    """

    name: str
    summary: str
    build: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        _check_name(self.name, "executor")
        if not callable(self.build) or not isinstance(self.defaults, dict):
            raise ValueError(f"executor {self.name!r}: build must be callable and defaults a dict")


OUTPUT_SCOPES = ("run", "leaderboard", "index")


@dataclass(frozen=True)
class OutputSpec:
    """A file the zoo writes: for every run (scope "run": ``write(evaluation, run_dir)``), for every data
    set's leaderboard ("leaderboard": ``write(board, leaderboard_dir)``) or once for all of them ("index":
    ``write(boards, leaderboard_dir)``). ``name`` is the file it writes ("{dataset}" for a data set's id)."""

    name: str
    summary: str
    write: Callable[..., Any]
    scope: str = "run"

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ValueError(f"output name {self.name!r} must be a file name")
        if not callable(self.write) or self.scope not in OUTPUT_SCOPES:
            raise ValueError(f"output {self.name!r}: write must be callable, scope one of {OUTPUT_SCOPES}")


def merge_options(defaults: dict, given: Any, where: str) -> dict:
    """A model's params or a data set's options: the defaults under the given keys, each of the default's
    kind (an int for an int, a number for a float...), checked before any work."""
    from zoo.fields import kind_name, same_kind

    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        raise ZooError(f"{where}: unknown option {unknown[0]!r}; known: {known}.")
    for key, value in given.items():
        default = defaults[key]
        # true/false and a word mix in some options (pretrained = true | false | "auto")
        switch = isinstance(default, (bool, str)) and isinstance(value, (bool, str))
        if default is not None and not same_kind(default, value) and not switch:
            raise ZooError(f"{where}: {key} = {value!r} should be {kind_name(default)}, like {default!r}.")
    return {**defaults, **given}


def _check_name(name: object, kind: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"{kind} name {name!r} must be lower_snake_case (letters, digits, _)")
