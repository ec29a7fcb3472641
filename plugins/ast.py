"""An AST-style spectrogram transformer (Gong et al. 2021, "AST: Audio Spectrogram Transformer"): the
log-mel image cut into 16x16 patches, a [CLS] token, learned position embeddings, a ViT encoder, a linear
head on the [CLS] token. Built on timm's VisionTransformer with in_chans=1; the position embeddings are
resampled to each input's patch grid (dynamic_img_size), so any n_mels x frames works (padded to whole
patches). Default: a DeiT-Tiny-sized encoder (192-d, 12 layers, 3 heads) that a CPU can train.

`weights = "path"` loads a checkpoint by name and shape, stripping AST's `module.v.` prefix (the released
AST models are DeiT-Base: embed_dim = 768, num_heads = 12, depth = 12); position embeddings made for
another patch grid (AST's overlapping 12 x 101) do not fit and are left out, as the note says. Random
initialisation by default.
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
    depth: int = 12,
    num_heads: int = 3,
    patch: int = 16,
    pretrained: bool | str = False,
    weights: str = "",
    drop_rate: float = 0.1,
):
    from timm.models.vision_transformer import VisionTransformer

    model = VisionTransformer(
        img_size=GRID,
        patch_size=patch,
        in_chans=1,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        drop_rate=drop_rate,
        dynamic_img_size=True,
        dynamic_img_pad=True,
    )
    return SOURCE.load_into(model, pretrained, weights)


def resolve(params: dict):
    return SOURCE.resolve_with(
        params, lambda: build(2, params["embed_dim"], params["depth"], params["num_heads"], params["patch"])
    )


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="ast",
            summary="AST-style spectrogram transformer (Gong et al. 2021): 16x16 patches, [CLS], ViT encoder "
            "(timm), DeiT-Tiny size by default",
            build=build,
            defaults={
                "embed_dim": 192,
                "depth": 12,
                "num_heads": 3,
                "patch": 16,
                "pretrained": False,
                "weights": "",
                "drop_rate": 0.1,
            },
            pretrained=True,
            resolve=resolve,
            weights=SOURCE.describe(),
            pretrained_on=SOURCE.source,
        )
    )
