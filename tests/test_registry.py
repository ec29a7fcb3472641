import subprocess
import sys

import pytest

from conftest import PLUGINS
from zoo.errors import ZooError
from zoo.registry import load_registry


def test_first_party_plugins_come_through_entry_points():
    registry = load_registry()
    assert {"baseline_cnn", "efficientnet_b0"} <= set(registry.models)
    assert {"synthetic", "folder", "csv"} <= set(registry.datasets)
    sources = {p.name: p.source for p in registry.plugins}
    assert "entry point" in sources["baseline_cnn"] and "audio-zoo" in sources["baseline_cnn"]
    assert registry.plugin_of("model", "efficientnet_b0") == "efficientnet_b0"


def test_local_module_registers_a_model():
    registry = load_registry([PLUGINS / "tiny_model.py"])
    assert registry.plugin_of("model", "tiny_local") == "tiny_model"
    assert "local:" in next(p.source for p in registry.plugins if p.name == "tiny_model")


@pytest.mark.parametrize(
    "module, expected",
    [
        ("broken_import.py", "ImportError: No module named 'panns_inference'"),
        ("misspelled_hook.py", "unknown hook 'register_model' (did you mean 'register_models'?)"),
        ("bad_spec.py", "register_models: ValueError: model name 'Good_Model' must be lower_snake_case"),
        ("missing.py", "FileNotFoundError: no such file"),
    ],
)
def test_broken_plugin_is_reported_and_the_rest_keep_working(module, expected):
    registry = load_registry([PLUGINS / module])
    info = next(p for p in registry.plugins if p.name == module.removesuffix(".py"))
    assert expected in info.error
    assert "\n" not in info.error
    assert {"baseline_cnn", "efficientnet_b0"} <= set(registry.models)
    assert "never_seen" not in registry.models


def test_broken_entry_point_is_reported():
    class FakeEntryPoint:  # the shape importlib.metadata gives: name, value, dist, load()
        name, value, dist = "exploding", "exploding_pkg", None

        def load(self):
            raise RuntimeError("CUDA driver too old")

    registry = load_registry([PLUGINS / "tiny_model.py"], entry_points=[FakeEntryPoint()])
    info = next(p for p in registry.plugins if p.name == "exploding")
    assert info.error == "RuntimeError: CUDA driver too old"
    assert "tiny_local" in registry.models


def test_two_plugins_claiming_one_name_is_an_error_naming_both():
    with pytest.raises(
        ZooError, match="'baseline_cnn' is registered by two plugins, 'baseline_cnn' and 'duplicate_name'"
    ):
        load_registry([PLUGINS / "duplicate_name.py"])


def test_unknown_model_suggests_the_close_name():
    with pytest.raises(
        ZooError, match=r"Unknown model 'efficientnet-b0'. Did you mean 'efficientnet_b0'\? See 'zoo models'."
    ):
        load_registry().model("efficientnet-b0")


def test_listing_plugins_and_data_sets_does_not_import_torch():
    # (`zoo models` does: it builds each model on the meta device to count its parameters)
    code = (
        "import sys; from zoo.cli import main; main(['plugins']); main(['datasets']); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_cli_plugins_and_models_report_a_broken_plugin_in_one_line(project, zoo_cli):
    (project / "registry.toml").write_text(
        f'[plugins]\nmodules = ["{PLUGINS / "broken_import.py"}", "{PLUGINS / "tiny_model.py"}"]\n'
    )
    code, out, err = zoo_cli("models")
    assert code == 0
    assert "baseline_cnn" in out and "tiny_local" in out
    lines = [line for line in err.splitlines() if "broken_import" in line]
    assert len(lines) == 1 and "skipped: ImportError" in lines[0]
    code, out, _ = zoo_cli("plugins")
    assert "broken_import" in out and "skipped" in out


def test_every_hook_has_a_fixture_plugin_that_implements_it():
    """As datasette's meta-test: a new hook in zoo/hookspecs.py fails here until a fixture implements it."""
    import inspect

    from zoo import hookspecs

    specs = {name for name, f in inspect.getmembers(hookspecs, inspect.isfunction)}
    registry = load_registry([PLUGINS / "every_hook.py"], entry_points=[])
    info = next(p for p in registry.plugins if p.name == "every_hook")
    assert info.error is None and set(info.hooks) == specs
    assert registry.model("pooled_linear").build(3) is not None
    spec = registry.dataset("four_clips")
    assert len(spec.load("root")) == 4 and spec.features == {"sample_rate": 8000, "n_fft": 256}
    assert registry.executor("here").build().run([], print) == []
    assert (
        registry.outputs["note.txt"].scope == "run"
        and registry.plugin_of("output", "note.txt") == "every_hook"
    )


def test_a_dataset_recommending_an_unknown_feature_is_refused(tmp_path):
    from zoo.settings import settings_from_dict

    settings = settings_from_dict({}, tmp_path)
    assert settings.with_recommended_features({"n_fft": 256}, "x").features.n_fft == 256
    with pytest.raises(ZooError, match="recommends an unknown feature setting 'nfft'"):
        settings.with_recommended_features({"nfft": 256}, "x")
