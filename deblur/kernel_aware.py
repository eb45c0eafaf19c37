"""Kernel-aware Gaussian deblurring: estimate sigma, deconvolve, refine (issue 12).

The established pattern for a blur whose family is known (DWDN, USRNet, IKC): identify the
kernel, undo it with a non-blind linear deconvolution, and let a network remove what the linear
filter leaves (ringing, 8-bit steps, estimation error). ``KernelAwareNet`` is that pipeline:

1. **sigma** per image: the lite preset's ``deblur.sigma_net.SigmaNet`` (a small CNN trained
   on its own at the photos' resolution, then jointly; see that module for why GCV was dropped:
   25-50 % errors at full resolution), or ``SigmaEstimator`` -- classical GCV blur identification
   (the one ``deblur.baselines.blind_wiener`` uses, ported to torch, batched), optionally
   corrected by a small CNN; or given (training, and the "given the true sigma" oracle row).
2. **deconvolution**: ``wiener_deconvolve`` -- a Wiener filter of the Gaussian of that sigma
   (OpenCV's size rule, the degradation's taps) with a learned balance, applied as a *finite*
   filter of radius ``radius`` to the reflect-101-padded image.
3. **refinement**: the paper's ATROUS_NET (lite sizes) on the blurred and the deconvolved image
   stacked (6 channels); output = deconvolved image + its residual, scaled per colour channel by
   a *sigma gate* (``gate`` > 0: a tiny MLP of sigma, 2 x sigmoid, 1 at init). The residual's
   last layer starts at zero, so an untrained network *is* Wiener deconvolution with the sigma
   it is given.

Why the gate, and the trainer's ``--psnr-floor 1e-4`` (bench/ka_refine_probe.py, the refiner
alone on Wiener-given-the-true-sigma outputs of 96 px corpus crops, 5-6 min each, gain over the
Wiener output on held-out crops): below sigma ~0.75 Wiener is near exact (~50 dB) and any residual
costs dB there, while at sigma 1.5-3 there is ~1 dB to win. The first shipped refinement, trained
with the plain PSNR loss (MSE floored at 1e-6: a 50 dB sample weighs ~100x a 30 dB one), stayed at
zero (+0.01 dB at sigma 1.5-3 after 9k samples in the probe too). An MSE loss learned the large
sigmas (+0.94 / +0.69 dB at sigma 1.5-2.25 / 2.25-3) but lost 3.9 dB below 0.75. The PSNR loss
with the floor at 1e-4 (the near-exact samples weigh ~10x, not 100x) plus the gate, whose logit
is scaled by GATE_GAIN so that it closes fast where the residual only hurts: +1.13 / +0.75 at the
large sigmas, +0.22 at 0.75-1.5, -0.29 below 0.75, +0.47 dB overall, in 23k samples.

Why a finite filter rather than the FFT Wiener of ``deblur.baselines`` (pad, taper, whole-image
FFT): the FFT filter reaches across the whole image -- its impulse response at sigma 3, balance
1e-3 still holds an L1 mass of 0.13 beyond 32 px -- so tiles could never match the untiled run.
Truncated to radius 32 on a reflect-101 padded image it scored the same PSNR as the numpy Wiener
(28.33 dB, 256 px crops of astronaut / coffee / chelsea at sigma 3; equal at sigma 0.5-2 too), and
the output at a pixel then depends on the input within ``radius`` only: the network's halo is
exact (``halo`` = ATROUS_NET's + radius). Reflect-101 padding needs no taper here: the blur was
synthesised with reflect-101 borders and the Gaussian is symmetric, so the padded blurred image
*is* the blur of the reflected sharp one.

Sigma is estimated once per image, on the whole image (its central crop), never per tile:
``deblur.inference.Deblurrer`` calls ``estimate_sigma`` on the whole input, then passes that sigma
to every tile and every self-ensemble view. The estimator is invariant to flips and quarter turns
(GCV exactly, the CNN by averaging its 8 views outside training), as an isotropic blur's sigma
must be, so estimating once or per view gives the same answer.

Training (``training_sigma``, called by deblur/train.py): the restorer is told the *true* sigma,
least-squares fitted from the (blurred, sharp) pair (``fit_sigma``: no sampler carries it), with a
random error added (``jitter_sigma``). Not the estimator's own estimate, because (1) on 32 px
training crops GCV's error is another distribution than on the whole images it meets at test
time, so the restorer would learn to undo the wrong errors; (2) the estimator changes while it
trains, so the restorer would chase a moving input; (3) the oracle row must mean "given the true
sigma". The jitter (25 % exact, else a relative error of 8 % and 0.05 px) teaches the refinement
to tolerate the few-percent error a good whole-image estimate has -- the target for the trained
estimator, not what GCV achieves (see below); revisit it with ``estimator_report``. The
estimator's CNN learns from its own L1 loss against the fitted sigma (an auxiliary loss the
trainer adds); the image loss does not reach it, so its error report stays an honest one. A
SigmaNet started from a file (the trainer's ``--estimator``) is frozen instead: trained on with
the restorer's multi-scale crops it drifted. The trainer fits the true sigma of each cached
sample once (``deblur.train.fit_cache_sigma``) and hands it to ``training_sigma``.

Measured (2-core CPU, shared with a training job): GCV alone missed sigma ~1 by -0.35 to -0.47 px
(37-44 %) on three of four builtin images at full resolution (bench/sigma_estimator.py --limit 2,
seeds 42 and 11), while on 192 px crops of the same photos it erred by 0.09 px on average. With
that error a blind run of this network at init scored 30.34 dB on astronaut (blind_wiener 30.38),
the same network told the true sigma 35.62 (wiener 35.75): the estimator, not the deconvolution,
is where the blind rows lose, which is why the estimator has a trainable part.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.fft as sfft
import torch
import torch.nn as nn
import torch.nn.functional as F

from deblur.blur import gaussian_blur_batch, gaussian_kernel, gaussian_kernel_1d, gaussian_kernel_size
from deblur.classical import GCV_CROP, GCV_LAMBDAS, GCV_SIGMAS, INTRINSIC_SIGMA
from deblur.errors import DeblurError
from deblur.nets import LEAKY_SLOPE, AtrousNet
from deblur.sigma_net import SigmaNet

SIGMA_MAX = 4.0        # largest sigma estimated or deconvolved: the end of GCV's grid (the protocol ends at 3)
RADIUS = 32            # finite Wiener filter radius: ~exact up to sigma 3 (see the module docstring)
BALANCE = 1e-3         # initial Wiener balance: baselines.adaptive_balance's value for noise-free 8-bit images
BALANCE_RANGE = (3e-4, 0.1)  # the learned balance is clamped here; below it the filter outgrows RADIUS
FILTER_GRID = 128      # FFT grid on which the Wiener filter is designed (its tail beyond 64 px: < 0.5 %)
GCV_PAD = 18           # baselines.gcv_gaussian_sigma's padding (2 x a 9 px kernel)
GCV_FINE = 0.01        # GCV's sigma grid after the 0.1 px search (px)
GCV_CHUNK_BYTES = 16 << 20  # GCV evaluates this much of its (sigma, weight, frequency) table at once

# Training: the sigma the restorer is told = the true one, exact with probability JITTER_EXACT,
# else times exp(N(0, JITTER_REL)) plus N(0, JITTER_ABS) px: the error a trained estimator should
# reach on whole images. Check it against bench/sigma_estimator.py once one is trained.
JITTER_EXACT, JITTER_REL, JITTER_ABS = 0.25, 0.08, 0.05
GATE_GAIN = 10.0       # the sigma gate's logit is its MLP's output x this: it closes ~10x faster under Adam
AUX_WEIGHT = 0.1       # weight of the estimator's L1 sigma loss (px) beside the image loss
FIT_COARSE, FIT_STEPS = 0.4, 14  # fit_sigma: grid step (px), then golden-section evaluations


# ----------------------------------------------------------------------------- pure functions


def reflect_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Reflect-101 padding (numpy 'reflect', OpenCV BORDER_REFLECT_101) of the last two axes by
    any amount: unlike ``F.pad(mode="reflect")`` a pad may exceed the image (it reflects again),
    as ``np.pad`` does, so a 32 px crop takes a 32 px filter radius."""
    h, w = x.shape[-2:]
    return x.index_select(-2, _reflect_index(h, top, bottom, x.device)).index_select(
        -1, _reflect_index(w, left, right, x.device))


