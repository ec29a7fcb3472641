"""Nothing lost, nothing wrongly ranked: bad settings, bad audio, damaged files, kills, concurrency, failing
models. Each test names the item of issue 7 it holds to; tests that need processes run real ones, bounded."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import PLUGINS, TINY_REGISTRY, write_tone

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def zoo_process(*args, cwd, **kwargs):
    """`zoo ARGS...` as a real process (stdout and stderr piped, text)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def two_class_folder(root, per_class=8, seconds=0.5):
    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for i in range(per_class):
            write_tone(root / label / f"{i}.wav", freq=freq + 20 * i, seconds=seconds)
    return root


def only_run(project, model="baseline_cnn", dataset="synthetic"):
    runs = [d for d in (project / "experiments" / dataset / model).iterdir() if not d.name.startswith(".")]
    assert len(runs) == 1, runs
    return runs[0]


# 1-3: settings out of range are refused in one line, before any work


@pytest.mark.parametrize(
    "setting, message",
    [
        ("protocol.epochs=0", "[protocol]: epochs = 0 is out of range; use a value of at least 1"),
        ("protocol.epochs=-1", "epochs = -1 is out of range"),
        ("protocol.lr=-1", "lr = -1.0 is out of range; use a value above 0"),
        ("protocol.batch_size=0", "batch_size = 0 is out of range; use a value of at least 2"),
        ("features.n_mels=0", "[features]: n_mels = 0 is out of range"),
        ("splits.val=0", "[splits]: val = 0.0 is out of range; use a value between 0 and 1"),
        ("splits.test=1.5", "test = 1.5 is out of range"),
        ("splits.test=-0.2", "test = -0.2 is out of range"),
        ("protocol.lr_factor=1.5", "lr_factor = 1.5 is out of range"),
        ("features.fmax=9000", "fmax = 9000 is above half the sample rate"),
    ],
)
def test_out_of_range_settings_are_refused_before_any_work(project, zoo_cli, setting, message):
    code, _, err = zoo_cli("run", "--all", "--set", setting)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (project / "cache").exists() and not (project / "experiments").exists()


def test_without_registry_work_is_refused_and_zoo_init_writes_the_defaults(tmp_path, monkeypatch, zoo_cli):
    """4: no silent built-in defaults that differ from the shipped registry.toml, no littered folder."""
    monkeypatch.chdir(tmp_path)
    code, _, err = zoo_cli("run", "--all")
    assert code == 2 and "No registry.toml in" in err and "zoo init" in err
    assert list(tmp_path.iterdir()) == []
    assert zoo_cli("models")[0] == 0  # listing needs no registry
    assert zoo_cli("init")[0] == 0
    from zoo.config import Protocol, SplitConfig
    from zoo.settings import load_settings

    written = load_settings(tmp_path / "registry.toml")
    assert written.protocol == Protocol() and written.splits == SplitConfig()
    assert written.feature_overrides == {}  # the data set's recommended features stay in force
    assert list(written.models) == [
        "ast",
        "baseline_cnn",
        "cnn10",
        "cnn14",
        "cnn6",
        "crnn",
        "efficientnet_b0",
        "mobilenet_v3",
        "resnet18",
    ]
    assert written.models["resnet18"] == {"model": "timm", "arch": "resnet18"}
    shipped = load_settings(
        REPO / "registry.toml"
    )  # features from the data set; only the demo budget differs
    assert shipped.feature_overrides == {}
    differs = {
        f for f in Protocol.__dataclass_fields__ if getattr(shipped.protocol, f) != getattr(Protocol(), f)
    }
    assert differs == {"epochs", "min_epochs", "early_stop_patience", "lr_patience"}
    assert zoo_cli("init")[0] == 2  # never overwrites


# 5-7: every clip of the table is used or listed with a reason, and a skip is not cached for good


