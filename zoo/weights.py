"""Pretrained weights, one way for every model that has them: `pretrained = true | false | "auto"` and
`weights = "path"`, found in a local file, else the Hugging Face cache, else (only with true) the hub.
"auto" uses them when on disk and otherwise trains from random initialisation, saying so in the run's
notes. Checkpoints in another layout (PANNs, AST, EfficientAT) load by name and shape (load_matching).

Example (a plugin)::

    WEIGHTS = Weights("resnet18", hub_id="timm/resnet18.a1_in1k")
    ModelSpec(..., defaults={"pretrained": "auto", "weights": ""}, pretrained=True, resolve=WEIGHTS.resolve)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from zoo.errors import ZooError

HUB_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Weights:
    model: str  # the [models.NAME] the messages name
    hub_id: str = ""  # a Hugging Face repository ("timm/efficientnet_b0.ra_in1k"); "" when only files exist
    source: str = "ImageNet"  # what they were trained on, for notes and `zoo models`
    where: str = ""  # how to get them when there is no hub id (e.g. a Zenodo record)

    def how_to_get(self) -> str:
        fetch = (
            f"`hf download {self.hub_id}`, or timm.create_model(..., pretrained=True)"
            if self.hub_id
            else (self.where or "from the paper's release")
        )
        return (
            f"download them once where there is internet ({fetch}) and set models.{self.model}.weights = "
            "'path/to/file', or set pretrained = false"
        )

    def describe(self) -> str:
        """Where the weights come from, for `zoo models`."""
        return f"{self.source}: {self.hub_id or self.where or 'a local file'}"

    def cached(self) -> str | None:
        """The weights file in the Hugging Face cache, if it is there (no network)."""
        if not self.hub_id:
            return None
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for filename in HUB_FILES:
            found = try_to_load_from_cache(self.hub_id, filename)
            if isinstance(found, str) and Path(found).is_file():
                return found
        return None

    def resolve(self, params: dict) -> tuple[dict, list[str]]:
        """pretrained: true | false | "auto" -> true/false with the weights file it will use, and notes."""
        pretrained, weights = params.get("pretrained"), params.get("weights", "")
        if pretrained not in (True, False, "auto"):
            raise ZooError(f'models.{self.model}.pretrained = {pretrained!r}: use true, false or "auto".')
        if pretrained is False:
            return {**params, "weights": ""}, []
        if weights:
            if not Path(weights).is_file():
                raise ZooError(
                    f"models.{self.model}.weights = {weights!r}: no such file; {self.how_to_get()}."
                )
            return {**params, "pretrained": True}, [f"{self.source} weights from {weights}"]
        found = self.cached()
        if found:
            return {**params, "pretrained": True, "weights": found}, [
                f"{self.source} weights from the Hugging Face cache ({found})"
            ]
        if pretrained == "auto":
            how = self.how_to_get().replace(", or set pretrained = false", "")
            return {**params, "pretrained": False}, [
                f'pretrained = "auto" found no {self.source} weights on disk, so it trains from random '
                f"initialisation; to use them, {how}"
            ]
        if not self.hub_id:
            raise ZooError(
                f"models.{self.model}.pretrained = true needs weights = 'path'; {self.how_to_get()}."
            )
        return params, [f"{self.source} weights from the hub ({self.hub_id})"]


@dataclass(frozen=True)
class Checkpoint(Weights):
    """Weights released in another layout than the model's (PANNs, AST, EfficientAT): loaded by name and
    shape (load_matching), after `rename` maps the release's keys onto the model's."""

    rename: Callable[[str], str] = lambda key: key

    def load_into(self, model, pretrained: bool | str, weights: str):
        """`model` with the weights that pretrained/weights resolve to, if any (a build() calls this)."""
        resolved = self.resolve({"pretrained": pretrained, "weights": weights})[0]
        if resolved["pretrained"]:
            load_matching(model, resolved["weights"], self.rename)
        return model

    def resolve_with(self, params: dict, probe: Callable[[], object]) -> tuple[dict, list[str]]:
        """resolve(), and when weights are found, a note of what they load into probe(), a model built
        as the run will build it (a spec's `resolve`, so that the run's notes say it)."""
        params, notes = self.resolve(params)
        if params["pretrained"]:
            notes = [*notes, load_matching(probe(), params["weights"], self.rename)]
        return params, notes


def read_checkpoint(path: str | Path) -> dict:
    """A state dict from a .safetensors file or a torch checkpoint (unwrapping {"model": ...} and
    {"state_dict": ...}, as PANNs and many releases save them)."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def load_matching(model, path: str | Path, rename: Callable[[str], str] = lambda k: k) -> str:
    """Copy into `model` every tensor of the checkpoint at `path` whose (renamed) key and shape match one of
    the model's; the rest (e.g. a 527-class AudioSet head, a front end the zoo computes itself) is left out.
    Returns a note saying how many were loaded; a checkpoint that matches nothing is an error."""
    import torch

    try:
        state = {rename(k): v for k, v in read_checkpoint(path).items()}
    except Exception as exc:
        raise ZooError(
            f"cannot read weights {path}: {type(exc).__name__}: {' '.join(str(exc).split())[:150]}"
        )
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matched:
        raise ZooError(
            f"weights {path}: none of its {len(state)} tensors fits this model (names or shapes differ)"
        )
    with torch.no_grad():
        model.load_state_dict(matched, strict=False)
    left = sorted(set(state) - set(matched))
    shown = ", ".join(left[:4]) + (", ..." if len(left) > 4 else "")
    return f"loaded {len(matched)} of the model's {len(own)} tensors from {path}" + (
        f"; not used from the file: {shown}" if left else ""
    )
