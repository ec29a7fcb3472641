"""Models that fail in each way a run can: at build time, with the wrong output shape, with a NaN loss, by
killing the process that trains it."""

import multiprocessing
import os
import signal

import zoo


def build_broken(num_classes):
    raise RuntimeError("this model's build() is broken")


def build_wrong_shape(num_classes):
    from torch import nn

    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, num_classes + 1))


def build_nan(num_classes):
    import torch
    from torch import nn

    class NanAfterAStep(nn.Module):
        """Finite at first (the shape check passes), NaN once trained: its weight is divided by zero."""

        def __init__(self):
            super().__init__()
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, num_classes))

        def forward(self, x):
            logits = self.head(x)
            return logits / torch.zeros(()) if self.training else logits

    return NanAfterAStep()


def build_killer(num_classes):
    """Kills the worker process that builds it (as the kernel's OOM killer would); harmless elsewhere."""
    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return build_wrong_shape(num_classes)


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(name="broken_build", summary="build() raises", build=build_broken))
    register(zoo.ModelSpec(name="wrong_shape", summary="one logit too many", build=build_wrong_shape))
    register(zoo.ModelSpec(name="nan_loss", summary="NaN logits while training", build=build_nan))
    register(zoo.ModelSpec(name="killer", summary="kills its worker process", build=build_killer))
