"""Issue 19 (3): one tuning budget for every model (zoo.train.tuning): the same space and trials,
validation data only, a study that resumes after kill -9, trials inside jobs on any executor, and
trials = 0 as before."""

import importlib.util
import json
import signal
import sqlite3
import textwrap
import time

import pandas as pd
import pytest

from conftest import PLUGINS, TINY_REGISTRY, write_tone
from zoo.executors import Processes
from zoo.sweep import Source, plan_of, plan_sweep, run_sweep
from zoo.train.tuning import few_sources_warning

pytestmark = pytest.mark.slow
needs_optuna = pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None,
    reason="tuning is an optional extra: pip install 'audio-zoo[tune]'",
)
TUNED = "\n[tuning]\ntrials = 3\nepochs = 2\n"
TWO_MODELS = textwrap.dedent(TINY_REGISTRY).replace(
    '[models.efficientnet_b0]\npretrained = "auto"\n',
    f'[models.tiny_local]\n[plugins]\nmodules = ["{PLUGINS / "tiny_model.py"}"]\n',
)


def configs(project):
    return {p.parts[-3]: json.loads(p.read_text()) for p in project.glob("experiments/*/*/*/config.json")}


def test_trials_zero_keeps_the_run_ids_of_runs_made_before_tuning_existed(project):
    """d0376187f16d: the tiny project's baseline_cnn run id with the rules of before [tuning] (and
    protocol.select, protocol.ema_epochs, protocol.stop_on and features.source) were added: select =
    "val_loss", no weights' average and stopping on the score alone were the rules then. (It was
    5f58c4bd87eb until the generated data set became the 6-kind demo: its data, so its runs, changed.)"""
    rules_before = '[protocol]\nselect = "val_loss"\nema_epochs = 0\nstop_on = "select"\n'
    registry = textwrap.dedent(TINY_REGISTRY).replace("[protocol]\n", rules_before)
    for extra in ("", "\n[tuning]\ntrials = 0\n"):
        (project / "registry.toml").write_text(registry + extra)
        source = Source.from_registry(project / "registry.toml")
        run_sweep([])  # the shared context afresh
        plan = plan_of(plan_sweep(source, ["baseline_cnn"])[0])
        assert plan.run_id == "d0376187f16d" and "tuning" not in plan.config


@needs_optuna
def test_every_model_gets_the_same_space_and_number_of_trials_and_the_leaderboard_says_so(project, zoo_cli):
    (project / "registry.toml").write_text(TWO_MODELS + TUNED)
    code, out, err = zoo_cli("run", "--all")
    assert code == 0, err
    assert out.count("trial 3/3") == 2
    found = configs(project)
    assert set(found) == {"baseline_cnn", "tiny_local"}
    blocks = [c["tuning"] for c in found.values()]
    assert blocks[0] == blocks[1] and blocks[0]["trials"] == 3 and set(blocks[0]["space"]) >= {"lr"}
    for config in found.values():
        tuned = config["tuned"]
        assert len(tuned["trials"]) == 3 and set(tuned["chosen"]) == set(blocks[0]["space"])
        best = tuned["trials"][tuned["trial"]]
        assert best["params"] == tuned["chosen"] and best["score"] == tuned["score"]
        assert config["tuned"]["validation"]["per_class"] == 1.0  # one recording per kind validates
    # said before the trials: scores that rest on one source per class are mostly noise
    assert err.count("validation split holds 1 group(s) per class") == 2
    board = (project / "leaderboard" / "synthetic.md").read_text()
    recipe = (
        "3 trials per run (TPE sampler, the protocol's values first, median pruner, 2 epochs each, scored on"
        " the mean of their later half)"
    )
    assert recipe in board and "(progress: a better score)" in board
    assert "chosen by val_accuracy among the weights' moving averages over 2 epochs" in board
    assert (project / "leaderboard" / "synthetic-tuning.png").stat().st_size > 0


def csv_project(project, shuffle_test: bool):
    rows = []
    for k, (label, freq) in enumerate((("low", 300.0), ("mid", 1200.0), ("high", 3000.0))):
        for i in range(8):
            split = "train" if i < 4 else "val" if i < 6 else "test"
            path = write_tone(project / "data" / label / f"{i}.wav", freq=freq + 15 * i, seconds=0.5)
            rows.append({"path": str(path), "label": label, "group": f"{label}{i}", "split": split})
    table = pd.DataFrame(rows)
    if shuffle_test:
        test = table["split"] == "test"
        table.loc[test, "label"] = table.loc[test, "label"].sample(frac=1, random_state=1).to_numpy()
    table.to_csv(project / "clips.csv", index=False)
    (project / "registry.toml").write_text(
        '[dataset]\nname = "csv"\nroot = "clips.csv"\n[features]\nn_mels = 32\nframes = 32\n'
        "[protocol]\nepochs = 2\nbatch_size = 8\n[models.baseline_cnn]\n" + TUNED
    )


