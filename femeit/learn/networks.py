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

Other sensors and images (our extension; the printed networks are the case
L = 16 electrodes, 104 inputs, one 64 x 64 image): the networks are sized from
the dataset.  The decoder starts from 256 x ceil(H/16) x ceil(W/16), so its
four doublings reach at least H x W, and its output is cropped to H x W; it
has one output channel per target layer (a voxel volume's D depth layers).
CNN-EIM's encoder output (L/4 x L/4 after the two pools) is average-pooled to
the decoder's start size when the two differ; FCNN-EIV's last layer has
256 x ceil(H/16) x ceil(W/16) neurons.  With the printed sizes every layer is
as in Table I.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from femeit.errors import FemeitError

ENCODER_CHANNELS = (64, 128, 256, 256, 256)
POOL_AFTER = (1, 3)  # zero-based indices of the convolutions followed by a max pool
FC_WIDTHS = (256, 512, 1024, 2048, 4096)
DECODER_CHANNELS = (256, 128, 64, 32, 1)


def _start_size(out_shape: tuple[int, int]) -> tuple[int, int]:
    """Spatial size the decoder starts from: four doublings reach at least ``out_shape``."""
    return (math.ceil(out_shape[0] / 16), math.ceil(out_shape[1] / 16))


def _decoder(out_channels: int = 1) -> nn.Sequential:
    channels = (*DECODER_CHANNELS[:-1], out_channels)
    layers: list[nn.Module] = []
    for k, (c_in, c_out) in enumerate(itertools.pairwise(channels)):
        layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2))
        if k < len(channels) - 2:
            layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    for layer in layers:
        if isinstance(layer, nn.ConvTranspose2d):
            _init_transposed(layer)
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def _check_sizes(out_shape, out_channels: int) -> tuple[int, int]:
    shape = tuple(int(n) for n in out_shape)
    if len(shape) != 2 or min(shape) < 1 or int(out_channels) < 1:
        raise FemeitError(
            f"a network's output must be C >= 1 images of H x W >= 1 pixels, got {out_channels} x {shape}"
        )
    return shape


def _init_transposed(layer: nn.ConvTranspose2d) -> None:
    """PyTorch's default uniform init, but with the true fan-in of a stride = kernel transposed convolution."""
    bound = 1.0 / math.sqrt(layer.in_channels)
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.uniform_(layer.bias, -bound, bound)


class CNNEIM(nn.Module):
    """CNN on a 1 x L x L impedance map -> C x H x W images (CNN-EIM and CNN-REIM).

    Parameters
    ----------
    map_size : int
        L, the number of electrodes (the map is L x L); at least 4 (two 2 x 2 pools).
    out_shape : (int, int)
        H, W of the output images (pixels).
    out_channels : int
        C, the number of output images (1, or the depth layers of a voxel volume).
    """

    def __init__(self, map_size: int = 16, out_shape: tuple[int, int] = (64, 64), out_channels: int = 1) -> None:
        super().__init__()
        if int(map_size) < 4:
            raise FemeitError(f"CNN-EIM needs impedance maps of at least 4 x 4 (two 2 x 2 pools), got {map_size}")
        self.map_size = int(map_size)
        self.out_shape = _check_sizes(out_shape, out_channels)
        self.out_channels = int(out_channels)
        layers: list[nn.Module] = []
        c_in = 1
        for k, c_out in enumerate(ENCODER_CHANNELS):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, stride=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            if k in POOL_AFTER:
                layers.append(nn.MaxPool2d(2, stride=2))
            c_in = c_out
        start = _start_size(self.out_shape)
        if start != (self.map_size // 4, self.map_size // 4):
            layers.append(nn.AdaptiveAvgPool2d(start))
        self.encoder = nn.Sequential(*layers)
        self.decoder = _decoder(self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, L, L) -> (batch, C, H, W)."""
        height, width = self.out_shape
        return self.decoder(self.encoder(x))[..., :height, :width]


class FCNNEIV(nn.Module):
    """Fully-connected network on the reciprocal-unique readings -> C x H x W images.

    Parameters
    ----------
    n_inputs : int
        Number of readings the network sees (104 for 16 adjacent electrodes).
    out_shape, out_channels
        As for :class:`CNNEIM`.
    """

    def __init__(self, n_inputs: int = 104, out_shape: tuple[int, int] = (64, 64), out_channels: int = 1) -> None:
        super().__init__()
        if int(n_inputs) < 1:
            raise FemeitError(f"FCNN-EIV needs at least one reading, got {n_inputs}")
        self.n_inputs = int(n_inputs)
        self.out_shape = _check_sizes(out_shape, out_channels)
        self.out_channels = int(out_channels)
        self.start = _start_size(self.out_shape)
        widths = (*FC_WIDTHS[:-1], DECODER_CHANNELS[0] * self.start[0] * self.start[1])
        layers: list[nn.Module] = []
        width = self.n_inputs
        for w in widths:
            layers += [nn.Linear(width, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            width = w
        self.encoder = nn.Sequential(*layers)
        self.decoder = _decoder(self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_inputs) -> (batch, C, H, W)."""
        height, width = self.out_shape
        start = self.encoder(x).view(-1, DECODER_CHANNELS[0], *self.start)
        return self.decoder(start)[..., :height, :width]


NETWORKS = {"cnn-eim": ("eim", CNNEIM), "cnn-reim": ("reim", CNNEIM), "fcnn-eiv": ("eiv", FCNNEIV)}


def build(name: str, **sizes) -> tuple[str, nn.Module]:
    """The input kind and a fresh network for ``cnn-eim``, ``cnn-reim`` or ``fcnn-eiv``.

    ``sizes`` are the network's size arguments: ``map_size`` (CNNs) or
    ``n_inputs`` (FCNN-EIV), and ``out_shape`` and ``out_channels``; the
    defaults are the printed 16-electrode, 64 x 64 networks.
    """
    if name not in NETWORKS:
        raise FemeitError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    kind, cls = NETWORKS[name]
    drop = "n_inputs" if cls is CNNEIM else "map_size"
    return kind, cls(**{k: v for k, v in sizes.items() if k != drop})


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
