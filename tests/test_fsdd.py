"""Integration on real recordings: the Free Spoken Digit Dataset in ../shared (skipped where absent)."""

import json

import pandas as pd
import pytest

from conftest import FSDD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FSDD / "metadata.csv").is_file(),
        reason=f"FSDD not found at {FSDD} (only in the project's shared folder)",
    ),
]


@pytest.fixture
def fsdd_subset(project):
    """Indices 0-7 of every digit and speaker (480 real clips), as an annotations CSV with absolute paths."""
    meta = pd.read_csv(FSDD / "metadata.csv")
    index = meta["path"].str.extract(r"_(\d+)\.wav$")[0].astype(int)
    subset = meta[index < 8].assign(path=lambda t: [str(FSDD / p) for p in t["path"]])
    subset.to_csv(project / "fsdd.csv", index=False)
    return project / "fsdd.csv"


def test_fsdd_through_csv_holds_out_whole_speakers(project, zoo_cli, fsdd_subset):
    code, _, err = zoo_cli(
        "run",
        "baseline_cnn",
        "--dataset",
        "csv",
        "--data-root",
        str(fsdd_subset),
        "--dataset-id",
        "fsdd",
        "--epochs",
        "3",
        "--set",
        "features.frames=48",
    )
    assert code == 0, err
    run_dir = next((project / "experiments" / "fsdd" / "baseline_cnn").iterdir())
    splits = pd.read_csv(run_dir / "splits.csv")
    assert splits.groupby("group")["split"].nunique().max() == 1  # no speaker in two splits
    test = pd.read_csv(run_dir / "predictions.csv")
    assert set(test["path"]) == set(splits.loc[splits["split"] == "test", "path"])
    assert json.loads((run_dir / "metrics.json").read_text())["n_test"] >= 80


def test_fsdd_official_split_keeps_its_test_set_and_says_speakers_leak(project, zoo_cli, fsdd_subset):
    code, _, err = zoo_cli(
        "prepare",
        "--dataset",
        "csv",
        "--data-root",
        str(fsdd_subset),
        "--dataset-id",
        "fsdd-official",
        "--set",
        "dataset.options.split_column=official_split",
    )
    assert code == 0, err
    assert "group(s) have clips in more than one split" in err
    from zoo.data.cache import Prepared
    from zoo.project import split_data
    from zoo.settings import load_settings

    cache = next((project / "cache" / "features" / "fsdd-official").glob("*/meta.json")).parent
    settings = load_settings(project / "registry.toml")
    test = split_data(settings, Prepared(cache, {})).clips.query("split == 'test'")
    # the official convention: recordings 0-4 of each digit and speaker are test
    assert len(test) == 10 * 6 * 5
    assert all(int(p.rsplit("_", 1)[1].split(".")[0]) < 5 for p in test["path"])
