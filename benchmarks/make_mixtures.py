"""Multi-label test data made from real recordings (generated on demand, nothing shipped; the same seed
gives the same files):

    python benchmarks/make_mixtures.py --out /work/data-gen                     # all three, default sizes
    python benchmarks/make_mixtures.py --out /tmp/mix --kind fsdd --n 200       # a small FSDD set
    python benchmarks/make_mixtures.py --out /tmp/mix --kind soundscape --minutes 2

- fsdd: OUT/fsdd-mixtures/: 1.5 s clips at 8 kHz, each the sum of two or three FSDD digits of different
  speakers and different digits, at random offsets and 0 +/- 6 dB around equal RMS, peak-normalised.
  The official split is kept: test mixtures use only official test recordings (index 0-4), train and
  val mixtures only the rest; val is a random share (--val-share) of the train-side mixtures, so val
  and train share source recordings (never test). Each mixture is its own group.
- watkins: OUT/watkins-mixtures/: 4 s clips at 16 kHz (every clip decoded and resampled to 16 kHz with
  scipy's polyphase filter), one per Watkins10 clip: the clip plus one or two clips of other classes,
  all from the same split side. Splits are assigned first, by group (about 70/15/15 within each
  class); a mixture's group is its base clip's group. The 48 clips whose audio is byte-identical to a
  clip of another class (an ambiguous label) are left out.
- soundscape: OUT/soundscape/: --minutes of 16 kHz pink noise at -40 dBFS RMS with 300-600 calls per
  hour of three Watkins10 classes (SOUNDSCAPE_CLASSES, recorded at 5-30 kHz so little is lost at
  16 kHz), non-overlapping with at least a 1 s gap, at 5-20 dB SNR; its truth as a Raven Pro
  selection table. The calls come from the val and test groups of the Watkins split above; the
  detector's training set (OUT/soundscape/train/annotations.csv) has the train groups' clips of those
  classes, each in the same kind of noise, plus noise-only clips with an empty labels cell.

Every folder also gets sources.csv: which recording went where, at what offset and gain.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

FSDD_RATE, FSDD_SECONDS = 8000, 1.5
RATE, WATKINS_SECONDS = 16000, 4.0
PEAK = 10 ** (-1 / 20)  # mixtures are scaled to a -1 dBFS peak
GAIN_DB = 6.0  # each source at uniform [-6, 6] dB around equal RMS
FADE_S = 0.005  # raised-cosine fade in and out of every placed source (no clicks at crops)
SPLIT_SHARES = {"train": 0.70, "val": 0.15, "test": 0.15}

SOUNDSCAPE_CLASSES = ("3_BW", "7_NRW_NorthernRightWhale", "8_RS")
NOISE_DBFS = -40.0
SNR_DB = (5.0, 20.0)
EVENTS_PER_HOUR = (300, 600)
EVENT_MAX_S, EVENT_GAP_S, EDGE_S = 4.0, 1.0, 1.0
RAVEN_HEADER = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies"
)
# Kellet's pink-noise filter (-3 dB/octave from about 10 Hz up)
PINK_B = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
PINK_A = [1.0, -2.494956002, 2.017265875, -0.522189400]

STREAMS = {"fsdd": 1, "watkins": 2, "soundscape": 3, "split": 4}


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """One independent generator per kind: a kind gives the same files alone or within `all`."""
    return np.random.default_rng([seed, STREAMS[stream]])


# -- audio helpers ------------------------------------------------------------------------------------


def read_mono(path: Path, rate: int) -> np.ndarray:
    """The file as float32 mono at `rate` (polyphase resampling when its own rate differs)."""
    data, own = sf.read(path, dtype="float32", always_2d=True)
    wave = data.mean(axis=1)
    if own != rate:
        g = math.gcd(own, rate)
        wave = resample_poly(wave, rate // g, own // g).astype(np.float32)
    return wave


def rms(x: np.ndarray) -> float:
    return max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-9)


def loudest(x: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """`x` cut to at most `length` samples: the window with the most energy (so a crop keeps the call)."""
    if len(x) <= length:
        return x, 0
    energy = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return x[start : start + length], start


def faded(x: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(FADE_S * rate), len(x) // 2)
    if n < 2:
        return x
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
    x = x.copy()
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def mix(sources: list[np.ndarray], length: int, rate: int, rng: np.random.Generator):
    """Sum of the sources, each cut to fit, at a random offset and 0 +/- GAIN_DB around equal RMS,
    scaled to a PEAK peak. Returns the clip and, per source, (offset_s, crop_start_s, gain_db)."""
    out = np.zeros(length, np.float32)
    placed = []
    for source in sources:
        segment, crop = loudest(source, length)
        offset = int(rng.integers(0, length - len(segment) + 1))
        gain_db = float(rng.uniform(-GAIN_DB, GAIN_DB))
        segment = faded(segment, rate) * np.float32(10 ** (gain_db / 20) / rms(segment))
        out[offset : offset + len(segment)] += segment
        placed.append((offset / rate, crop / rate, gain_db))
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= np.float32(PEAK / peak)
    return out, placed


def pink_noise(n: int, dbfs: float, rng: np.random.Generator, chunk: int = 1 << 20) -> np.ndarray:
    """`n` samples of pink noise at `dbfs` RMS, made in chunks (an hour at 16 kHz stays float32)."""
    warm = 4096  # drop the filter's start-up transient
    out = np.empty(n + warm, np.float32)
    state = np.zeros(len(PINK_A) - 1)
    energy = 0.0  # summed as it goes: no float64 copy of an hour of audio
    for start in range(0, n + warm, chunk):
        white = rng.standard_normal(min(chunk, n + warm - start))
        block, state = lfilter(PINK_B, PINK_A, white, zi=state)
        out[start : start + len(block)] = block
        energy += float(np.sum(np.square(block[max(0, warm - start) :])))
    out = out[warm:]
    out *= np.float32(10 ** (dbfs / 20) / max(math.sqrt(energy / n), 1e-9))
    return out


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def fresh(folder: Path, audio: str = "audio") -> Path:
    """The kind's own output folder, emptied (a smaller rerun leaves no stale files behind)."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / audio).mkdir(parents=True)
    return folder


