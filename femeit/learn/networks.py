"""The CNN-EIM network and its FCNN-EIV baseline (CNN-EIM paper, section II.B, Table I).

CNN-EIM: 5 convolutions (3 x 3, padding 1, stride 1), each followed by batch
normalisation and ReLU, with two 2 x 2 max pools (stride 2) taking the 16 x 16
map to 4 x 4; then 4 transposed convolutions (2 x 2, stride 2) up to 64 x 64.
The channel widths are not printed in our copy; Table I fixes them: its ratios
r_p of fully-connected to convolution parameters (42, 1.78, 1.78, 3.56, 14.22)
are met exactly by 1 -> 64 -> 128 -> 256 -> 256 -> 256 channels, and fc5's 4096
neurons are the 256 x 4 x 4 decoder input.  Our choices where the paper is
silent: the pools follow convolutions 2 and 4; the decoder halves the channels
(256 -> 128 -> 64 -> 32 -> 1) with batch norm and ReLU between its layers and a
linear output.  CNN-REIM is the same network on the permuted map.

Initialisation (the paper does not give one; our choice): PyTorch's default
for ``ConvTranspose2d`` takes the fan-in from the weight's second dimension,
out_channels x 2 x 2, which for the 1-channel output layer is 4 instead of
the 32 inputs each output pixel sums, so a fresh network predicted images of
standard deviation about 1.5 against targets in [0, 1] (initial loss ~10^4).
Shrinking that first output left CNN-EIM on a plateau near the mean
training image for ~200 Adam steps (all of a 10-epoch run on 2,000 samples;
FCNN-EIV escaped it sooner).  So the
transposed convolutions use the default uniform rule with their true fan-in
(in_channels, since stride = kernel size), and the output layer starts at
zero: a fresh network predicts the blank background image.

FCNN-EIV: fully-connected layers 104 -> 256 -> 512 -> 1024 -> 2048 -> 4096
(batch norm and ReLU after each), reshaped to 256 x 4 x 4, then the same decoder.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

ENCODER_CHANNELS = (64, 128, 256, 256, 256)
POOL_AFTER = (1, 3)  # zero-based indices of the convolutions followed by a max pool
FC_WIDTHS = (256, 512, 1024, 2048, 4096)
DECODER_CHANNELS = (256, 128, 64, 32, 1)


def _decoder() -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (c_in, c_out) in enumerate(itertools.pairwise(DECODER_CHANNELS)):
        layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2))
        if k < len(DECODER_CHANNELS) - 2:
            layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    for layer in layers:
        if isinstance(layer, nn.ConvTranspose2d):
            _init_transposed(layer)
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def _init_transposed(layer: nn.ConvTranspose2d) -> None:
    """PyTorch's default uniform init, but with the true fan-in of a stride = kernel transposed convolution."""
    bound = 1.0 / math.sqrt(layer.in_channels)
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.uniform_(layer.bias, -bound, bound)


class CNNEIM(nn.Module):
    """CNN on a 1 x 16 x 16 impedance map -> 1 x 64 x 64 image (CNN-EIM and CNN-REIM)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for k, c_out in enumerate(ENCODER_CHANNELS):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, stride=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            if k in POOL_AFTER:
                layers.append(nn.MaxPool2d(2, stride=2))
            c_in = c_out
        self.encoder = nn.Sequential(*layers)
        self.decoder = _decoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 16, 16) -> (batch, 1, 64, 64)."""
        return self.decoder(self.encoder(x))


class FCNNEIV(nn.Module):
    """Fully-connected network on the 104 reciprocal-unique readings -> 1 x 64 x 64 image."""

    def __init__(self, n_inputs: int = 104) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for w in FC_WIDTHS:
            layers += [nn.Linear(width, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            width = w
        self.encoder = nn.Sequential(*layers)
        self.decoder = _decoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 104) -> (batch, 1, 64, 64)."""
        return self.decoder(self.encoder(x).view(-1, DECODER_CHANNELS[0], 4, 4))


NETWORKS = {"cnn-eim": ("eim", CNNEIM), "cnn-reim": ("reim", CNNEIM), "fcnn-eiv": ("eiv", FCNNEIV)}


def build(name: str) -> tuple[str, nn.Module]:
    """The input kind and a fresh network for ``cnn-eim``, ``cnn-reim`` or ``fcnn-eiv``."""
    from femeit.errors import FemeitError

    if name not in NETWORKS:
        raise FemeitError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    kind, cls = NETWORKS[name]
    return kind, cls()


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
