"""Which epoch a run keeps, and when it stops: one small object that owns the state it resumes from.

The epoch restored at the end is the one with the best validation score of `protocol.select` (val_loss,
val_accuracy or val_macro_f1). Early stopping stops a run after `early_stop_patience` epochs without
progress, by `protocol.stop_on`: "select" (the default), a better score, or "select_or_loss", a better
score or a validation loss lower than any before (a score that has stalled on a small validation split must
not stop a run whose loss still falls; the restored epoch is still the best score's).
Never before `min_epochs`. On a tie in an accuracy or an F1 (small validation splits tie often), the lower
validation loss is the better epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SELECT = ("val_loss", "val_accuracy", "val_macro_f1")
STOP_ON = ("select", "select_or_loss")
LOSS_DELTA = 1e-4  # a validation loss must fall by more than this to count as better
SCORE_DELTA = 1e-9  # an accuracy or F1 must rise by more than this (any real change)


def epoch_score(row: dict, select: str) -> float:
    """An epoch's validation score by `select`, higher is better (the loss negated)."""
    if select == "val_loss":
        return -row["val_loss"]
    # multi-label runs have no accuracy: their headline score, mAP, stands in for it
    return row[select] if select in row else row["val_map"]


@dataclass
class Selection:
    """The best epoch so far by `select`, and how many epochs have passed without progress (`stop_on`)."""

    select: str = "val_loss"
    patience: int = 10
    min_epochs: int = 1
    stop_on: str = "select"
    best_epoch: int = 0
    best_score: float = -math.inf  # higher is better (the negated loss for val_loss)
    best_loss: float = math.inf
    lowest_loss: float = math.inf  # the lowest validation loss of any epoch (stop_on = "select_or_loss")
    bad_epochs: int = 0

    def update(self, row: dict) -> bool:
        """Take an epoch's history row (epoch, val_loss, val_accuracy, val_macro_f1); whether it is the new
        best (its weights are then the ones to keep)."""
        loss, score = row["val_loss"], epoch_score(row, self.select)
        if self.select == "val_loss":
            better = loss < self.best_loss - LOSS_DELTA
        else:
            better = score > self.best_score + SCORE_DELTA or (
                abs(score - self.best_score) <= SCORE_DELTA and loss < self.best_loss - LOSS_DELTA
            )
        progress = better or (self.stop_on == "select_or_loss" and loss < self.lowest_loss - LOSS_DELTA)
        self.lowest_loss = min(self.lowest_loss, loss)
        if better:
            self.best_epoch, self.best_score, self.best_loss = row["epoch"], score, loss
        self.bad_epochs = 0 if progress else self.bad_epochs + 1
        return better

    def should_stop(self, epoch: int) -> bool:
        """After `epoch`: patience spent, and at least min_epochs trained."""
        return self.bad_epochs >= self.patience and epoch >= self.min_epochs

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
