"""A denoiser conditioned on the noise level: the learned prior of the plug-and-play deconvolution.

DENOISER_UNET follows DRUNet (Zhang et al. 2021) at CPU size: the noisy image and a constant
map of its noise level (std on the [0, 1] scale) enter together as four channels; a U-Net of
plain residual blocks (3x3 conv - ReLU - 3x3 conv; 2x2 stride-2 convs down, 1x1 conv + pixel
shuffle up, skips added) predicts the residual. Told the level, one network serves every noise
strength, and a plug-and-play solver (deblur.pnp) can hand it a level that falls iteration by
iteration. With level 0 it should return its input: a sharp, clean photo is left alone.

Pure ``nn.Module``: no I/O, no device choice. Input ``(N, 3, H, W)`` in [0, 1] and a level
``sigma`` of shape ``(N,)`` (or a scalar); H and W must be multiples of ``multiple`` (the caller
pads). ``halo`` is the context in pixels a tile needs.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from deblur.blocks import ResBlock

# Levels the denoiser is trained and used for: 0 .. 50/255 (plug-and-play starts near 49/255).
MAX_LEVEL = 50.0 / 255.0


class DenoiserUNet(nn.Module):
    """Noise-level-conditioned U-Net denoiser (see the module docstring).

    ``width`` channels at full resolution, doubling per level; ``blocks`` residual blocks per
    encoder and decoder level, ``middle`` at the lowest one (``levels`` = len(blocks)).
    """

    takes_noise_level = True

    def __init__(self, width: int = 24, blocks: tuple[int, ...] = (1, 1, 2), middle: int = 2,
                 frames: int = 1) -> None:
        super().__init__()
        if frames != 1:
            raise ValueError("the denoiser takes one frame")
        self.frames = 1
        levels = len(blocks)
        self.multiple = 2**levels
        self.intro = nn.Conv2d(4, width, 3, padding=1)
        self.encoders, self.downs, self.ups, self.decoders = (nn.ModuleList() for _ in range(4))
        c = width
        for n in blocks:
            self.encoders.append(nn.Sequential(*[ResBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.mid = nn.Sequential(*[ResBlock(c) for _ in range(middle)])
        for n in reversed(blocks):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[ResBlock(c) for _ in range(n)]))
        self.outro = nn.Conv2d(width, 3, 3, padding=1)
        # receptive-field radius: two 3x3 convs per block at its scale, plus the convs and downs
        reach = 2.0 + sum(2 * n * 2**lvl for lvl, n in enumerate(blocks)) * 2
        reach += 2 * middle * 2**levels + sum(2**lvl for lvl in range(levels))
        self.halo = int(math.ceil(reach)) + 2**levels
        with torch.no_grad():  # an untrained denoiser is the identity
            self.outro.weight.zero_()
            self.outro.bias.zero_()

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        n, _, h, w = x.shape
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
        s = s.expand(n) if s.numel() == 1 else s
        level = (s / MAX_LEVEL).view(n, 1, 1, 1).expand(n, 1, h, w)
        h_ = self.intro(torch.cat([x, level], dim=1))
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h_ = enc(h_)
            skips.append(h_)
            h_ = down(h_)
        h_ = self.mid(h_)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            h_ = dec(up(h_) + skip)
        return x + self.outro(h_)
