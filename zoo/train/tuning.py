"""One tuning budget for every model: before a run trains, an Optuna study spends `[tuning] trials` trials on
the run's own train and validation splits (never its test split) over one search space, and the run then
trains with the best trial's values.

The study is seeded (the run's seed), its poor trials are pruned in the second half of their epochs (Optuna's
MedianPruner: below the median of earlier trials at the same epoch; never before a slow starter or a warm-up
has had half its epochs, nor at the last epoch, where stopping saves nothing), and
it lives in an SQLite file in the run folder (tuning.db: a killed study resumes without repeating a finished
trial, and optuna-dashboard opens it) or in a shared RDB (`[tuning] storage`). A trial's score is its
validation score of protocol.select (zoo.train.stopping) averaged over the later half of its epochs
(`[tuning] score = "late"`), or its best epoch's (`"best"`). The first trial is the protocol's own values
(`[tuning] start = "protocol"`), as SMAC's DefaultInitialDesign evaluates the default first: a study
then moves away from the recipe every model trains under untuned only where a sampled point beats it on
validation, and every model still tries the same points.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Callable

from zoo.config import Protocol, TuningConfig
from zoo.errors import ZooError
from zoo.train.stopping import epoch_score

FINISHED = ("COMPLETE", "PRUNED", "FAIL")  # trials that count against the budget (not one killed mid-way)


def require_optuna() -> None:
    """Before any work: tuning needs Optuna, an optional extra."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ZooError("[tuning] trials > 0 needs Optuna: pip install 'audio-zoo[tune]'.") from None


def suggest(trial, name: str, spec: list):
    """A value for protocol field `name` from its [low, high, kind] in the search space."""
    low, high, kind = spec
    if kind == "int":
        return trial.suggest_int(name, int(low), int(high))
    return trial.suggest_float(name, float(low), float(high), log=kind == "log")


FEW_SOURCES = 2  # validation groups per class (median) below which a study's choice is mostly noise


def validation_sources(clips) -> dict:
    """How many groups (speakers, tapes, recordings) the validation split of a SplitPlan's clips holds, in
    all and per class (the median): what a trial's score rests on."""
    val = clips[clips["split"] == "val"]
    per_class = val.groupby("label")["group"].nunique()
    median = float(per_class.median()) if len(val) else 0.0
    return {"groups": int(val["group"].nunique()), "per_class": median}


def few_sources_warning(sources: dict) -> str | None:
    """The warning for a validation split too narrow to tune on, or None."""
    if sources["per_class"] >= FEW_SOURCES:
        return None
    groups, per_class = sources["groups"], sources["per_class"]
    return (
        f"tuning: the validation split holds {per_class:g} group(s) per class ({groups} in all), so the "
        "trials are scored on a few sources and the study picks what suits them (FSDD with one validation "
        "speaker: test accuracy moved by 0.03 between budgets); more groups in validation (a larger "
        "[splits] val, or folds) make tuning pay"
    )


def trial_protocol(protocol: Protocol, tuning: TuningConfig, values: dict) -> Protocol:
    """The protocol a trial trains under: its values, and the budget's epochs per trial."""
    epochs = tuning.epochs or protocol.epochs
    return dataclasses.replace(protocol, **values, epochs=epochs, min_epochs=min(protocol.min_epochs, epochs))


