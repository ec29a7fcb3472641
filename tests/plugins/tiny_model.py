"""A valid local plugin module: one tiny model."""

import zoo


def build(num_classes, hidden=8):
    from torch import nn

    return nn.Sequential(
        nn.AdaptiveAvgPool2d((4, 4)),
        nn.Flatten(),
        nn.Linear(16, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(name="tiny_local", summary="pooled 4x4 + MLP", build=build, defaults={"hidden": 8})
    )
