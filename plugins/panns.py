"""PANNs CNN6, CNN10 and CNN14 (Kong et al. 2020, "PANNs: Large-Scale Pretrained Audio Neural Networks for
Audio Pattern Recognition"), written from the paper and its released code's layout.

CNN10/CNN14: blocks of two (3x3 conv + BatchNorm + ReLU) and 2x2 average pooling (64, 128, ... channels);
CNN6: one 5x5 conv per block. Then the mean over frequency, max + mean over time, a ReLU embedding layer
and the classifier. Random initialisation by default; `weights = "path"` loads a released AudioSet
checkpoint (Cnn14_mAP=0.431.pth, ...) by key name and shape: its conv blocks and embedding layer; not its
waveform front end (the zoo computes log-mels itself), its input BatchNorm over 64 mel bins (the zoo
normalises each mel bin by the train split's statistics) or its 527-class AudioSet head.
"""

from __future__ import annotations

import zoo
from zoo.weights import Checkpoint

WHERE = "zenodo.org/records/3987831 (Cnn6_mAP=0.343.pth, Cnn10_mAP=0.380.pth, Cnn14_mAP=0.431.pth)"
VARIANTS = {
    # name: (block channels, kernel, embedding size, last block pooled?)
    "cnn6": ((64, 128, 256, 512), 5, 512, True),
    "cnn10": ((64, 128, 256, 512), 3, 512, True),
    "cnn14": ((64, 128, 256, 512, 1024, 2048), 3, 2048, False),
}


def _modules():
    from torch import nn
    from torch.nn import functional as F

    def pool(x, size=2):
        """Average pooling that leaves a dimension of 1 alone (short inputs)."""
        kernel = (min(size, x.shape[2]), min(size, x.shape[3]))
        return F.avg_pool2d(x, kernel) if kernel != (1, 1) else x

    class ConvBlock(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int):
            super().__init__()
            self.double = kernel == 3
            self.conv1 = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            if self.double:
                self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(cout)

        def forward(self, x, pooled: bool = True):
            x = F.relu(self.bn1(self.conv1(x)))
            if self.double:
                x = F.relu(self.bn2(self.conv2(x)))
            return pool(x) if pooled else x

    class PANN(nn.Module):
        def __init__(self, num_classes, channels, kernel, embedding, pool_last, dropout=0.2):
            super().__init__()
            self.blocks = len(channels)
            for i, (cin, cout) in enumerate(zip((1, *channels), channels), 1):
                setattr(self, f"conv_block{i}", ConvBlock(cin, cout, kernel))
            self.pool_last, self.dropout = pool_last, dropout
            self.fc1 = nn.Linear(channels[-1], embedding)
            self.fc = nn.Linear(embedding, num_classes)
            for m in self.modules():  # as the released code: Xavier for weights, zero biases
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

        def features(self, x):
            """(B, 1, n_mels, frames) -> the embedding (B, embedding)."""
            x = x.transpose(2, 3)  # PANNs convolve (time, mel): the released kernels keep their orientation
            for i in range(1, self.blocks + 1):
                block = getattr(self, f"conv_block{i}")
                x = block(x, pooled=i < self.blocks or self.pool_last)
                x = F.dropout(x, self.dropout, self.training)
            x = x.mean(dim=3)  # over frequency
            x = x.max(dim=2).values + x.mean(dim=2)  # over time
            x = F.dropout(x, 0.5, self.training)
            return F.relu(self.fc1(x))

        def forward(self, x):
            return self.fc(F.dropout(self.features(x), 0.5, self.training))

    return PANN


def factory(name: str):
    channels, kernel, embedding, pool_last = VARIANTS[name]
    source = Checkpoint(name, source="AudioSet", where=WHERE)

    def build(num_classes: int, pretrained: bool | str = False, weights: str = "", dropout: float = 0.2):
        model = _modules()(num_classes, channels, kernel, embedding, pool_last, dropout)
        return source.load_into(model, pretrained, weights)

    def resolve(params: dict):
        return source.resolve_with(params, lambda: _modules()(2, channels, kernel, embedding, pool_last))

    return build, resolve, source


@zoo.hookimpl
def register_models(register):
    for name, (channels, kernel, embedding, _) in VARIANTS.items():
        build, resolve, source = factory(name)
        register(
            zoo.ModelSpec(
                name=name,
                summary=f"PANNs {name.upper()} (Kong et al. 2020): {len(channels)} blocks of "
                f"{'two 3x3' if kernel == 3 else 'one 5x5'} conv + BN + ReLU and 2x2 avg-pool, "
                f"max+mean over time, {embedding}-d embedding",
                build=build,
                defaults={"pretrained": False, "weights": "", "dropout": 0.2},
                pretrained=True,
                resolve=resolve,
                weights=source.describe(),
                pretrained_on=source.source,
            )
        )
