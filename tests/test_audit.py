"""Issue 18: the defects a hostile user found, each held by a test (names that leave the project, other
users' locks, damaged runs and caches, failed jobs on the leaderboard, unwritable folders, odd inputs)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import PLUGINS, TINY_REGISTRY, write_tone

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534


def as_other_user() -> list[str] | None:
    """A command prefix that runs a process as another user: as root, nobody's (setpriv), when nobody can
    import the zoo from here; [] when this is not root (permission bits then hold for this user too); None
    when neither."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    try:
        probe = subprocess.run([*prefix, sys.executable, "-c", "import zoo"], cwd="/", capture_output=True)
    except OSError:
        return None
    return prefix if probe.returncode == 0 else None


def shared_folder() -> Path:
    """A folder every user may write (as a shared project's is)."""
    folder = Path(tempfile.mkdtemp(prefix="zoo-shared-"))
    folder.chmod(0o777)
    return folder


# 1: names that become folders


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs", "a/b", "..", "."])
def test_a_dataset_id_that_would_leave_the_project_is_refused_before_any_work(project, zoo_cli, name):
    code, _, err = zoo_cli("run", "--all", "--dataset-id", name)
    assert code == 2 and "cannot be a folder name" in err and len(err.strip().splitlines()) == 1
    assert not (project / "cache").exists() and not (project / "experiments").exists()


@pytest.mark.parametrize("name", ["/tmp/evil", "../../evil", "a/b"])
def test_a_variant_whose_name_would_leave_the_project_is_refused(project, zoo_cli, name):
    (project / "registry.toml").write_text(
        textwrap.dedent(TINY_REGISTRY) + f'\n[models."{name}"]\nmodel = "baseline_cnn"\n'
    )
    code, _, err = zoo_cli("run", "--all")
    assert code == 2 and f"[models.{name}]" in err and "cannot be a folder name" in err
    assert not (project / "cache").exists()


# 2: lock files of another user


def test_new_lock_files_are_writable_by_every_user(tmp_path):
    from zoo.io import locked

    with locked(tmp_path / "a.lock"):
        pass
    assert (tmp_path / "a.lock").stat().st_mode & 0o777 == 0o666


