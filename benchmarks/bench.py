"""Measure the zoo against its targets and references, side by side in one run, and print one table.

    python benchmarks/bench.py                 # everything, on CPU (about 15 minutes on 2 cores)
    python benchmarks/bench.py --quick         # a 1-minute subset: preparation, loading, one trainer, predict
    python benchmarks/bench.py --device cuda --batch 256 --mels 128 --frames 256   # on a GPU

Rows (target): README command 1 on a fresh clone, venv + install + demo (<= 180 s); `zoo run --all` on the
demo (<= 60 s, both models > 0.80); README command 2, the quick tests (<= 180 s); feature preparation
(>= 5,000 clips/s, >= 3x librosa one clip at a time, >= 3x a soundfile + torchaudio loop, and its ratio to
a one-process batched floor; steady, the best of two builds after the first, which is shown too); `zoo
predict` over files of 10 min (>= 1,000 h of audio per hour for baseline_cnn, steady; the first call in
the process too); `--jobs 2` vs one at a time (>= 1.0x, or `--jobs` says why it will not help); trainer /
bare step (>= 0.9); cache epoch vs one .pt file per clip (>= 20x).
`pip install -e ".[bench]"` (librosa) for the librosa row.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import predict_speed  # noqa: E402
from reference import (  # noqa: E402
    PerClipFiles,
    batched_floor,
    librosa_features,
    reference_features,
    write_per_clip_files,
)

from zoo.config import FeatureConfig, Protocol  # noqa: E402
from zoo.data.cache import FEATURES, prepare  # noqa: E402
from zoo.data.decode import worker_count  # noqa: E402
from zoo.executors.processes import cpu_advice  # noqa: E402
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
    """The cache built from scratch three times, each into a new folder: the first build in this process
    (imports and first use included) and the best of the other two (the steady rate, as the references are
    timed warm)."""
    cfg = FeatureConfig()

    def cpu():  # this process (its decoding threads) and any finished children
        return sum(os.times()[:4])

    walls = []
    for build in range(3):
        cpu0, t0 = cpu(), time.perf_counter()
        prepared = prepare(table, cfg, work / f"cache{build}")
        walls.append(time.perf_counter() - t0)
        if build == 0:
            cores = (cpu() - cpu0) / walls[0]
    wall = min(walls[1:])
    paths = table["path"].tolist()
    reference_features(paths[:20], cfg)  # warm-up, as the zoo's own kernels were warm
    t0 = time.perf_counter()
    reference_features(paths, cfg)
    ref = time.perf_counter() - t0
    n = len(table)
    result = {"prepared": prepared, "zoo": n / wall, "first": n / walls[0], "reference": n / ref}
    result["cores"] = cores
    result["floor"] = n / batched_floor(paths, cfg)
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
    data = Resident(torch.from_numpy(np.load(prepared.dir / FEATURES)), y, torch.device("cpu"), mean, std)
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
    """`zoo run --all` on the embedded default in a fresh project folder: wall time, peak RSS, accuracies."""
    import pandas as pd

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
    board = pd.read_csv(project / "leaderboard" / "synthetic.csv")
    return {"wall": wall, "rss_mb": rss, "accuracy": dict(zip(board["model"], board["accuracy"]))}


def sweep_times(jobs: int, seeds: int, epochs: int) -> dict:
    """benchmarks/sweep_jobs.py in a fresh process, as `zoo run --jobs N` starts one: forked from this one,
    grown by every row before, its workers would copy what no user's zoo process holds."""
    script = Path(__file__).with_name("sweep_jobs.py")
    options = ["--jobs", str(jobs), "--seeds", str(seeds), "--epochs", str(epochs), "--json"]
    done = subprocess.run([sys.executable, str(script), *options], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def readme_block(heading: str) -> str:
    """The first ```bash block after `heading` in the README: the commands a new user copies."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(heading) :].split("```bash\n", 1)[1].split("```", 1)[0]
    return block.strip()


def bench_readme(work: Path) -> dict:
    """README command 1 (venv, install, demo) and command 2 (the quick tests) on a fresh clone of HEAD."""
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("VIRTUAL_ENV", None)
    times = {}
    for name, heading in (("setup and demo", "## Quick start"), ("tests", "Run the tests")):
        command = readme_block(heading).splitlines()[0]
        t0 = time.perf_counter()
        done = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True, env=env)
        times[name] = (time.perf_counter() - t0, command, done.returncode)
    return times


Row = tuple  # (what, value, target, ok or None, details)


def prepare_rows(name: str, table, prep: dict) -> list[Row]:
    n = len(table)
    rows = [
        (
            f"feature preparation, {name} ({n} clips)",
            f"{prep['zoo']:.0f} clips/s",
            ">= 5000",
            prep["zoo"] >= 5000,
            f"steady, the best of two builds; the first in the process {prep['first']:.0f} clips/s on "
            f"{prep['cores']:.1f} cores",
        ),
    ]
    if "librosa" in prep:
        rows.append(
            (
                "  vs librosa one clip at a time",
                f"{prep['zoo'] / prep['librosa']:.2f}x",
                ">= 3x",
                prep["zoo"] / prep["librosa"] >= 3,
                f"librosa {prep['librosa']:.0f} clips/s",
            )
        )
    rows.append(
        (
            "  vs soundfile + torchaudio one clip at a time",
            f"{prep['zoo'] / prep['reference']:.2f}x",
            ">= 3x",
            prep["zoo"] / prep["reference"] >= 3,
            f"loop {prep['reference']:.0f} clips/s",
        )
    )
    rows.append(
        (
            "  vs one process, batched (the floor)",
            f"{prep['zoo'] / prep['floor']:.2f}x",
            "",
            None,
            f"floor {prep['floor']:.0f} clips/s",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 1-minute subset")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mels", type=int, default=64)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1024, help="training samples per Trainer epoch")
    parser.add_argument("--minutes", type=float, default=60.0, help="audio for the predict rows")
    args = parser.parse_args()
    device = pick_device(args.device)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.quick:
            for name, (wall, command, code) in bench_readme(work).items():
                rows.append(
                    (
                        f"README {name}, fresh clone",
                        f"{wall:.0f} s",
                        "<= 180 s",
                        wall <= 180 and code == 0,
                        f"`{command}` (exit {code})",
                    )
                )
            run = bench_zoo_run(work)
            scores = ", ".join(f"{m} {a:.3f}" for m, a in run["accuracy"].items())
            rows.append(
                (
                    "`zoo run --all`, the demo, fresh folder",
                    f"{run['wall']:.1f} s",
                    "<= 60 s, > 0.80",
                    run["wall"] <= 60 and min(run["accuracy"].values()) > 0.8,
                    f"{scores}; peak RSS {run['rss_mb']:.0f} MB",
                )
            )
        name, table = clip_table(work)
        prep = bench_prepare(table, work)
        rows += prepare_rows(name, table, prep)
        minutes = 20.0 if args.quick else args.minutes
        predicted = predict_speed.measure(minutes)
        for model, (first, steady, per_hour_first, per_hour, alone) in predicted.items():
            target = model == "baseline_cnn"
            rows.append(
                (
                    f"`zoo predict`, {model} (cpu), files of 10 min",
                    f"{per_hour:.0f} h/h",
                    ">= 1000 h/h" if target else "",
                    per_hour >= 1000 if target else None,
                    f"{steady:.1f} s for {minutes:g} min; first call "
                    f"{first:.1f} s ({per_hour_first:.0f} h/h); the model alone {alone:.1f} s",
                )
            )
        if not args.quick:
            times = sweep_times(jobs=2, seeds=6, epochs=5)
            one, two = times.values()
            said = cpu_advice(2, worker_count(), gpus=False)  # what `zoo run --jobs 2` says here, if anything
            rows.append(
                (
                    "`--jobs 2` vs one at a time, 6 short runs",
                    f"{one / two:.2f}x",
                    ">= 1.0x or said",
                    one / two >= 1.0 or said is not None,
                    f"{one:.1f} s vs {two:.1f} s"
                    + ("; here `--jobs 2` says why it will not help" if said else ""),
                )
            )
        load = bench_loading(prep["prepared"], work, args.batch)
        rows.append(
            (
                f"epoch data loading ({load['clips']} windows, batch {args.batch})",
                f"{load['per_clip'] / load['zoo']:.0f}x",
                ">= 20x",
                load["per_clip"] / load["zoo"] >= 20,
                f"cache {load['zoo'] * 1000:.0f} ms; .pt per clip {load['per_clip'] * 1000:.0f} ms",
            )
        )
        steps = max(4, args.samples // args.batch)
        for model_name in ("baseline_cnn",) if args.quick else ("baseline_cnn", "efficientnet_b0"):
            t = bench_trainer(model_name, device, args.batch, args.mels, args.frames, args.samples, steps)
            rows.append(
                (
                    f"{model_name}: trainer / bare step ({device}, {args.mels}x{args.frames})",
                    f"{t['trainer'] / t['bare']:.2f}",
                    ">= 0.9",
                    t["trainer"] / t["bare"] >= 0.9,
                    f"trainer {t['trainer']:.0f} samples/s; bare {t['bare']:.0f} samples/s",
                )
            )
    print_table(rows)


def print_table(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'value':>12}  {'target':>16}  ok   details")
    for what, value, target, ok, details in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{what:<{width}}  {value:>12}  {target:>16}  {mark:<3}  {details}")


if __name__ == "__main__":
    main()
