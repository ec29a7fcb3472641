"""An audio-zoo model plugin: a small MLP on the time-averaged log-mel spectrum."""

import zoo


def build(num_classes: int, hidden: int = 64, dropout: float = 0.1):
    """(B, 1, n_mels, frames) -> mean and max over time -> MLP -> logits. torch is imported here, not at
    module level, so that `zoo models` stays fast."""
    import torch
    from torch import nn

    class MelMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Sequential(
                nn.LazyLinear(hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
            )

        def forward(self, x):
            x = x.squeeze(1)  # (B, n_mels, frames)
            return self.head(torch.cat([x.mean(-1), x.amax(-1)], dim=1))

    return MelMLP()


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="mel_mlp",
            summary="MLP on the mean and max over time of each mel band (example plugin)",
            build=build,
            defaults={"hidden": 64, "dropout": 0.1},
        )
    )