def _reflect_index(n: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    i = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i >= n, period - i, i)


def gaussian_taps(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """1-D Gaussian taps (N, 2 * radius + 1), centred, one row per sigma (N,), differentiable in
    sigma: the taps of ``deblur.blur.gaussian_kernel_1d`` (OpenCV's size rule) zero-padded."""
    sizes = [gaussian_kernel_size(float(s)) for s in sigma.detach().double().cpu()]
    if max(sizes) > 2 * radius + 1:
        raise ValueError(f"sigma {float(sigma.max()):.3g} needs a {max(sizes)}-tap kernel, more than radius {radius}")
    half = torch.tensor([(k - 1) // 2 for k in sizes], dtype=sigma.dtype, device=sigma.device)
    t = torch.arange(-radius, radius + 1, dtype=sigma.dtype, device=sigma.device)
    s = sigma.clamp_min(1e-3)[:, None]  # size 1 below ~0.083; the clamp only keeps 0 from dividing
    g = torch.exp(-(t * t) / (2.0 * s * s)) * (t.abs()[None] <= half[:, None])
    return g / g.sum(dim=1, keepdim=True)


def _transfer_1d(taps: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Frequency response (N, len(omega)) of symmetric centred taps (N, 2R+1): real and even."""
    r = taps.shape[1] // 2
    t = torch.arange(-r, r + 1, dtype=taps.dtype, device=taps.device)
    return taps @ torch.cos(omega[:, None] * t[None]).T


def wiener_filter(sigma: torch.Tensor, balance: torch.Tensor | float, radius: int = RADIUS,
                  grid: int = FILTER_GRID) -> torch.Tensor:
    """Finite Wiener deconvolution filters (N, 2R+1, 2R+1), float64, each summing to 1.

    H / (H^2 + balance) for the Gaussian H of each sigma (balance: a scalar or one per image) --
    the filter of ``skimage.restoration.wiener`` with a unit-impulse regulariser, as
    ``deblur.baselines.Wiener`` uses it -- designed on a ``grid`` x ``grid`` FFT grid, cut to
    radius R and scaled to unit sum (a flat image passes unchanged: no brightness shift, which
    the numpy baseline gets by taking out the mean).
    """
    sigma = sigma.double().reshape(-1)
    lam = torch.as_tensor(balance, dtype=torch.float64, device=sigma.device).reshape(-1, 1, 1)
    omega = 2.0 * math.pi * torch.arange(grid, dtype=torch.float64, device=sigma.device) / grid
    h1 = _transfer_1d(gaussian_taps(sigma, radius), omega)          # (N, grid)
    h = h1[:, :, None] * h1[:, None, : grid // 2 + 1]                # (N, grid, grid/2+1)
    ir = torch.fft.irfft2(h / (h * h + lam), s=(grid, grid))       # centred at (0, 0)
    k = torch.roll(ir, shifts=(radius, radius), dims=(1, 2))[:, : 2 * radius + 1, : 2 * radius + 1]
    return k / k.sum(dim=(1, 2), keepdim=True)


def wiener_deconvolve(x: torch.Tensor, sigma: torch.Tensor, balance: torch.Tensor | float,
                      radius: int = RADIUS) -> torch.Tensor:
    """Wiener-deconvolve images (N, C, H, W) in [0, 1], one sigma per image (N,), with the finite
    filter of ``wiener_filter``: reflect-101 padding by ``radius``, then an FFT convolution whose
    result equals the direct one (no wrap-around reaches the kept area). The output at a pixel
    depends on the input within ``radius`` px only. Computed in float64: the filter amplifies
    fine detail up to ~16x, and float32 FFT rounding of a large image would show at ~1e-5.
    Differentiable in x, sigma and balance; not clipped (ringing may leave [0, 1])."""
    n, c, h, w = x.shape
    with torch.autocast(x.device.type, enabled=False):
        k = wiener_filter(sigma.to(x.device), balance, radius)
        ph, pw = sfft.next_fast_len(h + 2 * radius, real=True), sfft.next_fast_len(w + 2 * radius, real=True)
        xp = reflect_pad(x.double(), radius, ph - h - radius, radius, pw - w - radius)
        kp = F.pad(k, (0, pw - k.shape[-1], 0, ph - k.shape[-2]))
        y = torch.fft.irfft2(torch.fft.rfft2(xp) * torch.fft.rfft2(kp)[:, None], s=(ph, pw))
        out = y[..., 2 * radius : 2 * radius + h, 2 * radius : 2 * radius + w]
    return out.to(x.dtype).contiguous()


def central_side(n: int, limit: int = GCV_CROP) -> int:
    """Side of the central crop the estimator looks at: at most ``limit``, and ``n - side`` even,
    so the crop is centred exactly and a flipped image gives the flipped crop."""
    return n if n <= limit else limit - ((n - limit) % 2)


def central_crop(x: torch.Tensor, limit: int = GCV_CROP) -> torch.Tensor:
    h, w = x.shape[-2:]
    ch, cw = central_side(h, limit), central_side(w, limit)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]


def _cosine_ramp(n: int, like: torch.Tensor) -> torch.Tensor:
    r = (torch.arange(n, dtype=like.dtype, device=like.device) + 0.5) / n
    return 0.5 - 0.5 * torch.cos(math.pi * r)


@torch.no_grad()
def gcv_sigma(x: torch.Tensor, fine: float | None = GCV_FINE) -> torch.Tensor:
    """Raw GCV blur identification (N,) of images (N, C, H, W) in [0, 1], batched, float64.

    ``deblur.baselines.gcv_gaussian_sigma`` in torch: the same candidate sigmas and Tikhonov
    weights, grey central crop (<= GCV_CROP), 18 px reflect padding tapered to the mean, GCV
    score minimised over both. Two changes make it exactly invariant to flips and quarter turns:
    the crop is centred exactly (``central_side``) and the padding is the same on every side
    (no extra rows for a fast FFT size). With ``fine`` (px) the 0.1 px grid's minimum is then
    refined on a ``fine`` grid within +-0.1 px: after the intrinsic-blur correction one 0.1 px
    step of GCV is a 0.16 px step of the estimate at sigma 1, far more than the few percent
    deconvolution tolerates. ``fine=None`` agrees with the numpy version within a grid step.
    """
    grey = central_crop(x.double().mean(dim=1))
    n, h, w = grey.shape
    p = GCV_PAD
    pad = reflect_pad(grey, p, p, p, p)
    ramp = _cosine_ramp(p, pad)
    one = torch.ones(1, dtype=pad.dtype, device=pad.device)
    wy = torch.cat([ramp, one.expand(h), ramp.flip(0)])
    wx = torch.cat([ramp, one.expand(w), ramp.flip(0)])
    weight = wy[:, None] * wx[None]
    mean = grey.mean(dim=(1, 2), keepdim=True)
    pad = weight * pad + (1.0 - weight) * mean
    hp, wp = pad.shape[-2:]
    power = torch.fft.rfft2(pad).abs().pow(2).reshape(n, -1)        # (N, K)
    col_w = torch.full((wp // 2 + 1,), 2.0, dtype=pad.dtype, device=pad.device)
    col_w[0] = 1.0
    if wp % 2 == 0:
        col_w[-1] = 1.0  # rfft2 stores half the spectrum: count the mirrored columns twice
    oy = 2.0 * math.pi * torch.arange(hp, dtype=pad.dtype, device=pad.device) / hp
    ox = 2.0 * math.pi * torch.arange(wp // 2 + 1, dtype=pad.dtype, device=pad.device) / wp
    lam = torch.as_tensor(GCV_LAMBDAS, dtype=pad.dtype, device=pad.device)[:, None, None]

    def scores(sigmas: np.ndarray, rows: torch.Tensor) -> torch.Tensor:
        """GCV scores (len(sigmas), len(rows)) of candidate sigmas, each minimised over the
        Tikhonov weights; a few sigmas per tensor operation (fewer, larger ops: much faster
        than one sigma at a time when other processes compete for the cores)."""
        taps = [gaussian_kernel_1d(float(v)) for v in sigmas]
        r = max(len(t) for t in taps) // 2
        bank = np.zeros((len(taps), 2 * r + 1))
        for i, t in enumerate(taps):
            bank[i, r - len(t) // 2 : r + len(t) // 2 + 1] = t
        bank = torch.as_tensor(bank, dtype=pad.dtype, device=pad.device)
        out = []
        chunk = max(1, GCV_CHUNK_BYTES // (8 * len(lam) * power.shape[1]))
        for i in range(0, len(bank), chunk):
            b = bank[i : i + chunk]
            h2 = (_transfer_1d(b, oy)[:, :, None] * _transfer_1d(b, ox)[:, None, :]).pow(2)  # (S, hp, wp/2+1)
            resid = lam[None] / (h2[:, None] + lam[None])                  # (S, L, hp, wp/2+1): 1 - A
            rw = resid * col_w
            num = (resid * rw).reshape(len(b) * len(lam), -1) @ rows.T     # (S * L, rows)
            den = rw.sum(dim=(2, 3)).pow(2).reshape(-1, 1)
            out.append((num / den).reshape(len(b), len(lam), -1).min(dim=1).values)
        return torch.cat(out)                                              # (S, rows)

    coarse = scores(np.asarray(GCV_SIGMAS), power).T                       # (N, S)
    best = np.asarray(GCV_SIGMAS)[coarse.argmin(dim=1).cpu().numpy()]  # the first minimum, as the numpy loop
    if not fine:
        return torch.as_tensor(best, dtype=torch.float64, device=x.device)
    steps = int(round(0.1 / fine))
    cands = np.round(np.clip(best[:, None] + fine * np.arange(-steps, steps + 1)[None], 0.0, GCV_SIGMAS[-1]), 6)
    pick = [int(scores(cands[i], power[i : i + 1])[:, 0].argmin()) for i in range(n)]
    return torch.as_tensor(cands[np.arange(n), pick], dtype=torch.float64, device=x.device)


def gcv_estimate(x: torch.Tensor, fine: float | None = GCV_FINE) -> torch.Tensor:
    """The added blur's sigma (N,): GCV (``gcv_sigma``) minus the intrinsic blur of sharp photos,
    in quadrature (``deblur.baselines.estimate_gaussian_sigma``'s correction)."""
    s = gcv_sigma(x, fine)
    return (s * s - INTRINSIC_SIGMA**2).clamp_min(0.0).sqrt()


@torch.no_grad()
def fit_sigma(blurred: torch.Tensor, sharp: torch.Tensor, sigma_max: float = SIGMA_MAX) -> torch.Tensor:
    """The sigma (N,) whose Gaussian blur of ``sharp`` best matches ``blurred`` (least squares),
    both (N, 3, H, W) in [0, 1]: the true sigma of a training pair, which no sampler hands over.

    A grid of FIT_COARSE px over [0, sigma_max], then a golden-section search (FIT_STEPS
    evaluations, to ~0.001 px) within one grid step of the best; each evaluation is one
    ``deblur.blur.gaussian_blur_batch`` of the batch, one sigma per image (the degradation's taps
    and borders, not quantised). Where blur changes nothing (a flat crop) every sigma fits and the
    smallest wins, which is then also right for deconvolution. Needs H, W > the largest kernel's
    half width.
    """
    n = blurred.shape[0]
    b, s = blurred.float(), sharp.float()

    def mse(sig: np.ndarray) -> np.ndarray:
        out = gaussian_blur_batch(s, sig, quantize_output=False)
        return (out - b).pow(2).mean(dim=(1, 2, 3)).cpu().double().numpy()

    grid = np.arange(0.0, sigma_max + 1e-9, FIT_COARSE)
    errs = np.stack([mse(np.full(n, g)) for g in grid], axis=1)
    first = errs.argmin(axis=1)                    # the first minimum: the smallest sigma on ties
    best, best_err = grid[first], errs[np.arange(n), first]
    lo, hi = np.clip(best - FIT_COARSE, 0.0, sigma_max), np.clip(best + FIT_COARSE, 0.0, sigma_max)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f1, f2 = mse(x1), mse(x2)
    for _ in range(FIT_STEPS):
        left = f1 <= f2                            # the minimum lies in [lo, x2]: ties go left
        hi, lo = np.where(left, x2, hi), np.where(left, lo, x1)
        x1, x2, f1, f2 = (np.where(left, hi - ratio * (hi - lo), x2), np.where(left, x1, lo + ratio * (hi - lo)),
                          np.where(left, np.nan, f2), np.where(left, f1, np.nan))
        new = mse(np.where(left, x1, x2))
        f1, f2 = np.where(left, new, f1), np.where(left, f2, new)
    for x, f in ((x1, f1), (x2, f2)):  # never worse than the grid point
        better = f < best_err
        best, best_err = np.where(better, x, best), np.where(better, f, best_err)
    return torch.as_tensor(best, dtype=torch.float32, device=blurred.device)


def jitter_sigma(sigma: torch.Tensor, rng: np.random.Generator, sigma_max: float = SIGMA_MAX) -> torch.Tensor:
    """The sigma a restorer is told in training: ``sigma`` exact with probability JITTER_EXACT,
    else with a relative error exp(N(0, JITTER_REL)) and an absolute N(0, JITTER_ABS) px."""
    n = sigma.shape[0]
    exact = rng.random(n) < JITTER_EXACT
    rel = np.where(exact, 1.0, np.exp(rng.normal(0.0, JITTER_REL, n)))
    add = np.where(exact, 0.0, rng.normal(0.0, JITTER_ABS, n))
    s = sigma.detach().cpu().double().numpy() * rel + add
    return torch.as_tensor(np.clip(s, 0.0, sigma_max), dtype=torch.float32, device=sigma.device)


def sigma_from_kernel(kernel: np.ndarray) -> float:
    """The sigma whose ``deblur.blur.gaussian_kernel`` is ``kernel`` (the oracle's input).

    The kernel's size fixes the interval of sigmas that give it (OpenCV's size rule); inside it
    the truncated Gaussian's variance grows with sigma, so bisection on the variance of its 1-D
    profile finds sigma to float precision. Raises DeblurError for a kernel that is not one of
    those Gaussians (e.g. motion blur).
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0 or k.sum() <= 0:
        raise DeblurError(f"the true sigma needs a square odd-sized Gaussian kernel, got shape {k.shape}")
    k = k / k.sum()
    size = k.shape[0]
    if size == 1:
        return 0.0
    profile = k.sum(axis=0)
    t = np.arange(size) - (size - 1) / 2.0
    target = float((profile * t * t).sum())

    def var(s: float) -> float:
        g = gaussian_kernel_1d(s)
        return float((g * t * t).sum()) if len(g) == size else (-np.inf if len(g) < size else np.inf)

    lo, hi = max((size - 2.5) / 6.0, 1e-6), (size - 0.5) / 6.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if var(mid) < target:
            lo = mid
        else:
            hi = mid
    sigma = 0.5 * (lo + hi)
    g = gaussian_kernel(sigma)
    if g.shape != k.shape or np.abs(g - k).max() > 1e-6:
        raise DeblurError("the true kernel is not a Gaussian of the degradation's family: "
                          "the true-sigma restorers take Gaussian blur only")
    return sigma


# ----------------------------------------------------------------------------- modules


def _d4_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips / quarter turns of (N, C, H, W)."""
    out = []
    for flip in (False, True):
        v = x.flip(-1) if flip else x
        out.extend(torch.rot90(v, k, dims=(-2, -1)) for k in range(4))
    return out


class SigmaEstimator(nn.Module):
    """Gaussian blur sigma (N,) of images (N, 3, H, W) in [0, 1]: GCV (``gcv_estimate``) on the
    central crop, plus, when ``width`` > 0, a correction from a small CNN. GCV alone searches to
    0.01 px; under the CNN it stays on its 0.1 px grid (the fine search costs ~5x in a training
    batch, and the CNN sees the same input in training and use either way). The CNN: three 3x3 convs
    (dilation 1, 2, 4) give a per-pixel value and confidence, pooled by a softmax over pixels
    (a weighted mean: the same statistic on a 32 px crop and a 384 px one), then a two-layer
    MLP of (pooled value, GCV's sigma) -> correction. The MLP's last layer starts at zero, so an
    untrained estimator is GCV exactly. Outside training the CNN averages its 8 flipped / turned
    views, so the estimate is invariant to them (GCV is by construction).
    """

    def __init__(self, width: int = 16, sigma_max: float = SIGMA_MAX, crop: int = GCV_CROP) -> None:
        super().__init__()
        self.width, self.sigma_max, self.crop = int(width), float(sigma_max), int(crop)
        if self.width:
            c = self.width
            self.features = nn.Sequential(
                nn.Conv2d(3, c, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
                nn.Conv2d(c, c, 3, padding=2, dilation=2), nn.LeakyReLU(LEAKY_SLOPE),
                nn.Conv2d(c, c, 3, padding=4, dilation=4), nn.LeakyReLU(LEAKY_SLOPE),
                nn.Conv2d(c, 2, 1))
            self.head = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(16, 1))
            with torch.no_grad():
                self.head[-1].weight.zero_()
                self.head[-1].bias.zero_()

    def pooled(self, crop: torch.Tensor) -> torch.Tensor:
        """The CNN's softmax-pooled value (N,) of one view."""
        f = self.features(crop)
        v, a = f[:, 0].flatten(1), f[:, 1].flatten(1)
        return (torch.softmax(a, dim=1) * v).sum(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        crop = central_crop(x, self.crop)
        g = gcv_estimate(crop, None if self.width else GCV_FINE).to(x.dtype)
        if not self.width:
            return g.clamp(0.0, self.sigma_max)
        crop = crop.float()
        if self.training:
            v = self.pooled(crop)
        else:
            v = torch.stack([self.pooled(view) for view in _d4_views(crop)]).mean(dim=0)
        delta = self.head(torch.stack([v, g.float()], dim=1)).squeeze(1)
        return (g + delta.to(g.dtype)).clamp(0.0, self.sigma_max)

    # The estimator interface KernelAwareNet calls (deblur.sigma_net.SigmaNet has it too).
    def estimate_whole(self, x: torch.Tensor) -> torch.Tensor:
        """sigma (N,) of whole images: the forward pass (it crops centrally itself)."""
        return self(x)

    def training_loss(self, blurred: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor | None:
        """L1 error (px) against the true sigma; None for GCV alone (nothing to train)."""
        return (self(blurred) - sigma.to(blurred.dtype)).abs().mean() if self.width else None


class KernelAwareNet(nn.Module):
    """Estimate sigma, Wiener-deconvolve, refine with ATROUS_NET (see the module docstring).

    forward(x (N, 3, H, W) in [0, 1], sigma (N,) px or None) -> (N, 3, H, W). With sigma None
    the model estimates it from x itself (``estimate_sigma``): right for a whole image, wrong for
    a tile -- the inference object estimates once and passes it. The ATROUS_NET arguments are
    deblur.models.AtrousNet's; ``sigma_max`` caps sigma; ``radius`` is the deconvolution filter's;
    ``balance`` the initial Wiener balance (learned, clamped to BALANCE_RANGE); ``estimator`` the
    width of the estimator's CNN (0 = GCV alone); ``sigma_net`` > 0 replaces that estimator by a
    ``deblur.sigma_net.SigmaNet`` of this width (start it from a trained one: the trainer's
    ``--estimator FILE``).
    """

    multiple = 2
    takes_sigma = True  # the inference object and the registry read this

    def __init__(self, frames: int = 1, blocks: int = 4, stem: int = 32, channels: int = 64, branch: int = 32,
                 head: int = 32, dilations: tuple[int, ...] = (1, 2, 3, 4), slope: float = LEAKY_SLOPE,
                 sigma_max: float = SIGMA_MAX, radius: int = RADIUS, balance: float = BALANCE,
                 estimator: int = 16, sigma_net: int = 0, gate: int = 0) -> None:
        super().__init__()
        if frames != 1:
            raise ValueError(f"KernelAwareNet deblurs single images (frames=1), not {frames} frames")
        if gaussian_kernel_size(sigma_max) > 2 * radius + 1:
            raise ValueError(f"radius {radius} is too small for sigma_max {sigma_max}")
        self.frames, self.sigma_max, self.radius = 1, float(sigma_max), int(radius)
        # frames=2: it sees [blurred, deconvolved] and returns its "middle frame" (the second,
        # the deconvolved image) plus a residual whose last layer starts at zero.
        self.refine = AtrousNet(frames=2, blocks=blocks, stem=stem, channels=channels, branch=branch, head=head,
                                dilations=dilations, slope=slope)
        if sigma_net:  # the learned estimator of deblur/sigma_net.py replaces GCV (+ correction)
            self.estimator = SigmaNet(width=sigma_net, sigma_max=sigma_max)
        else:
            self.estimator = SigmaEstimator(estimator, sigma_max)
        self.log_balance = nn.Parameter(torch.tensor(math.log(balance)))
        # gate > 0: the refinement's residual is scaled per colour channel by a small MLP of sigma
        # (2 x sigmoid, 1 at init), so it can switch off where Wiener is already near exact.
        self.gate = None
        if gate:
            self.gate = nn.Sequential(nn.Linear(1, gate), nn.LeakyReLU(slope), nn.Linear(gate, 3))
            nn.init.zeros_(self.gate[2].weight)
            nn.init.zeros_(self.gate[2].bias)
        # the deconvolution reads `radius` px around a pixel, the refinement its own halo around that
        self.halo = self.refine.halo + self.radius

    def balance(self) -> torch.Tensor:
        lo, hi = BALANCE_RANGE
        return self.log_balance.clamp(math.log(lo), math.log(hi)).exp()

    def estimate_sigma(self, x: torch.Tensor) -> torch.Tensor:
        """sigma (N,) of each whole image (N, 3, H, W) in [0, 1]."""
        return self.estimator.estimate_whole(x)

    def per_image(self, frames: np.ndarray,
                  kernel: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """The per-image input (the hook deblur.inference.Deblurrer calls once per image, on the
        whole uint8 (1, H, W, 3) input, before any tile or self-ensemble view is cut): the frames
        unchanged and ``sigma`` (1,), read from the true ``kernel`` when one is handed over (the
        ``+true_sigma`` oracle), else estimated on the whole image -- so every tile and view is told
        the same sigma (a tile's own estimate would differ from its neighbour's)."""
        if kernel is not None:
            return frames, {"sigma": torch.tensor([sigma_from_kernel(kernel)])}
        param = next(self.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.from_numpy(np.ascontiguousarray(frames[frames.shape[0] // 2])).to(device)
        with torch.inference_mode():
            return frames, {"sigma": self.estimate_sigma(x.permute(2, 0, 1)[None].float().div_(255.0)).float().cpu()}

    def deconvolve(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return wiener_deconvolve(x, sigma.clamp(0.0, self.sigma_max), self.balance(), self.radius)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float | None = None) -> torch.Tensor:
        if sigma is None:
            sigma = self.estimate_sigma(x)
        sigma = torch.as_tensor(sigma, device=x.device).reshape(-1).expand(x.shape[0])
        return self.refined(x, self.deconvolve(x, sigma), sigma)

    def refined(self, x: torch.Tensor, d: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The refinement of the deconvolved images d (N, 3, H, W) of x, told sigma (N,)."""
        d = d.to(x.dtype)
        y = self.refine(torch.cat([x, d], dim=1))
        if self.gate is None:
            return y
        g = 2.0 * torch.sigmoid(GATE_GAIN * self.gate((sigma.to(x.device, torch.float32) / self.sigma_max)[:, None]).float())
        return d + (y.float() - d) * g[:, :, None, None]

    def training_sigma(self, blurred: torch.Tensor, sharp: torch.Tensor, rng: np.random.Generator,
                       true: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(sigma to tell the restorer, the estimator's auxiliary loss or None) for one training
        batch (deblur/train.py calls this): the true sigma (``true``, else fitted from the pair),
        jittered; the estimator's error against it, times AUX_WEIGHT (None when the estimator is
        frozen or has nothing to train)."""
        if true is None:
            true = fit_sigma(blurred, sharp, self.sigma_max)
        true = true.to(blurred.device, torch.float32)
        trains = any(p.requires_grad for p in self.estimator.parameters())
        loss = self.estimator.training_loss(blurred, true) if trains else None
        aux = None if loss is None else AUX_WEIGHT * loss
        return jitter_sigma(true, rng, self.sigma_max), aux


# ----------------------------------------------------------------------------- reporting

SIGMA_BINS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0), (2.0, 2.5),
                                               (2.5, 3.0), (3.0, math.inf))


def estimator_report(pairs: Iterable[tuple[np.ndarray, float]], estimate: Callable[[np.ndarray], float],
                     bins: Sequence[tuple[float, float]] = SIGMA_BINS) -> list[dict[str, Any]]:
    """An estimator's error per true-sigma range on (uint8 (H, W, 3) blurred image, true sigma)
    pairs: one row per non-empty range [lo, hi) and a last row "all", each with n, mae (mean
    |estimate - true|, px), bias (mean estimate - true, px), rel_mae (mean |error| / true over
    true >= 0.5: what Wiener's loss depends on) and worst (largest |error|)."""
    truth, est = [], []
    for img, sigma in pairs:
        truth.append(float(sigma))
        est.append(float(estimate(img)))
    t, e = np.asarray(truth), np.asarray(est)
    rows = []
    groups = [(f"[{lo:g}, {hi:g})", (t >= lo) & (t < hi)) for lo, hi in bins] + [("all", np.ones_like(t, bool))]
    for label, mask in groups:
        if not mask.any():
            continue
        err = e[mask] - t[mask]
        big = mask & (t >= 0.5)
        rel = float((np.abs(e[big] - t[big]) / t[big]).mean()) if big.any() else float("nan")
        rows.append({"sigma": label, "n": int(mask.sum()), "mae": float(np.abs(err).mean()), "bias": float(err.mean()),
                     "rel_mae": rel, "worst": float(np.abs(err).max())})
    return rows


def format_report(rows: list[dict[str, Any]], title: str = "") -> str:
    """A Markdown table of ``estimator_report`` rows."""
    lines = [f"**{title}**", ""] if title else []
    lines += ["| true sigma | n | MAE (px) | bias (px) | rel. MAE (sigma >= 0.5) | worst (px) |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        rel = "" if math.isnan(r["rel_mae"]) else f"{100 * r['rel_mae']:.1f} %"
        lines.append(f"| {r['sigma']} | {r['n']} | {r['mae']:.3f} | {r['bias']:+.3f} | {rel} | {r['worst']:.2f} |")
    return "\n".join(lines)


def image_estimator(estimator: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[np.ndarray], float]:
    """Wrap a tensor estimator ((N, 3, H, W) -> (N,)) as uint8 (H, W, 3) -> float, no grad."""

    def estimate(img: np.ndarray) -> float:
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0
        with torch.inference_mode():
            return float(estimator(x)[0])

    return estimate
