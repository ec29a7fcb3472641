"""EfficientNet-B0 from timm, with ImageNet weights when they are on disk, on single-channel log-mels.

The 3-channel ImageNet stem is adapted to one channel by summing its RGB kernels (timm's
`in_chans=1`): for a conv, that equals replicating the spectrogram into three channels.
Weights come from a local file (`weights = "path"`), else the Hugging Face cache, else the
hub (only with `pretrained = true`). `pretrained = "auto"` uses them when on disk and falls
back to random initialisation otherwise, saying so in the run's notes.
"""

from __future__ import annotations

from pathlib import Path

import zoo

ARCH = "efficientnet_b0"
HUB_ID = "timm/efficientnet_b0.ra_in1k"
HUB_FILES = ("model.safetensors", "pytorch_model.bin")
HOW_TO_GET = (
    f"download them once where there is internet (`hf download {HUB_ID}`, or timm.create_model('{ARCH}', "
    f"pretrained=True)) and set models.{ARCH}.weights = 'path/to/model.safetensors', "
    "or set pretrained = false"
)


def cached_weights() -> str | None:
    """The ImageNet weights file in the Hugging Face cache, if it is there (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in HUB_FILES:
        found = try_to_load_from_cache(HUB_ID, filename)
        if isinstance(found, str) and Path(found).is_file():
            return found
    return None


def resolve(params: dict) -> tuple[dict, list[str]]:
    """pretrained: true | false | "auto" -> true/false with the weights file it will use."""
    pretrained, weights = params.get("pretrained"), params.get("weights", "")
    if pretrained not in (True, False, "auto"):
        raise zoo.ZooError(f'models.{ARCH}.pretrained = {pretrained!r}: use true, false or "auto".')
    if pretrained is False:
        return {**params, "weights": ""}, []
    if weights:
        if not Path(weights).is_file():
            raise zoo.ZooError(f"models.{ARCH}.weights = {weights!r}: no such file; {HOW_TO_GET}.")
        return {**params, "pretrained": True}, [f"ImageNet weights from {weights}"]
    found = cached_weights()
    if found:
        return {**params, "pretrained": True, "weights": found}, [
            f"ImageNet weights from the Hugging Face cache ({found})"
        ]
    if pretrained == "auto":
        return {**params, "pretrained": False}, [
            'pretrained = "auto" found no ImageNet weights on disk, so it trains from random '
            f"initialisation; to use them, {HOW_TO_GET.replace(', or set pretrained = false', '')}"
        ]
    return params, [f"ImageNet weights from the hub ({HUB_ID})"]


def build(num_classes: int, pretrained: bool | str = False, weights: str = "", drop_rate: float = 0.2):
    """EfficientNet-B0 taking (B, 1, n_mels, frames); `weights` is a local .safetensors/.pth file."""
    import timm
    import torch

    kwargs = dict(num_classes=num_classes, in_chans=1, drop_rate=drop_rate)
    if pretrained == "auto":
        return build(
            num_classes, **resolve({"pretrained": "auto", "weights": weights, "drop_rate": drop_rate})[0]
        )
    if pretrained is False:
        model = timm.create_model(ARCH, pretrained=False, **kwargs)
    elif pretrained is True:
        overlay = {"file": weights} if weights else None
        try:
            model = timm.create_model(ARCH, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:200]
            raise zoo.ZooError(f"{ARCH}: cannot load ImageNet weights ({reason}); {HOW_TO_GET}.") from None
    else:
        raise zoo.ZooError(f'models.{ARCH}.pretrained = {pretrained!r}: use true, false or "auto".')
    # timm initialises the head for 1000 classes (uniform, range 1/sqrt(fan_out)); with a dozen classes that
    # gives logits of std ~5 and a first-epoch loss near 5. A small head starts every run near ln(k).
    torch.nn.init.normal_(model.classifier.weight, std=0.01)
    torch.nn.init.zeros_(model.classifier.bias)
    return model


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
        )
    )