def test_another_user_s_read_only_lock_file_is_still_a_lock(tmp_path):
    options = as_other_user()
    if options is None:
        pytest.skip("no other user can run the zoo here")
    folder = shared_folder()
    lock = folder / "prepare.lock"
    lock.write_text("")
    lock.chmod(0o644 if options else 0o444)  # someone else's file (or, not root, one we cannot write)
    script = textwrap.dedent(
        f"""
        import sys, time
        from zoo.io import locked
        with locked({str(lock)!r}, waiting=lambda: print("waiting", flush=True)):
            print("held", flush=True)
            time.sleep(float(sys.argv[1]))
        """
    )
    command = [*options, sys.executable, "-c", script]
    first = subprocess.Popen([*command, "2"], stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "held"
    second = subprocess.run([*command, "0"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["waiting", "held"]  # it waited for the first: a real lock
    first.wait(timeout=10)


def test_a_lock_folder_no_one_may_write_is_one_line(tmp_path):
    options = as_other_user()
    if options is None:
        pytest.skip("no other user can run the zoo here")
    folder = shared_folder() / "cache"
    folder.mkdir(mode=0o755)
    if not options:
        folder.chmod(0o555)
    script = f"from zoo.io import locked\nwith locked({str(folder / 'x.lock')!r}): pass"
    done = subprocess.run([*options, sys.executable, "-c", script], capture_output=True, text=True)
    assert "ZooError: Cannot create the lock file" in done.stderr and "write access to" in done.stderr


# 3: a damaged finished run is found and retrained without --force


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, said",
    [
        ("checkpoint.pt", "checkpoint.pt has 40 bytes"),
        ("config.json", "config.json does not parse"),
        ("predictions.csv", "predictions.csv has 40 bytes"),
    ],
)
def test_a_truncated_file_of_a_finished_run_is_found_and_the_run_retrained(project, zoo_cli, name, said):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    run_dir = next((project / "experiments" / "synthetic" / "baseline_cnn").iterdir())
    good = json.loads((run_dir / "metrics.json").read_text())
    damaged = run_dir / name
    damaged.write_bytes(damaged.read_bytes()[:40])
    code, out, err = zoo_cli("leaderboard")
    assert code == 0 and said in err and "not ranked" in err
    code, _, err = zoo_cli("show", run_dir.name)
    assert code == 2 and said in err and "`zoo run` retrains it" in err
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1")
    assert code == 0, err
    assert f"is damaged ({said}" in err and "retraining it" in err
    assert "already finished" not in out
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] == good["accuracy"]
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[1].count("already finished") == 1


# 4: a damaged cache meta.json is rebuilt


@pytest.mark.slow
@pytest.mark.parametrize("content", [b'{"cache_k', b"\xff\xfe garbage", b"[]"])
def test_a_damaged_cache_meta_json_is_rebuilt(project, zoo_cli, content):
    assert zoo_cli("prepare")[0] == 0
    meta = next((project / "cache" / "features" / "synthetic").iterdir()) / "meta.json"
    meta.write_bytes(content)
    code, _, err = zoo_cli("prepare")
    assert code == 0 and "meta.json" in err and "rebuilding it" in err
    assert json.loads(meta.read_text())["clips"] > 0
    assert zoo_cli("inspect")[0] == 0


# 5: a failed job stays on the leaderboard beside its row, and a dead worker's failure names its job


@pytest.mark.slow
def test_a_job_whose_worker_dies_is_named_and_stays_listed_beside_the_rest_of_its_sweep(project, zoo_cli):
    text = textwrap.dedent(TINY_REGISTRY).replace('[models.efficientnet_b0]\npretrained = "auto"\n', "")
    text += f'[models.killer]\n[plugins]\nmodules = ["{PLUGINS / "failing_models.py"}"]\n'
    (project / "registry.toml").write_text(text)
    code, out, err = zoo_cli("run", "--all", "--epochs", "1", "--jobs", "2")
    assert code == 1 and "failed: killer: run " in err and "its worker process died" in err
    # the same sweep again: the failed job is still listed although baseline_cnn finished since
    code, out, err = zoo_cli("leaderboard")
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "## Failed (not ranked)" in board and "| killer |" in board


# 6: unwritable folders below the top ones


@pytest.mark.slow
@pytest.mark.parametrize(
    "below, words",
    [
        ("experiments/synthetic/baseline_cnn", "Cannot write the experiments folder"),
        ("cache/features/synthetic", "Cannot write the feature cache folder"),
    ],
)
def test_an_unwritable_folder_below_the_top_ones_is_one_line_before_any_work(below, words):
    options = as_other_user()
    if options is None:
        pytest.skip("no other user can run the zoo here")
    project = shared_folder()
    (project / "registry.toml").write_text(textwrap.dedent(TINY_REGISTRY))
    for top in ("cache", "experiments", "leaderboard"):
        (project / top).mkdir()
        (project / top).chmod(0o777)
    folder = project / below
    folder.mkdir(parents=True)
    for part in [*folder.relative_to(project).parents][:-2]:  # the folders between: everyone's
        (project / part).chmod(0o777)
    folder.chmod(0o555)
    done = subprocess.run(
        [*options, sys.executable, "-m", "zoo.cli", "run", "baseline_cnn", "--epochs", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(project)},
    )
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "permission denied" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_file_where_a_run_folder_should_be_is_one_line(project, zoo_cli):
    (project / "experiments" / "synthetic").mkdir(parents=True)
    (project / "experiments" / "synthetic" / "baseline_cnn").write_text("")
    code, _, err = zoo_cli("run", "baseline_cnn")
    assert code == 2 and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1


# 7: inspect on a clip of one sample


@pytest.mark.slow
def test_inspect_handles_a_one_sample_clip(project, zoo_cli):
    import numpy as np
    import soundfile as sf

    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for i in range(6):
            write_tone(project / "data" / label / f"{i}.wav", freq=freq + 20 * i)
    sf.write(project / "data" / "low" / "one.wav", np.zeros(1, dtype=np.float32), 16000)
    code, out, err = zoo_cli("inspect", "--dataset", "folder", "--data-root", "data")
    assert code == 0, err
    assert "Features that fit these clips" in out


# 8: killing a --jobs worker (there is no manager process left to kill) fails that job only


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_every_child_of_a_jobs_sweep_is_a_worker_whose_death_fails_its_job_only(project):
    from test_faults import children_of, zoo_process

    proc = zoo_process("run", "--all", "--epochs", "3", "--jobs", "2", cwd=project)
    runs = project / "experiments" / "synthetic"
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/*/config.json")) and time.monotonic() < deadline:
        time.sleep(0.05)  # a job in flight (the preparation's decoders are gone)

    def worker(pid):  # a worker (forked), or a manager process if there were one; not the resource tracker
        try:
            return b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    children = {pid for pid in children_of(proc.pid) if worker(pid)}
    assert len(children) == 2, "expected two workers and nothing else"
    os.kill(min(children), signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "BrokenPipeError" not in err
    failed = [json.loads(p.read_text()) for p in runs.glob("*/*/failed.json")]
    assert len(failed) == 1 and "its worker process died" in failed[0]["error"]
    assert failed[0]["error"].startswith(failed[0]["model"])
    assert len(list(runs.glob("*/*/metrics.json"))) == 1


# 9: registry.toml that cannot be read


def test_a_registry_that_is_not_utf8_or_not_readable_is_one_line(project, zoo_cli):
    (project / "registry.toml").write_bytes(b"[dataset]\nname = '\xff\xfe'\n")
    code, _, err = zoo_cli("run", "--all")
    assert code == 2 and "not UTF-8 text" in err and len(err.strip().splitlines()) == 1
    (project / "folder.toml").mkdir()
    code, _, err = zoo_cli("run", "--all", "--registry", "folder.toml")
    assert code == 2 and "cannot be read" in err and len(err.strip().splitlines()) == 1


# 10: a data set whose own split has no test clips


@pytest.mark.slow
def test_a_csv_with_every_clip_in_train_is_refused_before_training(project, zoo_cli):
    rows = []
    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for i in range(6):
            path = write_tone(project / "data" / label / f"{i}.wav", freq=freq + 20 * i)
            rows.append({"path": str(path), "label": label, "group": f"{label}{i}", "split": "train"})
    pd.DataFrame(rows).to_csv(project / "clips.csv", index=False)
    code, _, err = zoo_cli("run", "baseline_cnn", "--dataset", "csv", "--data-root", "clips.csv")
    assert code == 2 and "The test split is empty" in err and len(err.strip().splitlines()) == 1
    assert not (project / "experiments").exists()


# 12: numbers that are not finite


@pytest.mark.parametrize("value", ["inf", "1e309", "-inf", "nan"])
def test_a_rate_that_is_not_a_finite_number_is_refused(project, zoo_cli, value):
    code, _, err = zoo_cli("run", "--all", "--set", f"protocol.lr={value}")
    assert code == 2 and "is not a finite number" in err and len(err.strip().splitlines()) == 1


# 13: messages


def test_the_damaged_checkpoint_message_ends_on_a_whole_word(tmp_path):
    import warnings

    import torch

    from zoo.config import Protocol
    from zoo.train.trainer import Trainer

    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"PK" + b"garbage " * 100)
    with pytest.raises(Exception) as raised:
        torch.load(checkpoint, weights_only=False)
    words = str(raised.value).split()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Trainer(Protocol(device="cpu"), checkpoint=checkpoint)._resume_state() is None
    reason = str(caught[0].message).split(": ", 1)[1].split("); training")[0].removesuffix(" ...")
    said = reason.split()
    assert said == words[: len(said)] and len(reason) <= 120  # whole words, from the start


