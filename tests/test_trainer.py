import dataclasses

import pytest
import torch
from torch import nn

from zoo.config import Protocol
from zoo.train.augment import Crops, spec_augment, time_shift
from zoo.train.batches import Resident, TrainData
from zoo.train.losses import class_weights
from zoo.train.state import moving_average
from zoo.train.trainer import Trainer, autocast_dtype, pick_device

PROTOCOL = Protocol(
    epochs=4,
    batch_size=8,
    lr=0.01,
    early_stop_patience=10,
    min_epochs=1,
    freq_mask_width=2,
    time_mask_width=2,
)


def toy_data(n=48, classes=3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5 + y.view(-1, 1, 1, 1).float()
    return TrainData(x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4 :], y[n * 3 // 4 :], classes)


def toy_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4, 3),
    )


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
    best = [r for r in history if r["best"]][-1]  # by protocol.select
    data = toy_data()
    criterion = nn.CrossEntropyLoss(weight=class_weights(data.y_train, 3))
    with torch.no_grad():
        val_loss = criterion(model.eval()(data.x_val), data.y_val).item()
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-5)
    saved = torch.load(tmp_path / "c.pt", weights_only=False)
    assert saved["finished"] and set(saved) == {"finished", "model", "history"}


def test_early_stopping_stops_after_patience_without_improvement():
    p = dataclasses.replace(PROTOCOL, epochs=50, lr=0.0, early_stop_patience=2)  # lr 0: nothing improves
    history = Trainer(p).fit(toy_model(), toy_data())
    assert len(history) == 3 and [r["best"] for r in history] == [True, False, False]


def test_early_stopping_waits_for_min_epochs():
    """Issue 8: a noisy validation set cannot stop a run before min_epochs."""
    p = dataclasses.replace(PROTOCOL, epochs=50, lr=0.0, early_stop_patience=2, min_epochs=6)
    assert len(Trainer(p).fit(toy_model(), toy_data())) == 6


def test_protocol_augmentations_keep_shapes_and_balance_classes():
    from zoo.train.augment import epoch_order, mixup, time_shift

    torch.manual_seed(0)
    x = torch.arange(2 * 8, dtype=torch.float32).view(2, 1, 1, 8).repeat(1, 1, 3, 1)
    shifted = time_shift(x, 0.5)
    assert shifted.shape == x.shape
    for row, out in zip(x, shifted):  # a roll: the same values, in another order along time
        assert sorted(out[0, 0].tolist()) == sorted(row[0, 0].tolist())
    y = torch.tensor([0] * 90 + [1] * 10)
    drawn = torch.bincount(y[epoch_order(y, 2, balanced=True)], minlength=2)
    assert len(y[epoch_order(y, 2, balanced=True)]) == 100 and 35 < drawn[1] < 65
    assert torch.equal(torch.sort(epoch_order(y, 2, balanced=False)).values, torch.arange(100))
    mixed, ya, yb, lam = mixup(x, torch.tensor([0, 1]), alpha=0.4)
    assert 0 <= lam <= 1 and torch.allclose(mixed, lam * x + (1 - lam) * x[yb])  # y = index: yb = partners


def test_warp_stretches_each_example_about_its_first_bin_by_its_own_factor():
    from zoo.train.augment import warp

    torch.manual_seed(0)
    ramp = torch.arange(16, dtype=torch.float32)
    x = ramp.view(1, 1, 16, 1).repeat(64, 2, 1, 3)  # value = mel bin index
    warped = warp(x, 0.25, axis=2)
    assert warped.shape == x.shape and torch.equal(warp(x, 0.0, axis=2), x)
    slope = warped[:, 0, 1, 0]  # bin 1 now holds bin 1 / scale: 1 / scale, scale within 1 +- 0.25
    assert (slope >= 1 / 1.25 - 1e-6).all() and (slope <= 1 / 0.75 + 1e-6).all() and slope.std() > 0.05
    assert torch.all(warped[:, :, 0] == 0)  # the first bin stays where it is
    assert torch.equal(warped[:, 0], warped[:, 1]) and torch.equal(warped[..., 0], warped[..., 2])
    assert (warped[:, 0, :, 0] <= 15).all()  # nothing taken from beyond the last bin
    assert (warped[:, 0, 1:, 0] > warped[:, 0, :-1, 0] - 1e-6).all()  # still a ramp (monotone)
    along_time = warp(x.transpose(2, 3).contiguous(), 0.25, axis=3)
    assert along_time.shape == (64, 2, 3, 16) and torch.all(along_time[..., 0] == 0)


