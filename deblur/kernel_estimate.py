"""Blind estimation of a uniform blur kernel (PSF) from one photo, and measures of kernel accuracy.

The model is y = k * x + n: one unknown kernel k for the whole photo (camera shake, misfocus,
lens softness), a sharp latent image x, noise n. ``estimate_kernel`` finds k without any
parametric shape, the way classical blind deconvolution does it (written from the papers: Pan,
Hu, Su & Yang, "L0-regularized intensity and gradient prior for deblurring text images and
beyond", CVPR 2014 / TPAMI 2017; Anger, Facciolo & Delbracio, "Blind image deblurring using the
l0 gradient prior", IPOL 2019):

* the photo is turned grey in *linear light* (where a camera's blur happens) and the most
  textured window (CROP px, by gradient energy) is kept: a uniform blur is the same everywhere,
  and edges are what a kernel is read from. Clipped highlights (near white in the photo) are
  masked out of the kernel step with their neighbourhood: a clipped blob is not k * x.
* a total-variation denoise of the crop when its noise estimate is high, and on JPEG-blocky or
  noisy photos (``blockiness``, the noise estimate) the finest scale is left out and the kernel
  found one step coarser is scaled up: blocks and grain live at the finest scale and became
  spurious kernel mass there (bench: similarity 0.70 -> 0.73 on such photos; on clean ones the
  finest scale stays, 0.85 against 0.81);
* coarse to fine over a pyramid (factor sqrt 2): at a coarse scale a large blur is a small,
  well-posed kernel, and each scale starts from the previous kernel, upsampled. The Gaussian that
  makes a level is part of that level's forward model (see SCALE_STEP). At each scale ITERATIONS
  alternations of
  (a) latent step: min_x |k * x - y|^2 + lam (|grad x|_0 + INTENSITY |x|_0) by half-quadratic
      splitting (Xu et al. 2011; Pan et al.): auxiliary gradients / intensities are hard-
      thresholded, x is solved in closed form by FFT, the splitting weight doubles from 2 lam to
      BETA_MAX; lam falls by 1.1 per alternation to LAMBDA_MIN (IPOL's schedule). The L0 prior
      gives a latent made of sharp steps, which is what lets the kernel step see the blur;
  (b) kernel step: min_k |grad x * k - grad y|^2 + gamma |k|^2 over a window -- the least-squares
      problem of the papers, with the window as the kernel's support, solved by conjugate
      gradients on the gradients' autocorrelation (computed once by FFT) -- then positivity, small
      values dropped (below DROP x max), isolated pieces removed (connected components holding
      little mass), normalised to sum 1, re-centred on its centre of mass;
* the window is sized automatically: at the coarsest scale it covers MAX_SIZE (75 px at full
  scale); from there on it is what the kernel found so far needs (its support grown by the
  scale step, plus a margin), never more than MAX_SIZE. So a sharp photo is never fitted with a
  75 px window of noise, and a long shake can still grow to its length.

The result is a ``KernelEstimate``: the kernel (odd square, float64, sums to 1, x to the right,
y down, the convolution convention of ``deblur.blur.apply_kernel``), a verdict ("no blur",
"unsure", "kernel"), a confidence in [0, 1] and a one-line description ("straight shake, about
22 px at 135 degrees"). The estimate is made twice, on the two most textured windows (they
overlap by at most half): the confidence is how similar the two kernels are (a uniform blur is
found in both; what one window's content, noise or JPEG blocks make up is not). "no blur" when the
kernels keep NO_BLUR_MASS of their mass within 1 px of their centre (about a Gaussian of sigma
1.85 px or less: a photo's own softness, JPEG's, or a blur too small to be worth undoing);
"unsure" when the confidence is under UNSURE_BELOW. Everything is deterministic.

Accuracy measures, for benches with a known kernel: ``kernel_similarity`` (normalised cross-
correlation, best over shifts) and ``error_ratio`` (Levin et al. 2009: the error of the image
deconvolved with the estimated kernel over that with the true kernel, the same non-blind method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy import ndimage, signal
from skimage.restoration import denoise_tv_chambolle
from skimage.transform import resize

from deblur.baselines import Wiener, estimate_noise_std
from deblur.blur import srgb_to_linear

# ---------------------------------------------------------------------------------- parameters

MAX_SIZE = 75            # largest kernel side (px, at the photo's scale) that can be found
CROP = 320               # side of the textured window the kernel is estimated on
MIN_CROP = 96            # ... at least this when the photo has no room for two of CROP (half overlapping)
MAX_PIXELS = 2_000_000   # larger photos are estimated at reduced scale (kernel scaled back up)
SCALE_STEP = math.sqrt(2.0)
# Each coarser level is the crop smoothed by a Gaussian of (1/f - 1) / 2 px (skimage's anti-
# aliasing rule), i.e. (1 - f) / 2 px at that level, then resampled bilinearly. That Gaussian is put
# into the forward model of the level (y = k * g * x): left out, it was found as kernel at every
# coarse scale and, scaled up, kept by the alternation at the finer ones (a fixed point of it), so
# sharp photos came out with sigma 1-3 px kernels. Without any anti-aliasing instead, a blur along
# one direction (text_motion's vertical shake) aliases across it and was found 40 % short.
MIN_LEVEL_SIDE = 40      # the coarsest scale keeps at least this many px of the crop
MIN_WINDOW = 5           # the kernel window is never smaller (px at that scale)
ITERATIONS = 8           # alternations latent / kernel per scale
LAMBDA_START = 4e-3      # L0 weight (IPOL: 4e-3, divided by 1.1 per alternation, down to 1e-4)
LAMBDA_DECAY = 1.1
LAMBDA_MIN = 3e-3        # higher than IPOL's 1e-4, for JPEG and sensor noise (similarity +0.04)
INTENSITY = 0.0          # weight of Pan's |x|_0 term (for text); 1 gained nothing measurable on photos
BETA_MAX = 1e5           # half-quadratic splitting: beta from 2 lam up to this ...
KAPPA = 2.0              # ... times KAPPA per step
GAMMA = 0.005            # kernel Tikhonov weight, relative to the latent's mean gradient energy
                         # (0.05 spread a sharp photo's delta into a cross along its edges)
CG_ITERATIONS = 25
DROP = 0.05              # kernel entries under this fraction of the peak are dropped (IPOL: 5 %)
PIECE_MASS = 0.1         # connected pieces with less than this fraction of the mass are removed
SATURATED = 250.0 / 255.0  # sRGB level taken as clipped
DEGRADED_FINEST = 1 / math.sqrt(2.0)  # finest scale on JPEG-blocky or noisy photos (else 1)
BLOCKY = 0.2             # JPEG blockiness (``blockiness``) above which a photo counts as degraded
NOISY = 1.5 / 255.0      # ... and noise std (sRGB grey, on the crop) above which
NOISE_DENOISE = 0.01     # above this noise std (on the normalised linear crop) the crop is TV-denoised
TV_WEIGHT = 3.0          # TV weight = this x the noise std
NO_BLUR_EXTENT = 2.5     # px: a kernel whose support is no longer than this is "no blur" ...
NO_BLUR_MASS = 0.35      # ... and so is one with this much of its mass within 1 px of its centre
                         # (a Gaussian of sigma 1.85; set on the tuning photos of the bench)
UNSURE_BELOW = 0.7       # confidence under this is "unsure"
ONE_WINDOW = 0.5         # the confidence when the photo holds only one window (nothing to compare)

VERDICTS = ("no blur", "unsure", "kernel")


@dataclass(frozen=True)
class KernelEstimate:
    """What ``estimate_kernel`` found in one photo.

    kernel: float64 (k, k), k odd, non-negative, sums to 1, x to the right and y down, centred on
    its centre of mass; convolution convention of ``deblur.blur.apply_kernel`` ([[1.]] when no
    blur is found). confidence: in [0, 1], how far the estimate is to be trusted. verdict: "no
    blur", "unsure" or "kernel". description: one line for people. shape: "none", "line", "disc",
    "gaussian" or "shake"; size: its length (line, shake), radius (disc) or sigma (gaussian) in
    px; angle: degrees of a line or an elongated blur, 0 = horizontal, 90 = vertical, y down
    (``deblur.blur.linear_motion_kernel``'s convention), else None. crop: (top, left, height,
    width) of the window the kernel was estimated on, in the photo's pixels. found: the kernel as
    estimated, before the verdict (for "no blur" the small kernel that ``kernel`` replaces by a
    delta; benches measure both).
    """

    kernel: np.ndarray = field(repr=False)
    confidence: float
    verdict: str
    description: str
    shape: str = "none"
    size: float = 0.0
    angle: float | None = None
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    found: np.ndarray | None = field(default=None, repr=False)


# ------------------------------------------------------------------------------- public entry


def estimate_kernel(image: np.ndarray, max_size: int = MAX_SIZE, second_opinion: bool = True) -> KernelEstimate:
    """Estimate the uniform blur kernel of a photo (blind), with a verdict and a confidence.

    image: (H, W, 3) or (H, W), uint8 or float in [0, 1], sRGB, at least 48 px a side.
    max_size: the largest kernel side looked for (px; odd, 5 to 255).
    second_opinion: estimate again on a second textured window and derive the confidence from
    the agreement (about twice the time); False skips it (confidence ONE_WINDOW).
    """
    img = _as_float(image)
    if min(img.shape[:2]) < 48:
        raise ValueError(f"estimate_kernel needs at least 48x48 px, got {img.shape[1]}x{img.shape[0]}")
    max_size = int(max_size) | 1
    if not 5 <= max_size <= 255:
        raise ValueError(f"max_size must be 5 to 255 px, got {max_size}")
    rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
    scale = 1.0
    if rgb.shape[0] * rgb.shape[1] > MAX_PIXELS:  # a kernel read at reduced scale, scaled back up
        scale = math.sqrt(MAX_PIXELS / (rgb.shape[0] * rgb.shape[1]))
        rgb = resize(rgb, (round(rgb.shape[0] * scale), round(rgb.shape[1] * scale)), order=1,
                     anti_aliasing=True).astype(np.float32)
    lin = srgb_to_linear(rgb)
    grey = (0.2126 * lin[:, :, 0] + 0.7152 * lin[:, :, 1] + 0.0722 * lin[:, :, 2]).astype(np.float64)
    clipped = rgb.max(axis=2) >= SATURATED
    size_here = max(5, int(round(max_size * scale)) | 1)
    srgb_grey = rgb.mean(axis=2)
    side = min(CROP, *grey.shape)
    if second_opinion and max(grey.shape) < 1.5 * side:  # two windows overlapping by <= half must fit
        side = max(min(MIN_CROP, side), int(max(grey.shape) / 1.5))
    windows = textured_windows(srgb_grey, clipped, side, 2 if second_opinion else 1)
    blocky = scale == 1.0 and blockiness(srgb_grey) > BLOCKY
    kernels = []
    for t, l, h, w in windows:
        noisy = estimate_noise_std(srgb_grey[t:t + h, l:l + w]) > NOISY
        finest = DEGRADED_FINEST if (blocky or noisy) else 1.0
        kernels.append(estimate_on_crop(grey[t:t + h, l:l + w], clipped[t:t + h, l:l + w], size_here,
                                        finest=finest))
    kernel = kernels[0]
    if scale != 1.0:
        kernel = _rescale_kernel(kernel, 1.0 / scale)
        kernels = [kernel] + [_rescale_kernel(k, 1.0 / scale) for k in kernels[1:]]
    confidence = confidence_from(kernels[0], kernels[1] if len(kernels) > 1 else None)
    t, l, h, w = (round(v / scale) for v in windows[0])
    return describe(kernel, confidence, crop=(t, l, h, w),
                    concentrated=float(np.mean([concentration(k) for k in kernels])))


# ----------------------------------------------------------------------------- crop selection


def blockiness(grey: np.ndarray) -> float:
    """JPEG blockiness of a grey (H, W) image whose 8 x 8 block grid starts at (0, 0): mean absolute
    step across block borders over the mean step elsewhere, minus 1. About 0 for a photo never
    JPEG-compressed (or at quality 95), 0.3-1.6 for a blurred photo saved at quality 30-90 (a
    blurred photo has few steps of its own, so the blocks' stand out)."""
    g = np.asarray(grey, dtype=np.float64)
    if min(g.shape) < 16:
        return 0.0
    dx = np.abs(np.diff(g, axis=1))
    dy = np.abs(np.diff(g, axis=0))
    border = dx[:, 7::8].mean() + dy[7::8].mean()
    other = np.delete(dx, np.s_[7::8], axis=1).mean() + np.delete(dy, np.s_[7::8], axis=0).mean()
    return float(border / max(other, 1e-12) - 1.0)



def textured_windows(grey: np.ndarray, clipped: np.ndarray, side: int, count: int = 2
                     ) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` disjoint (top, left, side, side) windows of a grey image, most textured first.

    Texture = mean squared gradient of the image smoothed by a 1 px Gaussian (so sensor noise
    and JPEG grain do not count as texture), over windows with at most 10 % clipped pixels.
    Windows are searched on a grid of side / 8 px; each must be at least side / 2 px away from
    those chosen before in one direction (they overlap by at most half; when the photo has no
    room for another, fewer are returned).
    """
    h, w = grey.shape
    side = min(side, h, w)
    g = ndimage.gaussian_filter(grey.astype(np.float64), 1.0)
    energy = np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1)) ** 2
    step = max(1, side // 8)
    tops = sorted(set(list(range(0, h - side + 1, step)) + [h - side]))
    lefts = sorted(set(list(range(0, w - side + 1, step)) + [w - side]))
    # window sums from an integral image
    ie = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    ic = np.pad(clipped.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    t = np.array(tops)[:, None]
    l = np.array(lefts)[None, :]

    def box(ii: np.ndarray) -> np.ndarray:
        return ii[t + side, l + side] - ii[t, l + side] - ii[t + side, l] + ii[t, l]

    score = box(ie) / side**2
    score[box(ic) > 0.1 * side**2] = -1.0
    order = np.argsort(score, axis=None)[::-1]
    pos = [(int(tops[i]), int(lefts[j])) for i, j in zip(*np.unravel_index(order, score.shape))]
    val = score.ravel()[order]

    def apart(a: tuple[int, int], b: tuple[int, int]) -> bool:
        return 2 * abs(a[0] - b[0]) >= side or 2 * abs(a[1] - b[1]) >= side

    chosen: list[tuple[int, int]] = []
    for p in pos:  # greedy: the most textured first, then the best one far enough from those
        if all(apart(p, c) for c in chosen):
            chosen.append(p)
        if len(chosen) == count:
            break
    if count >= 2 and len(chosen) < 2:  # the best one left no room: the best pair instead
        top = min(len(pos), 200)
        pairs = [(min(val[a], val[b]), a, b) for a in range(top) for b in range(a + 1, top) if apart(pos[a], pos[b])]
        if pairs:
            _, a, b = max(pairs)
            chosen = [pos[a], pos[b]]
    chosen = [(t_, l_, side, side) for t_, l_ in chosen]
    return chosen


# ---------------------------------------------------------------------------- the estimator


def estimate_on_crop(grey: np.ndarray, clipped: np.ndarray | None = None, max_size: int = MAX_SIZE,
                     iterations: int | None = None, finest: float = 1.0) -> np.ndarray:
    """The kernel of one grey crop in linear light (H, W) float: coarse to fine, see the module.

    clipped: (H, W) bool, pixels that were at white (masked from the kernel step with their
    neighbourhood). finest: the finest scale worked on (1 = the crop's own; below 1 the kernel
    found there is scaled up: JPEG blocks and noise live at the finest scale). Returns the
    kernel, odd square, sums to 1, cropped to its support.
    """
    iterations = ITERATIONS if iterations is None else iterations
    y = np.asarray(grey, dtype=np.float64)
    lo, hi = np.percentile(y, 0.5), np.percentile(y, 99.5)
    y = (y - lo) / max(hi - lo, 1e-6)  # contrast normalised: lam means the same on dark photos
    clipped = np.zeros(y.shape, bool) if clipped is None else clipped
    noise = estimate_noise_std(y)
    if noise > NOISE_DENOISE:
        y = denoise_tv_chambolle(y, weight=TV_WEIGHT * noise)
    levels = _levels(min(y.shape), max_size)
    levels = [f for f in levels if f <= finest + 1e-6] or levels[:1]
    k = np.ones((1, 1))
    lam = LAMBDA_START
    window = _odd(max_size * levels[0])
    for n, f in enumerate(levels):
        shape = (max(8, round(y.shape[0] * f)), max(8, round(y.shape[1] * f)))
        ys = _downscale(y, shape, f)
        cs = resize(clipped.astype(float), shape, order=1, anti_aliasing=f < 1.0) > 0.01 if f < 1.0 else clipped
        cap = _odd(max_size * f)
        if n > 0:  # what the kernel found so far needs, grown by the scale step, plus a margin
            window = min(cap, max(MIN_WINDOW, _odd(_extent(k) * SCALE_STEP * 1.5 + 4)))
            k = _fit_window(_rescale_kernel(k, SCALE_STEP), window)
        else:
            window = min(cap, max(MIN_WINDOW, window))
            k = _fit_window(k, window)
        k, lam = _one_scale(ys, cs, k, lam, iterations, resample_sigma=(1.0 - f) / 2.0)
    if levels[-1] < 1.0:
        k = _rescale_kernel(k, 1.0 / levels[-1])
    return _crop_to_support(k)


def _downscale(y: np.ndarray, shape: tuple[int, int], f: float) -> np.ndarray:
    """One pyramid level at scale f: a Gaussian of (1/f - 1) / 2 px, then bilinear resampling."""
    if f >= 1.0:
        return y
    return resize(ndimage.gaussian_filter(y, (1.0 / f - 1.0) / 2.0, mode="mirror"), shape, order=1,
                  anti_aliasing=False)


def _levels(side: int, max_size: int) -> list[float]:
    """Scale factors, coarsest first: down to a window of MIN_WINDOW or a crop of MIN_LEVEL_SIDE."""
    n = 1
    while max_size / SCALE_STEP**n >= MIN_WINDOW and side / SCALE_STEP**n >= MIN_LEVEL_SIDE:
        n += 1
    return [SCALE_STEP ** -(n - 1 - i) for i in range(n)]


def _one_scale(y: np.ndarray, clipped: np.ndarray, k: np.ndarray, lam: float, iterations: int,
               resample_sigma: float = 0.0) -> tuple[np.ndarray, float]:
    """Alternate latent and kernel steps on one scale; returns (kernel, the L0 weight reached).

    resample_sigma: the Gaussian (px at this scale) that making this level added to the photo; it
    is part of the forward model (y = k * g * x), so the kernel found is the photo's alone."""
    s = k.shape[0]
    pad = max(s, 8)
    yp, inside = _pad_taper(y, pad)
    g = None
    if resample_sigma > 0.05:
        r = int(math.ceil(3 * resample_sigma))
        g = np.exp(-0.5 * (np.arange(-r, r + 1) / resample_sigma) ** 2)
        g = np.outer(g, g) / np.outer(g, g).sum()
    # Kernel-step data mask: inside the crop and away from clipped highlights (by the window).
    valid = inside.copy()
    if clipped.any():
        near = ndimage.binary_dilation(clipped, np.ones((s, s), bool))
        valid[pad:pad + y.shape[0], pad:pad + y.shape[1]] &= ~near
    for _ in range(iterations):
        x = latent_l0(yp, signal.fftconvolve(k, g) if g is not None else k, lam)
        lam = max(lam / LAMBDA_DECAY, LAMBDA_MIN)
        if g is not None:
            x = ndimage.gaussian_filter(x, resample_sigma, mode="wrap")
        k = _clean(kernel_ls(x, yp, k, valid))
    return k, lam


def latent_l0(y: np.ndarray, k: np.ndarray, lam: float, intensity: float | None = None) -> np.ndarray:
    """min_x |k * x - y|^2 + lam (|grad x|_0 + intensity |x|_0), half-quadratic splitting.

    y: (H, W) float (periodic: pad and taper it first); k: the kernel (odd square). Circular
    forward differences; beta from 2 lam to BETA_MAX, doubling; each step hard-thresholds the
    gradients (kept where |g|^2 >= lam / beta) and solves x by FFT.
    """
    intensity = INTENSITY if intensity is None else intensity
    shape = y.shape
    y = y.astype(np.float32)  # float32 FFTs: twice as fast, and far below the noise
    kf = _otf(k, shape).astype(np.complex64)
    dx = _otf(np.array([[0.0, -1.0, 1.0]]), shape)   # x[i+1] - x[i] as a convolution
    dy = _otf(np.array([[0.0], [-1.0], [1.0]]), shape)
    yf = sfft.rfft2(y, workers=-1)
    num0 = np.conj(kf) * yf
    den0 = (np.abs(kf) ** 2).astype(np.float32)
    dd = (np.abs(dx) ** 2 + np.abs(dy) ** 2).astype(np.float32)
    x = y.copy()
    beta = 2.0 * lam
    while beta < BETA_MAX:
        gx = np.roll(x, -1, axis=1) - x
        gy = np.roll(x, -1, axis=0) - x
        small = gx * gx + gy * gy < lam / beta
        gx[small] = 0.0
        gy[small] = 0.0
        # D^T g for forward differences: g[i-1] - g[i]
        dtg = np.roll(gx, 1, axis=1) - gx + np.roll(gy, 1, axis=0) - gy
        num = num0 + beta * sfft.rfft2(dtg, workers=-1)
        den = den0 + beta * dd
        if intensity > 0:
            u = np.where(x * x >= intensity * lam / beta, x, 0.0)
            num = num + beta * sfft.rfft2(u, workers=-1)
            den = den + beta
        x = sfft.irfft2(num / den, s=shape, workers=-1)
        beta *= KAPPA
    return x.astype(np.float64)


def kernel_ls(x: np.ndarray, y: np.ndarray, k0: np.ndarray, valid: np.ndarray | None = None,
              gamma: float | None = None, iterations: int | None = None) -> np.ndarray:
    """min_k |grad x * k - grad y|^2 + gamma E |k|^2 over k0's window, by conjugate gradients.

    x, y: (H, W) latent and blurred (padded alike); k0: the current kernel (its window and the
    start); valid: (H, W) bool, where y's gradients are data. Elsewhere they are replaced by
    grad x * k0 (the current model's prediction), so masked pixels neither pull the kernel nor
    shrink it. E = the mean squared gradient of x makes gamma independent of the contrast.
    Returns the raw least-squares kernel (not yet positive or normalised).
    """
    gamma = GAMMA if gamma is None else gamma
    iterations = CG_ITERATIONS if iterations is None else iterations
    shape = x.shape
    s = k0.shape[0]
    r = s // 2
    gx = [np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=0) - x]
    gy = [np.roll(y, -1, axis=1) - y, np.roll(y, -1, axis=0) - y]
    gxf = [sfft.rfft2(g, workers=-1) for g in gx]
    kf = _otf(k0, shape)
    if valid is not None and not valid.all():
        for i in range(2):
            pred = sfft.irfft2(gxf[i] * kf, s=shape, workers=-1)
            gy[i] = np.where(valid, gy[i], pred)
    gyf = [sfft.rfft2(g, workers=-1) for g in gy]
    n = x.size
    a = (np.abs(gxf[0]) ** 2 + np.abs(gxf[1]) ** 2) / n
    b = (np.conj(gxf[0]) * gyf[0] + np.conj(gxf[1]) * gyf[1]) / n
    energy = float(np.mean(gx[0] ** 2 + gx[1] ** 2))
    reg = gamma * max(energy, 1e-12)
    # The normal operator is a correlation of k with the gradients' autocorrelation R: only R's
    # offsets within +-2r matter, so CG runs on small arrays instead of image-sized FFTs.
    rows = np.arange(-2 * r, 2 * r + 1) % shape[0]
    cols = np.arange(-2 * r, 2 * r + 1) % shape[1]
    auto = sfft.irfft2(a, s=shape, workers=-1)[np.ix_(rows, cols)]
    rhs = sfft.irfft2(b, s=shape, workers=-1)[np.ix_(rows[r:3 * r + 1], cols[r:3 * r + 1])]

    def apply(k: np.ndarray) -> np.ndarray:
        return signal.fftconvolve(auto, k, mode="valid") + reg * k

    k = k0.copy()
    res = rhs - apply(k)
    p = res.copy()
    rr = float((res * res).sum())
    stop = 1e-10 * float((rhs * rhs).sum())
    for _ in range(iterations):
        if rr <= stop:
            break
        ap = apply(p)
        alpha = rr / float((p * ap).sum())
        k = k + alpha * p
        res = res - alpha * ap
        rr_new = float((res * res).sum())
        p = res + (rr_new / rr) * p
        rr = rr_new
    return k


def _clean(k: np.ndarray) -> np.ndarray:
    """Positivity, small values dropped, isolated pieces removed, sum 1, re-centred."""
    k = np.clip(k, 0.0, None)
    if k.max() <= 0:
        out = np.zeros_like(k)
        out[k.shape[0] // 2, k.shape[1] // 2] = 1.0
        return out
    k[k < DROP * k.max()] = 0.0
    labels, count = ndimage.label(k > 0, structure=np.ones((3, 3)))
    if count > 1:
        mass = ndimage.sum(k, labels, index=np.arange(1, count + 1))
        keep = np.flatnonzero(mass >= PIECE_MASS * mass.sum()) + 1
        if keep.size == 0:
            keep = np.array([int(np.argmax(mass)) + 1])
        k = np.where(np.isin(labels, keep), k, 0.0)
    k /= k.sum()
    return _recentre(k)


def _recentre(k: np.ndarray) -> np.ndarray:
    """Shift a kernel by whole pixels so its centre of mass is at the window's centre."""
    c = k.shape[0] // 2
    cy, cx = ndimage.center_of_mass(k)
    dy, dx = int(round(c - cy)), int(round(c - cx))
    if dy == 0 and dx == 0:
        return k
    out = ndimage.shift(k, (dy, dx), order=0, mode="constant", cval=0.0)
    return out / out.sum() if out.sum() > 0 else k


# ---------------------------------------------------------------------------- kernel helpers


def _odd(v: float) -> int:
    return max(1, int(math.ceil(v)) | 1)


def _otf(k: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """rfft2 of a kernel placed with its centre (index k // 2) at the origin of an (H, W) grid."""
    kh, kw = k.shape
    big = np.zeros(shape)
    big[:kh, :kw] = k
    big = np.roll(big, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(big, workers=-1)


def _pad_taper(y: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Reflect-pad by ``pad`` (plus up to a fast FFT size) and taper the pad to the mean, so the
    periodic extension has no edge jump; returns (padded, mask of the original pixels)."""
    h, w = y.shape
    hp = sfft.next_fast_len(h + 2 * pad, real=True)
    wp = sfft.next_fast_len(w + 2 * pad, real=True)
    pads = ((pad, hp - h - pad), (pad, wp - w - pad))
    out = np.pad(y, pads, mode="reflect")

    def ramp(n: int) -> np.ndarray:
        return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)

    wy = np.concatenate([ramp(pads[0][0]), np.ones(h), ramp(pads[0][1])[::-1]])
    wx = np.concatenate([ramp(pads[1][0]), np.ones(w), ramp(pads[1][1])[::-1]])
    weight = np.outer(wy, wx)
    out = weight * out + (1.0 - weight) * y.mean()
    inside = np.zeros((hp, wp), bool)
    inside[pad:pad + h, pad:pad + w] = True
    return out, inside


def _fit_window(k: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop or zero-pad an odd square kernel to ``size`` (odd), renormalised."""
    s = k.shape[0]
    if s > size:
        o = (s - size) // 2
        k = k[o:o + size, o:o + size]
    elif s < size:
        o = (size - s) // 2
        k = np.pad(k, o)
    total = k.sum()
    if total <= 0:
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1.0
        return k
    return k / total


def _rescale_kernel(k: np.ndarray, factor: float) -> np.ndarray:
    """A kernel as seen at ``factor`` x the scale (bilinear), odd square, centred, sums to 1."""
    if k.shape == (1, 1) and factor <= 1.5:
        return k
    size = _odd(k.shape[0] * factor)
    c_in = (k.shape[0] - 1) / 2.0
    c_out = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    coords = [(yy - c_out) / factor + c_in, (xx - c_out) / factor + c_in]
    out = ndimage.map_coordinates(k, coords, order=1, mode="constant", cval=0.0)
    out = np.clip(out, 0.0, None)
    if out.sum() <= 0:
        out = np.zeros((size, size))
        out[size // 2, size // 2] = 1.0
    return _recentre(out / out.sum())


def _support(k: np.ndarray) -> np.ndarray:
    return k > DROP * k.max()


def _extent(k: np.ndarray) -> float:
    """Longest extent of a kernel's support (px): the largest distance between two of its
    pixels, plus one."""
    ys, xs = np.nonzero(_support(k))
    if len(ys) < 2:
        return 1.0
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    if len(pts) > 400:  # the farthest pair lies on the hull of the support
        from scipy.spatial import ConvexHull

        try:
            pts = pts[ConvexHull(pts).vertices]
        except Exception:  # degenerate (collinear) support: the extremes are enough
            pts = pts[[np.argmin(pts[:, 0]), np.argmax(pts[:, 0]), np.argmin(pts[:, 1]), np.argmax(pts[:, 1])]]
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)).max()
    return float(d) + 1.0


def _crop_to_support(k: np.ndarray) -> np.ndarray:
    """The smallest odd square around the centre holding the support (plus 1 px of margin)."""
    c = k.shape[0] // 2
    ys, xs = np.nonzero(k > 0)
    if len(ys) == 0:
        return np.ones((1, 1))
    r = int(max(np.abs(ys - c).max(), np.abs(xs - c).max()))
    if r == 0:
        return np.ones((1, 1))
    r = min(r + 1, c)
    out = k[c - r:c + r + 1, c - r:c + r + 1]
    return out / out.sum()


def _as_float(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


# --------------------------------------------------------------------- verdict and description


def kernel_moments(k: np.ndarray) -> tuple[float, float, float]:
    """(sigma along the major axis, sigma along the minor axis, major-axis angle in degrees
    [0, 180), y down) from the kernel's second moments."""
    ys, xs = np.mgrid[0:k.shape[0], 0:k.shape[1]].astype(np.float64)
    m = k / k.sum()
    cx, cy = (m * xs).sum(), (m * ys).sum()
    cxx = (m * (xs - cx) ** 2).sum()
    cyy = (m * (ys - cy) ** 2).sum()
    cxy = (m * (xs - cx) * (ys - cy)).sum()
    vals, vecs = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    major = vecs[:, 1]
    angle = math.degrees(math.atan2(major[1], major[0])) % 180.0
    return math.sqrt(max(vals[1], 0.0)), math.sqrt(max(vals[0], 0.0)), angle


def concentration(k: np.ndarray) -> float:
    """The kernel's mass within 1 px of its centre of mass (a 3 x 3 square): 1 for a delta, 0.6 for a
    Gaussian of sigma 0.8, under 0.3 for any blur worth undoing."""
    if k.size == 1:
        return 1.0
    cy, cx = (int(round(v)) for v in ndimage.center_of_mass(k))
    return float(k[max(0, cy - 1):cy + 2, max(0, cx - 1):cx + 2].sum() / k.sum())


def classify(k: np.ndarray, concentrated: float | None = None) -> tuple[str, float, float | None]:
    """(shape, size, angle) of a kernel: "none" (support <= NO_BLUR_EXTENT px, or ``concentrated``
    -- default the kernel's concentration() -- at least NO_BLUR_MASS), "line" (thin and elongated:
    length from the second moment of a uniform segment, sqrt 12 sigma), "disc" (round, mass out to
    a rim: radius 2 sigma), "gaussian" (round, or elliptical: sigma along the major axis), else
    "shake" (size = its longest extent)."""
    extent = _extent(k)
    concentrated = concentration(k) if concentrated is None else concentrated
    if k.shape == (1, 1) or extent <= NO_BLUR_EXTENT or concentrated >= NO_BLUR_MASS:
        return "none", 0.0, None
    s1, s2, angle = kernel_moments(k)
    if s2 < 0.35 * s1 and s2 < 2.0:
        return "line", math.sqrt(12.0) * s1, angle
    if s2 > 0.75 * s1:
        # a disc holds its mass out to its rim (90 % within 1.34 x the radius holding half),
        # a Gaussian has tails (1.82 x)
        ys, xs = np.mgrid[0:k.shape[0], 0:k.shape[1]].astype(np.float64)
        cy, cx = ndimage.center_of_mass(k)
        r = np.hypot(ys - cy, xs - cx).ravel()
        order = np.argsort(r)
        cum = np.cumsum(k.ravel()[order]) / k.sum()
        r50, r90 = r[order][np.searchsorted(cum, 0.5)], r[order][np.searchsorted(cum, 0.9)]
        if r90 < 1.55 * max(r50, 1e-6):
            return "disc", 2.0 * s1, None
        return "gaussian", s1, None
    if s2 > 0.45 * s1 and concentration(k) > 0.05:
        return "gaussian", s1, angle
    return "shake", extent, None


def describe(kernel: np.ndarray, confidence: float, crop: tuple[int, int, int, int] = (0, 0, 0, 0),
             concentrated: float | None = None) -> KernelEstimate:
    """A KernelEstimate for a kernel and its confidence: shape, verdict, one line for people.

    concentrated: the concentration() to judge "no blur" by (default: the kernel's own;
    ``estimate_kernel`` passes the mean over its windows, steadier than one)."""
    shape, size, angle = classify(kernel, concentrated)
    angle = None if angle is None else float(round(angle) % 180)
    if shape == "none":
        return KernelEstimate(np.ones((1, 1)), float(confidence), "no blur", "no blur found", shape, 0.0, None, crop,
                              found=kernel)
    if shape == "line":
        text = f"straight shake, about {size:.0f} px at {angle:.0f} degrees"
    elif shape == "disc":
        text = f"defocus disc, about {size:.0f} px radius"
    elif shape == "gaussian":
        text = (f"soft blur, sigma about {size:.1f} px" if angle is None
                else f"elongated soft blur, sigma about {size:.1f} px at {angle:.0f} degrees")
    else:
        text = f"camera shake, about {size:.0f} px"
    verdict = "kernel" if confidence >= UNSURE_BELOW else "unsure"
    if verdict == "unsure":
        text += " (unsure)"
    return KernelEstimate(kernel, float(confidence), verdict, text, shape, float(size), angle, crop, found=kernel)


def confidence_from(kernel: np.ndarray, second: np.ndarray | None) -> float:
    """Confidence in [0, 1] of a kernel estimate: its similarity (``kernel_similarity``) with a second
    estimate from another window -- a uniform blur is the same in both windows, while what one
    window's content, noise or JPEG blocks make up is not. Without a second estimate (a photo too
    small for two windows) ONE_WINDOW: nothing could be checked."""
    if second is None:
        return ONE_WINDOW
    if kernel.shape == (1, 1) and second.shape == (1, 1):
        return 1.0
    return float(np.clip(kernel_similarity(kernel, second), 0.0, 1.0))


# ---------------------------------------------------------------------------- accuracy measures


def kernel_similarity(estimate: np.ndarray, true: np.ndarray) -> float:
    """Normalised cross-correlation of two kernels, best over all integer shifts, in [0, 1] for
    non-negative kernels (1 = the same shape up to a shift). Sizes may differ."""
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(true, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(signal.correlate(a, b, mode="full", method="direct" if a.size * b.size < 1e6 else "fft").max()
                 / (na * nb))


def error_ratio(sharp: np.ndarray, blurred: np.ndarray, estimate: np.ndarray, true: np.ndarray,
                deconvolve=None, max_shift: int | None = None) -> float:
    """Levin et al.'s (2009) error ratio: SSD(deconvolved with the estimate, sharp) over
    SSD(deconvolved with the true kernel, sharp), the same non-blind deconvolution for both.

    sharp, blurred: (H, W, 3) float in [0, 1] (or uint8). deconvolve: (uint8 image, kernel) ->
    uint8 image; default ``deblur.baselines.Wiener()`` (balance from the noise estimate). The
    SSD with the estimate is the best over integer shifts up to ``max_shift`` px (default: a
    quarter of the larger kernel, at least 2), since a blind kernel is only known up to a shift;
    both SSDs are taken on the interior (a border of ``max_shift`` px left out).
    """
    deconvolve = Wiener() if deconvolve is None else deconvolve
    to_u8 = (lambda a: a if a.dtype == np.uint8 else np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8))
    s = to_u8(np.asarray(sharp)).astype(np.float64) / 255.0
    b = to_u8(np.asarray(blurred))
    if max_shift is None:
        max_shift = max(2, max(estimate.shape[0], true.shape[0]) // 4)
    m = max_shift
    inner = s[m:s.shape[0] - m, m:s.shape[1] - m]
    out_true = deconvolve(b, true).astype(np.float64) / 255.0
    ssd_true = float(((out_true[m:-m or None, m:-m or None] - inner) ** 2).sum())
    out_est = deconvolve(b, estimate).astype(np.float64) / 255.0
    best = np.inf
    h, w = inner.shape[:2]
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            part = out_est[m + dy:m + dy + h, m + dx:m + dx + w]
            best = min(best, float(((part - inner) ** 2).sum()))
    return best / max(ssd_true, 1e-12)
