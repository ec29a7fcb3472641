from pathlib import Path

import pytest
import torch

from zoo.errors import ZooError
from zoo.registry import load_registry
from zoo.weights import Weights
from zoo_plugins import efficientnet

REGISTRY = load_registry()


# variants as a registry.toml would define them: [models.NAME] model = "...", params
VARIANTS = {
    "baseline_cnn_wide": {"model": "baseline_cnn", "width": 32},
    "resnet18": {"model": "timm", "arch": "resnet18"},
    "convnext_atto": {"model": "timm", "arch": "convnext_atto"},
    "mobilenet_v3_half": {"model": "mobilenet_v3", "width": 0.5},
}
EVERY_MODEL = sorted(REGISTRY.models) + sorted(VARIANTS)


def build_named(name: str, num_classes: int):
    """A registered model or a VARIANTS entry, through the runner's own lookup, without pretrained weights."""
    from zoo.runs.plan import model_spec, without_pretrained
    from zoo.settings import settings_from_dict

    settings = settings_from_dict({"models": VARIANTS}, Path("."))
    spec, params = model_spec(settings, REGISTRY, name)
    return spec.build(num_classes, **without_pretrained(params))


@pytest.mark.parametrize("size", [(64, 64), (128, 256)], ids=["64x64", "128x256"])
@pytest.mark.parametrize("name", EVERY_MODEL)
def test_every_model_and_variant_builds_runs_forward_and_backward(name, size):
    torch.manual_seed(0)
    model = build_named(name, 5)
    logits = model(torch.randn(2, 1, *size))
    assert logits.shape == (2, 5)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_baseline_is_four_conv_relu_pool_blocks_then_gap_and_linear():
    model = REGISTRY.model("baseline_cnn").build(7)
    kinds = [type(m).__name__ for m in model]
    assert kinds[:12] == ["Conv2d", "ReLU", "MaxPool2d"] * 4
    assert kinds[12:] == ["AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear"]


