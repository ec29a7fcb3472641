import dataclasses

import pytest
import torch
from torch import nn

from zoo.config import Protocol
from zoo.trainer import TrainData, Trainer, autocast_dtype, class_weights, pick_device

PROTOCOL = Protocol(epochs=4, batch_size=8, lr=0.01, early_stop_patience=10, freq_mask_width=2, time_mask_width=2)


def toy_data(n=48, classes=3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5 + y.view(-1, 1, 1, 1).float()
    return TrainData(x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4:], y[n * 3 // 4:], classes)


def toy_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(4, 3))


def test_class_weights_are_n_over_k_times_n_c():
    y = torch.tensor([0, 0, 0, 1])
    assert class_weights(y, 2).tolist() == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])


def test_device_and_precision_choice_on_cpu():
    assert pick_device("cpu") == torch.device("cpu")
    assert autocast_dtype(torch.device("cpu"), amp=True) is None
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")


def test_autocast_dtype_on_cuda_prefers_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert autocast_dtype(torch.device("cuda"), amp=True) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert autocast_dtype(torch.device("cuda"), amp=True) is torch.float16
    assert autocast_dtype(torch.device("cuda"), amp=False) is None


def test_training_learns_and_restores_the_best_weights(tmp_path):
    model = toy_model()
    history = Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt").fit(model, toy_data())
    assert len(history) == 4
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = min(history, key=lambda r: r["val_loss"])
    data = toy_data()
    trainer = Trainer(PROTOCOL)
    criterion = nn.CrossEntropyLoss(weight=class_weights(data.y_train, 3))
    val_loss, _ = trainer.validate(model, criterion, data.x_val.contiguous(memory_format=torch.channels_last), data.y_val,
                                   torch.channels_last, torch.no_grad)
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-5)
    saved = torch.load(tmp_path / "c.pt", weights_only=False)
    assert saved["finished"] and set(saved) == {"finished", "model", "history"}


def test_early_stopping_stops_after_patience_without_improvement():
    p = dataclasses.replace(PROTOCOL, epochs=50, lr=0.0, early_stop_patience=2)  # lr 0: nothing improves
    history = Trainer(p).fit(toy_model(), toy_data())
    assert len(history) == 3 and [r["best"] for r in history] == [True, False, False]


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    straight = toy_model()
    expected = Trainer(PROTOCOL).fit(straight, toy_data())

    def interrupt(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt", on_epoch=interrupt).fit(toy_model(), toy_data())
    resumed = toy_model()
    history = Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt").fit(resumed, toy_data())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    for got, want in zip(history, expected):
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-6)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_a_finished_checkpoint_is_not_trained_again(tmp_path):
    first = toy_model()
    history = Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt").fit(first, toy_data())
    again = toy_model()
    assert Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt").fit(again, toy_data()) == history
    for a, b in zip(again.state_dict().values(), first.state_dict().values()):
        torch.testing.assert_close(a, b)
