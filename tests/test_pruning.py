"""Issue 19: when the tuning study may stop a trial (zoo.train.tuning): from half its epochs, below the median
of earlier trials at the same epoch, and never at its last epoch, where stopping saves nothing; and how a
trial is scored: the mean over the later half of its epochs, not the best of a few noisy ones; and which
trial comes first: the protocol's own values."""

import importlib.util

import pytest

from zoo.config import Protocol, TuningConfig
from zoo.train.tuning import protocol_point, prune_from, trial_score, tune

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None,
    reason="tuning is an optional extra: pip install 'audio-zoo[tune]'",
)


@pytest.mark.parametrize("epochs, first", [(1, 1), (2, 1), (4, 2), (5, 3), (20, 10)])
def test_a_trial_may_be_pruned_from_half_its_epochs(epochs, first):
    assert prune_from(epochs) == first


def test_slow_starters_run_half_their_epochs_and_a_trial_that_ran_them_all_is_kept(tmp_path):
    """Trials scored by their learning rate until the last epoch, where the order turns (1 - lr): the low ones
    lie below the median from the first epoch, yet run until half-way (epoch 3 of 6); those that reach the
    sixth lie below the median there too, and are kept (the rule before pruned them at their last epoch)."""
    epochs = 6
    tuning = TuningConfig(trials=12, epochs=epochs, sampler="random", score="best")
    ran = []

    def fit(protocol, on_epoch):
        ran.append(0)
        for epoch in range(1, protocol.epochs + 1):
            ran[-1] = epoch
            score = protocol.lr if epoch < protocol.epochs else 1 - protocol.lr
            on_epoch({"epoch": epoch, "val_loss": 1.0, "val_accuracy": score, "val_macro_f1": 0.0})
        return []

    chosen, record = tune(Protocol(select="val_accuracy"), tuning, fit, "s", f"sqlite:///{tmp_path / 't.db'}")
    pruned = [t for t in record["trials"] if t["state"] == "pruned"]
    assert pruned, "below-median trials are pruned"
    assert all(prune_from(epochs) <= t["epochs"] < epochs for t in pruned)
    assert sorted(ran) == sorted(t["epochs"] for t in record["trials"])
    complete = [t for t in record["trials"] if t["state"] == "complete"]
    assert all(t["epochs"] == epochs for t in complete)
    assert len(complete) > 3 and chosen["lr"] == min(t["params"]["lr"] for t in complete)


def test_a_resumed_study_draws_new_points_not_those_of_its_first_trials(tmp_path):
    """A sampler's random state is not in the study: reseeded alike after a restart it would try the first
    trials' values again and waste the budget the kill left."""
    storage = f"sqlite:///{tmp_path / 't.db'}"

    def fit(protocol, on_epoch):
        on_epoch({"epoch": 1, "val_loss": 1.0, "val_accuracy": protocol.lr, "val_macro_f1": 0.0})
        return []

    for trials in (3, 6):  # three trials, the process ends; the next one resumes the study to six
        _, record = tune(
            Protocol(select="val_accuracy"), TuningConfig(trials=trials, epochs=1), fit, "s", storage
        )
    points = [tuple(t["params"].values()) for t in record["trials"]]
    assert len(points) == 6 and len(set(points)) == 6


@pytest.mark.parametrize(
    "scores, late, best",
    [
        ([0.3], 0.3, 0.3),
        ([0.1, 0.5], 0.5, 0.5),
        ([0.1, 0.5, 0.2], 0.35, 0.5),
        ([0.1, 0.5, 0.2, 0.4], 0.3, 0.5),
    ],
)
def test_a_trial_is_scored_on_the_later_half_of_its_epochs(scores, late, best):
    assert trial_score(scores, "late") == pytest.approx(late) and trial_score(scores, "best") == best


