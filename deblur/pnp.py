"""Non-blind deconvolution with a learned prior: plug-and-play half-quadratic splitting (DPIR).

Given the blurred photo y and its PSF k, HQS alternates two easy problems (Zhang et al., "Plug-
and-Play Image Restoration with Deep Denoiser Prior", 2021):

    data step     x_i = argmin_x |y - k * x|^2 + rho_i |x - z_{i-1}|^2      (closed form by FFT)
    prior step    z_i = D(x_i, sigma_i)                                      (the trained denoiser)

with the denoiser's level sigma_i falling log-uniformly from SIGMA_START (49/255) to the
photo's own noise level over ``iterations`` steps and rho_i = LAMBDA * sigma_n^2 / sigma_i^2.
Wiener is the data step alone with a fixed rho: it has no idea what a photo looks like, so
wherever the kernel's spectrum has zeros (discs, lines, shake) it amplifies noise and JPEG
blocks; the denoiser removes those between data steps.

Physics kept (each measured in bench/pnp_probe.py and the boards):
* linear light (``light="linear"``): the data step runs on linearised values, where a camera's
  blur happened; the denoiser always sees sRGB, as it was trained;
* the photo's border and clipped highlights: the latent image lives on a canvas larger than the
  photo, and only the photo's own unclipped pixels enter the data term (masked, solved by
  conjugate gradients; see ``hqs``);
* noise level: estimated from the photo (``deblur.baselines.estimate_noise_std``), at least
  NOISE_FLOOR (8-bit rounding and mild JPEG).

Frames: a three-frame input (F, H, W, 3) uses its middle frame; ``restore_views`` takes
several aligned views with one kernel each and solves one data step over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
import torch
import torch.nn.functional as F
from skimage.restoration import uft

from deblur import multiframe as M
from deblur.baselines import estimate_noise_std, middle_frame, pad_for_deconvolution, prepare_kernel
from deblur.blur import linear_to_srgb, srgb_to_linear
from deblur.denoiser import MAX_LEVEL, DenoiserUNet
from deblur.io import to_float, to_uint8

SIGMA_START = 49.0 / 255.0
LAMBDA = 0.1             # the data / prior trade-off (DPIR's 0.23; 0.1 measured best, see PnPDeconvolution)
NOISE_FLOOR = 1.0 / 255.0
RESIDUAL_LEVEL = 10.0 / 255.0  # PnPDeconvolution.noise_level("denoiser") asks the prior at this level
ITERATIONS = 8
CG_STEPS = 6  # conjugate-gradient steps of each masked data step
SATURATED = 254.5 / 255.0
TILE_PIXELS = 2_500_000  # the denoiser runs larger images in tiles (bounded memory)
TILE = 1024


def denoise(model: DenoiserUNet, img: np.ndarray, level: float) -> np.ndarray:
    """``model`` on an (H, W, 3) float image at noise ``level``: padded to its multiple, in tiles
    (each with ``model.halo`` px of context) when it is large."""
    h, w = img.shape[:2]
    if h * w > TILE_PIXELS:
        out = np.empty_like(img)
        halo = model.halo
        for y in range(0, h, TILE):
            for x in range(0, w, TILE):
                # context starts on the network's grid (2^levels), so pooling sees the same cells
                m = model.multiple
                y0, x0 = max(0, (y - halo) // m * m), max(0, (x - halo) // m * m)
                y1, x1 = min(h, y + TILE + halo), min(w, x + TILE + halo)
                part = _denoise_whole(model, img[y0:y1, x0:x1], level)
                out[y:y + TILE, x:x + TILE] = part[y - y0:y - y0 + min(TILE, h - y), x - x0:x - x0 + min(TILE, w - x)]
        return out
    return _denoise_whole(model, img, level)


def _denoise_whole(model: DenoiserUNet, img: np.ndarray, level: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = model.multiple
    ph, pw = (-h) % m, (-w) % m
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    if ph or pw:
        t = F.pad(t, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    t = t.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = model(t, torch.tensor([float(level)]))
    return out[0, :, :h, :w].permute(1, 2, 0).numpy().astype(np.float64)


def _otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return uft.ir2tf(kernel, shape, is_real=True)


def extend(img: np.ndarray, kernel_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """The canvas the latent image lives on: ``img`` reflect-padded by the kernel's size on every
    side (the scene that blurred into the border lies out there), to fast FFT sizes. Returns
    (canvas, observed mask (H', W', 1): True on the photo's own pixels, crop back)."""
    h, w = img.shape[:2]
    p = max(kernel_shape)
    hp, wp = sfft.next_fast_len(h + 2 * p, real=True), sfft.next_fast_len(w + 2 * p, real=True)
    pads = ((p, hp - h - p), (p, wp - w - p))
    canvas = np.pad(img, (*pads, (0, 0)), mode="symmetric")
    observed = np.zeros((hp, wp, 1), dtype=bool)
    observed[p:p + h, p:p + w] = True
    return canvas, observed, (slice(p, p + h), slice(p, p + w))


def hqs(views: list[np.ndarray], kernels: list[np.ndarray], model: DenoiserUNet, *, noise: float,
        iterations: int = ITERATIONS, lam: float = LAMBDA, light: str = "srgb",
        observed: list[np.ndarray] | None = None, saturated: list[np.ndarray] | None = None,
        cg_steps: int = CG_STEPS, dtype: type = np.float32) -> np.ndarray:
    """Plug-and-play HQS on aligned float64 (H, W, 3) ``views`` (the observation domain: sRGB, or
    linear light with ``light="linear"``), one PSF each, on a canvas larger than the photo
    (``extend``); returns the sRGB estimate on the whole canvas.

    The FFT data step assumes a periodic world, which a photo is not: the pixels near its border
    were blurred from a scene outside the frame. So only the ``observed`` pixels (per view, a
    boolean (H, W, 1) mask; None = all) minus the ``saturated`` (clipped) ones pull on the
    estimate: the data step solves the masked normal equations (sum_i K_i' W_i K_i + rho) x =
    sum_i K_i' W_i y_i + rho z by ``cg_steps`` of conjugate gradients, warm-started and
    preconditioned by the unmasked closed form. Measured on one 160 px crop with a 20 px line
    (bench/pnp_probe.py, corpus validation photos): reflect-and-taper borders 16.5 dB, the
    Reeves fill-in (unobserved pixels = the estimate re-blurred) 26.5 dB with one step per
    iteration and 32.4 with 40, conjugate gradients 33.4 with 6 steps -- the same blur made
    circular (no border at all) gives 33.7.

    dtype: the FFTs' and conjugate gradients' precision. float32 (the default) ran a 720p frame in
    10.0 s against 17.6 for float64 with results within 3e-5 of it (under 1/100 of an 8-bit step).
    """
    shape = views[0].shape[:2]
    ctype = np.complex64 if dtype == np.float32 else np.complex128
    views = [np.asarray(v, dtype=dtype) for v in views]
    otfs = [_otf(k, shape).astype(ctype) for k in kernels]
    observed = observed or [None] * len(views)
    saturated = saturated or [None] * len(views)
    to_obs = srgb_to_linear if light == "linear" else (lambda a: a)
    to_srgb = linear_to_srgb if light == "linear" else (lambda a: a)
    den = sum(np.abs(o) ** 2 for o in otfs)[..., None].astype(dtype)
    noise = max(float(noise), NOISE_FLOOR)
    sigmas = np.geomspace(SIGMA_START, min(noise, SIGMA_START), iterations)
    # starts from the blurred views: a Wiener start was measured worse (its ringing stays; -5 dB on a line)
    z_obs = views[0] if len(views) == 1 else np.mean(views, axis=0)
    x_srgb = np.asarray(to_srgb(z_obs), dtype=dtype)
    trusted = []  # per view: where its pixels pull on the estimate (None: everywhere)
    for obs, sat in zip(observed, saturated):
        trusted.append(None if obs is None and sat is None else
                       ~sat if obs is None else (obs if sat is None else obs & ~sat))

    def blur(o, a):
        return sfft.irfft2(o[..., None] * sfft.rfft2(a, axes=(0, 1), workers=-1), s=shape, axes=(0, 1), workers=-1)

    def blur_t(o, a):
        return sfft.irfft2(np.conj(o)[..., None] * sfft.rfft2(a, axes=(0, 1), workers=-1), s=shape, axes=(0, 1),
                           workers=-1)

    masked = any(t is not None for t in trusted)
    if masked:  # the fixed right-hand side of the masked normal equations
        rhs_views = sum(blur_t(o, v if t is None else np.where(t, v, 0.0)) for o, v, t in zip(otfs, views, trusted))
    x_obs = z_obs
    for sigma in sigmas:
        rho = float(lam * noise**2 / sigma**2)
        z_spec = sfft.rfft2(z_obs, axes=(0, 1), workers=-1)
        if not masked:
            num = sum(np.conj(o)[..., None] * sfft.rfft2(v, axes=(0, 1), workers=-1) for o, v in zip(otfs, views))
            x_obs = sfft.irfft2((num + rho * z_spec) / (den + rho), s=shape, axes=(0, 1), workers=-1)
        else:
            # (sum_i K_i' W_i K_i + rho) x = sum_i K_i' W_i y_i + rho z by conjugate gradients, from the
            # last estimate, preconditioned by the unmasked closed form (exact where nothing is masked)
            def apply(a):
                return sum(blur_t(o, blur(o, a) if t is None else np.where(t, blur(o, a), 0.0))
                           for o, t in zip(otfs, trusted)) + rho * a

            def precond(r):
                return sfft.irfft2(sfft.rfft2(r, axes=(0, 1), workers=-1) / (den + rho), s=shape, axes=(0, 1),
                                   workers=-1)

            b = rhs_views + rho * z_obs
            x = x_obs
            r = b - apply(x)
            q = precond(r)
            d, rq = q, float(np.vdot(r, q))
            for _ in range(cg_steps):
                ad = apply(d)
                alpha = rq / max(float(np.vdot(d, ad)), 1e-30)
                x = x + alpha * d
                r = r - alpha * ad
                q = precond(r)
                rq_new = float(np.vdot(r, q))
                d, rq = q + (rq_new / max(rq, 1e-30)) * d, rq_new
            x_obs = x
        x_srgb = np.asarray(to_srgb(np.clip(x_obs, 0.0, None)), dtype=dtype) if light == "linear" else x_obs
        x_srgb = denoise(model, x_srgb, min(float(sigma), MAX_LEVEL)).astype(dtype, copy=False)
        z_obs = np.asarray(to_obs(np.clip(x_srgb, 0.0, 1.0)), dtype=dtype)
    return np.clip(x_srgb, 0.0, 1.0).astype(np.float64, copy=False)


@dataclass
class PnPDeconvolution:
    """A non-blind restorer: ``restorer(frames_u8, kernel) -> uint8 (H, W, 3)``, told the PSF.

    Same call signature as deblur.baselines' Wiener and Richardson-Lucy, handed the same kernel
    (an oracle row on a board, ``told`` = kernel). ``light``: where the data step runs ("srgb"
    for blur synthesised on sRGB values, "linear" for a camera's). ``noise``: the photo's noise
    std if known (None: estimated).
    """

    model: DenoiserUNet
    name: str = "pnp"
    light: str = "srgb"
    iterations: int = ITERATIONS
    lam: float = LAMBDA
    noise: float | None = None
    noise_from: str = "estimate"
    cg_steps: int = CG_STEPS
    needs_kernel: bool = True
    frames: int = 1

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        img_u8 = middle_frame(frames)
        k = prepare_kernel(kernel, self.name)
        return to_uint8(self.restore(to_float(img_u8).astype(np.float64), k))

    def noise_level(self, img: np.ndarray) -> float:
        """The photo's noise std: ``deblur.baselines.estimate_noise_std`` ("estimate"), or
        ("denoiser") what the prior removes at RESIDUAL_LEVEL -- which also sees JPEG blocks and
        shot noise the wavelet estimate misses (bench on camera-blurred corpus validation crops,
        lam 3, linear light: mean gain over the blurred input -1.63 -> +1.28 dB, worst -10.6 ->
        -1.3 dB; Richardson-Lucy +1.02, worst -0.6)."""
        if self.noise_from == "denoiser":
            return float(np.sqrt(np.mean((img - denoise(self.model, img, RESIDUAL_LEVEL)) ** 2)))
        return estimate_noise_std(img)

    def restore(self, img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """Float (H, W, 3) sRGB in [0, 1] -> float restored, with the PSF ``kernel`` (sums to 1)."""
        if kernel.size == 1:  # an identity kernel: only denoise
            noise = self.noise if self.noise is not None else estimate_noise_std(img)
            return np.clip(denoise(self.model, img, min(noise, MAX_LEVEL)), 0, 1) if noise > NOISE_FLOOR else img
        noise = self.noise if self.noise is not None else self.noise_level(img)
        obs = srgb_to_linear(img).astype(np.float64) if self.light == "linear" else img
        canvas, observed, crop = extend(obs, kernel.shape)
        sat = np.zeros_like(observed)
        sat[crop] = img.max(axis=2, keepdims=True) >= SATURATED
        out = hqs([canvas], [kernel], self.model, noise=noise, iterations=self.iterations, lam=self.lam,
                  light=self.light, observed=[observed], saturated=[sat] if sat.any() else None,
                  cg_steps=self.cg_steps)
        return out[crop]


class _TileSolver:
    """The multi-view data step of one tile: x = argmin sum_i w_i |B_i - K_i x|^2 + rho |x - z|^2,
    closed form in the Fourier domain; the views' half is computed once."""

    def __init__(self, tile: np.ndarray, kernels: list[np.ndarray], weights: list[float]) -> None:
        num = den = 0.0
        for frame, k, w in zip(tile, kernels, weights):
            padded, crop = pad_for_deconvolution(frame, k.shape)
            kf = _otf(k, padded.shape[:2])
            num = num + w * np.conj(kf)[..., None] * sfft.rfft2(padded, axes=(0, 1), workers=-1)
            den = den + w * np.abs(kf)[..., None] ** 2
        self.num, self.den, self.crop, self.shape, self.kshape = num, den, crop, padded.shape[:2], kernels[0].shape

    def solve(self, z: np.ndarray, rho: float) -> np.ndarray:
        padded, _ = pad_for_deconvolution(z, self.kshape)
        spec = (self.num + rho * sfft.rfft2(padded, axes=(0, 1), workers=-1)) / (self.den + rho)
        return sfft.irfft2(spec, s=self.shape, axes=(0, 1), workers=-1)[self.crop]


@dataclass
class MultiFramePnP:
    """Blind three-frame motion deblurring: ``deblur.multiframe``'s fitted camera path gives each
    tile its three kernels and its trust in the neighbours (as for multi-frame Wiener), and
    plug-and-play HQS alternates one data step over the three views (per tile, blended with
    raised cosines) with the denoiser on the whole frame. Starts from the multi-frame Wiener
    result. A single frame, or frames without motion, come back unchanged."""

    model: DenoiserUNet
    name: str = "multiframe_pnp"
    iterations: int = ITERATIONS
    lam: float = LAMBDA
    needs_kernel: bool = False
    frames: int = 3
    blurs: tuple[str, ...] = ("motion",)

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim == 3 or frames.shape[0] != 3:
            return middle_frame(frames).copy()
        frames = M._check(frames)
        h, w = frames.shape[1:3]
        if min(h, w) < M.MIN_SIDE:
            return frames[1].copy()
        path = M.estimate_path(frames)
        extent = path.extent(h, w)
        if extent < 0.05:
            return frames[1].copy()
        radius = int(np.ceil(extent)) + 2
        src = frames.astype(np.float64) / 255.0
        step = max(1, M.TILE - M.OVERLAP)
        tiles = []  # (y, x, window, solver)
        for y in M._starts(h, M.TILE, step):
            for x in M._starts(w, M.TILE, step):
                t = src[:, y:y + M.TILE, x:x + M.TILE]
                th, tw = t.shape[1:3]
                k = path.kernels(x + (tw - 1) / 2.0, y + (th - 1) / 2.0, radius)
                trust = [1.0 / (1.0 + (e / M.TRUST_SCALE) ** 2) for e in M.consistency(t, k)]
                win = (np.hanning(th + 2)[1:-1, None] * np.hanning(tw + 2)[None, 1:-1])[..., None] + 1e-6
                tiles.append((y, x, win, _TileSolver(t, k, [trust[0], 1.0, trust[1]])))
        total = np.zeros((h, w, 1))
        for y, x, win, _ in tiles:
            total[y:y + win.shape[0], x:x + win.shape[1]] += win

        def data_step(z: np.ndarray, rho: float) -> np.ndarray:
            out = np.zeros((h, w, 3))
            for y, x, win, solver in tiles:
                out[y:y + win.shape[0], x:x + win.shape[1]] += solver.solve(z[y:y + win.shape[0], x:x + win.shape[1]],
                                                                          rho) * win
            return out / total

        noise = max(estimate_noise_std(src[1]), NOISE_FLOOR)
        z = M.restore(frames, path).astype(np.float64) / 255.0  # multi-frame Wiener: the start
        for sigma in np.geomspace(SIGMA_START, min(noise, SIGMA_START), self.iterations):
            x = data_step(z, self.lam * noise**2 / sigma**2)
            z = np.clip(denoise(self.model, x, min(float(sigma), MAX_LEVEL)), 0.0, 1.0)
        return to_uint8(z)
