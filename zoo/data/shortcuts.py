"""Shortcut check: whether recording metadata alone predicts the label under the run's own split."""

from __future__ import annotations

import pandas as pd

# What a recording setup leaves in a file, apart from the sound itself
METADATA = ("sample_rate", "duration_s", "channels", "bits", "peak_db")
# Warn when metadata alone beats the majority class on the test split by this much (accuracy points).
# Measured (grouped 5-fold, random forest): Watkins10 0.72 vs 0.11; FSDD 0.11 vs 0.10; synthetic at chance.
MARGIN = 0.2
ADVICE = {
    "sample_rate": "resample every clip to at most the lowest native rate (features.sample_rate), so that "
    "the band a recorder captured does not tell the class",
    "duration_s": "score fixed-length crops (features.max_windows = 1), so that clip length does not tell",
    "peak_db": "normalise levels, or check that the classes were recorded with the same gain",
    "bits": "convert every file to one sample format",
    "channels": "mix every file to mono before the data set is made",
}


def metadata_shortcut(clips: pd.DataFrame) -> dict | None:
    """Train a small random forest on the train split's metadata (METADATA columns of a SplitPlan's clips)
    and score it on the test split. Returns the figures, with `warning` set above MARGIN over chance, or
    None when there is nothing to check (no metadata, or an empty split)."""
    from sklearn.ensemble import RandomForestClassifier

    columns = [c for c in METADATA if c in clips.columns and clips[c].nunique() > 1]
    train, test = clips[clips["split"] == "train"], clips[clips["split"] == "test"]
    if not columns or train.empty or test.empty:
        return None
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=3, random_state=0, n_jobs=1)
    forest.fit(train[columns].to_numpy(float), train["label"])
    accuracy = float((forest.predict(test[columns].to_numpy(float)) == test["label"]).mean())
    chance = float((test["label"] == train["label"].value_counts().idxmax()).mean())
    weights = forest.feature_importances_.round(3).tolist()
    importance = dict(sorted(zip(columns, weights), key=lambda kv: -kv[1]))
    result = {
        "accuracy": round(accuracy, 4),
        "chance": round(chance, 4),
        "metadata": columns,
        "importance": importance,
        "warning": "",
    }
    if accuracy >= chance + MARGIN:
        top = next(iter(importance))
        result["warning"] = (
            f"recording metadata alone ({', '.join(columns)}) predicts the label with accuracy "
            f"{accuracy:.2f} on the test split (the largest class: {chance:.2f}); a model can learn the "
            f"recording setup instead of the sound. Strongest: {top}; {ADVICE[top]}"
        )
    return result