def test_warmup_ramps_the_rate_before_the_plateau_schedule_and_clipping_trains():
    p = dataclasses.replace(PROTOCOL, lr=0.01, warmup_epochs=2, lr_patience=0, grad_clip=1.0)
    history = Trainer(p).fit(toy_model(), toy_data())
    assert [round(r["lr"], 6) for r in history[:2]] == [0.005, 0.01]  # the rate after each epoch's last step
    assert all(r["lr"] <= 0.01 for r in history) and all(r["train_loss"] < 10 for r in history)


def test_mixup_and_balanced_sampling_train(tmp_path):
    p = dataclasses.replace(
        PROTOCOL, mixup_alpha=0.4, balanced_sampling=True, time_shift=0.25, freq_warp=0.1, time_warp=0.1
    )
    history = Trainer(p).fit(toy_model(), toy_data())
    assert len(history) == 4 and all(r["val_loss"] == r["val_loss"] for r in history)


def test_the_weights_average_is_what_is_validated_and_kept():
    p = dataclasses.replace(PROTOCOL, ema_epochs=1.0, epochs=1, freq_masks=0, time_masks=0, time_shift=0)
    trainer, model, data = Trainer(p), toy_model(), toy_data()
    fit = trainer._setup(model, data)
    # 36 training examples in batches of 8: 5 steps make the one-epoch time constant, 0.8 the decay; the
    # warm-up keeps the decay at (1 + n) / (10 + n) below it for these first updates
    start = {k: v.clone() for k, v in model.state_dict().items()}
    steps = []
    original = fit.optimizer.step

    def step(*args, **kwargs):  # the weights after each optimizer step
        out = original(*args, **kwargs)
        steps.append({k: v.clone() for k, v in model.state_dict().items()})
        return out

    fit.optimizer.step = step
    row = trainer._epoch(model, fit, 1)
    expected = {k: v.float() for k, v in steps[0].items()}  # the first step copies the weights
    for n, weights in enumerate(steps[1:], start=1):
        decay = min(0.8, (1 + n) / (10 + n))
        expected = {k: expected[k] * decay + weights[k].float() * (1 - decay) for k in expected}
    kept = fit.state["best_state"]
    assert row["best"] and len(steps) == 5
    weight = "5.weight"  # the linear head's, which every step moves
    torch.testing.assert_close(kept[weight], expected[weight])
    assert not torch.equal(kept[weight], model.state_dict()[weight]) and not torch.equal(
        kept[weight], start[weight]
    )
    val_loss, _ = trainer.validate(fit.average.module, fit.val_criterion, fit.val)
    assert row["val_loss"] == pytest.approx(val_loss)


def test_the_average_warms_up_then_keeps_its_time_constant():
    """After n updates the decay is min(1 - 1/steps, (1 + n) / (10 + n)); counters follow the model."""
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    average = moving_average(model, steps=20)
    weight, expected = model[0].weight, None
    for n in range(200):
        with torch.no_grad():
            weight.fill_(float(n))
        model[1].num_batches_tracked.fill_(n)
        average.update_parameters(model)
        decay = min(1 - 1 / 20, (1 + n) / (10 + n))
        expected = float(n) if expected is None else decay * expected + (1 - decay) * n
        assert average.module[0].weight.item() == pytest.approx(expected, rel=1e-5)
        assert average.module[1].num_batches_tracked.item() == n
    # a ramp's average lags it by about the time constant once warmed up (its decay is then 0.95)
    assert 199 - average.module[0].weight.item() == pytest.approx(19, abs=0.5)