def trial_score(scores: list[float], rule: str) -> float:
    """A trial's score from its epochs' validation scores so far (also what the pruner compares, epoch by
    epoch). "late": their mean over the later half of the epochs. The best of a few noisy epochs favours the
    trials whose curves jump most: on FSDD, ast at lr 1.25e-3 (never learns) beat 7.5e-4 (learns) by 7
    validation clips in 451 on its best of 4 epochs, while over epochs 3-4 of five replicate runs the two
    never overlapped. "best": the best epoch's, as the run itself is restored."""
    return max(scores) if rule == "best" else statistics.fmean(scores[len(scores) // 2 :])


def protocol_point(protocol: Protocol, tuning: TuningConfig) -> dict:
    """The study's first trial under `start = "protocol"`: the protocol's values of its settings, those
    inside the space (a value outside it, e.g. freq_warp 0 on a log scale, is sampled); {} under "random"."""
    if tuning.start != "protocol":
        return {}
    point = {}
    for name, (low, high, _) in tuning.space.items():
        if low <= (value := getattr(protocol, name)) <= high:
            point[name] = value
    return point


def queue_first(study, point: dict) -> None:
    """Queue the protocol's trial, unless a finished or waiting trial has its values (one a kill ended
    mid-way is tried again)."""
    tried = [
        t.system_attrs.get("fixed_params") for t in study.trials if t.state.name in (*FINISHED, "WAITING")
    ]
    if point and point not in tried:
        study.enqueue_trial(point)


def prune_from(epochs: int) -> int:
    """The first epoch (1-based) at which a trial of `epochs` epochs may be pruned: half-way through."""
    return max(1, math.ceil(epochs / 2))


def study_for(tuning: TuningConfig, name: str, storage: str, seed: int, epochs: int):
    """The study (created, or loaded to resume) with its seeded sampler and its pruner."""
    import numpy as np
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=prune_from(epochs))
        if tuning.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=name, storage=storage, load_if_exists=True, direction="maximize", pruner=pruner
    )
    # A sampler's random state lives in its process, not in the study: resumed with the run's seed, it would
    # draw again the points of the trials already made. A study resumed after n trials is seeded by (seed, n).
    if made := len(study.trials):
        seed = int(np.random.SeedSequence([seed, made]).generate_state(1)[0])
    kind = optuna.samplers.TPESampler if tuning.sampler == "tpe" else optuna.samplers.RandomSampler
    study.sampler = kind(seed=seed)
    return study


def tune(
    protocol: Protocol,
    tuning: TuningConfig,
    fit: Callable[[Protocol, Callable[[dict], None]], list[dict]],
    study_name: str,
    storage: str,
    on_trial: Callable[[dict], None] | None = None,
) -> tuple[dict, dict]:
    """Run what is left of the study's budget and return (the chosen values, the record for config.json).

    `fit(protocol, on_epoch)` trains a fresh model under `protocol` on the train split, validating on the
    validation split, and returns its history; on_epoch(row) is called after each epoch (it raises to prune).
    """
    import optuna

    from zoo.train.trainer import Diverged

    epochs = tuning.epochs or protocol.epochs
    study = study_for(tuning, study_name, storage, protocol.seed, epochs)

    def objective(trial) -> float:
        values = {name: suggest(trial, name, spec) for name, spec in tuning.space.items()}
        scores = []

        def on_epoch(row: dict) -> None:
            scores.append(epoch_score(row, protocol.select))
            trial.report(trial_score(scores, tuning.score), row["epoch"])
            if row["epoch"] < epochs and trial.should_prune():
                raise optuna.TrialPruned()

        fit(trial_protocol(protocol, tuning, values), on_epoch)
        return trial_score(scores, tuning.score)

    def report(study, trial) -> None:
        if on_trial:  # numbered by its place in the budget: a trial killed mid-way has a number, spends none
            done = sum(t.state.name in FINISHED for t in study.trials)
            on_trial({**_trial_record(trial), "number": done - 1, "of": tuning.trials})

    left = tuning.trials - sum(t.state.name in FINISHED for t in study.trials)
    if left > 0:
        queue_first(study, protocol_point(protocol, tuning))
        study.optimize(objective, n_trials=left, catch=(Diverged,), callbacks=[report])
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not complete:
        raise ZooError(
            f"tuning: none of the {tuning.trials} trials finished (diverged or pruned): narrow [tuning.space]"
        )
    best = max(complete, key=lambda t: (t.value, -t.number))
    chosen = {name: best.params[name] for name in tuning.space}
    record = {
        "chosen": chosen,
        "score": best.value,  # the best trial's validation score (protocol.select; loss negated)
        "trial": best.number,
        "trials": [_trial_record(t) for t in study.trials if t.state.name in FINISHED],
    }
    return chosen, record


def _trial_record(trial) -> dict:
    value = trial.value if trial.value is not None else trial.intermediate_values.get(trial.last_step)
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "score": None if value is None or not math.isfinite(value) else value,
        "epochs": len(trial.intermediate_values),
        "params": trial.params,
    }
