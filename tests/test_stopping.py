"""The restored epoch and the stopping rule (zoo.train.stopping), and the trainer restoring by them."""

import dataclasses

import pytest
import torch
from test_trainer import PROTOCOL, toy_data, toy_model

from zoo.train.losses import class_weights
from zoo.train.stopping import Selection
from zoo.train.trainer import Trainer


def rows(losses, accuracies, f1s=None):
    f1s = f1s or accuracies
    return [
        {"epoch": i + 1, "val_loss": loss, "val_accuracy": acc, "val_macro_f1": f1}
        for i, (loss, acc, f1) in enumerate(zip(losses, accuracies, f1s))
    ]


# the case: the loss rises from epoch 1 (confident mistakes) while the accuracy climbs
RISING_LOSS = rows([3.3, 3.5, 3.9, 4.4, 5.0, 5.8], [0.08, 0.15, 0.22, 0.37, 0.30, 0.31])


@pytest.mark.parametrize("select, best", [("val_loss", 1), ("val_accuracy", 4), ("val_macro_f1", 4)])
def test_the_restored_epoch_is_the_best_by_the_chosen_score(select, best):
    selection = Selection(select, patience=10)
    flags = [selection.update(r) for r in RISING_LOSS]
    assert selection.best_epoch == best and flags[best - 1] and not any(flags[best:])


def test_a_tie_in_accuracy_goes_to_the_lower_loss():
    selection = Selection("val_accuracy", patience=10)
    for r in rows([1.0, 0.8, 0.9], [0.5, 0.5, 0.5]):
        selection.update(r)
    assert selection.best_epoch == 2


def test_stopping_waits_for_patience_and_min_epochs_and_resumes_its_state():
    selection = Selection("val_accuracy", patience=2, min_epochs=5)
    history = rows([1] * 6, [0.5, 0.4, 0.4, 0.4, 0.4, 0.4])
    stops = []
    for r in history:
        selection.update(r)
        stops.append(selection.should_stop(r["epoch"]))
    assert stops == [False, False, False, False, True, True]  # patience spent at 3, min_epochs holds to 5
    copy = Selection()
    copy.load_state_dict(selection.state_dict())
    assert copy == selection


def test_a_falling_loss_counts_as_progress_only_when_stop_on_says_so():
    """Watkins10's case: the accuracy stays below its best while the loss still falls."""
    history = rows([1.0, 0.9, 0.8, 0.7, 0.6, 0.65, 0.7], [0.5, 0.8, 0.78, 0.77, 0.79, 0.76, 0.75])
    stopped = {}
    for stop_on in ("select", "select_or_loss"):
        selection = Selection("val_accuracy", patience=2, stop_on=stop_on)
        for r in history:
            selection.update(r)
            if selection.should_stop(r["epoch"]):
                stopped[stop_on] = r["epoch"]
                break
        assert selection.best_epoch == 2  # the restored epoch is the best score's either way
    # by the score, patience is spent at epoch 4; the loss falls to epoch 5, then two epochs without progress
    assert stopped == {"select": 4, "select_or_loss": 7}


def test_an_unknown_rule_is_named_with_the_ones_there_are():
    from zoo.config import Protocol
    from zoo.errors import ZooError
    from zoo.fields import build_section

    with pytest.raises(ZooError, match='stop_on = .loss.; use "select" or "select_or_loss"'):
        build_section(Protocol, {"stop_on": "loss"}, "[protocol]")
    with pytest.raises(ZooError, match='select = .acc.; use "val_loss", "val_accuracy" or "val_macro_f1"'):
        build_section(Protocol, {"select": "acc"}, "[protocol]")


@pytest.mark.parametrize("select", ["val_loss", "val_accuracy", "val_macro_f1"])
def test_the_trainer_restores_the_epoch_its_rule_marks_best(select):
    protocol = dataclasses.replace(PROTOCOL, select=select, epochs=6, min_epochs=6)
    model = toy_model()
    history = Trainer(protocol).fit(model, toy_data())
    assert {"val_macro_f1", "best"} <= set(history[0])
    best = [r for r in history if r["best"]][-1]
    key = (lambda r: -r["val_loss"]) if select == "val_loss" else (lambda r: (r[select], -r["val_loss"]))
    assert best[select] == max(history, key=key)[select]
    data = toy_data()  # the weights kept are that epoch's
    criterion = torch.nn.CrossEntropyLoss(weight=class_weights(data.y_train, 3))
    with torch.no_grad():
        assert criterion(model.eval()(data.x_val), data.y_val).item() == pytest.approx(best["val_loss"], 1e-5)
