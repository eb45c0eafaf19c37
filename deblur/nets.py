"""The paper's three deblurring networks as plain ``nn.Module``s.

Every model takes a float tensor ``(N, 3 * frames, H, W)`` in [0, 1] -- one image for the
Gaussian task, the frames t-1, t, t+1 stacked on channels for the motion task -- and returns
``(N, 3, H, W)``: a restoration of the (middle) frame, built as a residual on top of it.
Models do no padding, I/O or device choice; ``multiple`` says what H and W must be divisible
by (the inference object pads), and ``halo`` is the context in pixels a tile needs.

- CARLO_NET (Mao et al. 2016, RED-Net): ``layers`` 3x3 convs then ``layers`` 3x3 transposed
  convs, ReLU, additive symmetric skips every two layers, input added to the output.
- KAIST_NET (Sim & Kim 2019): U-Net of residual down-up (RDU) blocks in the encoder and residual
  up-down (RUD) blocks in the decoder, 5x5 convs, 4x4 transposed convs, average pooling down,
  nearest-neighbour up. Output = w * (B (x) K) + (1 - w) * (B + R): a per-pixel 5x5 adaptive
  convolution of the middle input frame blended by a sigmoid map w with a residual image R.
- ATROUS_NET (after Brehm et al. 2020): 9x9 stem, stride-2 3x3 conv, ``blocks`` atrous residual
  blocks (four parallel 3x3 convs, dilation 1-4, concatenated, fused by a 3x3 conv, added to the
  block input), a stride-2 transposed conv, concatenation with the stem, two 3x3 convs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from deblur.blocks import ResBlock

# Keras' LeakyReLU default, which the paper's code used.
LEAKY_SLOPE = 0.3


def _he_init(module: nn.Module, slope: float, out_layers: tuple[nn.Module, ...] = (),
             branch_layers: tuple[nn.Module, ...] = (), branch_gain: float = 0.1) -> None:
    """He-normal (fan-in) weights and zero biases, as the paper settled on, with two changes.

    Output layers start at zero, so an untrained network returns its input exactly; the last
    conv of each residual branch is scaled by ``branch_gain`` so activations do not double with
    every block (the paper's nets have no normalisation). Both shorten CPU training and leave
    the architecture unchanged.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, a=slope, mode="fan_in", nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    with torch.no_grad():
        for m in out_layers:
            m.weight.zero_()
        for m in branch_layers:
            m.weight.mul_(branch_gain)


def _middle(x: torch.Tensor, frames: int) -> torch.Tensor:
    """The middle frame's RGB channels of a stacked input."""
    k = frames // 2
    return x[:, 3 * k : 3 * k + 3]


class CarloNet(nn.Module):
    """Conv / deconv auto-encoder with symmetric additive skips (no pooling)."""

    multiple = 1

    def __init__(self, frames: int = 1, layers: int = 10, channels: int = 128) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError("CarloNet needs at least 2 layers per side")
        self.frames, self.layers, self.channels = frames, layers, channels
        self.convs = nn.ModuleList(
            [nn.Conv2d(3 * frames if i == 0 else channels, channels, 3, padding=1) for i in range(layers)]
        )
        self.deconvs = nn.ModuleList(
            [nn.ConvTranspose2d(channels, 3 if i == layers - 1 else channels, 3, padding=1) for i in range(layers)]
        )
        self.halo = 2 * layers
        _he_init(self, 0.0, (self.deconvs[-1],))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, skips = x, {}
        for i, conv in enumerate(self.convs, start=1):
            h = F.relu(conv(h))
            if i % 2 == 0 and i < self.layers:
                skips[self.layers - i] = h  # conv i mirrors deconv (layers - i)
        for j, deconv in enumerate(self.deconvs, start=1):
            h = deconv(h)
            if j == self.layers:
                return _middle(x, self.frames) + h
            h = F.relu(h + skips[j]) if j in skips else F.relu(h)
        raise AssertionError("unreachable")


class _RDU(nn.Module):
    """Residual down-up block: 5x5 stride-2 conv, 4x4 stride-2 transposed conv, 5x5 conv, + input."""

    def __init__(self, c: int, slope: float) -> None:
        super().__init__()
        self.down = nn.Conv2d(c, c, 5, stride=2, padding=2)
        self.up = nn.ConvTranspose2d(c, c, 4, stride=2, padding=1)
        self.conv = nn.Conv2d(c, c, 5, padding=2)
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.down(x), self.slope)
        y = F.leaky_relu(self.up(y), self.slope)
        return x + self.conv(y)