def test_a_steady_climber_beats_a_lucky_spike(tmp_path):
    """ast on FSDD: at lr 1.25e-3 its validation accuracy jumps about near chance (one epoch's spike can top
    all of 7.5e-4's first epochs), at 7.5e-4 it climbs. Scored on its best epoch the study picks the spike;
    on the later half of its epochs, the climber."""
    spike, climb = [0.10, 0.50, 0.10, 0.10], [0.10, 0.20, 0.30, 0.35]

    def fit(protocol, on_epoch):
        for epoch, score in enumerate(spike if protocol.lr > 1e-3 else climb, 1):
            on_epoch({"epoch": epoch, "val_loss": 1.0, "val_accuracy": score, "val_macro_f1": 0.0})
        return []

    chosen = {}
    for rule in ("late", "best"):
        tuning = TuningConfig(trials=8, epochs=4, sampler="random", pruner="none", score=rule)
        chosen[rule], record = tune(
            Protocol(select="val_accuracy"), tuning, fit, rule, f"sqlite:///{tmp_path / rule}.db"
        )
        lrs = [t["params"]["lr"] for t in record["trials"]]
        assert min(lrs) <= 1e-3 < max(lrs), "both kinds of trial were tried"
    assert chosen["late"]["lr"] <= 1e-3 < chosen["best"]["lr"]


def test_a_resumed_study_counts_its_trials_from_those_that_finished(tmp_path):
    """A trial killed mid-way stays in the study as running: it spends no budget, and the trials after it are
    said as 3/3, not 4/3."""
    import optuna

    storage = f"sqlite:///{tmp_path / 't.db'}"
    optuna.create_study(study_name="s", storage=storage, direction="maximize").ask()  # killed mid-way
    said = []

    def fit(protocol, on_epoch):
        on_epoch({"epoch": 1, "val_loss": 1.0, "val_accuracy": protocol.lr, "val_macro_f1": 0.0})
        return []

    _, record = tune(
        Protocol(select="val_accuracy"), TuningConfig(trials=3, epochs=1), fit, "s", storage, said.append
    )
    assert [(t["number"], t["of"]) for t in said] == [(0, 3), (1, 3), (2, 3)] and len(record["trials"]) == 3


def flat(protocol, on_epoch):
    """A trial that scores alike whatever its values: the study's choice is then its tie rule's."""
    on_epoch({"epoch": 1, "val_loss": 1.0, "val_accuracy": 0.5, "val_macro_f1": 0.0})
    return []


def test_a_study_tries_the_protocols_values_first_then_the_points_it_drew_without_them(tmp_path):
    """start = "protocol": the first trial is the recipe every model trains under untuned, kept where no
    sampled point beats it on validation; the sampled trials after it are the first ones a study without it
    draws, so every model still tries the same points."""
    protocol = Protocol(select="val_accuracy")
    own = {"lr": protocol.lr, "weight_decay": protocol.weight_decay, "warmup_epochs": protocol.warmup_epochs}
    points, chosen = {}, {}
    for start in ("protocol", "random"):
        tuning = TuningConfig(trials=4, epochs=1, start=start)
        chosen[start], record = tune(protocol, tuning, flat, start, f"sqlite:///{tmp_path / start}.db")
        points[start] = [t["params"] for t in record["trials"]]
    assert points["protocol"][0] == own == chosen["protocol"]
    assert points["protocol"][1:] == points["random"][:3] and own not in points["random"]


def test_a_protocol_value_outside_the_space_is_sampled():
    space = {"lr": [1e-4, 1e-3, "log"], "warmup_epochs": [0, 5, "int"], "freq_warp": [0.05, 0.3, "log"]}
    assert protocol_point(Protocol(lr=2e-3), TuningConfig(space=space)) == {"warmup_epochs": 0}
    assert protocol_point(Protocol(), TuningConfig(space=space, start="random")) == {}


def test_a_study_killed_in_its_protocol_trial_tries_it_again(tmp_path):
    import optuna

    storage, protocol, tuning = f"sqlite:///{tmp_path / 't.db'}", Protocol(), TuningConfig(trials=2, epochs=1)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.enqueue_trial(protocol_point(protocol, tuning))
    study.ask()  # the protocol's trial begins, and the process is killed
    _, record = tune(protocol, tuning, flat, "s", storage)
    assert [t["params"] == protocol_point(protocol, tuning) for t in record["trials"]] == [True, False]
