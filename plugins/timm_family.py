"""Any timm image model as a spectrogram classifier: `[models.NAME] model = "timm"`, `arch = "resnet18"`.

The 3-channel stem is adapted to one channel by summing its RGB kernels (timm's `in_chans=1`: for a conv,
the same as replicating the spectrogram into three channels). ImageNet weights are found by zoo.weights
(a local file, the Hugging Face cache, or the hub with `pretrained = true`; "auto" falls back to random
initialisation, saying so). efficientnet_b0 is built here too.
"""

from __future__ import annotations

import difflib

import zoo
from zoo.weights import Weights

DEFAULTS = {"arch": "resnet18", "pretrained": "auto", "weights": "", "drop_rate": 0.2}


def weights_of(arch: str) -> Weights:
    """Where `arch`'s ImageNet weights live: its default timm pretrained tag on the Hugging Face hub."""
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise zoo.ZooError(f"timm has no model {arch!r}.{hint} See timm.list_models('*pattern*').")
    cfg = get_pretrained_cfg(arch)
    return Weights(arch, hub_id=(cfg.hf_hub_id or "") if cfg else "")


def resolve(params: dict) -> tuple[dict, list[str]]:
    return weights_of(params["arch"]).resolve(params)


def create(arch: str, num_classes: int, pretrained: bool | str, weights: str, drop_rate: float):
    """timm's `arch` on (B, 1, n_mels, frames) with `num_classes` outputs; `weights` a local file."""
    import timm
    import torch

    source = weights_of(arch)
    if pretrained == "auto":
        resolved = source.resolve({"pretrained": "auto", "weights": weights})[0]
        pretrained, weights = resolved["pretrained"], resolved["weights"]
    kwargs = dict(num_classes=num_classes, in_chans=1, drop_rate=drop_rate)
    if pretrained is False:
        model = timm.create_model(arch, pretrained=False, **kwargs)
    elif pretrained is True:
        overlay = {"file": weights} if weights else None
        try:
            model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:200]
            raise zoo.ZooError(
                f"{arch}: cannot load ImageNet weights ({reason}); {source.how_to_get()}."
            ) from None
    else:
        raise zoo.ZooError(f'models.{arch}.pretrained = {pretrained!r}: use true, false or "auto".')
    # timm initialises a head for 1000 classes (e.g. uniform in 1/sqrt(fan_out)); with a dozen classes that
    # gives logits of std ~5 and a first-epoch loss near 5. A small head starts every run near ln(k).
    head = model.get_classifier()
    if isinstance(head, torch.nn.Linear):
        torch.nn.init.normal_(head.weight, std=0.01)
        torch.nn.init.zeros_(head.bias)
    return model


def build(
    num_classes: int,
    arch: str = "resnet18",
    pretrained: bool | str = "auto",
    weights: str = "",
    drop_rate: float = 0.2,
):
    return create(arch, num_classes, pretrained, weights, drop_rate)


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="timm",
            summary="any timm image model (arch = ...), 1-channel stem; e.g. [models.resnet18] model = "
            '"timm", arch = "resnet18"',
            build=build,
            defaults=dict(DEFAULTS),
            pretrained=True,
            resolve=resolve,
            pretrained_on="ImageNet",
            weights="ImageNet: timm's default tag of `arch` on the Hugging Face hub",
        )
    )
