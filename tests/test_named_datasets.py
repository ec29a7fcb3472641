"""Each named data set on a small generated fixture in its real layout."""

import pandas as pd
import pytest

from conftest import FSDD, write_tone
from zoo.config import SplitConfig
from zoo.data.splits import assign_splits
from zoo.errors import ZooError
from zoo_plugins.named_datasets import load_esc50, load_fsdd, load_watkins


def fsdd_fixture(root):
    for digit in range(3):
        for speaker in ("george", "jackson", "lucas", "nicolas"):
            for index in range(7):
                write_tone(
                    root / "recordings" / f"{digit}_{speaker}_{index}.wav",
                    freq=300 + 100 * digit,
                    seconds=0.1,
                )
    (root / "recordings" / "README.txt").write_text("not audio")
    return root / "recordings"


def test_fsdd_groups_by_speaker_and_has_both_splits(tmp_path):
    table = load_fsdd(fsdd_fixture(tmp_path))
    assert len(table) == 3 * 4 * 7 and set(table["group"]) == {"george", "jackson", "lucas", "nicolas"}
    assert "split" not in table  # the zoo holds out whole speakers
    split = assign_splits(table, SplitConfig())
    assert table.assign(split=split).groupby("group")["split"].nunique().max() == 1
    official = load_fsdd(tmp_path / "recordings", split="official")
    assert (official["split"] == "test").sum() == 3 * 4 * 5
    with pytest.raises(ZooError, match="No FSDD recordings"):
        load_fsdd(tmp_path / "nothing-here")


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD not found at {FSDD}")
def test_fsdd_reads_the_real_data_set():
    table = load_fsdd(FSDD / "audio")
    assert len(table) == 3000 and table["group"].nunique() == 6 and table["label"].nunique() == 10
    official = load_fsdd(FSDD / "audio", split="official")
    meta = pd.read_csv(FSDD / "metadata.csv")
    assert (official["split"] == "test").sum() == (meta["official_split"] == "test").sum()


def esc50_fixture(root):
    rows = []
    for fold in range(1, 6):
        for category, target, esc10 in (("dog", 0, True), ("rain", 10, True), ("crow", 9, False)):
            for take in "AB":
                name = f"{fold}-{100 + target}{fold}-{take}-{target}.wav"
                write_tone(root / "audio" / name, freq=200 + 50 * target, seconds=0.2)
                rows.append(
                    {
                        "filename": name,
                        "fold": fold,
                        "target": target,
                        "category": category,
                        "esc10": esc10,
                        "src_file": f"{100 + target}{fold}",
                        "take": take,
                    }
                )
    (root / "meta").mkdir()
    pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    return root


def test_esc50_has_official_folds_and_groups_by_source_file(tmp_path):
    table = load_esc50(esc50_fixture(tmp_path))
    assert len(table) == 30 and sorted(table["fold"].unique()) == [1, 2, 3, 4, 5]
    assert (table.loc[table["split"] == "test", "fold"] == 5).all()
    assert table.groupby("group")["fold"].nunique().max() == 1  # takes of one source stay in one fold
    assert set(load_esc50(tmp_path, subset="esc10")["label"]) == {"dog", "rain"}
    test = assign_splits(table, SplitConfig(), folds=5, fold=3) == "test"
    assert (table.loc[test, "fold"] == 3).all() and test.sum() == 6
    with pytest.raises(ZooError, match="meta/ and audio/"):
        load_esc50(tmp_path / "audio")


def test_watkins_folders_group_cuts_by_tape(tmp_path):
    for species, cuts in (
        ("Orcinus orca", ["6102500A", "6102500B", "7200300A"]),
        ("BD3A", ["8100100A", "cut-x"]),
    ):
        for cut in cuts:
            write_tone(tmp_path / "watkins" / species / f"{cut}.wav")
    table = load_watkins(tmp_path / "watkins")
    groups = dict(zip(table["path"].map(lambda p: p.rsplit("/", 1)[-1]), table["group"]))
    assert groups["6102500A.wav"] == groups["6102500B.wav"] == "61025"
    assert groups["7200300A.wav"] == "72003" and groups["cut-x.wav"].endswith("cut-x.wav")
    assert set(table["label"]) == {"Orcinus orca", "BD3A"}


def test_watkins_annotations_csv_as_in_the_seed_project(tmp_path):
    write_tone(tmp_path / "cuts" / "6102500A.wav")
    write_tone(tmp_path / "cuts" / "6102500B.wav")
    (tmp_path / "annotations.csv").write_text(
        "file,species\ncuts/6102500A.wav,Orca\ncuts/6102500B.wav,Orca\n"
    )
    table = load_watkins(tmp_path / "annotations.csv", path_column="file", label_column="species")
    assert table["group"].tolist() == ["61025", "61025"] and table["label"].tolist() == ["Orca", "Orca"]
    (tmp_path / "with_group.csv").write_text("path,label,group\ncuts/6102500A.wav,Orca,tapeA\n")
    assert load_watkins(tmp_path / "with_group.csv")["group"].tolist() == ["tapeA"]
