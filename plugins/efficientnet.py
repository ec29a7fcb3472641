"""EfficientNet-B0 from timm, with ImageNet weights when they are on disk, on single-channel log-mels.

The 3-channel ImageNet stem is adapted to one channel by summing its RGB kernels (timm's
`in_chans=1`): for a conv, that equals replicating the spectrogram into three channels.
Weights are found by zoo.weights (a local file, the Hugging Face cache, or the hub with
`pretrained = true`; "auto" falls back to random initialisation, saying so).
"""

from __future__ import annotations

import zoo
from zoo.weights import Weights
from zoo_plugins.timm_family import create

ARCH = "efficientnet_b0"
WEIGHTS = Weights(ARCH, hub_id="timm/efficientnet_b0.ra_in1k")
resolve = WEIGHTS.resolve


def build(num_classes: int, pretrained: bool | str = False, weights: str = "", drop_rate: float = 0.2):
    """EfficientNet-B0 taking (B, 1, n_mels, frames); `weights` is a local .safetensors/.pth file."""
    return create(ARCH, num_classes, pretrained, weights, drop_rate)


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name=ARCH,
            summary="EfficientNet-B0 (timm), ImageNet weights when available, 1-channel stem",
            build=build,
            defaults={"pretrained": "auto", "weights": "", "drop_rate": 0.2},
            pretrained=True,
            resolve=resolve,
            weights=WEIGHTS.describe(),
            pretrained_on=WEIGHTS.source,
        )
    )
