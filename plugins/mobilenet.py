"""An EfficientAT-style MobileNetV3 for spectrograms (Schmid et al. 2023, "Efficient Large-Scale Audio
Tagging via Transformer-to-CNN Knowledge Distillation"): torchvision's MobileNetV3-Large with a width
multiplier (EfficientAT's mn10 is width 1.0, mn05 0.5) and a one-channel stem, on (B, 1, n_mels, frames).

EfficientAT adapted torchvision's implementation, so its released AudioSet checkpoints (mn10_as.pt, ...) use
the same `features.*` names: `weights = "path"` loads the tensors whose names and shapes match (the
feature extractor; the 527-class head is left out). Random initialisation by default.
"""

from __future__ import annotations

import zoo
from zoo.weights import Checkpoint

SOURCE = Checkpoint(
    "mobilenet_v3", source="AudioSet", where="github.com/fschmid56/EfficientAT releases (mn10_as.pt)"
)


def build(
    num_classes: int,
    width: float = 1.0,
    pretrained: bool | str = False,
    weights: str = "",
    dropout: float = 0.2,
):
    import torchvision
    from torch import nn

    model = torchvision.models.mobilenet_v3_large(width_mult=width, num_classes=num_classes, dropout=dropout)
    stem = model.features[0][0]
    model.features[0][0] = nn.Conv2d(
        1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
    )
    nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    return SOURCE.load_into(model, pretrained, weights)


def resolve(params: dict):
    return SOURCE.resolve_with(params, lambda: build(2, params["width"]))


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="mobilenet_v3",
            summary="EfficientAT-style MobileNetV3-Large (Schmid et al. 2023), width multiplier, 1-ch stem",
            build=build,
            defaults={"width": 1.0, "pretrained": False, "weights": "", "dropout": 0.2},
            pretrained=True,
            resolve=resolve,
            weights=SOURCE.describe(),
            pretrained_on=SOURCE.source,
        )
    )