@pytest.mark.parametrize("ema_epochs", [0.0, 1.0])
def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, ema_epochs):
    protocol = dataclasses.replace(PROTOCOL, ema_epochs=ema_epochs)
    straight = toy_model()
    expected = Trainer(protocol).fit(straight, toy_data())

    def interrupt(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(protocol, checkpoint=tmp_path / "c.pt", on_epoch=interrupt).fit(toy_model(), toy_data())
    resumed = toy_model()
    history = Trainer(protocol, checkpoint=tmp_path / "c.pt").fit(resumed, toy_data())
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


def reference_fit(model, data: TrainData, p: Protocol) -> list[tuple[float, float]]:
    """The plain loop the Trainer replaces: a Dataset that normalises one sample at a time in Python, a
    DataLoader, a mean loss per batch; same seeds, same order, same masks. Returns (train, val) losses."""

    class Normalised(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return (self.x[i] - data.mean[0]) / data.std[0], self.y[i]

    criterion = nn.CrossEntropyLoss(weight=class_weights(data.y_train, data.num_classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    trajectory = []
    for epoch in range(1, p.epochs + 1):
        torch.manual_seed(p.seed * 100_003 + epoch)
        order = torch.randperm(len(data.y_train)).tolist()
        loader = torch.utils.data.DataLoader(
            Normalised(data.x_train, data.y_train),
            batch_size=p.batch_size,
            sampler=order,
            generator=torch.Generator(),
        )
        model.train()
        total = 0.0
        for xb, yb in loader:
            loss = criterion(model(spec_augment(time_shift(xb, p.time_shift), p)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        model.eval()
        with torch.no_grad():
            val = criterion(model((data.x_val - data.mean) / data.std), data.y_val).item()
        trajectory.append((total / len(data.y_train), val))
    return trajectory


def test_fast_path_matches_a_plain_reference_loop():
    raw = toy_data()
    mean, std = torch.full((1, 1, 8, 1), 0.7), torch.full((1, 1, 8, 1), 1.3)
    data = TrainData(raw.x_train * 1.3 + 0.7, raw.y_train, raw.x_val * 1.3 + 0.7, raw.y_val, 3, mean, std)
    # the reference has no scheduler and validates the last step's weights
    p = dataclasses.replace(PROTOCOL, epochs=3, lr_patience=100, ema_epochs=0.0)
    fast = Trainer(p).fit(toy_model(), data)
    reference = reference_fit(toy_model(), data, p)
    for row, (train_loss, val_loss) in zip(fast, reference):
        assert row["train_loss"] == pytest.approx(train_loss, rel=1e-5)
        assert row["val_loss"] == pytest.approx(val_loss, rel=1e-5)


def test_resident_batches_are_normalised_channels_last_on_the_device():
    x = torch.randn(10, 1, 4, 6)
    data = Resident(x, torch.arange(10), torch.device("cpu"), x.mean(), x.std())
    xb, yb = data.batch(torch.tensor([3, 1]))
    torch.testing.assert_close(xb, (x[[3, 1]] - x.mean()) / x.std())
    assert xb.is_contiguous(memory_format=torch.channels_last) and yb.tolist() == [3, 1]


@pytest.mark.slow
def test_compile_option_trains_the_same_model():
    p = dataclasses.replace(PROTOCOL, epochs=2, compile=True)

    def no_dropout():  # inductor draws dropout masks from its own generator: compare without dropout
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
        )

    model = no_dropout()
    history = Trainer(p).fit(model, toy_data())
    plain = Trainer(dataclasses.replace(p, compile=False)).fit(no_dropout(), toy_data())
    assert [r["train_loss"] for r in history] == pytest.approx([r["train_loss"] for r in plain], rel=1e-4)
    assert not any(k.startswith("_orig_mod") for k in model.state_dict())  # checkpoints keep plain keys


def test_random_crops_are_contiguous_frames_from_anywhere_in_the_clip():
    # clip 0: windows of 8 frames starting at frames 0, 6, 12 (overlapping); clip 1: one window; clip 2: two
    # windows 20 frames apart (sparser than the window: joined over the gap). Each value is its frame's time.
    frames = 8
    start = torch.tensor([0.0, 6.0, 12.0, 0.0, 0.0, 20.0])
    clip = torch.tensor([0, 0, 0, 1, 2, 2])
    x = (start[:, None] + torch.arange(frames)).view(-1, 1, 1, frames).expand(-1, 1, 2, -1).contiguous()
    data = Resident(x, clip, torch.device("cpu"), 0.0, 1.0)
    crops = Crops(clip, start, frames, torch.device("cpu"))
    torch.manual_seed(0)
    firsts = {row: set() for row in range(6)}
    for _ in range(200):
        idx = torch.arange(6)
        xb, _ = data.batch(idx)
        out = crops(data, idx, xb)
        assert out.shape == xb.shape and bool((out[:, :, 0] == out[:, :, 1]).all())
        for row in range(6):
            times = out[row, 0, 0]
            firsts[row].add(int(times[0]))
            if row < 4:  # whole clips' frames: consecutive
                assert torch.equal(times, times[0] + torch.arange(frames).float())
    assert firsts[0] == set(range(0, 7)) and firsts[1] == set(range(6, 13))  # every start up to the next
    assert firsts[2] == {12} and firsts[3] == {0} and firsts[5] == {20}  # a clip's last window, or only one
    assert firsts[4] == {*range(0, 8), 20}  # across a gap: the tail, then the next one's head (or all of it)
    spliced = crops(data, torch.tensor([4]), data.batch(torch.tensor([4]))[0])[0, 0, 0]
    offset = int(spliced[0])
    assert spliced.tolist() == list(range(offset, 8)) + list(range(20, 20 + offset))
