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
from zoo.specs import DatasetSpec, ModelSpec

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("audio_zoo")

__all__ = ["DatasetSpec", "ModelSpec", "ZooError", "hookimpl", "__version__"]