@pytest.mark.slow
def test_inspect_shows_whole_class_names_at_80_columns(project, zoo_cli, monkeypatch):
    from zoo.cli.draw import console

    names = ("Myopathic_rhinolophus", "Balaenoptera_physalus")
    for label, freq in zip(names, (300.0, 3000.0)):
        for i in range(6):
            write_tone(project / "data" / label / f"{i}.wav", freq=freq + 20 * i)
    monkeypatch.setattr(console, "_width", 80)
    code, out, err = zoo_cli("inspect", "--dataset", "folder", "--data-root", "data")
    assert code == 0, err
    for name in names:
        assert name in out  # whole, on one line


def test_other_libraries_warnings_are_one_line_naming_the_library(capsys):
    from zoo.cli.draw import show_warning

    where = "/x/lib/python3.11/site-packages/sklearn/metrics/_classification.py"
    show_warning(UserWarning("y_pred contains classes\n  not in y_true"), UserWarning, where, 12)
    err = capsys.readouterr().err
    assert err == "warning (sklearn, UserWarning): y_pred contains classes not in y_true\n"


def test_plots_keep_matplotlib_s_layout_warnings_to_themselves(tmp_path, recwarn):
    import numpy as np

    from zoo.outputs.run_plots import plot_confusion

    classes = [f"座頭鯨 {i}" for i in range(4)]  # glyphs DejaVu Sans lacks: matplotlib warns of each
    plot_confusion(tmp_path / "c.png", np.eye(4, dtype=int), classes)
    assert (tmp_path / "c.png").stat().st_size > 0 and not [str(w.message) for w in recwarn]


