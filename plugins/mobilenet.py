"""An EfficientAT-style MobileNetV3 for spectrograms (Schmid et al. 2023, "Efficient Large-Scale Audio
Tagging via Transformer-to-CNN Knowledge Distillation"): torchvision's MobileNetV3-Large with a width
multiplier (EfficientAT's mn10 is width 1.0, mn05 0.5) and a one-channel stem, on (B, 1, n_mels, frames).

EfficientAT adapted torchvision's implementation, so its released AudioSet checkpoints (mn10_as.pt, ...) use
the same `features.*` names: `weights = "path"` loads the tensors whose names and shapes match (the
feature extractor; the 527-class head is left out). Random initialisation by default.

BatchNorm momentum 0.1 (PyTorch's default), not torchvision's 0.01 (set for ImageNet's long schedules):
with 0.01 the running statistics lag ~100 steps behind a network that is learning fast, and in eval mode
every clip got the same logits (measured: FSDD, speakers held out, validation at chance for 10 epochs while
the training loss fell from 2.25 to 0.33; the statistics recomputed, the same weights told the clips apart).
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
    bn_momentum: float = 0.1,
):
    import torchvision
    from torch import nn

    model = torchvision.models.mobilenet_v3_large(width_mult=width, num_classes=num_classes, dropout=dropout)
    stem = model.features[0][0]
    model.features[0][0] = nn.Conv2d(
        1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
    )
    nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.momentum = bn_momentum
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
            defaults={"width": 1.0, "pretrained": False, "weights": "", "dropout": 0.2, "bn_momentum": 0.1},
            pretrained=True,
            resolve=resolve,
            weights=SOURCE.describe(),
            pretrained_on=SOURCE.source,
        )
    )
