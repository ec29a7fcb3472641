from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from conftest import write_tone
from zoo.config import FeatureConfig, SplitConfig
from zoo.data.audio import DecodeError, fit_length, load_mono
from zoo.data.cache import cache_key, prepare
from zoo.data.clips import check_clip_table, read_annotations, scan_folder
from zoo.data.features import LogMel
from zoo.data.splits import assign_splits, plan_splits, resolve_duplicates
from zoo.errors import ZooError, ZooWarning

FEATURES = FeatureConfig(n_mels=32, frames=32, hop_length=256)


def test_decode_mixes_rates_depths_and_channels_to_mono_at_one_rate(tmp_path):
    a = load_mono(write_tone(tmp_path / "a.wav", sr=8000, seconds=1.0), 16000)
    b = load_mono(write_tone(tmp_path / "b.flac", sr=44100, seconds=1.0, subtype="PCM_24", channels=2), 16000)
    c = load_mono(write_tone(tmp_path / "c.wav", sr=96000, seconds=1.0, subtype="FLOAT"), 16000)
    assert a.shape == b.shape == c.shape == (16000,)
    assert a.dtype == torch.float32


@pytest.mark.parametrize(
    "subtype, channels, plain",
    [
        ("PCM_16", 1, True),
        ("PCM_16", 2, True),
        ("FLOAT", 3, True),
        ("PCM_24", 1, False),
        ("PCM_U8", 2, False),
    ],
)
@pytest.mark.parametrize("extensible", [False, True])
def test_plain_wavs_are_read_from_their_bytes_as_libsndfile_reads_them(
    tmp_path, subtype, channels, plain, extensible
):
    """16-bit PCM and 32-bit float WAVs are taken from the bytes read for the md5, bit for bit what soundfile
    gives; other formats (and WAVE_FORMAT_EXTENSIBLE headers) are left to libsndfile, with the same result."""
    from zoo.data.audio import _plain_wav, _wav_layout, read_file

    rng = np.random.default_rng(0)
    wave = np.clip(rng.standard_normal((4001, channels)) * 0.3, -1, 1).astype(np.float32)
    wave[7] = -1.0  # the most negative integer: -32768 / 32768 exactly
    path = tmp_path / "x.wav"
    sf.write(path, wave, 11025, subtype=subtype, format="WAVEX" if extensible else "WAV")
    raw = path.read_bytes()
    assert (_plain_wav(raw, _wav_layout(raw)) is not None) == (plain and not extensible)
    expected, rate = sf.read(path, dtype="float32", always_2d=True)
    clip = read_file(path)
    assert clip.sample_rate == rate and clip.channels == channels
    assert np.array_equal(clip.wave, expected.mean(axis=1) if channels > 1 else expected[:, 0])
    assert clip.bits == {"PCM_16": 16, "FLOAT": 32, "PCM_24": 24, "PCM_U8": 8}[subtype]
    path.write_bytes(raw[:-2000])  # cut short: the header promises more than the file holds
    with pytest.raises(DecodeError, match="truncated"):
        read_file(path)


def test_parts_of_a_recording_are_decoded_once_per_thread_that_reads_them(tmp_path, monkeypatch):
    """Preparation decodes in threads: each keeps the recording it read last, so two threads reading parts
    of two recordings side by side decode each once, not once per part (one shared cache would thrash)."""
    import threading

    from zoo.data import audio

    paths = [write_tone(tmp_path / f"{name}.wav", sr=8000, seconds=4.0) for name in ("a", "b")]
    decoded = []
    read_file = audio.read_file
    monkeypatch.setattr(audio, "read_file", lambda path, hashed=True: decoded.append(path) or read_file(path))
    barrier = threading.Barrier(2)

    def parts(path):
        for start in range(4):
            barrier.wait()  # the two threads take turns part by part
            assert len(audio.read_clip(f"{path}#t={start},{start + 1}").wave) == 8000

    threads = [threading.Thread(target=parts, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, decoded)) == sorted(map(str, paths))


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot decode"),
        (b"not audio at all" * 10, "cannot decode"),
    ],
)
def test_unreadable_files_raise_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=reason):
        load_mono(path, 16000)


