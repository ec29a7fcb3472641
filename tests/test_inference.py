"""Trained runs put to work: zoo.load_run, `zoo predict`, `zoo embed`, `zoo export`."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

import zoo
from conftest import TINY_REGISTRY
from zoo.cli import main
from zoo.data.audio import read_clip

pytestmark = pytest.mark.slow
MODELS = ("baseline_cnn", "efficientnet_b0", "crnn")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project where baseline_cnn, efficientnet_b0 and crnn trained 2 epochs on the tiny synthetic set, each
    window levelled to its peak (features.normalise = "level", which predict and the exports must repeat)."""
    root = tmp_path_factory.mktemp("trained")
    registry = textwrap.dedent(TINY_REGISTRY).replace("[features]\n", '[features]\nnormalise = "level"\n')
    (root / "registry.toml").write_text(registry + "\n[models.crnn]\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(root / "hf"))  # an empty Hugging Face cache
        assert main(["run", "--all"]) == 0
    return root


def run_dir(root, model):
    return next((root / "experiments" / "synthetic" / model).iterdir())


def long_recording(root, seconds=3.3, rate=22050):
    """A recording longer than a window, at a rate the runs were not trained at (16 kHz), in stereo."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * (600 + 400 * t) * t) + 0.01 * np.random.default_rng(0).standard_normal(
        len(t)
    )
    path = root / "long.wav"
    sf.write(path, np.stack([wave, wave * 0.5], 1).astype(np.float32), rate)
    return path


def test_predict_reproduces_the_runs_own_test_predictions(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    folder = run_dir(trained, "baseline_cnn")
    reference = pd.read_csv(folder / "predictions.csv")
    code = main(["predict", folder.name[:8], *reference["path"], "--windows", "evaluation", "--out", "repro"])
    assert code == 0, capsys.readouterr().err
    files = pd.read_csv(trained / "repro-files.csv").set_index("path").loc[reference["path"]]
    columns = [c for c in reference.columns if c.startswith("p_")]
    np.testing.assert_allclose(files[columns].to_numpy(), reference[columns].to_numpy(), atol=1e-5, rtol=0)
    assert (files["label_1"].to_numpy() == reference["predicted"].to_numpy()).all()


@pytest.mark.parametrize("model", MODELS)
def test_onnx_and_torchscript_exports_give_predicts_probabilities(trained, monkeypatch, capsys, model):
    monkeypatch.chdir(trained)
    run = zoo.load_run(run_dir(trained, model).name[:8])
    clip = read_clip(long_recording(trained))
    expected = run.predict(clip.wave, clip.sample_rate, hop_s=0.4)
    assert len(expected.values) > 4
    _, waves, _ = run.sliding(torch.from_numpy(clip.wave), clip.sample_rate, 0.4)
    assert main(["export", run.run_id[:8], "--format", "torchscript", "--out", "out"]) == 0
    files = {"zoo.json": ""}
    scripted = torch.jit.load(next((trained / "out").glob(f"{model}-*.pt")), _extra_files=files)
    assert json.loads(files["zoo.json"])["classes"] == run.classes
    np.testing.assert_allclose(scripted(waves).detach().numpy(), expected.values, atol=1e-4, rtol=0)
    assert "torch.jit.load" in (trained / "out" / "README-torchscript.md").read_text()
    ort = pytest.importorskip(
        "onnxruntime", reason='the export extra is not installed: pip install ".[export]"'
    )
    assert main(["export", run.run_id[:8], "--format", "onnx", "--out", "out"]) == 0, capsys.readouterr().err
    session = ort.InferenceSession(str(next((trained / "out").glob(f"{model}-*.onnx"))))
    assert json.loads(session.get_modelmeta().custom_metadata_map["classes"]) == run.classes
    probs = session.run(None, {"waveform": waves.numpy()})[0]
    np.testing.assert_allclose(probs, expected.values, atol=1e-4, rtol=0)


def test_predict_and_embed_over_folders_say_what_they_did_to_odd_files(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    audio = trained / "field"
    audio.mkdir()
    long_recording(audio)
    sf.write(audio / "short.wav", np.full(800, 0.2, np.float32) * np.sin(np.arange(800)), 16000)  # 0.05 s
    (audio / "broken.wav").write_bytes(b"RIFF not really")
    code = main(["predict", run_dir(trained, "baseline_cnn").name, str(audio), "--out", "p", "--top-k", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "broken.wav" in err and "skipped" in err
    assert (
        "resampled to the run's 16000 Hz from 22050 Hz" in out and "1 file(s) shorter than one window" in out
    )
    files = pd.read_csv(trained / "p-files.csv")
    assert sorted(files["path"].map(lambda p: p.rsplit("/", 1)[-1])) == ["long.wav", "short.wav"]
    assert files.set_index(files["path"].str.rsplit("/", n=1).str[-1]).loc["short.wav", "padded"]
    windows = pd.read_csv(trained / "p-windows.csv")
    long_rows = windows[windows["path"].str.endswith("long.wav")]
    run = zoo.load_run(run_dir(trained, "baseline_cnn"))
    stft_hop = run.features.hop_length / run.features.sample_rate
    assert long_rows["start_s"].iloc[1] == pytest.approx(run.hop_s, abs=1e-3)  # half a window apart,
    hops = run.hop_s / stft_hop  # to a whole STFT hop
    assert run.window_s / 2 - stft_hop < run.hop_s <= run.window_s / 2 and abs(hops - round(hops)) < 1e-6
    assert long_rows["end_s"].max() == pytest.approx(3.3, abs=1e-3)  # the last window ends at the end
    assert list(windows.columns[3:]) == ["label_1", "prob_1", "label_2", "prob_2"]
    assert pd.read_csv(trained / "p-skipped.csv")["path"].str.endswith("broken.wav").all()

    assert main(["embed", run_dir(trained, "baseline_cnn").name, str(audio / "long.wav"), "--out", "e"]) == 0
    written = sorted(p.name for p in trained.glob("e-*"))
    if "e-windows.parquet" in written:
        table = pd.read_parquet(trained / "e-windows.parquet")
    else:
        table = pd.read_csv(trained / "e-windows.csv").join(pd.DataFrame(np.load(trained / "e-windows.npy")))
    assert (
        len(table) == len(long_rows) and table.shape[1] == 3 + 128
    )  # baseline_cnn: 128 features before its head


def test_bad_runs_are_one_line_errors(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    assert main(["predict", "ffffffff", "x.wav"]) == 2
    assert "No run 'ffffffff'" in capsys.readouterr().err
    broken = trained / "experiments" / "synthetic" / "baseline_cnn" / "deadbeef0000"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    assert main(["export", "deadbeef"]) == 2
    err = capsys.readouterr().err
    assert "has no metrics.json: it has not finished" in err and len(err.strip().splitlines()) == 1
    copy = trained / "copy"
    import shutil

    shutil.copytree(run_dir(trained, "crnn"), copy)
    (copy / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(zoo.ZooError, match="is damaged"):
        zoo.load_run(copy)
    shutil.rmtree(broken)


def test_load_run_applies_to_a_waveform_in_python(trained):
    run = zoo.load_run(run_dir(trained, "efficientnet_b0"))
    assert run.amp_dtype is None  # fp32 on a CPU, as its evaluation ran (bf16 on a GPU)
    wave = np.random.default_rng(1).standard_normal((2, 40000)).astype(np.float32) * 0.1  # stereo, 2.5 s
    probs = run.predict(wave, 16000)
    # windows of 0.992 s every 0.48 s (half a window, down to an STFT hop): 4 in 2.5 s, one ending at the end
    assert probs.values.shape == (5, len(run.classes))
    assert probs.start_s.tolist() == pytest.approx([0, 0.48, 0.96, 1.44, 2.5 - 0.992])
    assert np.allclose(probs.values.sum(1), 1, atol=1e-5)
    assert probs.mean().shape == (len(run.classes),)
    assert run.embed(wave, 16000).values.shape == (5, 1280)


def test_load_run_builds_a_model_from_a_local_plugin_module(tmp_path, monkeypatch):
    """A run of a model from registry.toml's [plugins] modules loads with zoo.load_run from anywhere: the
    plugins are those of the run's project (the registry.toml above its folder), as `zoo predict` has them."""
    plugin = Path(__file__).parent / "plugins" / "tiny_model.py"
    project = tmp_path / "project"
    project.mkdir()
    registry = textwrap.dedent(TINY_REGISTRY) + f'\n[plugins]\nmodules = ["{plugin}"]\n'
    (project / "registry.toml").write_text(registry)
    monkeypatch.chdir(project)
    assert main(["run", "tiny_local", "--epochs", "1"]) == 0
    monkeypatch.chdir(tmp_path)  # elsewhere: no registry.toml here
    run = zoo.load_run(run_dir(project, "tiny_local"))
    assert run.model_name == "tiny_local"
    probs = run.predict(np.zeros(16000, dtype=np.float32), 16000).values
    assert probs.shape[1] == len(run.classes) and np.allclose(probs.sum(1), 1, atol=1e-5)


def chirp(rate, seconds, low=1000.0, high=2500.0):
    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * (low + (high - low) / (2 * seconds) * t) * t) * np.hanning(len(t))


