"""The baseline: four conv blocks (conv 3x3 + ReLU + max-pool), global average pooling, a linear head."""

import zoo


def build(num_classes: int, width: int = 16, dropout: float = 0.1):
    """A small CNN; block i has width * 2**i channels. Input (B, 1, n_mels, frames)."""
    from torch import nn

    layers, channels = [], 1
    for i in range(4):
        out = width * 2**i
        layers += [nn.Conv2d(channels, out, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels = out
    return nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(channels, num_classes),
    )


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="baseline_cnn",
            summary="4 x (conv3x3 + ReLU + max-pool), global average pooling, linear head",
            build=build,
            defaults={"width": 16, "dropout": 0.1},
        )
    )