def imagenet_like_weights(path):
    """A full 3-channel, 1000-class EfficientNet-B0 state dict saved as a local weights file."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = timm.create_model("efficientnet_b0", pretrained=False)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    return source


def test_channel_replication_equals_summed_single_channel_stem(tmp_path):
    import timm

    weights = tmp_path / "model.safetensors"
    imagenet_like_weights(weights)
    three = timm.create_model(
        "efficientnet_b0",
        pretrained=True,
        num_classes=4,
        in_chans=3,
        pretrained_cfg_overlay={"file": str(weights)},
    ).eval()
    one = efficientnet.build(4, pretrained=True, weights=str(weights)).eval()
    with torch.no_grad():
        one.classifier.load_state_dict(three.classifier.state_dict())  # the new heads are random: share one
        x = torch.randn(2, 1, 64, 64)
        replicated = three(x.repeat(1, 3, 1, 1))
        summed = one(x)
    torch.testing.assert_close(summed, replicated, rtol=1e-4, atol=1e-4)


def test_loads_imagenet_weights_from_a_local_file(tmp_path):
    weights = tmp_path / "model.safetensors"
    source = imagenet_like_weights(weights)
    params, notes = efficientnet.resolve({"pretrained": "auto", "weights": str(weights), "drop_rate": 0.2})
    assert params["pretrained"] is True and str(weights) in notes[0]
    model = efficientnet.build(6, **params)
    torch.testing.assert_close(model.conv_stem.weight, source.conv_stem.weight.sum(1, keepdim=True))
    torch.testing.assert_close(model.blocks[3][0].conv_pw.weight, source.blocks[3][0].conv_pw.weight)
    assert model.classifier.out_features == 6


def test_auto_without_weights_falls_back_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(Weights, "cached", lambda self: None)
    params, notes = efficientnet.resolve({"pretrained": "auto", "weights": "", "drop_rate": 0.2})
    assert params["pretrained"] is False
    assert "random initialisation" in notes[0] and "hf download" in notes[0]


def test_pretrained_true_without_weights_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(Weights, "cached", lambda self: None)
    with pytest.raises(ZooError) as info:
        efficientnet.build(3, pretrained=True)
    message = str(info.value)
    assert (
        "cannot load ImageNet weights" in message and "pretrained = false" in message and "\n" not in message
    )


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(ZooError, match="no such file"):
        efficientnet.resolve({"pretrained": True, "weights": str(tmp_path / "nope.pth"), "drop_rate": 0.2})


def test_a_timm_variant_loads_its_imagenet_weights_through_the_shared_resolver(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    from zoo_plugins import timm_family

    torch.manual_seed(2)
    source = timm.create_model("resnet18", pretrained=False)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "r18.safetensors"))
    params, notes = timm_family.resolve(
        {**timm_family.DEFAULTS, "weights": str(tmp_path / "r18.safetensors")}
    )
    assert params["pretrained"] is True and "ImageNet weights from" in notes[0]
    model = timm_family.build(4, **params)
    torch.testing.assert_close(model.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    torch.testing.assert_close(model.layer2[0].conv1.weight, source.layer2[0].conv1.weight)
    monkeypatch.setattr(Weights, "cached", lambda self: None)
    params, notes = timm_family.resolve(dict(timm_family.DEFAULTS))  # "auto", nothing on disk
    assert params["pretrained"] is False and "hf download timm/resnet18" in notes[0]
    with pytest.raises(ZooError, match="timm has no model 'resnet181'. Did you mean"):
        timm_family.resolve({**timm_family.DEFAULTS, "arch": "resnet181"})


def test_panns_loads_a_released_checkpoint_layout_by_name(tmp_path):
    """A file laid out as PANNs' Cnn10_mAP=0.380.pth: {"model": state dict} with the waveform front end,
    bn0 and a 527-class fc_audioset head beside the conv blocks and fc1."""
    from zoo_plugins import panns

    torch.manual_seed(3)
    source = panns.factory("cnn10")[0](527)
    state = {k.replace("fc.", "fc_audioset."): v for k, v in source.state_dict().items()}
    state["spectrogram_extractor.stft.conv_real.weight"] = torch.randn(257, 1, 512)
    state["bn0.weight"] = torch.ones(64)
    torch.save({"model": state, "iteration": 660000}, tmp_path / "Cnn10_mAP=0.380.pth")
    build, resolve, _ = panns.factory("cnn10")
    params, notes = resolve(
        {"pretrained": True, "weights": str(tmp_path / "Cnn10_mAP=0.380.pth"), "dropout": 0.2}
    )
    assert "loaded 50 of the model's 52 tensors" in notes[-1] and "fc_audioset.weight" in notes[-1]
    model = build(7, **params)
    torch.testing.assert_close(model.conv_block3.conv2.weight, source.conv_block3.conv2.weight)
    torch.testing.assert_close(model.fc1.weight, source.fc1.weight)
    assert model.fc.out_features == 7


def test_mobilenet_and_ast_load_checkpoints_of_their_releases_layout(tmp_path):
    from zoo_plugins import ast, mobilenet

    torch.manual_seed(4)
    source = mobilenet.build(527)
    torch.save({"model": source.state_dict()}, tmp_path / "mn10_as.pt")
    model = mobilenet.build(3, pretrained=True, weights=str(tmp_path / "mn10_as.pt"))
    torch.testing.assert_close(model.features[5].block[0][0].weight, source.features[5].block[0][0].weight)
    torch.testing.assert_close(model.features[0][0].weight, source.features[0][0].weight)

    vit = ast.build(527, depth=2, stem="patch", pool="token")  # AST's own layout, as its releases
    state = {f"module.v.{k}": v for k, v in vit.state_dict().items() if not k.startswith("head.")}
    state["module.v.dist_token"] = torch.zeros(1, 1, 192)  # AST's DeiT distillation token: not used
    state["module.mlp_head.1.weight"] = torch.zeros(527, 192)
    torch.save(state, tmp_path / "ast.pth")
    params, notes = ast.resolve(
        {
            "embed_dim": 192,
            "depth": 2,
            "num_heads": 3,
            "patch": 16,
            "pretrained": True,
            "weights": str(tmp_path / "ast.pth"),
            "drop_rate": 0.1,
            "stem": "patch",
            "pool": "token",
        }
    )
    assert "dist_token" in notes[-1]
    model = ast.build(3, **params)
    torch.testing.assert_close(model.blocks[1].attn.qkv.weight, vit.blocks[1].attn.qkv.weight)
    torch.testing.assert_close(model.pos_embed, vit.pos_embed)


def test_ast_conv_stem_gives_one_token_per_patch_as_the_linear_patches_do():
    from zoo_plugins import ast

    x = torch.randn(2, 1, 64, 100)  # 100 frames: padded to whole patches
    for patch in (8, 16):
        conv, linear = ast.build(5, depth=1, patch=patch), ast.build(5, depth=1, patch=patch, stem="patch")
        assert conv.patch_embed(x).shape == linear.patch_embed(x).shape
        assert conv(x).shape == (2, 5)
    with pytest.raises(ZooError, match="patch = 12: a conv stem needs a power of two"):
        ast.build(5, patch=12)
    with pytest.raises(ZooError, match="pool = .cls."):
        ast.build(5, pool="cls")