def test_a_resumed_run_reports_the_epoch_it_resumes_at(tmp_path):
    """So that a progress bar starts where the run stands, not at 0/N."""
    from test_trainer import PROTOCOL, toy_data, toy_model

    from zoo.train.trainer import Trainer

    def interrupt(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt", on_epoch=interrupt).fit(toy_model(), toy_data())
    rows = []
    Trainer(PROTOCOL, checkpoint=tmp_path / "c.pt", on_epoch=rows.append).fit(toy_model(), toy_data())
    assert [(r["epoch"], r.get("resumed", False)) for r in rows] == [(2, True), (3, False), (4, False)]


@pytest.mark.slow
def test_force_says_nothing_of_resuming(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--force")
    assert code == 0 and "resuming" not in out + err and "already finished" not in out


# the second audit (this session's): what it found, held


def test_a_metrics_json_that_parses_but_is_not_a_run_s_damages_the_run(tmp_path):
    from zoo.runs.folder import run_damage

    (tmp_path / "config.json").write_text("{}")
    for text in ("{}", '{"model": "m", "run_id": "r", "accuracy": "high"}'):
        (tmp_path / "metrics.json").write_text(text)
        assert run_damage(tmp_path) == ("metrics.json", "lacks what a run records (edited?)")


@pytest.mark.parametrize(
    "option, message",
    [
        (["--hop", "nan"], "--hop nan: give seconds"),
        (["--hop", "-1"], "--hop -1.0: give seconds"),
        (["--hop", "inf"], "--hop inf"),
        (["--hop", "1e-6"], "from 0.001 to 3600"),
        (["--top-k", "0"], "--top-k 0: give 1 or more"),
        (["--min-confidence", "2"], "--min-confidence 2.0: give a probability"),
        (["--min-confidence", "nan"], "--min-confidence nan"),
    ],
)
def test_predict_options_out_of_range_are_one_line_before_any_work(project, zoo_cli, option, message):
    code, _, err = zoo_cli("predict", "nosuchrun", "x.wav", *option)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_rate_that_shares_no_factor_with_the_target_resamples_without_a_giant_kernel():
    import torch

    from zoo.data.resampling import _resampler, resample

    _resampler.cache_clear()
    out = resample(torch.randn(4001), 4001, 16000)  # 16000 phases: about 4 GB of kernel, unsnapped
    assert abs(len(out) - 16000) <= 8
    assert _resampler.cache_info().currsize == 1 and _resampler(4000, 16000) is not None


def test_a_sample_rate_no_recorder_has_is_a_skip_with_its_reason(tmp_path):
    import numpy as np
    import soundfile as sf

    from zoo.data.audio import DecodeError, read_clip

    sf.write(tmp_path / "huge.wav", np.full(100, 0.1, dtype=np.float32), 2**31 - 1000)
    with pytest.raises(DecodeError, match="is not a recording's"):
        read_clip(tmp_path / "huge.wav")


@pytest.mark.parametrize(
    "args, message",
    [
        (["new-plugin", "m" * 300], "at most 60"),
        (
            ["run", "baseline_cnn", "--set", "models.baseline_cnn.width=abc"],
            "width = 'abc' should be an integer",
        ),
        (
            ["prepare", "--set", "dataset.options.recordings=0"],
            "dataset.options.recordings = 0: use 1 or more",
        ),
        (["prepare", "--set", "dataset.options.recordings=abc"], "recordings = 'abc' should be an integer"),
        (["run", "--all", "--set", "tuning.space=5"], "space = 5 should be a table"),
    ],
)
def test_bad_names_params_and_options_are_one_line_before_any_work(project, zoo_cli, args, message):
    code, _, err = zoo_cli(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (project / "experiments").exists()


def test_a_variant_named_best_is_refused(project, zoo_cli):
    (project / "registry.toml").write_text(
        textwrap.dedent(TINY_REGISTRY) + '\n[models.best]\nmodel = "baseline_cnn"\n'
    )
    code, _, err = zoo_cli("run", "--all")
    assert code == 2 and "'best' names the leader" in err
