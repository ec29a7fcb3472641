"""`zoo new-plugin NAME`: write a ready model plugin package (pyproject with the entry point, one module
with a working model, a test, a README) that `pip install -e NAME` installs and `zoo run NAME` trains."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ZooError
from zoo.io import write_text
from zoo.specs import NAME_PATTERN

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "zoo-{name}"
version = "0.1.0"
description = "{name}: an audio-zoo model plugin"
requires-python = ">=3.11"
dependencies = ["audio-zoo"]

# audio-zoo finds plugins through this entry-point group: `zoo models` lists {name} once installed
[project.entry-points.audio_zoo]
{name} = "zoo_{name}"

[tool.setuptools]
py-modules = ["zoo_{name}"]
"""

MODULE = '''\
"""{name}: a model for audio-zoo. Edit build(); keep its signature: build(num_classes, **params) returns
an nn.Module mapping log-mels (batch, 1, n_mels, frames) to logits (batch, num_classes), at any n_mels and
frames. Every param needs a default, listed in `defaults`; registry.toml's [models.{name}] overrides them."""

import zoo


def build(num_classes: int, width: int = 32, dropout: float = 0.2):
    """Three blocks of 3x3 conv + BatchNorm + ReLU + 2x2 max-pool, global average pooling, a linear head."""
    from torch import nn  # heavy imports inside build: `zoo models` stays fast

    layers, channels = [], 1
    for i in range(3):
        out = width * 2**i
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        layers += [nn.MaxPool2d(2, ceil_mode=True)]
        channels = out
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)
    )


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="{name}",
            summary="{name}: 3 x (conv3x3 + BN + ReLU + max-pool), global average pooling, linear head",
            build=build,
            defaults={{"width": 32, "dropout": 0.2}},
        )
    )
'''

TEST = '''\
"""Run with `pytest` in this folder: the model registers, builds and trains a step at two input sizes."""

from pathlib import Path

import pytest
import torch

from zoo.registry import load_registry

HERE = Path(__file__).resolve().parent


def test_registers_one_model():
    registry = load_registry(local_modules=[HERE / "zoo_{name}.py"], entry_points=[])
    assert list(registry.models) == ["{name}"]


@pytest.mark.parametrize("size", [(64, 64), (128, 256)])
def test_builds_and_trains_a_step(size):
    spec = load_registry(local_modules=[HERE / "zoo_{name}.py"], entry_points=[]).model("{name}")
    model = spec.build(5, **spec.defaults)
    logits = model(torch.randn(3, 1, *size))
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
'''

README = """\
# zoo-{name}

An audio-zoo model plugin: `{name}`.

```bash
pip install -e {name}        # from the folder holding this one; then `zoo models {name}` lists it
zoo run {name}               # trains it under the zoo's protocol and ranks it on the leaderboard
cd {name} && pytest          # its test
```

The model is `build()` in `zoo_{name}.py`: it maps log-mels (batch, 1, n_mels, frames) to logits. Its
params and their defaults are in `register_models`; set them in the project's registry.toml under
`[models.{name}]`, and add variants there too (`[models.{name}_wide] model = "{name}"`, `width = 64`).
"""


def new_plugin(name: str, where: Path) -> Path:
    """Write the plugin package `where/name`; refuses a bad name or an existing folder."""
    if not NAME_PATTERN.match(name) or len(name) > 60:
        raise ZooError(
            f"plugin name {name!r}: use lower_snake_case (letters, digits, _; at most 60), e.g. my_cnn."
        )
    folder = Path(where) / name
    if folder.exists():
        raise ZooError(f"{folder} already exists: pick another name or remove it.")
    folder.mkdir(parents=True)
    files = {
        "pyproject.toml": PYPROJECT,
        f"zoo_{name}.py": MODULE,
        f"test_zoo_{name}.py": TEST,
        "README.md": README,
    }
    for filename, template in files.items():
        write_text(folder / filename, template.format(name=name))
    return folder
