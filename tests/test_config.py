import pytest

from zoo.config import Protocol
from zoo.errors import ZooError
from zoo.settings import load_settings, parse_value


def write(tmp_path, text):
    path = tmp_path / "registry.toml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    path = write(tmp_path, "[protocol]\nepochs = 7\n[models.baseline_cnn]\nwidth = 8\n")
    s = load_settings(path, {"protocol.lr": 0.01, "dataset.options.seed": 3})
    assert s.protocol.epochs == 7 and s.protocol.lr == 0.01
    assert s.protocol.batch_size == Protocol().batch_size
    assert s.dataset.options == {"seed": 3}
    assert dict(s.models) == {"baseline_cnn": {"width": 8}}
    assert s.path("experiments") == tmp_path / "experiments"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[protocol]\nepoch = 3\n", "unknown key 'epoch' (did you mean 'epochs'?)"),
        ("[protocl]\n", "unknown section [protocl] (did you mean 'protocol'?)"),
        ("[protocol]\nepochs = 'many'\n", "epochs = 'many' should be an integer"),
        ("[protocol\nepochs = 3\n", "not valid TOML"),
        ("models = 3\n", "[models] must hold one table per model"),
    ],
)
def test_malformed_registry_is_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(ZooError) as info:
        load_settings(write(tmp_path, text))
    assert message in str(info.value)
    assert "registry.toml" in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_value():
    assert parse_value("5") == 5
    assert parse_value("3e-4") == 3e-4
    assert parse_value("false") is False
    assert parse_value("auto") == "auto"
    assert parse_value('"x"') == "x"


def test_protocol_options_added_later_leave_run_identities_alone_while_off():
    from dataclasses import asdict

    from zoo.config import protocol_identity

    now = asdict(Protocol(select="val_loss", ema_epochs=0.0, stop_on="select"))  # the rules before them
    added = ("freq_warp", "time_warp", "warmup_epochs", "grad_clip", "select", "ema_epochs", "stop_on")
    before = {k: v for k, v in now.items() if k not in added}
    assert protocol_identity(now) == protocol_identity(before) == before  # a run made before they existed
    warped = protocol_identity({**now, "freq_warp": 0.2})
    assert warped != before and warped["freq_warp"] == 0.2
    assert protocol_identity({**now, "epochs": 5}) != before  # every other setting still counts
    assert protocol_identity(asdict(Protocol()))["select"] == "val_accuracy"  # today's default: a new id


def test_tuned_runs_made_before_a_tuning_choice_existed_keep_their_ids():
    from zoo.config import TuningConfig
    from zoo.fields import build_section

    before = TuningConfig(trials=8, score="best", start="random").identity  # a tuned run made before
    assert not {"score", "start", "storage"} & set(before)
    assert TuningConfig(trials=8).identity == {**before, "score": "late", "start": "protocol"}  # new ids
    for key, bad, message in [
        ("score", "mean", '"late" or "best"'),
        ("start", "sampled", '"protocol" or "random"'),
    ]:
        with pytest.raises(ZooError, match=rf"\[tuning\]: {key} = .{bad}.; use {message}\.$"):
            build_section(TuningConfig, {key: bad}, "[tuning]")