def test_nan_and_silent_files_are_refused(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "nan.wav", np.full(800, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    sf.write(tmp_path / "zero.wav", np.zeros(800, dtype=np.float32), 8000)
    with pytest.raises(DecodeError, match="NaN"):
        load_mono(tmp_path / "nan.wav", 8000)
    with pytest.raises(DecodeError, match="silent"):
        load_mono(tmp_path / "zero.wav", 8000)


def test_fit_length_pads_and_centre_crops():
    assert fit_length(torch.ones(10), 16).tolist() == [1.0] * 10 + [0.0] * 6
    assert fit_length(torch.arange(10.0), 4).tolist() == [3.0, 4.0, 5.0, 6.0]


def test_logmel_has_the_configured_shape():
    spec = LogMel(FEATURES)(torch.randn(3, FEATURES.samples))
    assert spec.shape == (3, 1, 32, 32) and torch.isfinite(spec).all()


def test_scan_folder_and_its_errors(tmp_path):
    for label in ("cat", "dog"):
        write_tone(tmp_path / "data" / label / "x.wav")
    table = scan_folder(tmp_path / "data")
    assert sorted(table["label"]) == ["cat", "dog"]
    with pytest.raises(ZooError, match="does not exist"):
        scan_folder(tmp_path / "nowhere")
    (tmp_path / "data" / "owl").mkdir()
    with pytest.raises(
        ZooError, match=r"Class folder .*owl has no audio files .* add clips or remove the folder"
    ):
        scan_folder(tmp_path / "data")


def test_read_annotations_resolves_paths_and_names_missing_columns(tmp_path):
    (tmp_path / "meta.csv").write_text("file,species,tape\na/1.wav,orca,t1\n")
    table = read_annotations(
        tmp_path / "meta.csv", path_column="file", label_column="species", group_column="tape"
    )
    assert table.loc[0, "path"] == str(tmp_path / "a" / "1.wav") and table.loc[0, "group"] == "t1"
    with pytest.raises(ZooError, match=r"no 'path' column .* set dataset.options.path_column"):
        read_annotations(tmp_path / "meta.csv")


def test_check_clip_table_refuses_one_class_and_bad_splits():
    with pytest.raises(ZooError, match="only one class"):
        check_clip_table(pd.DataFrame({"path": ["a", "b"], "label": ["x", "x"]}), "t")
    with pytest.raises(ZooError, match="split column has 'holdout'; use train, val or test"):
        check_clip_table(
            pd.DataFrame({"path": ["a", "b"], "label": ["x", "y"], "split": ["train", "holdout"]}), "t"
        )


def test_common_split_names_are_read_and_the_mapping_said():
    """Item 18: validation / valid / dev are val (and so on), with a warning that says so."""
    table = pd.DataFrame(
        {
            "path": list("abcdef"),
            "label": list("xyxyxy"),
            "split": ["Training", "validation", "valid", "dev", "test", "Evaluation"],
        }
    )
    with pytest.warns(
        ZooWarning,
        match="split names read as dev = val, evaluation = test, training = train, "
        "valid = val, validation = val",
    ):
        checked = check_clip_table(table, "t")
    assert checked["split"].tolist() == ["train", "val", "val", "val", "test", "test"]


def grouped_table(classes=4, groups=10, per_group=3):
    rows = [
        {"path": f"{c}/{g}/{i}.wav", "label": f"c{c}", "group": f"{c}-{g}"}
        for c in range(classes)
        for g in range(groups)
        for i in range(per_group)
    ]
    return pd.DataFrame(rows)


def test_splits_never_put_one_group_in_two_splits_and_keep_every_class():
    table = grouped_table()
    split = assign_splits(table, SplitConfig(val=0.2, test=0.2, seed=1))
    assert table.assign(split=split).groupby("group")["split"].nunique().max() == 1
    for name in ("train", "val", "test"):
        assert table[split == name]["label"].nunique() == 4
    assert abs((split == "test").mean() - 0.2) < 0.05
    assert split.equals(assign_splits(table, SplitConfig(val=0.2, test=0.2, seed=1)))  # fixed seed


def test_own_split_is_kept_and_val_is_carved_from_train_by_group():
    table = grouped_table().assign(
        split=lambda t: np.where(t["group"].str.endswith(("-0", "-1")), "test", "train")
    )
    split = assign_splits(table, SplitConfig(val=0.2, test=0.2))
    assert (split[table["split"] == "test"] == "test").all()
    assert (split == "val").any()
    assert table.assign(split=split).groupby("group")["split"].nunique().max() == 1


def test_few_groups_hold_out_one_group_and_one_group_is_a_clear_error():
    table = grouped_table(classes=1, groups=3)
    split = assign_splits(table, SplitConfig())  # 3 groups: one each for train, val and test
    assert table.assign(split=split).groupby("split")["group"].nunique().to_dict() == {
        "test": 1,
        "train": 1,
        "val": 1,
    }
    with pytest.raises(ZooError, match="Only 1 groups for a 20% test split"):
        assign_splits(grouped_table(classes=1, groups=1), SplitConfig())


def test_k_folds_hold_out_each_group_once():
    table = grouped_table(groups=5)
    tests = [assign_splits(table, SplitConfig(), folds=5, fold=f) == "test" for f in range(1, 6)]
    assert (sum(t.astype(int) for t in tests) == 1).all()  # every clip is test in exactly one fold
    own = table.assign(fold=table["group"].str[-1].astype(int) + 1)
    assert (assign_splits(own, SplitConfig(), folds=5, fold=2)[own["fold"] == 2] == "test").all()
    with pytest.raises(ZooError, match="not 1..3"):
        assign_splits(own, SplitConfig(), folds=3, fold=1)


def folder_dataset(root, per_class=8):
    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for i in range(per_class):
            write_tone(root / label / f"{i}.wav", freq=freq + 10 * i)
    return check_clip_table(scan_folder(root), "test")


def test_cache_skips_unreadable_clips_lists_them_and_is_reused(tmp_path):
    folder_dataset(tmp_path / "data")
    (tmp_path / "data" / "low" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    table = check_clip_table(scan_folder(tmp_path / "data"), "test")
    prepared = prepare(table, FEATURES, tmp_path / "cache")
    assert [s["path"] for s in prepared.skipped] == [str(tmp_path / "data" / "low" / "broken.wav")]
    assert "cannot decode" in prepared.skipped[0]["reason"]
    plan = plan_splits(prepared.clips, SplitConfig(val=0.25, test=0.25))
    sizes = {s: len(prepared.split(plan, s).y) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == 16 and min(sizes.values()) > 0
    assert prepared.split(plan, "train").x.shape[1:] == (1, 32, 32)
    again = prepare(table, FEATURES, tmp_path / "cache")
    assert again.dir == prepared.dir
    assert (prepared.dir / "features.npy").stat().st_mtime_ns == (
        again.dir / "features.npy"
    ).stat().st_mtime_ns


def test_long_clips_give_windows_and_short_ones_one(tmp_path):
    write_tone(tmp_path / "a" / "long.wav", seconds=3.0)  # about 6 windows of 0.5 s
    write_tone(tmp_path / "b" / "short.wav", seconds=0.05)
    table = check_clip_table(scan_folder(tmp_path), "test")
    prepared = prepare(
        table, FeatureConfig(n_mels=32, frames=32, hop_length=256, max_windows=4), tmp_path / "cache"
    )
    assert prepared.clips["windows"].tolist() == [4, 1]
    assert prepared.tensors["clip"].tolist() == [0, 0, 0, 0, 1]
    # evenly spaced, from the start to the end of the clip, in frames of 256 samples at 16 kHz
    last = (3.0 * 16000 - 31 * 256) / 256
    assert prepared.tensors["start"].tolist() == pytest.approx([0, last / 3, 2 * last / 3, last, 0], abs=0.01)


@pytest.mark.parametrize(
    "rate, target",
    [
        (8000, 16000),
        (44100, 16000),
        (22050, 16000),
        (48000, 16000),
        (16000, 8000),
        (8000, 22050),
        (5000, 16000),
    ],
)
def test_resampling_by_blocks_gives_torchaudios_numbers(rate, target, monkeypatch):
    """zoo.data.resampling computes torchaudio's Resample from its kernel's non-zero band, by matrix products:
    the same length and the same samples to float rounding, for batches, short inputs, and long ones that go
    a segment at a time (SEGMENT made small here so that a few seconds span several)."""
    import torchaudio

    from zoo.data import resampling

    monkeypatch.setattr(resampling, "SEGMENT", 5000)
    reference, ours = torchaudio.transforms.Resample(rate, target), resampling.Resampler(rate, target)
    assert sum(b.phases for b in ours.blocks) == ours.new
    generator = torch.Generator().manual_seed(rate + target)
    for shape in [(1,), (7,), (3, 501), (2, 2, 4000), (rate * 3,)]:
        x = torch.randn(shape, generator=generator)
        expected, got = reference(x), ours(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=2e-6, rtol=0)
    assert ours(torch.zeros(0, 3, 100)).shape == (0, 3, reference(torch.zeros(1, 100)).shape[-1])
    assert ours(torch.zeros(2, 0)).shape == (2, 0)  # torchaudio raises here


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 96000])
def test_window_logmels_skip_the_padding_but_not_a_number(rate):
    """Windows of clips shorter than the window are resampled and transformed only as far as their audio
    reaches; every frame matches the plain path (resample the padded window, then LogMel), and the frames
    that see only padding are the floor exactly."""
    from zoo.data.features import FLOOR_DB
    from zoo.data.featurise import clip_windows, window_logmels
    from zoo.data.resampling import resample

    f = FeatureConfig(n_mels=32, frames=64, hop_length=256)
    rng = np.random.default_rng(rate)
    clips = [rng.standard_normal(int(rate * s)).astype(np.float32) for s in (0.02, 0.3, 0.55, 0.9, 1.0, 2.5)]
    cut, _, used = clip_windows(clips, rate, f)
    got = window_logmels(cut, used, rate, f)
    plain = LogMel(f)(fit_length(resample(cut, rate, f.sample_rate), f.samples))
    assert got.shape == plain.shape
    torch.testing.assert_close(got, plain, atol=0.05, rtol=0)  # float rounding at -90 dB and below
    loud = plain > plain.amax(dim=(1, 2, 3), keepdim=True) - 60
    assert (got - plain)[loud].abs().max() < 1e-3
    short = got[0, 0]  # 20 ms of audio: the frames past it and the resampler's reach are the floor
    assert (short[:, 8:] == FLOOR_DB).all() and (plain[0, 0][:, 8:] == FLOOR_DB).all()


SHAPES = [FeatureConfig(), FeatureConfig(n_fft=1024, hop_length=160, frames=101), FeatureConfig(n_fft=256)]


@pytest.mark.parametrize("f", SHAPES)
def test_sliding_windows_share_one_stft_and_keep_their_numbers(f):
    """LogMel.windows computes each STFT frame of a recording once for the windows that share it; every
    window's log-mels are what LogMel gives for that window alone (its edges padded by reflection), also for
    windows off the STFT's hop and in several blocks."""
    lm = LogMel(f)
    wave = torch.randn(40 * f.samples)
    starts = list(range(0, len(wave) - f.samples + 1, f.samples // f.hop_length // 2 * f.hop_length))
    starts += [len(wave) - f.samples, 777]
    got = lm.windows(wave, starts, f.samples, block=7)
    alone = lm(torch.stack([wave[s : s + f.samples] for s in starts]))
    torch.testing.assert_close(got, alone, atol=1e-4, rtol=0)


def test_windows_cover_the_whole_clip():
    from zoo.data.audio import window_starts

    assert window_starts(100, 100, 8) == [0]
    assert window_starts(101, 100, 8) == [0]  # within 1 %: one window, centre crop
    assert window_starts(110, 100, 8) == [0, 10]  # longer: two, overlapping
    assert window_starts(250, 100, 8) == [0, 75, 150]
    assert window_starts(2000, 100, 8) == [round(i * 1900 / 7) for i in range(8)]  # capped: gaps


def test_cache_key_follows_table_and_features_only(tmp_path):
    table = folder_dataset(tmp_path / "data", per_class=2)
    base = cache_key(table, FEATURES)
    assert cache_key(table.copy(), FeatureConfig(n_mels=32, frames=32, hop_length=256)) == base
    assert cache_key(table, FeatureConfig(n_mels=40, frames=32, hop_length=256)) != base
    assert cache_key(table.iloc[1:], FEATURES) != base
    write_tone(tmp_path / "data" / "low" / "0.wav", freq=999, seconds=0.7)  # same path, new content
    assert cache_key(table, FEATURES) != base


def test_data_fingerprint_is_the_content_not_the_place(tmp_path):
    """Item 20: the same files in two folders (other paths, mtimes, group names) have one fingerprint."""
    import shutil

    table = check_clip_table(folder_dataset(tmp_path / "one", per_class=3), "t")
    first = prepare(table, FEATURES, tmp_path / "cache").fingerprint
    shutil.copytree(tmp_path / "one", tmp_path / "two")  # new paths, new mtimes
    moved = check_clip_table(scan_folder(tmp_path / "two"), "t")
    assert prepare(moved, FEATURES, tmp_path / "cache").fingerprint == first
    relabelled = moved.assign(label=lambda t: t["label"].where(t.index != 0, "other"))
    assert prepare(relabelled, FEATURES, tmp_path / "cache").fingerprint != first
    regrouped = moved.assign(group="one recording")
    assert prepare(regrouped, FEATURES, tmp_path / "cache").fingerprint != first


def test_duplicates_are_summed_up_in_one_line_and_listed_in_a_table():
    """Item 16: one summary line (not a line per pair) and the pairs as a table for duplicates.csv."""
    clips = pd.DataFrame(
        {
            "path": ["a1", "b1", "a2", "a3", "c"],
            "label": ["a", "b", "a", "a", "c"],
            "md5": ["x", "x", "y", "y", "z"],
        }
    )
    kept, table, messages = resolve_duplicates(clips)
    assert kept["path"].tolist() == ["a2", "c"]
    assert messages == [
        "2 set(s) of byte-identical files (4 files): 1 under different labels (every copy dropped), "
        "1 under one label (first copy kept); listed in duplicates.csv"
    ]
    assert table[["path", "action"]].values.tolist() == [
        ["a1", "dropped"],
        ["b1", "dropped"],
        ["a2", "kept"],
        ["a3", "dropped"],
    ]
    assert table["labels"].tolist() == ["a|b", "a|b", "a", "a"]
    assert len(resolve_duplicates(clips, "keep")[0]) == 5


def test_classes_with_too_few_groups_are_said_once_in_the_zoos_words(recwarn):
    """Item 17: scikit-learn's "least populated class" UserWarning does not leak; one zoo warning does."""
    table = grouped_table().assign(reason="")
    few = table["label"] == "c0"
    table.loc[few, "group"] = ["c0-a", "c0-b", "c0-c"] * (few.sum() // 3)  # 3 groups: fewer than 4 test parts
    plan = plan_splits(table, SplitConfig(val=0.25, test=0.25))
    assert not [w for w in recwarn if "least populated" in str(w.message)]
    said = [w for w in plan.warnings if "too few recordings (groups)" in w]
    assert len(said) == 1


def test_official_split_that_leaks_groups_is_reported():
    table = grouped_table().assign(
        split=lambda t: np.where(t["path"].str.endswith("0.wav"), "test", "train"), reason=""
    )
    plan = plan_splits(table, SplitConfig())
    assert any("have clips in more than one split" in w for w in plan.warnings)


def test_memory_mapped_split_trains_to_the_same_result(tmp_path):
    from zoo.config import Protocol
    from zoo.data.cache import Rows
    from zoo.data.normalise import bin_stats
    from zoo.registry import load_registry
    from zoo.train.batches import TrainData
    from zoo.train.trainer import Trainer

    folder_dataset(tmp_path / "data")
    prepared = prepare(check_clip_table(scan_folder(tmp_path / "data"), "t"), FEATURES, tmp_path / "cache")
    plan = plan_splits(prepared.clips, SplitConfig(val=0.25, test=0.25))
    histories = []
    for in_memory in (True, False):
        train, val = (prepared.split(plan, s, in_memory=in_memory) for s in ("train", "val"))
        assert isinstance(train.x, Rows) != in_memory
        mean, std = bin_stats(train.x)
        torch.manual_seed(0)
        model = load_registry().model("baseline_cnn").build(2, width=4)
        data = TrainData(train.x, train.y, val.x, val.y, 2, mean, std)
        histories.append(Trainer(Protocol(epochs=2, batch_size=4)).fit(model, data))
    for a, b in zip(*histories):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]
    x = prepared.split(plan, "train", in_memory=True).x
    mean, std = bin_stats(x)
    torch.testing.assert_close(mean, x.mean(dim=(0, 1, 3), keepdim=True))
    torch.testing.assert_close(std, x.std(dim=(0, 1, 3), keepdim=True).clamp_min(1e-3))


def test_metadata_that_predicts_the_label_is_a_shortcut_warning():
    """Issue 8: a random forest on recording metadata, trained on train and scored on test."""
    rng = np.random.default_rng(0)
    table = grouped_table(classes=4, groups=10, per_group=3).assign(reason="", md5="")
    table["md5"] = [f"m{i}" for i in range(len(table))]
    table["duration_s"] = rng.uniform(0.5, 2.0, len(table))
    table["peak_db"] = rng.uniform(-20, -1, len(table))
    table["channels"], table["bits"] = 1, 16
    table["sample_rate"] = 16000
    honest = plan_splits(table, SplitConfig(val=0.2, test=0.2))
    assert not honest.shortcut["warning"] and honest.shortcut["accuracy"] < honest.shortcut["chance"] + 0.2
    rates = {"c0": 8000, "c1": 16000, "c2": 44100, "c3": 48000}
    table["sample_rate"] = [rates[c] if rng.random() < 0.9 else 22050 for c in table["label"]]
    leaky = plan_splits(table, SplitConfig(val=0.2, test=0.2))
    assert leaky.shortcut["accuracy"] > 0.7 and next(iter(leaky.shortcut["importance"])) == "sample_rate"
    warning = next(w for w in leaky.warnings if "recording metadata alone" in w)
    assert "Strongest: sample_rate; resample every clip to at most the lowest native rate" in warning


def test_the_same_audio_in_another_format_across_splits_is_flagged(tmp_path):
    """Issue 8: not only byte-identical files: the same decoded audio at another bit depth or container."""
    rng = np.random.default_rng(1)
    rows = []
    for label in ("a", "b"):
        for i in range(6):
            wave = (0.3 * rng.standard_normal(8000)).astype(np.float32)
            path = tmp_path / f"{label}{i}.wav"
            sf.write(path, wave, 16000, subtype="PCM_16")
            rows.append({"path": str(path), "label": label, "split": "test" if i < 2 else "train"})
            if i == 0:  # its twin: the same audio as 24-bit FLAC, in the train split
                sf.write(tmp_path / f"{label}{i}-copy.flac", wave, 16000, subtype="PCM_24")
                rows.append(
                    {"path": str(tmp_path / f"{label}{i}-copy.flac"), "label": label, "split": "train"}
                )
    table = check_clip_table(pd.DataFrame(rows), "t")
    prepared = prepare(table, FEATURES, tmp_path / "cache")
    twins = prepared.clips.set_index("path")["twin"]
    assert (
        twins[str(tmp_path / "a0-copy.flac")] == str(tmp_path / "a0.wav")
        and twins[str(tmp_path / "a1.wav")] == ""
    )
    plan = plan_splits(prepared.clips, SplitConfig())
    assert any("2 pair(s) of files hold the same decoded audio" in w for w in plan.warnings)
    flagged = plan.duplicates[plan.duplicates["action"].str.startswith("flagged")]
    assert sorted(Path(p).name for p in flagged["path"]) == [
        "a0-copy.flac",
        "a0.wav",
        "b0-copy.flac",
        "b0.wav",
    ]


def test_clip_normalisation_removes_each_windows_level_but_not_its_padding():
    from zoo.data.normalise import normalise_windows

    x = torch.full((2, 1, 3, 6), -100.0)
    x[0, 0, :, :4] = torch.tensor([[-20.0, -10, -20, -10]] * 3)  # 4 sounding frames, then padding
    x[1, 0, :, :4] = x[0, 0, :, :4] + 30  # the same sound, 30 dB louder: the same after centring
    centred = normalise_windows(x, "clip")
    assert torch.allclose(centred[0, 0, :, :4], torch.tensor([[-5.0, 5, -5, 5]] * 3))
    assert torch.allclose(centred[1, 0, :, :4], centred[0, 0, :, :4])


def test_level_normalisation_removes_each_windows_gain_and_floors_it():
    from zoo.data.normalise import LEVEL_RANGE_DB, normalise_windows

    x = torch.full((2, 1, 3, 6), -100.0)  # padding at the floor after frame 4
    x[0, 0, :, :4] = torch.tensor([[-20.0, -10, -90, -10]] * 3)
    x[1, 0, :, :4] = x[0, 0, :, :4] + 50  # the same sound, 50 dB louder
    levelled = normalise_windows(x, "level")
    assert torch.equal(levelled[0], levelled[1])
    assert torch.equal(levelled[0, 0, 0], torch.tensor([-10.0, 0, -LEVEL_RANGE_DB, 0, -80, -80]))
    assert normalise_windows(x, "split") is x