def test_broken_link_and_truncated_wav_are_listed_with_their_reason(project, zoo_cli):
    data = two_class_folder(project / "data")
    (data / "low" / "gone.wav").symlink_to(project / "nowhere.wav")
    good = (data / "high" / "0.wav").read_bytes()
    (data / "high" / "cut.wav").write_bytes(good[: 44 + 100])  # the header promises 0.5 s, 50 samples follow
    code, out, err = zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")
    assert code == 0, err
    assert "gone.wav: broken symbolic link" in err
    assert "cut.wav: truncated: the header promises 0.500 s, the file holds 0.003 s" in err
    code, out, _ = zoo_cli("inspect", "--dataset", "folder", "--data-root", "data")
    assert "gone.wav" in out and "cut.wav" in out


def test_a_skipped_clip_that_reads_again_is_not_skipped_from_the_cache(project, zoo_cli):
    """7: same size, same mtime, readable again: the cache's stat key alone would keep the skip."""
    data = two_class_folder(project / "data")
    clip = data / "low" / "0.wav"
    good, st = clip.read_bytes(), clip.stat()
    clip.write_bytes(b"\0" * len(good))  # unreadable, same size
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "0.wav: cannot decode" in zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")[2]
    clip.write_bytes(good)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    code, out, err = zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")
    assert code == 0 and "reads now; rebuilding it" in err and "skipped:" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_whose_permissions_are_fixed_is_read_on_the_next_run(project, zoo_cli):
    data = two_class_folder(project / "data")
    clip = data / "low" / "0.wav"
    clip.chmod(0)
    assert (
        "cannot read: Permission denied"
        in zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")[2]
    )
    clip.chmod(0o644)
    assert "skipped:" not in zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")[2]


