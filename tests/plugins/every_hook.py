"""A local plugin implementing every hook: a model, a data set with the features it recommends, an executor
and an output."""

import zoo


def build(num_classes):
    from torch import nn

    return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4, num_classes))


def load(root, clips=4):
    import pandas as pd

    return pd.DataFrame(
        {"path": [f"{root}/{i}.wav" for i in range(clips)], "label": ["a", "b"] * (clips // 2)}
    )


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(name="pooled_linear", summary="2x2 pooling and a linear head", build=build))


@zoo.hookimpl
def register_datasets(register):
    register(
        zoo.DatasetSpec(
            name="four_clips",
            summary="a clip table of four paths",
            load=load,
            defaults={"clips": 4},
            features={"sample_rate": 8000, "n_fft": 256},
        )
    )


class Here:
    def run(self, jobs, emit):
        from zoo.sweep import run_here

        return run_here(jobs, emit)


@zoo.hookimpl
def register_executors(register):
    register(zoo.ExecutorSpec(name="here", summary="the jobs here", build=Here))


def write_note(evaluation, run_dir):
    (run_dir / "note.txt").write_text(evaluation.metrics.get("model", ""))


@zoo.hookimpl
def register_outputs(register):
    register(zoo.OutputSpec(name="note.txt", summary="the model's name", write=write_note))
