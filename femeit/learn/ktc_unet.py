"""A small U-Net that turns the classical KTC2023 reconstruction into a three-class segmentation.

Architecture (Ronneberger, Fischer & Brox, "U-Net: convolutional networks for
biomedical image segmentation", MICCAI 2015, LNCS 9351, pp. 234-241, Fig. 1:
an encoder of convolution blocks and 2 x 2 max pools, a decoder of 2 x 2
transposed convolutions whose outputs are concatenated with the encoder's
features of the same size, and a 1 x 1 convolution to class scores), reduced
to what a 32 x 32 input needs (our choices): two pools (32 -> 16 -> 8), blocks
of two 3 x 3 convolutions (padding 1) each followed by batch normalisation and
ReLU, ``width``, ``2 width`` and ``4 width`` channels; the class scores come
out at the input's 32 x 32 and are upsampled bilinearly (to 64 x 64 for the
training loss, to the challenge's 256 x 256 for the segmentation:
:func:`upsample_labels`), which costs half the arithmetic of a further
decoder stage at 64 x 64.

Using a U-Net to post-process a linearised reconstruction of the KTC2023 tank
is the idea of the strongest published entries of the challenge; this
network, its inputs (:mod:`femeit.learn.ktc_inputs`) and its training
(:mod:`femeit.learn.ktc_training`) are our own, smaller, choices.
"""

from __future__ import annotations

import torch
from torch import nn

from femeit.errors import FemeitError

N_CLASSES = 3
"""Water (0), resistive (1), conductive (2)."""


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class KTCUNet(nn.Module):
    """Input (n, in_channels, 32, 32) -> class scores (n, 3, 32, 32) (logits; softmax gives probabilities).

    Parameters
    ----------
    in_channels : int
        Input channels (:data:`femeit.learn.ktc_inputs.N_CHANNELS`).
    width : int
        Channels of the first block (then 2x and 4x).
    """

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise FemeitError(f"in_channels and width must be positive, got {in_channels} and {width}")
        w = width
        self.in_channels, self.width = in_channels, width
        self.enc1, self.enc2, self.enc3 = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), _block(2 * w, w)
        self.head = nn.Conv2d(w, N_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise FemeitError(
                f"KTCUNet takes (n, {self.in_channels}, H, W) with H, W multiples of 4, got {tuple(x.shape)}"
            )
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(e3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


def upsample_labels(logits: torch.Tensor, shape: tuple[int, int] = (256, 256)) -> torch.Tensor:
    """Labels (n, H, W) int64 in {0, 1, 2}: class scores upsampled bilinearly to ``shape``, then argmax."""
    up = nn.functional.interpolate(logits, size=shape, mode="bilinear", align_corners=False)
    return up.argmax(dim=1)
