"""ModelSpec and DatasetSpec: what a plugin registers (plain data, no torch)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

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


def _check_name(name: object, kind: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"{kind} name {name!r} must be lower_snake_case (letters, digits, _)")
