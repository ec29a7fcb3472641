"""`zoo export RUN --format onnx|torchscript`: one file mapping mono waveform windows at the run's sample rate
to class probabilities, the log-mel front end and the train-split normalisation inside, the class names in
its metadata, and a README beside it saying how to call it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from zoo.apply.inference import TrainedRun
from zoo.data.features import DB_FLOOR
from zoo.data.normalise import normalise_windows
from zoo.errors import ZooError
from zoo.io import write_atomic, write_text

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


class Exported(nn.Module):
    """(batch, samples) waveforms at the run's rate -> (batch, classes) probabilities. The STFT is a strided
    convolution with the windowed DFT basis (the same numbers as zoo.data.features.LogMel, in operators
    every ONNX runtime has)."""

    def __init__(self, run: TrainedRun):
        super().__init__()
        f = run.features
        self.n_fft, self.hop, self.frames = f.n_fft, f.hop_length, f.frames
        self.normalise = f.normalise
        n = torch.arange(f.n_fft, dtype=torch.float64)
        k = torch.arange(f.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        window = torch.hann_window(f.n_fft, dtype=torch.float64)
        angle = 2 * math.pi * k * n / f.n_fft
        basis = torch.cat([window * torch.cos(angle), -window * torch.sin(angle)])  # (2 * n_freqs, n_fft)
        self.register_buffer("basis", basis.float()[:, None])
        self.register_buffer("fbanks", run.logmel.fbanks.detach().cpu().clone())
        self.register_buffer("mean", run.mean.detach().cpu().view(1, 1, -1, 1).clone())
        self.register_buffer("std", run.std.detach().cpu().view(1, 1, -1, 1).clone())
        self.model = run.model.cpu().eval()

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        padded = F.pad(waves[:, None], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spec = F.conv1d(padded, self.basis, stride=self.hop)[..., : self.frames]
        real, imag = spec.chunk(2, dim=1)
        mel = torch.matmul(self.fbanks, real * real + imag * imag)
        x = normalise_windows((10 * torch.log10(mel.clamp_min(DB_FLOOR)))[:, None], self.normalise)
        return torch.softmax(self.model((x - self.mean) / self.std), dim=1)


def export(run: TrainedRun, fmt: str, out_dir: Path) -> Path:
    """Write the run as `fmt` into out_dir (the model file and README-<fmt>.md); returns the model file."""
    if fmt not in FORMATS:
        raise ZooError(f"--format {fmt!r}: use {' or '.join(FORMATS)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{run.model_name}-{run.run_id[:8]}{FORMATS[fmt]}"
    module = Exported(run).eval()
    example = torch.zeros(2, run.features.samples)
    meta = {
        "classes": run.classes,
        "sample_rate": run.features.sample_rate,
        "samples": run.features.samples,
        "run_id": run.run_id,
        "model": run.model_name,
    }
    if fmt == "onnx":
        _onnx(module, example, target, meta)
    else:
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice and tracer warnings on sizes
            traced = torch.jit.trace(module, example)
            files = {"zoo.json": json.dumps(meta)}
            write_atomic(target, lambda f: torch.jit.save(traced, f, _extra_files=files))
    write_text(readme_of(target, fmt), _readme(target, fmt, meta))
    return target


def readme_of(target: Path, fmt: str) -> Path:
    """The README beside an exported file (one per format: both can share a folder)."""
    return target.parent / f"README-{fmt}.md"


def _onnx(module: nn.Module, example: torch.Tensor, target: Path, meta: dict) -> None:
    try:
        import onnx
    except ImportError:
        raise ZooError('ONNX export needs the export extra: pip install "audio-zoo[export]".') from None
    import tempfile
    import warnings

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(folder) / "model.onnx"
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(
            module,
            (example,),
            str(raw),
            input_names=["waveform"],
            output_names=["probabilities"],
            dynamic_shapes={"waves": {0: batch}},
            dynamo=True,
            verbose=False,
            external_data=False,
        )
        model = onnx.load(str(raw))
    for key, value in {**meta, "classes": json.dumps(meta["classes"])}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    write_atomic(target, lambda f: f.write(model.SerializeToString()))


def _readme(target: Path, fmt: str, meta: dict) -> str:
    seconds = meta["samples"] / meta["sample_rate"]
    call = (
        f"""```python
import json, numpy as np, onnxruntime as ort

session = ort.InferenceSession("{target.name}")
props = session.get_modelmeta().custom_metadata_map
classes = json.loads(props["classes"])
windows = np.zeros((1, {meta["samples"]}), dtype=np.float32)  # mono, {meta["sample_rate"]} Hz
probabilities = session.run(None, {{"waveform": windows}})[0]  # (windows, {len(meta["classes"])})
```"""
        if fmt == "onnx"
        else f"""```python
import json, torch

files = {{"zoo.json": ""}}
model = torch.jit.load("{target.name}", _extra_files=files)
classes = json.loads(files["zoo.json"])["classes"]
probabilities = model(torch.zeros(1, {meta["samples"]}))  # mono windows at {meta["sample_rate"]} Hz
```"""
    )
    return f"""# {meta["model"]} (run {meta["run_id"]}), exported as {fmt}

`{target.name}` maps mono waveform windows, shaped (windows, {meta["samples"]}) at {meta["sample_rate"]} Hz
({seconds:.3f} s each), to class probabilities (windows, {len(meta["classes"])}). The log-mel front end and
the train split's normalisation are inside. Resample to {meta["sample_rate"]} Hz first; cut longer recordings
into windows (e.g. every half window) and average their probabilities, as `zoo predict` does; pad a
shorter one with zeros at the end, as in training.

Classes, in output order: {", ".join(meta["classes"])} (also in the file's metadata).

{call}
"""