# 8: kill -9 or SIGTERM during preparation leaves nothing running and no cache that claims to be whole


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see the zoo's processes")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_preparation_leaves_no_process_and_no_cache_that_claims_to_be_whole(project, zoo_cli, sig):
    """Preparation decodes in threads of the zoo process: killed mid-way, nothing of it runs on (it started no
    process), the half-built cache has no meta.json (what marks a cache complete), and the next prepare
    builds it whole."""
    two_class_folder(project / "data", per_class=400, seconds=2.0)
    proc = zoo_process("prepare", "--dataset", "folder", "--data-root", "data", cwd=project)
    caches = project / "cache" / "features" / "folder"
    deadline = time.monotonic() + 60
    while not (caches.is_dir() and any(caches.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    cache = next(caches.iterdir())  # made just before the clips are decoded
    children = children_of(proc.pid)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert not children, "preparation started processes"
    deadline = time.monotonic() + 5
    while any(alive(c) for c in children_of(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in children_of(proc.pid) if alive(c)]
    assert not (cache / "meta.json").exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and "interrupted" in proc.stderr.read()
    assert zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")[0] == 0
    assert (cache / "meta.json").is_file()


def test_temporaries_of_a_killed_write_are_swept_on_the_next_run(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    run_dir = only_run(project)
    cache = next((project / "cache" / "features" / "synthetic").iterdir())
    stale = [
        run_dir / ".metrics.json.x1.tmp",
        cache / ".features.npy.x2.tmp",
        project / "leaderboard" / ".x.md.x3.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half")
    shutil.rmtree(run_dir.parent / ".locks", ignore_errors=True)
    (run_dir / "metrics.json").unlink()  # so that the run is trained again, in its folder
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    (cache / "meta.json").unlink()  # so that the cache is built again, in its folder
    assert zoo_cli("prepare")[0] == 0
    assert not [p for p in stale if p.exists()]


# 9-10: damaged files are named, rebuilt or retrained; nothing finished is deleted before its replacement


def test_truncated_metrics_json_is_named_and_the_run_retrained(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    metrics = only_run(project) / "metrics.json"
    good = json.loads(metrics.read_text())
    metrics.write_text(metrics.read_text()[:50])
    code, out, err = zoo_cli("leaderboard")
    assert code == 0 and "damaged run folder, not ranked" in err
    assert "Damaged run folders" in (project / "leaderboard" / "synthetic.md").read_text()
    code, _, err = zoo_cli("show", only_run(project).name[:6])
    assert code == 2 and "metrics.json does not parse" in err and len(err.strip().splitlines()) == 1
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1")
    assert code == 0 and "metrics.json does not parse" in err and "retraining it" in err
    assert "already finished" not in out
    assert json.loads(metrics.read_text())["accuracy"] == good["accuracy"]


@pytest.mark.parametrize(
    "name, said", [("features.npy", "features.npy has another size"), ("index.pt", "cannot read it")]
)
def test_truncated_feature_cache_is_rebuilt(project, zoo_cli, name, said):
    assert zoo_cli("prepare")[0] == 0
    features = next((project / "cache" / "features" / "synthetic").iterdir()) / name
    features.write_bytes(features.read_bytes()[:1000])
    code, _, err = zoo_cli("prepare")
    assert code == 0 and said in err and "rebuilding it" in err
    code, _, err = zoo_cli("run", "baseline_cnn", "--epochs", "1")
    assert code == 0, err


def test_truncated_checkpoint_of_an_interrupted_run_is_said_and_training_starts_again(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "2")[0] == 0
    run_dir = only_run(project)
    (run_dir / "metrics.json").unlink()  # as if killed before evaluation
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    code, _, err = zoo_cli("run", "baseline_cnn", "--epochs", "2")
    assert code == 0 and "checkpoint.pt is damaged" in err and "training this run from the start" in err
    assert (run_dir / "metrics.json").is_file()


def test_force_over_a_damaged_cache_keeps_the_finished_run_until_the_new_one_is_complete(
    project, zoo_cli, monkeypatch
):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    run_dir = only_run(project)
    before = (run_dir / "metrics.json").read_text()
    features = next((project / "cache" / "features" / "synthetic").iterdir()) / "features.npy"
    features.write_bytes(features.read_bytes()[:1000])
    import zoo.train.trainer

    def killed(self, model, data):
        assert (run_dir / "metrics.json").read_text() == before  # still there while the new one trains
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(zoo.train.trainer.Trainer, "fit", killed)
        assert zoo_cli("run", "baseline_cnn", "--epochs", "1", "--force")[0] == 130
    assert (run_dir / "metrics.json").read_text() == before
    (run_dir / "mark").write_text("the old run")
    code, _, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--force")
    assert code == 0, err
    assert (run_dir / "metrics.json").is_file() and not (run_dir / "mark").exists()  # replaced, whole
    assert not list(run_dir.parent.glob(".*.new")) and not list(run_dir.parent.glob(".*.old"))


def test_a_swap_killed_half_way_is_finished_on_the_next_run(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    run_dir = only_run(project)
    staging, old = run_dir.with_name(f".{run_dir.name}.new"), run_dir.with_name(f".{run_dir.name}.old")
    shutil.copytree(run_dir, staging)
    (staging / "mark").write_text("the new run")
    run_dir.rename(old)  # killed between the two renames
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    assert (run_dir / "mark").is_file() and not staging.exists() and not old.exists()


# 11: concurrent zoo processes on one project


def test_two_runs_started_together_in_a_fresh_folder_train_once(project):
    procs = [zoo_process("run", "baseline_cnn", "--epochs", "2", cwd=project) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    run_dir = only_run(project)
    assert len(pd.read_csv(run_dir / "history.csv")) == 2
    said = "".join(out + err for out, err in outputs)
    assert "waiting: run" in said or "already finished" in said


# 12-13: output folders


@pytest.mark.parametrize("where", ["experiments", "leaderboard", "cache"])
def test_an_unwritable_output_folder_is_one_line_before_any_work(project, zoo_cli, where):
    (project / where).write_text("a file where a folder should be")
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1")
    assert (
        code == 2 and "Cannot write the" in err and str(project / where) in err and f"[paths] {where}" in err
    )
    assert len(err.strip().splitlines()) == 1
    assert not any((project / other).is_dir() for other in ("experiments", "cache") if other != where)


def test_written_files_get_the_umask_mode(project, zoo_cli):
    old = os.umask(0o022)
    try:
        assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    finally:
        os.umask(old)
    run_dir = only_run(project)
    for path in (
        run_dir / "metrics.json",
        run_dir / "checkpoint.pt",
        project / "leaderboard" / "synthetic.md",
        next((project / "cache" / "features" / "synthetic").iterdir()) / "features.npy",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# 14-15: models that fail are recorded, never ranked, and the others run


def with_failing_models(project, *models):
    text = textwrap.dedent(TINY_REGISTRY).replace('[models.efficientnet_b0]\npretrained = "auto"\n', "")
    text += "".join(f"[models.{m}]\n" for m in models)
    text += f'[plugins]\nmodules = ["{PLUGINS / "failing_models.py"}"]\n'
    (project / "registry.toml").write_text(text)


def test_one_broken_model_among_three_is_recorded_and_the_others_finish(project, zoo_cli):
    with_failing_models(project, "broken_build", "wrong_shape")
    code, out, err = zoo_cli("run", "--all", "--epochs", "1")
    assert code == 1
    assert "failed: broken_build: run" in err and "this model's build() is broken" in err
    assert "maps (2, 1, 32, 32) to (2, 7), not (2, 6) logits" in err
    assert "2 run(s) failed" in err and "Test-split results" in out
    assert (only_run(project) / "metrics.json").is_file()
    failed = json.loads((only_run(project, "broken_build") / "failed.json").read_text())
    assert (
        "RuntimeError: this model's build() is broken" in failed["error"]
        and "Traceback" in failed["traceback"]
    )
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "| 1 | baseline_cnn |" in board and "## Failed (not ranked)" in board
    assert "| broken_build |" in board and "| wrong_shape |" in board and "| 2 | " not in board


def test_a_model_whose_loss_becomes_nan_fails_with_the_epoch_and_is_not_ranked(project, zoo_cli):
    with_failing_models(project, "nan_loss")
    code, out, err = zoo_cli("run", "nan_loss", "--epochs", "3")
    assert code == 1 and "the training loss is nan at epoch 1" in err
    run_dir = only_run(project, "nan_loss")
    assert not (run_dir / "metrics.json").exists() and (run_dir / "failed.json").is_file()
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "No finished runs yet" in board and "nan_loss" in board.split("## Failed")[1]


# 16-21: smaller things


def test_tables_stay_readable_in_80_columns_when_piped(project):
    (project / "registry.toml").write_text(
        textwrap.dedent(TINY_REGISTRY).replace("[protocol]\n", "[protocol]\nfolds = 2\n")
    )
    proc = zoo_process("run", "--all", "--epochs", "1", cwd=project)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    tables = [line for line in out.splitlines() if line[:1] in "┃│┏┗┡└"]
    assert tables and max(len(line) for line in tables) <= 80
    rows = [line for line in tables if "efficientnet_b0" in line]
    assert len(rows) == 3 and all("0." in row for row in rows)  # 2 folds + 1 leaderboard row, numbers whole
    assert '*: pretrained = "auto" found no ImageNet weights: random init' in out


def test_the_same_data_in_two_folders_gives_the_same_run_ids(tmp_path, monkeypatch, zoo_cli):
    """20: the synthetic data generated in two project folders is one data set with one run id."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ids = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "registry.toml").write_text(textwrap.dedent(TINY_REGISTRY))
        monkeypatch.chdir(folder)
        assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
        ids.append(only_run(folder).name)
    assert ids[0] == ids[1]


def test_decode_errors_name_no_python_objects(project, zoo_cli):
    data = two_class_folder(project / "data")
    (data / "low" / "junk.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    err = zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")[2]
    line = next(line for line in err.splitlines() if "junk.wav" in line)
    assert "cannot decode" in line and "BytesIO" not in line and "0x" not in line


def test_train_seconds_after_a_resume_count_every_epoch(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "3")[0] == 0
    run_dir = only_run(project)
    import torch

    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    history = pd.read_csv(run_dir / "history.csv")
    (run_dir / "metrics.json").unlink()
    assert zoo_cli("run", "baseline_cnn", "--epochs", "3")[0] == 0  # resumes from the finished checkpoint
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert checkpoint["finished"] and metrics["train_seconds"] == pytest.approx(
        history["seconds"].sum(), abs=0.02
    )


def test_a_bad_model_option_is_refused_before_the_cache_is_built(project, zoo_cli):
    code, _, err = zoo_cli("run", "--all", "--set", "models.baseline_cnn.widht=3")
    assert code == 2 and "unknown option 'widht'" in err
    assert not (project / "cache").exists()


def test_kill_minus_nine_then_a_rerun_gives_the_uninterrupted_metrics():
    """The kill -9 loop of benchmarks/kill_resume.py, with two kill points (the note has a run with ten)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "kill_resume.py"), "--kills", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2/2 reruns gave the uninterrupted run's metrics and predictions" in done.stdout


# Issue 8 (partly): features that fit the data, stated choices


def test_inspect_recommends_features_from_what_the_clips_hold(project, zoo_cli):
    for label, freq in (("low", 300.0), ("high", 2500.0)):
        for i in range(6):
            write_tone(project / "data" / label / f"{i}.wav", freq=freq + 30 * i, sr=44100, seconds=1.0)
    code, out, err = zoo_cli("inspect", "--dataset", "folder", "--data-root", "data")
    assert code == 0, err
    # the folder data set recommends no features: the inspected ones are in force (issue 19)
    assert "native rates: 44100-44100 Hz" in out and "in force: every clip resampled to 8000 Hz" in out
    assert "12 were recorded above it and are low-passed at 4000 Hz" in out
    recommended = out.split("[features]\n", 1)[1]
    assert "sample_rate = 8000" in recommended and "n_fft = 256" in recommended
    assert "normalise" not in recommended  # one recording level: nothing to level


def test_recommendation_levels_windows_when_groups_were_recorded_at_different_gains():
    import pandas as pd

    from zoo.data.recommend import LEVEL_SPREAD_DB, level_spread

    peaks = {"quiet": [-31.0, -30.0, -29.0], "mid": [-12.0, -11.0], "loud": [-7.0, -6.0]}
    clips = pd.DataFrame(
        [{"group": g, "peak_db": p} for g, ps in peaks.items() for p in ps]  # FSDD's speakers, in short
    )
    assert level_spread(clips) > LEVEL_SPREAD_DB
    assert level_spread(clips.assign(peak_db=-6.0)) == 0.0
    assert level_spread(clips.drop(columns="peak_db")) == 0.0


def test_a_data_sets_recommended_features_apply_under_the_registrys(project, zoo_cli):
    from zoo.registry import load_registry
    from zoo.settings import load_settings

    spec = load_registry().dataset("fsdd")
    settings = load_settings(project / "registry.toml")  # [features] n_mels, frames, hop_length
    features = settings.with_recommended_features(spec.features, "fsdd").features
    assert features.sample_rate == 8000 and features.n_fft == spec.features["n_fft"]  # the data set's
    assert (features.n_mels, features.frames, features.hop_length) == (32, 32, 512)  # registry.toml wins
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    config = json.loads((only_run(project) / "config.json").read_text())
    assert config["resampling"].startswith("every clip resampled to 16000 Hz")
    shortcut = config["split"]["shortcut"]
    assert shortcut["warning"] == "" and 0 <= shortcut["accuracy"] <= 1
