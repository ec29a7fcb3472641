"""A CRNN, the recurrent reference: a convolutional front end, then a bidirectional GRU over time.

Three blocks of 3x3 conv + BatchNorm + ReLU and max-pooling (2x2, 2x2, then frequency only), the mean over
what is left of the frequency axis, a bidirectional GRU over the frames, max + mean over time, a linear
head (in the spirit of Cakir et al. 2017, "Convolutional recurrent neural networks for polyphonic sound
event detection"). Any n_mels x frames; random initialisation.
"""

from __future__ import annotations

import zoo


def build(num_classes: int, width: int = 32, hidden: int = 128, layers: int = 1, dropout: float = 0.2):
    from torch import nn
    from torch.nn import functional as F

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            chans = (width, width * 2, width * 4)
            self.convs = nn.ModuleList(
                nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
                for cin, cout in zip((1, *chans), chans)
            )
            self.pools = ((2, 2), (2, 2), (2, 1))  # (frequency, time)
            self.gru = nn.GRU(chans[-1], hidden, num_layers=layers, batch_first=True, bidirectional=True)
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(2 * hidden, num_classes)

        def features(self, x):
            for conv, (pf, pt) in zip(self.convs, self.pools):
                x = conv(x)
                kernel = (min(pf, x.shape[2]), min(pt, x.shape[3]))
                x = F.max_pool2d(x, kernel) if kernel != (1, 1) else x
            x = x.mean(dim=2).transpose(1, 2)  # (B, frames', channels)
            x, _ = self.gru(x)
            return x.max(dim=1).values + x.mean(dim=1)

        def forward(self, x):
            return self.head(self.dropout(self.features(x)))

    return CRNN()


@zoo.hookimpl
def register_models(register):
    register(
        zoo.ModelSpec(
            name="crnn",
            summary="CRNN: 3 x (conv3x3 + BN + ReLU + max-pool), bidirectional GRU over time, max+mean",
            build=build,
            defaults={"width": 32, "hidden": 128, "layers": 1, "dropout": 0.2},
        )
    )
