"""Measure the zoo against its references, side by side in one run, and print a table of ratios.

    python benchmarks/bench.py                 # everything, on CPU (about 4 minutes here)
    python benchmarks/bench.py --skip-run      # without the end-to-end `zoo run --all`
    python benchmarks/bench.py --device cuda --batch 256 --mels 128 --frames 256   # on a GPU

Targets: trainer / bare step >= 0.9; cache epoch >= 20x faster than one .pt file per clip;
feature preparation >= 3x librosa one clip at a time (`pip install librosa` for that row; a
soundfile + torchaudio per-clip loop is measured too, as a stricter reference).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from reference import PerClipFiles, librosa_features, reference_features, write_per_clip_files  # noqa: E402

from zoo.config import FeatureConfig, Protocol  # noqa: E402
from zoo.data.cache import prepare  # noqa: E402
from zoo.registry import load_registry  # noqa: E402
from zoo.train.batches import Resident, TrainData  # noqa: E402
from zoo.train.losses import class_weights  # noqa: E402
from zoo.train.trainer import Trainer, autocast_dtype, pick_device  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd"


def clip_table(work: Path):
    """FSDD (3,000 real clips) when ../shared has it, else the generated default data set."""
    if (FSDD / "audio").is_dir():
        from zoo_plugins.named_datasets import load_fsdd

        return "FSDD", load_fsdd(FSDD / "audio")
    from zoo_plugins.synthetic import generate

    return "synthetic", generate(work / "synthetic")


def bench_prepare(table, work: Path) -> dict:
    cfg = FeatureConfig()

    def cpu():  # this process and its finished children (the decoding processes)
        return sum(os.times()[:4])

    cpu0, t0 = cpu(), time.perf_counter()
    prepared = prepare(table, cfg, work / "cache")
    wall = time.perf_counter() - t0
    cores = (cpu() - cpu0) / wall
    paths = table["path"].tolist()
    reference_features(paths[:20], cfg)  # warm-up, as the zoo's own kernels were warm
    t0 = time.perf_counter()
    reference_features(paths, cfg)
    ref = time.perf_counter() - t0
    n = len(table)
    result = {"prepared": prepared, "zoo": n / wall, "reference": n / ref, "cores": cores}
    try:
        librosa_features(paths[:20], cfg)  # warm-up: numba compiles on first use
        t0 = time.perf_counter()
        librosa_features(paths, cfg)
        result["librosa"] = n / (time.perf_counter() - t0)
    except ImportError:
        pass  # librosa is optional: pip install librosa
    return result


def bench_loading(prepared, work: Path, batch: int) -> dict:
    """One epoch of batches: the zoo's resident split drawn by index vs per-clip .pt files via a
    DataLoader."""
    x, y = prepared.tensors["x"], prepared.clips.loc[prepared.tensors["clip"].numpy(), "label"]
    y = torch.tensor(y.astype("category").cat.codes.to_numpy(), dtype=torch.long)
    write_per_clip_files(x, y, work / "per_clip")
    mean, std = x.mean(dim=(0, 1, 3), keepdim=True), x.std(dim=(0, 1, 3), keepdim=True)

    t0 = time.perf_counter()
    data = Resident(
        torch.load(prepared.dir / "features.pt", weights_only=True)["x"], y, torch.device("cpu"), mean, std
    )
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    order = torch.randperm(len(data))
    for i in range(0, len(order), batch):
        xb, yb = data.batch(order[i : i + batch])
    zoo_epoch = time.perf_counter() - t0

    loader = torch.utils.data.DataLoader(PerClipFiles(work / "per_clip"), batch_size=batch, shuffle=True)
    t0 = time.perf_counter()
    for xb, yb in loader:
        xb = (xb - mean) / std
    per_clip = time.perf_counter() - t0
    return {"zoo": zoo_epoch, "zoo_load": load, "per_clip": per_clip, "clips": len(y)}


def bench_trainer(
    model_name: str, device: torch.device, batch: int, mels: int, frames: int, n: int, steps: int
) -> dict:
    """Samples/s of the Trainer's training phase (augmentation included) vs bare steps on ready batches."""
    registry = load_registry()
    spec = registry.model(model_name)
    params = {**spec.defaults, **({"pretrained": False} if "pretrained" in spec.defaults else {})}
    k = 12
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, mels, frames, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    protocol = Protocol(epochs=4, batch_size=batch, early_stop_patience=99, device=str(device))

    if device.type == "cpu":
        torch.set_flush_denormal(True)  # as the Trainer does on CPU: both sides run with the same settings
    torch.manual_seed(0)
    bare_model = spec.build(k, **params).to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(bare_model.parameters(), lr=protocol.lr, weight_decay=protocol.weight_decay)
    criterion = torch.nn.CrossEntropyLoss(weight=class_weights(y, k).to(device))
    # The ceiling: batches already normalised, in channels_last and on the device, one after another (a single
    # batch repeated measures faster than any real loop: here, different data in the same buffer cost ~15%).
    ready = [
        (
            ((x[i : i + batch] - x.mean()) / x.std())
            .to(device)
            .contiguous(memory_format=torch.channels_last),
            y[i : i + batch].to(device),
        )
        for i in range(0, n - batch + 1, batch)
    ]
    dtype = autocast_dtype(device, protocol.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def step(i: int):
        xb, yb = ready[i % len(ready)]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = criterion(bare_model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    def bare_rates(repeats: int = 3) -> list[float]:
        """As many bare steps as a Trainer epoch, `repeats` times."""
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(steps):
                loss = step(i)
            loss.item()
            rates.append(steps * batch / (time.perf_counter() - t0))
        return rates

    for i in range(3):
        step(i)
    rates = bare_rates()  # before and after the Trainer, so that drift in the machine's speed hits both alike
    torch.manual_seed(0)
    data = TrainData(x, y, x[: batch * 2], y[: batch * 2], k, x.mean(), x.std())
    history = Trainer(protocol).fit(spec.build(k, **params), data)
    trainer = statistics.median(
        r["train_samples_per_s"] for r in history[1:]
    )  # past the first epoch's warm-up
    rates += bare_rates()
    return {"trainer": trainer, "bare": statistics.median(rates)}


def bench_zoo_run(work: Path) -> dict:
    """`zoo run --all` on the embedded default in a fresh project folder: wall time and peak RSS."""
    project = work / "project"
    project.mkdir()
    shutil.copy(ROOT / "registry.toml", project / "registry.toml")
    zoo = [sys.executable, "-m", "zoo.cli", "run", "--all"]
    t0 = time.perf_counter()
    done = subprocess.run(
        zoo, cwd=project, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(done.stderr)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall": wall, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mels", type=int, default=64)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1024, help="training samples per Trainer epoch")
    parser.add_argument("--skip-run", action="store_true", help="skip the end-to-end `zoo run --all`")
    parser.add_argument("--skip-data", action="store_true", help="skip preparation and loading")
    args = parser.parse_args()
    device = pick_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_data:
            name, table = clip_table(work)
            prep = bench_prepare(table, work)
            if "librosa" in prep:
                rows.append(
                    (
                        f"feature preparation vs librosa, {name} ({len(table)} clips)",
                        f"zoo {prep['zoo']:.0f} clips/s on {prep['cores']:.1f} cores; "
                        "librosa one clip at a time "
                        f"{prep['librosa']:.0f} clips/s",
                        prep["zoo"] / prep["librosa"],
                        3.0,
                    )
                )
            rows.append(
                (
                    f"feature preparation vs torch per clip, {name}",
                    f"zoo {prep['zoo']:.0f} clips/s; soundfile + torchaudio one clip at a time "
                    f"{prep['reference']:.0f} clips/s",
                    prep["zoo"] / prep["reference"],
                    None,
                )
            )
            load = bench_loading(prep["prepared"], work, args.batch)
            rows.append(
                (
                    f"epoch data loading ({load['clips']} windows, batch {args.batch})",
                    f"cache {load['zoo'] * 1000:.0f} ms (+ {load['zoo_load'] * 1000:.0f} ms once per run); "
                    f"per-clip .pt DataLoader {load['per_clip'] * 1000:.0f} ms",
                    load["per_clip"] / load["zoo"],
                    20.0,
                )
            )
        steps = max(4, args.samples // args.batch)
        for model_name in ("baseline_cnn", "efficientnet_b0"):
            t = bench_trainer(model_name, device, args.batch, args.mels, args.frames, args.samples, steps)
            rows.append(
                (
                    f"{model_name}: trainer / bare step "
                    f"({device}, {args.mels}x{args.frames}, batch {args.batch})",
                    f"trainer {t['trainer']:.0f} samples/s; bare step {t['bare']:.0f} samples/s",
                    t["trainer"] / t["bare"],
                    0.9,
                )
            )
        if not args.skip_run:
            run = bench_zoo_run(work)
            rows.append(
                (
                    "`zoo run --all`, embedded default, fresh folder",
                    f"{run['wall']:.1f} s wall (torch import included), peak RSS {run['rss_mb']:.0f} MB",
                    None,
                    None,
                )
            )

    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'ratio':>7}  {'target':>7}  details")
    for what, details, ratio, target in rows:
        ok = "" if target is None else (" ok" if ratio >= target else " BELOW")
        r = "" if ratio is None else f"{ratio:.2f}"
        t = "" if target is None else f">= {target:g}"
        print(f"{what:<{width}}  {r:>7}  {t:>7}  {details}{ok}")


if __name__ == "__main__":
    main()
