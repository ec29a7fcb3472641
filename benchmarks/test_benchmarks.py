"""pytest-benchmark suite (not part of the unit tests): `pytest benchmarks/ --benchmark-only`.
For the side-by-side ratios against the targets, run `python benchmarks/bench.py`."""

from pathlib import Path

import pytest
import torch
from reference import PerClipFiles, write_per_clip_files

from zoo.config import Protocol
from zoo.registry import load_registry
from zoo.train.batches import Resident, TrainData
from zoo.train.trainer import Trainer

N, BATCH, SHAPE = 256, 32, (1, 64, 64)


@pytest.fixture(scope="module")
def spectrograms():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, *SHAPE, generator=g), torch.randint(0, 12, (N,), generator=g)


@pytest.mark.parametrize("model_name", ["baseline_cnn", "efficientnet_b0"])
def test_trainer_epoch(benchmark, spectrograms, model_name):
    x, y = spectrograms
    spec = load_registry().model(model_name)
    params = {**spec.defaults, **({"pretrained": False} if "pretrained" in spec.defaults else {})}
    data = TrainData(x, y, x[:BATCH], y[:BATCH], 12, x.mean(), x.std())

    def epoch():
        return Trainer(Protocol(epochs=1, batch_size=BATCH)).fit(spec.build(12, **params), data)

    benchmark.pedantic(epoch, rounds=2, iterations=1)


def test_cache_epoch(benchmark, spectrograms):
    x, y = spectrograms
    data = Resident(x, y, torch.device("cpu"), x.mean(), x.std())

    def epoch():
        order = torch.randperm(N)
        for i in range(0, N, BATCH):
            data.batch(order[i : i + BATCH])

    benchmark(epoch)


def test_per_clip_files_epoch(benchmark, spectrograms, tmp_path_factory):
    x, y = spectrograms
    folder = tmp_path_factory.mktemp("per_clip")
    write_per_clip_files(x, y, Path(folder))
    loader = torch.utils.data.DataLoader(PerClipFiles(folder), batch_size=BATCH, shuffle=True)

    def epoch():
        for _ in loader:
            pass

    benchmark.pedantic(epoch, rounds=3, iterations=1)
