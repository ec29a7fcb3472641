"""An AST-style spectrogram transformer (Gong et al. 2021, "AST: Audio Spectrogram Transformer"): the
log-mel image cut into patches, learned position embeddings, a ViT encoder, a linear head. Built on timm's
VisionTransformer with in_chans=1; the position embeddings are resampled to each input's patch grid
(dynamic_img_size), so any n_mels x frames works (padded to whole patches).

The defaults are a ViT that a CPU can train from random initialisation on a few thousand clips: DeiT-Tiny
width (192-d, 3 heads), 6 layers, a convolutional stem (Xiao et al. 2021, "Early convolutions help
transformers see better": 3x3 stride-2 convolutions down to the patch size, then a 1x1 projection, in place
of one linear projection per 16 x 16 patch) and the mean of the patch tokens for the head (Beyer et al.
2022, "Better plain ViT baselines"), as small-data transformers do (Hassani et al. 2021, CCT). On FSDD
(12 epochs, lr 7.5e-4, README) that reached 0.89 validation accuracy where AST's own layout (linear
patches, 12 layers, [CLS] token) reached 0.24 (0.66 at lr 3e-4) at twice the time per epoch; the stem alone
gave 0.56, 6 layers (mean-pooled) 0.41, the stem and 6 layers 0.85.

`weights = "path"` loads a checkpoint by name and shape, stripping AST's `module.v.` prefix. The released
AST models are DeiT-Base in AST's own layout: set embed_dim = 768, num_heads = 12, depth = 12,
stem = "patch", pool = "token". Position embeddings made for another patch grid (AST's overlapping
12 x 101) do not fit and are left out, as the note says.
"""

from __future__ import annotations

import zoo
from zoo.weights import Checkpoint

GRID = (64, 64)  # the nominal input (n_mels, frames) the position embeddings are made for


def rename(key: str) -> str:
    """AST's checkpoint keys (`module.v.blocks.0...`) to timm's (`blocks.0...`)."""
    return key.removeprefix("module.").removeprefix("v.")


SOURCE = Checkpoint(
    "ast", source="AudioSet", where="github.com/YuanGongND/ast (audioset_10_10_0.4593.pth)", rename=rename
)


def build(
    num_classes: int,
    embed_dim: int = 192,
    depth: int = 6,
    num_heads: int = 3,
    patch: int = 16,
    pretrained: bool | str = False,
    weights: str = "",
    drop_rate: float = 0.1,
    stem: str = "conv",
    pool: str = "avg",
):
    from timm.models.vision_transformer import VisionTransformer

    check(stem, pool, patch)

    model = VisionTransformer(
        img_size=GRID,
        patch_size=patch,
        in_chans=1,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        drop_rate=drop_rate,
        global_pool=pool,
        dynamic_img_size=True,
        dynamic_img_pad=True,
    )
    if stem == "conv":
        model.patch_embed.proj = conv_stem(embed_dim, patch)
    return SOURCE.load_into(model, pretrained, weights)


def check(stem: str, pool: str, patch: int) -> None:
    if stem not in ("conv", "patch"):
        raise zoo.ZooError(f'models.ast.stem = {stem!r}: use "conv" or "patch" (AST\'s linear patches).')
    if pool not in ("avg", "token"):
        raise zoo.ZooError(f'models.ast.pool = {pool!r}: use "avg" (mean of the patch tokens) or "token".')
    if stem == "conv" and (patch < 2 or patch & (patch - 1)):
        raise zoo.ZooError(
            f'models.ast.patch = {patch}: a conv stem needs a power of two; or set stem = "patch".'
        )


def conv_stem(embed_dim: int, patch: int):
    """3x3 stride-2 convolutions (BatchNorm, ReLU), channels doubling up to embed_dim, until one
    position covers a patch; then a 1x1 projection to embed_dim. One position per patch, as the linear
    patch embedding it replaces."""
    from torch import nn

    layers, channels = [], 1
    steps = patch.bit_length() - 1
    for step in range(steps):
        width = embed_dim >> (steps - 1 - step)
        layers += [
            nn.Conv2d(channels, width, 3, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        channels = width
    return nn.Sequential(*layers, nn.Conv2d(channels, embed_dim, 1))


def resolve(params: dict):
    return SOURCE.resolve_with(
        params, lambda: build(2, **{k: v for k, v in params.items() if k not in ("pretrained", "weights")})
    )


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="ast",
            summary="AST-style spectrogram transformer (Gong et al. 2021) on timm's ViT: DeiT-Tiny width, 6 "
            "layers, a convolutional stem and mean-pooled tokens by default (AST's own layout: options)",
            build=build,
            defaults={
                "embed_dim": 192,
                "depth": 6,
                "num_heads": 3,
                "patch": 16,
                "pretrained": False,
                "weights": "",
                "drop_rate": 0.1,
                "stem": "conv",
                "pool": "avg",
            },
            pretrained=True,
            resolve=resolve,
            weights=SOURCE.describe(),
            pretrained_on=SOURCE.source,
        )
    )