class _RUD(nn.Module):
    """Residual up-down block: 4x4 stride-2 transposed conv, 5x5 stride-2 conv, 5x5 conv, + input."""

    def __init__(self, c: int, slope: float) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c, c, 4, stride=2, padding=1)
        self.down = nn.Conv2d(c, c, 5, stride=2, padding=2)
        self.conv = nn.Conv2d(c, c, 5, padding=2)
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.up(x), self.slope)
        y = F.leaky_relu(self.down(y), self.slope)
        return x + self.conv(y)


class KaistNet(nn.Module):
    """U-Net of RDU / RUD blocks with per-pixel 5x5 adaptive kernels and a blend map.

    ``repeats`` = (RDU1, RDU2, RDU3, RUD1, RUD2); the paper's table is (9, 9, 4, 4, 9).
    """

    multiple = 8  # two average poolings, then the RDU3 / RUD1 blocks halve once more inside
    kernel_size = 5

    def __init__(
        self,
        frames: int = 1,
        channels: int = 32,
        repeats: tuple[int, int, int, int, int] = (9, 9, 4, 4, 9),
        slope: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__()
        c, s = channels, slope
        self.frames, self.channels, self.repeats, self.slope = frames, channels, tuple(repeats), slope
        r1, r2, r3, r4, r5 = self.repeats
        k = self.kernel_size
        self.conv1 = nn.Conv2d(3 * frames, c, 5, padding=2)
        self.rdu1 = nn.Sequential(*[_RDU(c, s) for _ in range(r1)])
        self.squeeze1 = nn.Conv2d(c, 2 * c, 1)
        self.rdu2 = nn.Sequential(*[_RDU(2 * c, s) for _ in range(r2)])
        self.squeeze2 = nn.Conv2d(2 * c, 4 * c, 1)
        self.rdu3 = nn.Sequential(*[_RDU(4 * c, s) for _ in range(r3)])
        self.rud1 = nn.Sequential(*[_RUD(4 * c, s) for _ in range(r4)])
        self.squeeze3 = nn.Conv2d(6 * c, 2 * c, 1)
        self.rud2 = nn.Sequential(*[_RUD(2 * c, s) for _ in range(r5)])
        # residual image and blend map
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 5, padding=2)
        self.squeeze4 = nn.Conv2d(3 * c, c, 1)
        self.conv3 = nn.Conv2d(c, c, 5, padding=2)
        self.conv4 = nn.Conv2d(c, 3, 5, padding=2)
        self.conv5 = nn.Conv2d(c, 1, 5, padding=2)
        # per-pixel kernels
        self.conv6 = nn.Conv2d(2 * c, 2 * c, 5, padding=2)
        self.conv7 = nn.Conv2d(2 * c, c, 5, padding=2)
        self.conv8 = nn.Conv2d(c, k * k, 5, padding=2)
        # receptive-field radius, a little above what bench/tiling.py measured (102 px lite, 404
        # paper): each block adds about 6 px at its own scale, 2x / 4x that at full resolution
        self.halo = 6 * (r1 + 2 * (r2 + r5) + 4 * (r3 + r4)) + 16
        blocks = [*self.rdu1, *self.rdu2, *self.rdu3, *self.rud1, *self.rud2]
        _he_init(self, slope, (self.conv4, self.conv5, self.conv8), tuple(b.conv for b in blocks))
        with torch.no_grad():  # start from the identity kernel: a one-hot centre tap
            self.conv8.bias.zero_()
            self.conv8.bias[(k * k) // 2] = 1.0

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.slope)

    def adaptive_conv(self, image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Per-pixel k x k filtering: out[p] = sum_j kernels[j, p] * image[p + offset_j]."""
        n, c, h, w = image.shape
        k = self.kernel_size
        padded = F.pad(image, (k // 2,) * 4, mode="replicate")
        patches = F.unfold(padded, k).view(n, c, k * k, h, w)
        return (patches * kernels.unsqueeze(1)).sum(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self._act
        e1 = self.rdu1(a(self.conv1(x)))
        e2 = self.rdu2(a(self.squeeze1(F.avg_pool2d(e1, 2))))
        bottom = self.rud1(self.rdu3(a(self.squeeze2(F.avg_pool2d(e2, 2)))))
        up = F.interpolate(bottom, scale_factor=2, mode="nearest")
        d2 = self.rud2(a(self.squeeze3(torch.cat([up, e2], dim=1))))
        r = F.interpolate(a(self.conv2(d2)), scale_factor=2, mode="nearest")
        r = a(self.conv3(a(self.squeeze4(torch.cat([r, e1], dim=1)))))
        residual = self.conv4(r)
        weight = torch.sigmoid(self.conv5(r))
        kern = F.interpolate(a(self.conv6(d2)), scale_factor=2, mode="nearest")
        kern = self.conv8(a(self.conv7(kern)))
        mid = _middle(x, self.frames)
        return weight * self.adaptive_conv(mid, kern) + (1.0 - weight) * (mid + residual)


class AtrousBlock(nn.Module):
    """Four parallel 3x3 convs (dilation 1-4), concatenated, fused by a 3x3 conv, + input."""

    def __init__(self, channels: int, branch: int, dilations: tuple[int, ...] = (1, 2, 3, 4),
                 slope: float = LEAKY_SLOPE) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(channels, branch, 3, padding=d, dilation=d) for d in dilations])
        self.fuse = nn.Conv2d(branch * len(dilations), channels, 3, padding=1)
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([F.leaky_relu(b(x), self.slope, inplace=True) for b in self.branches], dim=1)
        return x + F.leaky_relu(self.fuse(y), self.slope, inplace=True)


class AtrousNet(nn.Module):
    """Atrous residual network: full-res stem, half-res atrous trunk, full-res head."""

    multiple = 2

    def __init__(
        self,
        frames: int = 1,
        blocks: int = 5,
        stem: int = 128,
        channels: int = 256,
        branch: int = 128,
        head: int = 64,
        dilations: tuple[int, ...] = (1, 2, 3, 4),
        slope: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__()
        self.frames, self.blocks, self.stem_channels = frames, blocks, stem
        self.channels, self.branch, self.head_channels = channels, branch, head
        self.dilations, self.slope = tuple(dilations), slope
        self.stem = nn.Conv2d(3 * frames, stem, 9, padding=4)
        self.down = nn.Conv2d(stem, channels, 3, stride=2, padding=1)
        self.trunk = nn.Sequential(*[AtrousBlock(channels, branch, self.dilations, slope) for _ in range(blocks)])
        self.up = nn.ConvTranspose2d(channels, stem, 4, stride=2, padding=1)
        self.head = nn.Conv2d(2 * stem, head, 3, padding=1)
        self.out = nn.Conv2d(head, 3, 3, padding=1)
        # receptive-field radius in input pixels: each block adds (max dilation + 1) half-res px
        self.halo = 4 + 2 + 2 * blocks * (max(self.dilations) + 1) + 4
        _he_init(self, slope, (self.out,), tuple(b.fuse for b in self.trunk))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in-place activations: these tensors have no other use, and at 720p every copy costs
        s = F.leaky_relu(self.stem(x), self.slope, inplace=True)
        h = self.trunk(F.leaky_relu(self.down(s), self.slope, inplace=True))
        h = F.leaky_relu(self.up(h), self.slope, inplace=True)
        h = F.leaky_relu(self.head(torch.cat([h, s], dim=1)), self.slope, inplace=True)
        return _middle(x, self.frames) + self.out(h)


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of each pixel (NAFNet's), with a learned scale and shift."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight[:, None, None] + self.bias[:, None, None]


class NAFBlock(nn.Module):
    """NAFNet's block: norm, 1x1 expand, depthwise conv, simple gate, channel attention, 1x1; then
    a gated feed-forward. Both branches are scaled by learned per-channel factors that start at 0,
    so a new block is an identity (no activation function anywhere: the gates are the
    non-linearity).

    ``dw`` is the depthwise kernel size (large at low resolution: wide receptive field for long
    shake, cheaply); ``sca`` is the side of the local window the channel attention averages over
    (0 = no attention). A local window instead of NAFNet's global mean keeps training crops and
    whole photos statistically alike (NAFNet's own TLC fix) and gives the block a finite reach,
    so tiles stitch exactly.
    """

    def __init__(self, c: int, dw: int = 3, sca: int = 0) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(c)
        self.expand = nn.Conv2d(c, 2 * c, 1)
        self.dwconv = nn.Conv2d(2 * c, 2 * c, dw, padding=dw // 2, groups=2 * c)
        self.sca_window = sca
        self.sca = nn.Conv2d(c, c, 1) if sca else None
        self.project = nn.Conv2d(c, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.ffn_in = nn.Conv2d(c, 2 * c, 1)
        self.ffn_out = nn.Conv2d(c, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.reach = dw // 2 + (sca // 2 if sca else 0)  # receptive-field radius at this scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(self.expand(self.norm1(x)))
        a, b = y.chunk(2, dim=1)
        y = a * b
        if self.sca is not None:
            w = self.sca_window
            y = y * self.sca(F.avg_pool2d(y, w, stride=1, padding=w // 2, count_include_pad=False))
        x = x + self.project(y) * self.beta
        a, b = self.ffn_in(self.norm2(x)).chunk(2, dim=1)
        return x + self.ffn_out(a * b) * self.gamma


class _UNet(nn.Module):
    """The U-Net NAF_UNET and RES_UNET share; they differ only in their blocks.

    ``intro`` conv, then per level (full, 1/2, 1/4 ...) ``enc[level]`` blocks and a 2x2 stride-2
    ``downs`` conv (widths double from ``width``), ``middle`` blocks at the lowest level, then per
    level back up a 1x1 conv + pixel shuffle (``ups``), the skip added and ``dec[level]`` blocks;
    output = middle input frame + ``outro``, which starts at zero (an untrained network is the
    identity). ``blocks(c, n, level)`` builds the ``nn.Sequential`` of one level's blocks; each
    block's ``reach`` (receptive-field radius at its own scale) gives the network's ``halo``.
    """

    def __init__(self, frames: int, width: int, enc: tuple[int, ...], middle: int, dec: tuple[int, ...],
                 blocks: Callable[[int, int, int], nn.Sequential]) -> None:
        super().__init__()
        if len(enc) != len(dec):
            raise ValueError("enc and dec need one entry per level")
        self.frames = frames
        levels = len(enc)
        self.multiple = 2**levels
        self.intro = nn.Conv2d(3 * frames, width, 3, padding=1)
        self.outro = nn.Conv2d(width, 3, 3, padding=1)
        self.encoders, self.downs, self.ups, self.decoders = (nn.ModuleList() for _ in range(4))
        c = width
        for lvl, n in enumerate(enc):
            self.encoders.append(blocks(c, n, lvl))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.mid = blocks(c, middle, levels)
        for lvl, n in reversed(list(enumerate(dec))):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(blocks(c, n, lvl))
        # receptive-field radius in input pixels: each block's reach at its scale, plus the convs,
        # plus one lowest-level cell for the pixel-shuffle alignment
        reach = 2.0 + sum(b.reach * 2**lvl for lvl, seq in enumerate(self.encoders) for b in seq)
        reach += sum(2**lvl for lvl in range(levels))  # the 2x2 downs
        reach += sum(b.reach * 2**levels for b in self.mid)
        reach += sum(b.reach * 2**(levels - 1 - i) for i, seq in enumerate(self.decoders) for b in seq)
        self.halo = int(math.ceil(reach)) + 2**levels
        with torch.no_grad():
            self.outro.weight.zero_()
            self.outro.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.intro(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.mid(h)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            h = dec(up(h) + skip)
        return _middle(x, self.frames) + self.outro(h)


class NAFUNet(_UNet):
    """A small multi-scale U-Net of NAF blocks, the project's own design for real photos.

    Most of the work runs at 1/4 - 1/8 resolution (where a 7x7 depthwise kernel spans 56 px of
    the photo: room for a 30 px shake path), with a thin full-resolution encoder/decoder to keep
    detail; 2x2 stride-2 convs go down, 1x1 conv + pixel shuffle go up, skips are added. Output =
    input + residual, so an untrained network is the identity.

    ``enc`` / ``dec`` give the NAF blocks per level (full, 1/2, 1/4 ...), ``middle`` those at the
    lowest level (the only ones with channel attention, over a ``sca``-wide window); widths double
    per level from ``width``.
    """

    def __init__(self, frames: int = 1, width: int = 16, enc: tuple[int, ...] = (1, 1, 2),
                 middle: int = 4, dec: tuple[int, ...] = (1, 1, 1), dw_low: int = 7, sca: int = 7) -> None:
        levels = len(enc)

        def blocks(c: int, n: int, level: int) -> nn.Sequential:
            # 1/4 resolution and below: wide depthwise kernels; the lowest level: local attention
            low, lowest = level >= 2, level == levels
            return nn.Sequential(*[NAFBlock(c, dw_low if low else 3, sca if lowest else 0) for _ in range(n)])

        super().__init__(frames, width, tuple(enc), middle, tuple(dec), blocks)


class ResUNet(_UNet):
    """A five-level U-Net of plain residual blocks: the project's CPU-fast design for real photos.

    Same plan as NAF_UNET (most blocks at 1/8 - 1/16 resolution, where four 3x3 blocks reach
    +/-128 px of the photo: room for a 30 px shake path; a thin full-resolution level keeps
    detail; 2x2 stride-2 convs down, 1x1 conv + pixel shuffle up, skips added; output = input +
    residual, the output conv starting at zero so an untrained network is the identity), but
    built of dense 3x3 convs and ReLU, which this CPU's bf16 matrix units (AMX) run ~4x faster per
    training sample than NAF blocks' depthwise convs, layer norms and gates: bench/train_speed.py,
    one run, 128 px crops, batch 8: 60 samples/s at 6.4 M parameters against NAF_UNET's 14 at
    1.0 M (which bf16 does not speed up) and ATROUS_NET's 39; the same layout with NAFNet's simple
    gate and channel attention in each block (a scratch variant) ran at 32. Widths double per
    level from ``width``; ``enc`` / ``dec`` give the blocks per level, ``middle`` those at the
    lowest.
    """

    def __init__(self, frames: int = 1, width: int = 16, enc: tuple[int, ...] = (1, 1, 1, 2),
                 middle: int = 4, dec: tuple[int, ...] = (1, 1, 1, 2)) -> None:
        super().__init__(frames, width, tuple(enc), middle, tuple(dec),
                         lambda c, n, level: nn.Sequential(*[ResBlock(c) for _ in range(n)]))
