"""End to end through the `zoo` entry point on tiny generated data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_tone
from zoo.runs.folder import RUN_FILES

pytestmark = pytest.mark.slow


def test_run_all_writes_run_folders_and_a_ranked_leaderboard_then_refreshes_incrementally(project, zoo_cli):
    code, out, err = zoo_cli("run", "--all")
    assert code == 0, err
    assert 'pretrained = "auto" found no ImageNet weights' in out
    runs = sorted((project / "experiments" / "synthetic").glob("*/*/metrics.json"))
    assert [p.parent.parent.name for p in runs] == ["baseline_cnn", "efficientnet_b0"]
    for metrics_file in runs:
        run_dir = metrics_file.parent
        assert {p.name for p in run_dir.iterdir()} >= set(RUN_FILES)
        config = json.loads((run_dir / "config.json").read_text())
        assert config["run_id"] == run_dir.name and config["environment"]["torch"]
        metrics = json.loads(metrics_file.read_text())
        assert metrics["n_test"] == len((run_dir / "predictions.csv").read_text().splitlines()) - 1
    effnet = json.loads((runs[1].parent / "config.json").read_text())
    assert effnet["model"]["params"]["pretrained"] is False and "random initialisation" in effnet["notes"][0]
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert board.count("| baseline_cnn |") == 1 and board.count("| efficientnet_b0 |") == 1
    assert "random (auto: no weights on disk)" in board

    stamp = runs[0].stat().st_mtime_ns
    code, out, _ = zoo_cli("run", "--all")
    assert code == 0
    assert out.count("already finished with this exact config; not retrained") == 2
    assert runs[0].stat().st_mtime_ns == stamp

    code, out, _ = zoo_cli("run", "baseline_cnn", "--force")
    assert code == 0 and "not retrained" not in out
    assert runs[0].stat().st_mtime_ns != stamp

    code, out, _ = zoo_cli("show", runs[0].parent.name[:6])
    assert code == 0 and "Per-class report" in out and "whistle" in out

    code, out, _ = zoo_cli("leaderboard")
    assert code == 0 and "Leaderboard: synthetic" in out


def test_a_changed_setting_is_a_new_run(project, zoo_cli):
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1")[0] == 0
    assert zoo_cli("run", "baseline_cnn", "--epochs", "1", "--set", "protocol.lr=0.01")[0] == 0
    assert len(list((project / "experiments" / "synthetic" / "baseline_cnn").iterdir())) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("run", "efficientnet-b0"), "Unknown model 'efficientnet-b0'. Did you mean 'efficientnet_b0'?"),
        (
            ("run", "--all", "--dataset", "folder"),
            "Data set 'folder' needs a data root: pass --data-root PATH",
        ),
        (("run", "--all", "--dataset", "folder", "--data-root", "nowhere"), "does not exist"),
        (("run", "--all", "--dataset", "syntetic"), "Unknown dataset 'syntetic'. Did you mean 'synthetic'?"),
        (("run", "--all", "--set", "protocol.epoch=3"), "unknown key 'epoch' (did you mean 'epochs'?)"),
        (
            ("run", "--all", "--set", "models.baseline_cnn.widht=3"),
            "[models.baseline_cnn]: unknown option 'widht'",
        ),
        (("show", "ffffff"), "No run 'ffffff' under"),
    ],
)
def test_bad_input_is_one_line_naming_the_thing(project, zoo_cli, args, message):
    code, out, err = zoo_cli(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 or "\n" not in err.split("error:")[1].strip()


def test_empty_class_folder_is_an_error(project, zoo_cli):
    write_tone(project / "data" / "a" / "1.wav")
    (project / "data" / "b").mkdir()
    code, _, err = zoo_cli("prepare", "--dataset", "folder", "--data-root", "data")
    assert code == 2 and "has no audio files" in err and "add clips or remove the folder" in err


def test_unreadable_clip_among_good_ones_is_listed_and_the_run_goes_on(project, zoo_cli):
    for label, freq in (("low", 300.0), ("high", 3000.0)):
        for i in range(8):
            write_tone(project / "data" / label / f"{i}.wav", freq=freq + 20 * i)
    (project / "data" / "high" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEdata")
    code, out, err = zoo_cli(
        "run", "baseline_cnn", "--dataset", "folder", "--data-root", "data", "--set", "splits.test=0.25"
    )
    assert code == 0, err
    assert "skipped:" in err and "corrupt.wav" in err
    run_dir = next((project / "experiments" / "folder" / "baseline_cnn").iterdir())
    assert "corrupt.wav" in (run_dir / "skipped.csv").read_text()
    assert (project / "leaderboard" / "folder.md").is_file()


def test_example_plugin_package_installs_and_trains(project, zoo_cli, tmp_path):
    """pip-installs examples/zoo-example-plugin (into a folder on PYTHONPATH) and trains it with `zoo run`."""
    example = Path(__file__).resolve().parents[1] / "examples" / "zoo-example-plugin"
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(example),
        ],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    zoo = [sys.executable, "-m", "zoo.cli"]
    out = subprocess.run([*zoo, "models"], capture_output=True, text=True, env=env, check=True).stdout
    assert "mel_mlp" in out
    done = subprocess.run([*zoo, "run", "mel_mlp"], capture_output=True, text=True, env=env, cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "experiments" / "synthetic" / "mel_mlp").is_dir()
    assert "| mel_mlp |" in (project / "leaderboard" / "synthetic.md").read_text()


def test_cross_validation_trains_once_per_fold_and_ranks_mean_and_std(project, zoo_cli):
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--set", "protocol.folds=3")
    assert code == 0, err
    assert "training baseline_cnn (fold 3/3)" in out
    runs = list((project / "experiments" / "synthetic" / "baseline_cnn").glob("*/metrics.json"))
    folds = sorted(json.loads(p.read_text())["fold"]["index"] for p in runs)
    assert folds == [1, 2, 3]
    tests = [set(pd.read_csv(p.parent / "splits.csv").query("split == 'test'")["path"]) for p in runs]
    assert not (tests[0] & tests[1] or tests[0] & tests[2] or tests[1] & tests[2])
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "| 1 | baseline_cnn (3 runs) | " in board and " ± " in board


def test_seeds_are_runs_of_their_own_and_adding_one_trains_only_it(project, zoo_cli):
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--seeds", "2")
    assert code == 0, err
    assert "training baseline_cnn (seed 0)" in out and "training baseline_cnn (seed 1)" in out
    folder = project / "experiments" / "synthetic" / "baseline_cnn"
    seeds = sorted(json.loads(p.read_text())["protocol"]["seed"] for p in folder.glob("*/config.json"))
    assert seeds == [0, 1]
    first = {p.parent.name: p.stat().st_mtime_ns for p in folder.glob("*/metrics.json")}
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--seeds", "3")
    assert code == 0, err
    assert out.count("already finished") == 2 and "training baseline_cnn (seed 2)" in out
    assert all((folder / run / "metrics.json").stat().st_mtime_ns == t for run, t in first.items())
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "| 1 | baseline_cnn (3 runs) | " in board and "over 3 runs (1 fold(s) x 3 seed(s))" in board
    report = next(folder.glob("*/report.md")).read_text()
    assert "95 % interval" in report and "most confident mistakes" in report
    compute = json.loads(next(folder.glob("*/metrics.json")).read_text())["compute"]
    assert compute["params"] > 0 and compute["macs"] > compute["params"] and compute["latency_ms"] > 0


def test_new_plugin_is_a_package_that_installs_tests_and_trains(project, zoo_cli):
    """`zoo new-plugin mymodel && pip install -e mymodel && zoo run mymodel`, the install going to a prefix
    of its own (added as a site directory) so that this environment is left as it was."""
    code, out, err = zoo_cli("new-plugin", "mymodel")
    assert code == 0, err
    assert "pip install -e mymodel && zoo run mymodel" in out
    assert zoo_cli("new-plugin", "mymodel")[0] == 2  # never overwrites
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project / "mymodel",
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    prefix = project / "prefix"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--prefix"]
    installed = subprocess.run(
        [*pip, str(prefix), "-e", "mymodel"], cwd=project, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    site_dir = next(prefix.glob("lib/python*/site-packages"))
    launcher = (
        f"import site, sys; site.addsitedir({str(site_dir)!r}); from zoo.cli import main; sys.exit(main())"
    )
    ran = subprocess.run(
        [sys.executable, "-c", launcher, "run", "mymodel", "--epochs", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert ran.returncode == 0, ran.stderr
    metrics = json.loads(
        next((project / "experiments" / "synthetic" / "mymodel").glob("*/metrics.json")).read_text()
    )
    assert metrics["model"] == "mymodel" and 0 <= metrics["accuracy"] <= 1
    config = json.loads(
        next((project / "experiments" / "synthetic" / "mymodel").glob("*/config.json")).read_text()
    )
    assert config["model"]["plugin"] == "mymodel"


def test_a_variant_is_a_row_of_its_own_built_by_the_model_it_names(project, zoo_cli):
    with open(project / "registry.toml", "a") as f:
        f.write('\n[models.baseline_cnn_wide]\nmodel = "baseline_cnn"\nwidth = 24\n')
    code, out, err = zoo_cli("run", "baseline_cnn_wide", "--epochs", "1")
    assert code == 0, err
    config = json.loads(
        next((project / "experiments" / "synthetic" / "baseline_cnn_wide").glob("*/config.json")).read_text()
    )
    assert config["model"] == {
        "name": "baseline_cnn_wide",
        "builds": "baseline_cnn",
        "plugin": "baseline_cnn",
        "params": {"width": 24, "dropout": 0.1},
    }
    assert "| baseline_cnn_wide |" in (project / "leaderboard" / "synthetic.md").read_text()
    code, out, _ = zoo_cli("models", "baseline*")
    assert code == 0 and "baseline_cnn_wide" in out and "variant of" in out and "width=24" in out
    with open(project / "registry.toml", "a") as f:
        f.write('\n[models.typo]\nmodel = "baseline_cnn"\nwidht = 24\n')
    code, _, err = zoo_cli("run", "typo")
    assert code == 2 and "[models.typo]: unknown option 'widht'" in err