@needs_optuna
def test_shuffled_test_labels_leave_every_tuning_choice_and_validation_history_the_same(
    tmp_path, monkeypatch
):
    from zoo.cli import main

    seen = []
    for shuffle in (False, True):
        project = tmp_path / str(shuffle)
        project.mkdir()
        monkeypatch.chdir(project)
        csv_project(project, shuffle)
        assert main(["run", "--all"]) == 0
        (run_dir,) = project.glob("experiments/csv/baseline_cnn/*/")
        config = json.loads((run_dir / "config.json").read_text())
        history = pd.read_csv(run_dir / "history.csv")
        seen.append((run_dir.name, config["tuned"], history[["epoch", "val_loss", "val_accuracy"]]))
    (first_id, first_tuned, first_history), (second_id, second_tuned, second_history) = seen
    assert first_id != second_id  # other test labels: other data, another run
    assert first_tuned == second_tuned
    assert first_tuned["validation"] == {"groups": 6, "per_class": 2.0}  # two tones per class: no warning
    assert few_sources_warning(first_tuned["validation"]) is None
    pd.testing.assert_frame_equal(first_history, second_history)


@needs_optuna
def test_a_study_killed_with_9_resumes_without_repeating_a_finished_trial(project):
    from test_faults import zoo_process

    (project / "registry.toml").write_text(
        textwrap.dedent(TINY_REGISTRY).replace('[models.efficientnet_b0]\npretrained = "auto"\n', "")
        + '\n[tuning]\ntrials = 4\nepochs = 3\npruner = "none"\n'
    )
    proc = zoo_process("run", "--all", cwd=project)
    deadline, finished = time.monotonic() + 300, []
    while len(finished) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        for db in project.glob("experiments/synthetic/baseline_cnn/*/tuning.db"):
            try:
                with sqlite3.connect(db) as con:
                    finished = con.execute(
                        "select number from trials where state = 'COMPLETE' order by number"
                    ).fetchall()
            except sqlite3.Error:
                pass
    assert len(finished) >= 2, proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with sqlite3.connect(next(project.glob("experiments/synthetic/baseline_cnn/*/tuning.db"))) as con:
        before = dict(con.execute("select trial_id, number from trials where state = 'COMPLETE'").fetchall())
        params_before = con.execute("select trial_id, param_name, param_value from trial_params").fetchall()
    resumed = zoo_process("run", "--all", cwd=project)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    tuned = configs(project)["baseline_cnn"]["tuned"]
    assert len(tuned["trials"]) == 4  # the budget, no more: finished trials were not run again
    numbers = [t["number"] for t in tuned["trials"]]
    assert set(before.values()) <= set(numbers)
    assert f"trial {len(before) + 1}/4" in out or f"trial {len(before) + 2}/4" in out  # went on from there
    with sqlite3.connect(next(project.glob("experiments/synthetic/baseline_cnn/*/tuning.db"))) as con:
        params_after = con.execute("select trial_id, param_name, param_value from trial_params").fetchall()
    assert set(params_before) <= set(params_after)


@needs_optuna
def test_trials_run_inside_jobs_on_two_processes(project):
    (project / "registry.toml").write_text(TWO_MODELS + TUNED)
    outcomes = run_sweep(
        plan_sweep(Source.from_registry(project / "registry.toml")), executor=Processes(jobs=2)
    )
    assert len(outcomes) == 2 and not any(o.error for o in outcomes)
    assert all(len(c["tuned"]["trials"]) == 3 for c in configs(project).values())


@pytest.mark.parametrize(
    "setting, message",
    [
        ('tuning.sampler="grid"', 'sampler = \'grid\'; use "tpe" or "random"'),
        ('tuning.space.lr=[0.1, 0.01, "log"]', "space.lr = [0.1, 0.01, 'log']; give [low, high"),
        ('tuning.space.nonsense=[1, 2, "int"]', "space.nonsense is not a numeric protocol setting"),
        ('tuning.space.lr=[0, 0.01, "log"]', 'above 0 for "log"'),
        ("tuning.trials=-1", "trials = -1 is out of range"),
    ],
)
def test_a_bad_tuning_setting_is_one_line_before_any_work(project, zoo_cli, setting, message):
    code, _, err = zoo_cli("run", "--all", "--set", setting)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (project / "cache").exists()
