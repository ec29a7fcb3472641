"""audio-zoo: a plugin-based model zoo for audio classification.

A plugin needs only what this module exports::

    import zoo

    @zoo.hookimpl
    def register_models(register):
        register(zoo.ModelSpec(name="tiny", summary="...", build=build))

Importing `zoo` never imports torch: listing commands stay fast.
"""

import pluggy

from zoo.errors import ZooError
from zoo.specs import DatasetSpec, ExecutorSpec, ModelSpec, OutputSpec

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("audio_zoo")


def load_run(run, experiments="experiments", device="cpu"):
    """A finished run, ready to apply to new audio: `zoo.load_run("1a2b3c4d").predict(waveform, rate)`
    (see zoo.apply.inference.TrainedRun). `run`: its folder, or its run id (or first characters)."""
    from zoo.apply.inference import load_run

    return load_run(run, experiments, device)


__all__ = [
    "DatasetSpec",
    "ExecutorSpec",
    "ModelSpec",
    "OutputSpec",
    "ZooError",
    "hookimpl",
    "load_run",
    "__version__",
]