def test_calls_in_an_hour_long_recording_are_found_in_their_windows(tmp_path, monkeypatch, capsys):
    """baseline_cnn learns chirps against background noise from half-second clips; in one hour of noise with
    six chirps at known times, `zoo predict` finds each in the windows that hold it, and nothing else."""
    rate, rng = 8000, np.random.default_rng(0)
    for label in ("call", "background"):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(40):
            wave = 0.02 * rng.standard_normal(rate // 2)
            if label == "call":
                start = rng.integers(0, rate // 2 - int(0.3 * rate))
                wave[start : start + int(0.3 * rate)] += chirp(
                    rate, 0.3, *rng.uniform([800, 2200], [1200, 2800])
                )
            sf.write(tmp_path / "clips" / label / f"{i}.wav", wave.astype(np.float32), rate)
    (tmp_path / "registry.toml").write_text(
        textwrap.dedent("""
        [dataset]
        name = "folder"
        root = "clips"
        [features]
        sample_rate = 8000
        n_fft = 256
        hop_length = 128
        n_mels = 32
        frames = 32
        [protocol]
        epochs = 15
        min_epochs = 15
        batch_size = 16
        [models.baseline_cnn]
        """)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "baseline_cnn"]) == 0, capsys.readouterr().err
    calls = [300.0, 901.3, 1500.7, 2222.2, 3000.05, 3590.5]
    hour = 0.02 * rng.standard_normal(3600 * rate)
    for t in calls:
        hour[int(t * rate) : int(t * rate) + int(0.3 * rate)] += chirp(rate, 0.3)
    sf.write(tmp_path / "hour.wav", hour.astype(np.float32), rate, subtype="PCM_16")
    assert main(["predict", "best", "hour.wav", "--out", "hour", "--top-k", "1"]) == 0
    windows = pd.read_csv(tmp_path / "hour-windows.csv")
    assert len(windows) == pytest.approx(3600 / (15 * 128 / 8000), abs=2)  # every 15 of 31 STFT hops
    touched = np.zeros(len(windows), dtype=bool)
    for t in calls:
        overlap = np.minimum(windows["end_s"], t + 0.3) - np.maximum(windows["start_s"], t)
        holds = overlap >= 0.15  # at least half the call
        assert holds.sum() >= 2 and (windows.loc[holds, "label_1"] == "call").all(), t
        touched |= overlap > 0
    assert (windows.loc[~touched, "label_1"] == "background").all()  # no call anywhere else


def test_predict_on_nothing_readable_is_an_error_that_writes_nothing(trained, monkeypatch, capsys):
    """Issue 18 (11): a missing file, a pattern that matches nothing, or only broken files: exit 2, no CSV."""
    monkeypatch.chdir(trained)
    (trained / "broken.wav").write_bytes(b"RIFF not audio")
    (trained / "a-file").write_text("")
    cases = [
        (["missing.wav"], "missing.wav: no such file or folder"),
        (["nothing*.flac"], "nothing*.flac: no such file or folder, and no file matches it"),
        (["broken.wav"], "None of the 1 audio file(s) could be read"),
        (["--out", "a-file/x", str(long_recording(trained))], "Cannot write the predict output folder"),
        (["--out", "/proc/zoo-test/x", str(long_recording(trained))], "/proc/zoo-test"),  # seen only on write
    ]
    written = set((trained / "predictions").glob("*"))
    for args, message in cases:
        assert main(["predict", run_dir(trained, "baseline_cnn").name, *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert set((trained / "predictions").glob("*")) == written
