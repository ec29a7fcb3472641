import pytest
import torch

from zoo.errors import ZooError
from zoo.registry import load_registry
from zoo_plugins import efficientnet

REGISTRY = load_registry()


@pytest.mark.parametrize("name", sorted(REGISTRY.models))
def test_every_registered_model_builds_and_trains_a_step(name):
    spec = REGISTRY.model(name)
    params = {**spec.defaults, **({"pretrained": False} if "pretrained" in spec.defaults else {})}
    torch.manual_seed(0)
    model = spec.build(5, **params)
    x = torch.randn(3, 1, 32, 48)  # not square: n_mels and frames differ
    logits = model(x)
    assert logits.shape == (3, 5)
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
    monkeypatch.setattr(efficientnet, "cached_weights", lambda: None)
    params, notes = efficientnet.resolve({"pretrained": "auto", "weights": "", "drop_rate": 0.2})
    assert params["pretrained"] is False
    assert "random initialisation" in notes[0] and "hf download" in notes[0]


def test_pretrained_true_without_weights_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(efficientnet, "cached_weights", lambda: None)
    with pytest.raises(ZooError) as info:
        efficientnet.build(3, pretrained=True)
    message = str(info.value)
    assert (
        "cannot load ImageNet weights" in message and "pretrained = false" in message and "\n" not in message
    )


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(ZooError, match="no such file"):
        efficientnet.resolve({"pretrained": True, "weights": str(tmp_path / "nope.pth"), "drop_rate": 0.2})