def read_metadata(folder: Path) -> list[dict]:
    with open(folder / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def split_counts(rows: list[list], column: int) -> str:
    counts = defaultdict(int)
    for row in rows:
        counts[row[column]] += 1
    return ", ".join(f"{s} {counts[s]}" for s in ("train", "val", "test") if counts[s])


# -- FSDD ---------------------------------------------------------------------------------------------


def make_fsdd(data: Path, out: Path, seed: int, n: int, n_test: int, val_share: float) -> str:
    rng = rng_for(seed, "fsdd")
    folder = fresh(out / "fsdd-mixtures")
    pools: dict[str, dict[tuple[str, str], list[str]]] = {
        "train": defaultdict(list),
        "test": defaultdict(list),
    }
    for row in read_metadata(data):
        pools[row["official_split"]][(row["group"], row["label"])].append(row["path"])
    speakers = sorted({speaker for speaker, _ in pools["train"]})
    digits = sorted({digit for _, digit in pools["train"]})
    n_val = round(n * val_share)
    splits = np.array(["test"] * n_test + ["val"] * n_val + ["train"] * (n - n_val))
    rng.shuffle(splits)  # ids say nothing about the split
    cache: dict[str, np.ndarray] = {}
    rows, sources = [], []
    length = int(FSDD_SECONDS * FSDD_RATE)
    for i, split in enumerate(splits):
        k = int(rng.integers(2, 4))
        who = rng.choice(speakers, k, replace=False)
        what = rng.choice(digits, k, replace=False)
        side = "test" if split == "test" else "train"
        paths = [str(rng.choice(pools[side][(s, d)])) for s, d in zip(who, what)]
        for p in paths:
            if p not in cache:
                cache[p] = read_mono(data / p, FSDD_RATE)
        wave, placed = mix([cache[p] for p in paths], length, FSDD_RATE, rng)
        name = f"audio/mix_{i:05d}.wav"
        sf.write(folder / name, wave, FSDD_RATE, subtype="PCM_16")
        rows.append([name, ";".join(sorted(what)), f"fsdd-mix-{i:05d}", split])
        for p, (offset, crop, gain) in zip(paths, placed):
            sources.append([name, f"fsdd/{p}", f"{offset:.4f}", f"{crop:.4f}", f"{gain:.2f}"])
    write_csv(folder / "annotations.csv", ["path", "labels", "group", "split"], rows)
    write_csv(folder / "sources.csv", ["path", "source", "offset_s", "crop_start_s", "gain_db"], sources)
    sizes = np.bincount([len(r[1].split(";")) for r in rows])
    return (
        f"{len(rows)} mixtures ({split_counts(rows, 3)}; {sizes[2]} of two digits, {sizes[3]} of three; "
        f"{FSDD_SECONDS} s at {FSDD_RATE} Hz) from {len(cache)} recordings"
    )


# -- Watkins10 ----------------------------------------------------------------------------------------


def watkins_clips(data: Path) -> list[dict]:
    """metadata.csv's rows less the clips whose audio also sits under another class (ambiguous labels)."""
    rows = read_metadata(data)
    labels_of = defaultdict(set)
    for row in rows:
        labels_of[row["md5"]].add(row["label"])
    return [row for row in rows if len(labels_of[row["md5"]]) == 1]


def grouped_split(rows: list[dict], seed: int) -> dict[str, str]:
    """group -> split, about SPLIT_SHARES of each class's groups (a group holds one class)."""
    groups = defaultdict(set)
    for row in rows:
        groups[row["label"]].add(row["group"])
    rng = rng_for(seed, "split")
    split = {}
    for label in sorted(groups):
        order = rng.permutation(sorted(groups[label]))
        n_val = round(len(order) * SPLIT_SHARES["val"])
        n_test = round(len(order) * SPLIT_SHARES["test"])
        for j, group in enumerate(order):
            split[str(group)] = "val" if j < n_val else "test" if j < n_val + n_test else "train"
    return split


def make_watkins(data: Path, out: Path, seed: int, n: int | None) -> str:
    rng = rng_for(seed, "watkins")
    folder = fresh(out / "watkins-mixtures")
    clips = watkins_clips(data)
    split_of = grouped_split(clips, seed)
    by_split_label = defaultdict(list)
    for row in clips:
        by_split_label[split_of[row["group"]], row["label"]].append(row)
    bases = (
        clips
        if n is None or n >= len(clips)
        else [clips[j] for j in sorted(rng.choice(len(clips), n, replace=False))]
    )
    cache: dict[str, np.ndarray] = {}
    rows, sources = [], []
    length = int(WATKINS_SECONDS * RATE)
    for i, base in enumerate(bases):
        split = split_of[base["group"]]
        others = sorted({label for s, label in by_split_label if s == split} - {base["label"]})
        picked = [base] + [
            by_split_label[split, label][int(rng.integers(len(by_split_label[split, label])))]
            for label in rng.choice(others, int(rng.integers(1, 3)), replace=False)
        ]
        for row in picked:
            if row["path"] not in cache:
                cache[row["path"]] = read_mono(data / row["path"], RATE)
        wave, placed = mix([cache[row["path"]] for row in picked], length, RATE, rng)
        name = f"audio/mix_{i:05d}.wav"
        sf.write(folder / name, wave, RATE, subtype="PCM_16")
        rows.append([name, ";".join(sorted(row["label"] for row in picked)), base["group"], split])
        for row, (offset, crop, gain) in zip(picked, placed):
            sources.append([name, f"watkins10/{row['path']}", f"{offset:.4f}", f"{crop:.4f}", f"{gain:.2f}"])
    write_csv(folder / "annotations.csv", ["path", "labels", "group", "split"], rows)
    write_csv(folder / "sources.csv", ["path", "source", "offset_s", "crop_start_s", "gain_db"], sources)
    return (
        f"{len(rows)} mixtures ({split_counts(rows, 3)}; {len({r[2] for r in rows})} groups; "
        f"{WATKINS_SECONDS} s at {RATE} Hz) from {len(cache)} recordings "
        f"({len(read_metadata(data)) - len(clips)} ambiguous clips left out)"
    )


# -- soundscape ---------------------------------------------------------------------------------------


def snr_gain(event: np.ndarray, noise_rms: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The event scaled to SNR_DB over the noise (RMS against RMS), its peak capped at PEAK."""
    snr = float(rng.uniform(*SNR_DB))
    gain = noise_rms * 10 ** (snr / 20) / rms(event)
    gain = min(gain, PEAK / 2 / max(float(np.max(np.abs(event))), 1e-9))
    return event * np.float32(gain), 20 * math.log10(max(gain * rms(event) / noise_rms, 1e-9))


def make_soundscape(data: Path, out: Path, seed: int, minutes: float) -> str:
    rng = rng_for(seed, "soundscape")
    folder = fresh(out / "soundscape", "train/audio")
    clips = [row for row in watkins_clips(data) if row["label"] in SOUNDSCAPE_CLASSES]
    split_of = grouped_split(watkins_clips(data), seed)  # the same split as `watkins`
    pool = defaultdict(list)  # events: the val and test groups; the detector's training set: train
    train_rows = []
    for row in clips:
        (pool[row["label"]] if split_of[row["group"]] != "train" else train_rows).append(row)
    cache: dict[str, np.ndarray] = {}

    def event_audio(row: dict) -> tuple[np.ndarray, int]:
        if row["path"] not in cache:
            cache[row["path"]] = read_mono(data / row["path"], RATE)
        segment, crop = loudest(cache[row["path"]], int(EVENT_MAX_S * RATE))
        return faded(segment, RATE), crop

    # the recording: events drawn first, then spread with at least EVENT_GAP_S between them
    total = int(minutes * 60 * RATE)
    n_events = max(1, round(rng.integers(EVENTS_PER_HOUR[0], EVENTS_PER_HOUR[1] + 1) * minutes / 60))
    events = []
    for _ in range(n_events):
        label = SOUNDSCAPE_CLASSES[int(rng.integers(len(SOUNDSCAPE_CLASSES)))]
        row = pool[label][int(rng.integers(len(pool[label])))]
        events.append((row, *event_audio(row)))
    gap, edge = int(EVENT_GAP_S * RATE), int(EDGE_S * RATE)
    while events and total - 2 * edge - (len(events) - 1) * gap - sum(len(e[1]) for e in events) < 0:
        events.pop()  # too many for the length asked (only for very short recordings)
    slack = total - 2 * edge - (len(events) - 1) * gap - sum(len(e[1]) for e in events)
    shifts = np.sort(rng.integers(0, slack + 1, len(events)))
    wave = pink_noise(total, NOISE_DBFS, rng)
    noise_rms = 10 ** (NOISE_DBFS / 20)
    raven, sources, begin = [RAVEN_HEADER], [], edge
    for j, ((row, segment, crop), shift) in enumerate(zip(events, shifts)):
        start = int(begin + shift)
        segment, snr = snr_gain(segment, noise_rms, rng)
        wave[start : start + len(segment)] += segment
        raven.append(
            f"{j + 1}\tSpectrogram 1\t1\t{start / RATE:.4f}\t{(start + len(segment)) / RATE:.4f}\t0\t8000\t"
            + row["label"]
        )
        sources.append([j + 1, f"watkins10/{row['path']}", f"{crop / RATE:.4f}", f"{snr:.2f}"])
        begin += len(segment) + gap
    sf.write(folder / "soundscape.wav", wave, RATE, subtype="PCM_16")
    (folder / "soundscape.Table.1.selections.txt").write_text("\n".join(raven) + "\n")
    write_csv(folder / "sources.csv", ["selection", "source", "crop_start_s", "snr_db"], sources)
    del wave

    # the detector's training set: the train groups' calls in the same noise, and noise alone
    train = folder / "train"
    val_groups = set()
    for label in SOUNDSCAPE_CLASSES:
        groups = sorted({row["group"] for row in train_rows if row["label"] == label})
        val_groups |= {str(g) for g in rng.permutation(groups)[: round(len(groups) * SPLIT_SHARES["val"])]}
    rows, train_sources = [], []
    for j, row in enumerate(train_rows):
        segment, crop = event_audio(row)
        before, after = (int(rng.uniform(0.25, 1.0) * RATE) for _ in range(2))
        level = NOISE_DBFS + rng.uniform(-3, 3)
        clip = pink_noise(before + len(segment) + after, level, rng)
        segment, snr = snr_gain(segment, 10 ** (level / 20), rng)
        clip[before : before + len(segment)] += segment
        name = f"audio/call_{j:04d}.wav"
        sf.write(train / name, clip, RATE, subtype="PCM_16")
        rows.append([name, row["label"], row["group"], "val" if row["group"] in val_groups else "train"])
        source = f"watkins10/{row['path']}"
        train_sources.append([name, source, f"{before / RATE:.4f}", f"{crop / RATE:.4f}", f"{snr:.2f}"])
    n_background = round(len(train_rows) / len(SOUNDSCAPE_CLASSES))
    for j in range(n_background):
        clip = pink_noise(int(rng.uniform(1.0, 4.0) * RATE), NOISE_DBFS + rng.uniform(-3, 3), rng)
        name = f"audio/background_{j:04d}.wav"
        sf.write(train / name, clip, RATE, subtype="PCM_16")
        split = "val" if j < round(n_background * SPLIT_SHARES["val"]) else "train"
        rows.append([name, "", f"background-{j:04d}", split])
    write_csv(train / "annotations.csv", ["path", "labels", "group", "split"], rows)
    write_csv(train / "sources.csv", ["path", "source", "offset_s", "crop_start_s", "snr_db"], train_sources)
    per_class = {label: sum(e[0]["label"] == label for e in events) for label in SOUNDSCAPE_CLASSES}
    return (
        f"{minutes:g} min at {RATE} Hz with {len(events)} events ("
        + ", ".join(f"{label} {k}" for label, k in per_class.items())
        + f"; from {len({e[0]['path'] for e in events})} val/test clips); detector training set: "
        f"{len(train_rows)} calls + {n_background} noise-only clips ({split_counts(rows, 3)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the data sets under")
    parser.add_argument("--kind", choices=["fsdd", "watkins", "soundscape", "all"], default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding fsdd/ and watkins10/")
    parser.add_argument(
        "--n",
        type=int,
        help="fsdd: train+val mixtures (default 3000); watkins: at most this many (default all)",
    )
    parser.add_argument("--n-test", type=int, help="fsdd: test mixtures (default n / 6, so 500)")
    parser.add_argument(
        "--val-share", type=float, default=0.15, help="fsdd: share of train-side mixtures in val"
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="soundscape: its length")
    args = parser.parse_args()

    kinds = ["fsdd", "watkins", "soundscape"] if args.kind == "all" else [args.kind]
    folders = {"fsdd": "fsdd-mixtures", "watkins": "watkins-mixtures", "soundscape": "soundscape"}
    start_all = time.perf_counter()
    for kind in kinds:
        wall, cpu = time.perf_counter(), time.process_time()
        if kind == "fsdd":
            n = args.n or 3000
            n_test = args.n_test if args.n_test is not None else round(n / 6)
            what = make_fsdd(args.data / "fsdd", args.out, args.seed, n, n_test, args.val_share)
        elif kind == "watkins":
            what = make_watkins(args.data / "watkins10", args.out, args.seed, args.n)
        else:
            what = make_soundscape(args.data / "watkins10", args.out, args.seed, args.minutes)
        folder = args.out / folders[kind]
        print(
            f"{kind}: {what}\n  -> {folder} ({folder_mb(folder):.1f} MB) in "
            f"{time.perf_counter() - wall:.1f} s ({time.process_time() - cpu:.1f} s CPU)",
            flush=True,
        )
    print(f"done in {time.perf_counter() - start_all:.1f} s (seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
