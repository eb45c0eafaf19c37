"""Three-frame motion deblurring from the physics of the exposures (issue 13).

Frames t-1, t and t+1 of the motion task are three back-to-back exposures along one continuous
camera path (``deblur.blur.synthesize_triplet``; REDS and GoPro were made the same way). Two
consequences make the problem far easier than single-image deblurring:

1. **The path is identifiable.** Each blurred frame is the scene convolved with the kernel of
   its own piece of the path, ``B_i = I * k_i``, so for any two frames ``k_j * B_i = k_i * B_j``
   (the cross-relation of multichannel blind deconvolution). A smooth path that satisfies it on
   a few textured tiles is the camera's path: ``estimate_path`` fits one, anchored at the
   middle instant of exposure t (the pose of the sharp target), by gradient descent on the
   relative cross-relation residual of image gradients, started from the displacement between
   the neighbours (cross-correlation). Its kernels are *not* centred: they carry the offset
   between frame t and its middle instant, which a centred single-frame kernel (what the
   ``richardson_lucy`` oracle is handed) cannot undo.
2. **Three views are better conditioned than one.** The three kernels are different pieces of
   the path, so their transfer functions rarely vanish at the same frequency: the multi-frame
   Wiener filter ``sum_i conj(K_i) B_i / (sum_i |K_i|^2 + balance)`` recovers far more than
   deconvolving frame t alone.

The path model: translation velocity and rotation rate, each linear between ``KNOTS`` knots
spread over the three exposures (a smooth path, piecewise quadratic; the synthesis draws its
path the same way, but any smooth hand-held motion over a few tens of milliseconds is close to
one). The kernel at an image point is the local displacement of the rotating, translating
camera, so ``restore`` deconvolves in overlapping tiles, each with its own kernels.

Real video is not a still: people walk between frames. A neighbour is trusted per tile by how
well it satisfies the cross-relation with frame t under the fitted path (``consistency``): a
tile where it does not (moving objects) leans on frame t alone. A single photo repeated three
times gives identical frames: the fit finds no motion and the photo comes back unchanged --
three frames, not one, are what this method uses.

Measured (python -m eval, seed 42, 8 px camera paths): see the motion boards in docs/leaderboards.md.

Learned refinement (``MultiFrameRefiner``, the ``multiframe_atrous`` architecture): the paper's
ATROUS_NET sees the three frames and this method's output (the *prior*) and returns the prior
plus a residual whose last layer starts at zero -- untrained, it *is* ``restore``. It is trained
on priors made with the synthesis' own path plus a smooth random error (``jitter_path``), not
with the fit: the fit costs ~15 s per sample, and the jitter (exact a quarter of the time, else
an RMS error up to ``JITTER_MAX`` px, the range the fit was measured to miss by: 0.07-0.16 px on
good frames, 0.33-0.38 px on the two vtest frames it fails) teaches it the errors a fit makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
import torch

from skimage.restoration import uft

from deblur.blur import splat
from deblur.classical import pad_for_deconvolution
from deblur.errors import DeblurError
from deblur.nets import AtrousNet

KNOTS = 6            # velocity knots of the path model over the three exposures
COARSE_KNOTS = 2     # ... fitted first with this many (see estimate_path)
SUBFRAMES = 24       # path samples per exposure while fitting (kernels are rendered densely)
EST_TILE = 96        # side of the tiles the path is fitted on (px, inside their margin)
EST_GRID = 3         # one tile per cell of a 3 x 3 grid over the frame (the most textured)
EST_STEPS = 150      # Adam steps of the fit
EST_LR = 0.3         # px per exposure; a third of it after half the steps
ROTATION_SCALE = 1e-2  # rotation knots are fitted in units of 0.01 rad per exposure
BALANCE = 3e-3       # Wiener balance: noise-free-to-mildly-compressed 8-bit frames
TILE, OVERLAP = 96, 24  # deconvolution tiles (px) and their overlap (blended with raised cosines)
TRUST_SCALE = 0.05   # relative cross-relation residual at which a neighbour counts half
DENSE_SPACING = 0.25  # px between rendered kernel samples
MIN_SIDE = 48        # smaller frames come back unchanged (no room to fit a path)
# Training priors (jitter_path): the true path exact with probability JITTER_EXACT, else plus a
# smooth error of RMS displacement ~ U(0, JITTER_MAX) px over the three exposures and a rotation
# error of N(0, JITTER_ROT_DEG) degrees per exposure.
JITTER_EXACT, JITTER_MAX, JITTER_ROT_DEG = 0.25, 0.5, 0.03


# ----------------------------------------------------------------------------- the path


@dataclass(frozen=True)
class CameraPath:
    """A fitted camera motion over three exposures, relative to the middle instant of the middle
    one: ``shift`` (3S, 2) px (x, y) and ``angle`` (3S,) rad at S samples per exposure, about the
    frame centre ``centre`` (x, y). ``residual``: the fit's relative cross-relation residual."""

    shift: np.ndarray
    angle: np.ndarray
    centre: tuple[float, float]
    residual: float = 0.0

    @property
    def subframes(self) -> int:
        return self.shift.shape[0] // 3

    def displacement(self, x: float, y: float) -> np.ndarray:
        """Displacement (3S, 2) of the image point (x, y) (px, absolute) over the exposures."""
        dx, dy = _moved(self.shift, np.cos(self.angle), np.sin(self.angle), x - self.centre[0], y - self.centre[1])
        return np.stack([dx, dy], 1)

    def extent(self, height: int, width: int) -> float:
        """Largest displacement of any image corner or the centre (px)."""
        pts = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1), self.centre]
        return float(max(np.abs(self.displacement(x, y)).max() for x, y in pts))

    def kernels(self, x: float, y: float, radius: int) -> list[np.ndarray]:
        """The three PSFs (2r+1, 2r+1) at image point (x, y), in ``deblur.blur.apply_kernel``'s
        convention, not centred: their offsets are the frames' offsets from the middle instant."""
        d = self.displacement(x, y)
        s = self.subframes
        return [_rasterize(_densify(-d[i * s : (i + 1) * s]), radius) for i in range(3)]


def _moved(shift, cos, sin, px, py):
    """(dx, dy) displacement of a point at (px, py) from the rotation centre under rotations
    (cos, sin) plus shifts ``shift`` (..., 2): numpy or torch, broadcasting."""
    return cos * px - sin * py - px + shift[..., 0], sin * px + cos * py - py + shift[..., 1]


def _densify(path: np.ndarray) -> np.ndarray:
    """Samples (N, 2) of one exposure, equally spaced in time, refined by linear interpolation
    until consecutive points are at most DENSE_SPACING px apart: the exposure spends equal time
    between consecutive samples, so each gets equal weight (uniform in time, not in length)."""
    if len(path) < 2:
        return path
    gap = float(np.linalg.norm(np.diff(path, axis=0), axis=1).max())
    m = max(1, int(math.ceil(gap / DENSE_SPACING)))
    t = np.arange((len(path) - 1) * m + 1) / m
    return np.stack([np.interp(t, np.arange(len(path)), path[:, k]) for k in range(2)], 1)


def _rasterize(points: np.ndarray, radius: int) -> np.ndarray:
    """Unit-sum (2r+1)^2 kernel of points (N, 2) (x, y) splatted around offset 0 (not centred)."""
    k = splat(points, 2 * radius + 1)
    total = k.sum()
    if total <= 0:
        raise DeblurError("the fitted camera path leaves the kernel window")
    return k / total


def _knots(values: torch.Tensor, n: int) -> torch.Tensor:
    """Linear interpolation of knot values (K, D) at n evenly spaced times -> (n, D)."""
    k = values.shape[0]
    pos = torch.linspace(0.0, 1.0, n, dtype=values.dtype) * (k - 1)
    i0 = pos.floor().long().clamp(max=k - 2)
    f = (pos - i0)[:, None]
    return values[i0] * (1 - f) + values[i0 + 1] * f


def _path(velocity: torch.Tensor, rate: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift (3S, 2), angle (3S,)) from knot velocities (px per exposure) and rotation rates
    (ROTATION_SCALE rad per exposure), both zero at the middle instant of exposure t."""
    n, mid = 3 * s, s + s // 2
    shift = torch.cumsum(_knots(velocity, n) / s, 0)
    angle = torch.cumsum(_knots(rate[:, None], n)[:, 0] * ROTATION_SCALE / s, 0)
    return shift - shift[mid], angle - angle[mid]


def _splat(points: torch.Tensor, radius: int) -> torch.Tensor:
    """Differentiable bilinear splat of (B, M, 2) points into (B, 2r+1, 2r+1) unit-sum kernels."""
    b = points.shape[0]
    size = 2 * radius + 1
    xs, ys = points[..., 0] + radius, points[..., 1] + radius
    x0, y0 = xs.detach().floor(), ys.detach().floor()
    fx, fy = xs - x0, ys - y0
    x0, y0 = x0.long(), y0.long()
    base = (torch.arange(b) * size * size)[:, None]
    k = torch.zeros(b * size * size, dtype=points.dtype)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = (x0 + dx).clamp(0, size - 1), (y0 + dy).clamp(0, size - 1)
        k = k.index_add(0, (base + yi * size + xi).reshape(-1), w.reshape(-1))
    k = k.reshape(b, size, size)
    return k / k.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def _textured_tiles(grey: np.ndarray, side: int, grid: int) -> list[tuple[int, int]]:
    """Top-left corners of ``side`` px tiles: the most textured one (gradient energy) in each
    cell of a ``grid`` x ``grid`` partition of the frame, skipping near-flat cells. Spread over
    the frame so the fit sees rotation (a rotation is a shift that varies across the frame);
    textured, because a path is only visible where there is texture."""
    h, w = grey.shape
    gy, gx = np.gradient(grey)
    energy = gy * gy + gx * gx
    step = max(side // 4, 8)
    cands = [(float(energy[y : y + side, x : x + side].mean()), y, x)
             for y in _starts(h, side, step) for x in _starts(w, side, step)]
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for e, y, x in cands:
        cell = (min(grid - 1, (y + side // 2) * grid // h), min(grid - 1, (x + side // 2) * grid // w))
        if cell not in best or e > best[cell][0]:
            best[cell] = (e, y, x)
    top = max(e for e, _, _ in best.values())
    return sorted({(y, x) for e, y, x in best.values() if e >= 0.05 * top})


def _xcorr_shift(ref: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """(x, y) displacement of ``moving``'s content relative to ``ref`` (sub-pixel cross-correlation)."""
    from skimage.registration import phase_cross_correlation

    shift = phase_cross_correlation(ref, moving, upsample_factor=10, normalization=None)[0]
    return np.array([shift[1], shift[0]], dtype=np.float64)


def _neighbour_speed(crops: np.ndarray) -> np.ndarray:
    """(x, y) px per exposure from three grey crops (3, h, w): half the displacement of t+1
    relative to t-1, measured against frame t (Hann-windowed, mean removed)."""
    win = np.hanning(crops.shape[1])[:, None] * np.hanning(crops.shape[2])[None]
    c = [(g - g.mean()) * win for g in crops]
    return (_xcorr_shift(c[1], c[2]) - _xcorr_shift(c[1], c[0])) / 2.0


def estimate_path(frames: np.ndarray, steps: int = EST_STEPS) -> CameraPath:
    """Fit the camera path of three blurred exposures (3, H, W, 3) uint8 (see the module
    docstring). Deterministic; about 10-15 s on two CPU cores whatever the frame size (it
    looks at EST_GRID ** 2 tiles at most)."""
    frames = _check(frames)
    grey = frames.astype(np.float64).mean(axis=-1) / 255.0
    h, w = grey.shape[1:]
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    still = CameraPath(np.zeros((3 * SUBFRAMES, 2)), np.zeros(3 * SUBFRAMES), centre)
    if np.array_equal(frames[0], frames[1]) and np.array_equal(frames[1], frames[2]):
        return still  # one photo repeated: no motion to find
    # The neighbours' displacement gives the speed, hence the margin the kernels need.
    side0 = min(h, w, 256)
    y0, x0 = (h - side0) // 2, (w - side0) // 2
    speed = float(np.linalg.norm(_neighbour_speed(grey[:, y0 : y0 + side0, x0 : x0 + side0])))
    radius = int(min(64, max(8, math.ceil(1.8 * speed + 0.01 * max(h, w) + 6))))
    side = min(EST_TILE + 2 * radius, h, w)
    if side - 2 * radius < 16:
        return still
    tiles = _textured_tiles(grey[1], side, EST_GRID)
    grads, where, inits = [], [], []
    for y, x in tiles:
        t = grey[:, y : y + side, x : x + side]
        inits.append(_neighbour_speed(t))
        tt = torch.from_numpy(np.ascontiguousarray(t))
        grads.append(torch.stack([tt[:, 1:, :-1] - tt[:, :-1, :-1], tt[:, :-1, 1:] - tt[:, :-1, :-1]], 1))
        where.append([x + side / 2.0 - centre[0], y + side / 2.0 - centre[1]])
    g = torch.stack(grads)                                   # (T, 3, 2, side-1, side-1)
    shape = g.shape[-2:]
    gf = torch.fft.rfft2(g)
    xy = torch.tensor(where, dtype=torch.float64)
    nt, s = len(tiles), SUBFRAMES
    velocity = torch.tensor(np.tile(np.median(inits, axis=0), (COARSE_KNOTS, 1)), dtype=torch.float64)
    rate = torch.zeros(COARSE_KNOTS, dtype=torch.float64)

    def residual(velocity: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        shift, angle = _path(velocity, rate, s)
        d = torch.stack(_moved(shift[None], torch.cos(angle)[None], torch.sin(angle)[None], xy[:, :1], xy[:, 1:]), -1)
        k = _splat(-d.reshape(nt * 3, s, 2), radius).reshape(nt, 3, 2 * radius + 1, 2 * radius + 1)
        kp = torch.zeros(nt, 3, *shape, dtype=k.dtype)
        kp[..., : 2 * radius + 1, : 2 * radius + 1] = k
        kf = torch.fft.rfft2(torch.roll(kp, (-radius, -radius), (-2, -1)))[:, :, None]
        num = den = torch.zeros((), dtype=torch.float64)
        r = radius
        for i, j in ((0, 1), (1, 2), (0, 2)):
            a = torch.fft.irfft2(gf[:, i] * kf[:, j], s=shape)[..., r:-r, r:-r]
            b = torch.fft.irfft2(gf[:, j] * kf[:, i], s=shape)[..., r:-r, r:-r]
            num = num + (a - b).pow(2).sum()
            den = den + a.pow(2).sum() + b.pow(2).sum()
        return num / den.clamp_min(1e-12)

    # Coarse to fine: a path with COARSE_KNOTS knots (steady acceleration) first -- fewer local
    # minima -- then KNOTS knots started from it.
    for knots, n_steps in ((COARSE_KNOTS, steps // 2), (KNOTS, steps)):
        velocity = _knots(velocity, knots).clone().requires_grad_(True)
        rate = _knots(rate[:, None], knots)[:, 0].clone().requires_grad_(True)
        opt = torch.optim.Adam([velocity, rate], lr=EST_LR)
        for step in range(n_steps):
            if step == n_steps // 2:
                for group in opt.param_groups:
                    group["lr"] = EST_LR / 3.0
            opt.zero_grad()
            loss = residual(velocity, rate)
            loss.backward()
            opt.step()
        velocity, rate = velocity.detach(), rate.detach()
    with torch.no_grad():
        final = float(residual(velocity, rate))
        shift, angle = _path(velocity, rate, s)
    return CameraPath(shift.numpy(), angle.numpy(), centre, final)


def jitter_path(path: CameraPath, rng: np.random.Generator, exact: float = JITTER_EXACT,
                max_error: float = JITTER_MAX, rot_deg: float = JITTER_ROT_DEG) -> CameraPath:
    """``path`` plus the kind of error the fit makes: smooth (a random cubic in time), zero at the
    middle instant of exposure t (every fitted path is anchored there), of RMS displacement
    ~ U(0, max_error) px over the three exposures; with probability ``exact`` unchanged."""
    if rng.random() < exact:
        return path
    s = path.subframes
    t = (np.arange(3 * s) - (s + s // 2)) / s      # time in exposures, 0 at the anchor
    basis = np.stack([t, t * t, t * t * t], 1)     # (3S, 3): zero at t = 0
    err = basis @ rng.normal(size=(3, 2))
    rms = float(np.sqrt((err ** 2).sum(1).mean()))
    err *= rng.uniform(0.0, max_error) / max(rms, 1e-9)
    angle = path.angle + t * math.radians(rot_deg) * rng.normal()
    return CameraPath(path.shift + err, angle, path.centre)


# ----------------------------------------------------------------------------- deconvolution


def consistency(tile: np.ndarray, kernels: list[np.ndarray]) -> list[float]:
    """Relative cross-relation residual of each neighbour (t-1, t+1) with frame t on a tile
    (3, h, w, 3) float: ~0 where the neighbour is the same scene under the fitted path, large
    where something moved on its own (or the path is wrong here)."""
    from scipy.signal import fftconvolve

    g = [np.gradient(f.mean(axis=-1), axis=1) for f in tile]
    out = []
    for i in (0, 2):
        a, b = fftconvolve(g[i], kernels[1], mode="valid"), fftconvolve(g[1], kernels[i], mode="valid")
        out.append(float(((a - b) ** 2).sum() / max((a * a).sum() + (b * b).sum(), 1e-12)))
    return out


def multiframe_wiener(tile: np.ndarray, kernels: list[np.ndarray], weights: list[float],
                      balance: float = BALANCE) -> np.ndarray:
    """sum_i w_i conj(K_i) B_i / (sum_i w_i |K_i|^2 + balance) on a tile (F, h, w, 3) float in
    [0, 1], with the baselines' reflect-and-taper padding; returns (h, w, 3), clipped."""
    num = den = 0.0
    for frame, k, w in zip(tile, kernels, weights):
        padded, crop = pad_for_deconvolution(frame, k.shape)
        x = np.moveaxis(padded, -1, 0)
        kf = uft.ir2tf(k, x.shape[1:], is_real=True)
        num = num + w * np.conj(kf) * sfft.rfft2(x, workers=-1)
        den = den + w * (kf.real ** 2 + kf.imag ** 2)
    out = sfft.irfft2(num / (den + balance), s=x.shape[1:], workers=-1)
    return np.clip(np.moveaxis(out, 0, -1)[crop], 0.0, 1.0)


def _starts(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    s = list(range(0, n - tile + 1, step))
    return s if s[-1] + tile >= n else s + [n - tile]


def restore(frames: np.ndarray, path: CameraPath | None = None, tile: int = TILE, overlap: int = OVERLAP,
            balance: float = BALANCE) -> np.ndarray:
    """Deblur frame t of three exposures (3, H, W, 3) uint8 -> (H, W, 3) uint8: fit the path
    (unless given), then multi-frame Wiener in overlapping tiles, each with its local kernels
    and its trust in the neighbours, blended with raised-cosine windows."""
    frames = _check(frames)
    h, w = frames.shape[1:3]
    if min(h, w) < MIN_SIDE:
        return frames[1].copy()
    path = estimate_path(frames) if path is None else path
    extent = path.extent(h, w)
    if extent < 0.05:
        return frames[1].copy()
    radius = int(math.ceil(extent)) + 2
    src = frames.astype(np.float64) / 255.0
    out = np.zeros((h, w, 3))
    total = np.zeros((h, w, 1))
    step = max(1, tile - overlap)
    for y in _starts(h, tile, step):
        for x in _starts(w, tile, step):
            t = src[:, y : y + tile, x : x + tile]
            th, tw = t.shape[1:3]
            k = path.kernels(x + (tw - 1) / 2.0, y + (th - 1) / 2.0, radius)
            trust = [1.0 / (1.0 + (e / TRUST_SCALE) ** 2) for e in consistency(t, k)]
            r = multiframe_wiener(t, k, [trust[0], 1.0, trust[1]], balance)
            win = (np.hanning(th + 2)[1:-1, None] * np.hanning(tw + 2)[None, 1:-1])[..., None] + 1e-6
            out[y : y + th, x : x + tw] += r * win
            total[y : y + th, x : x + tw] += win
    return np.clip(np.rint(out / total * 255.0), 0, 255).astype(np.uint8)


class MultiFrameRefiner(torch.nn.Module):
    """``restore``'s output refined by the paper's ATROUS_NET (see the module docstring).

    forward(x (N, 12, H, W) in [0, 1]: frames t-1, t, t+1 and the prior ``restore(frames)``,
    stacked on channels) -> (N, 3, H, W). The prior is computed on the whole frame before any
    tiling (``prior``; ``deblur.inference.Deblurrer`` does it, and the training sampler renders
    it from the true path, jittered), so the halo is ATROUS_NET's. ``frames`` is what the user
    hands over (3); the ATROUS_NET arguments are deblur.models.AtrousNet's.
    """

    multiple = 2
    takes_prior = True  # the inference object, the sampler and the app read this
    input_frames = 4    # what forward() takes: the three frames and the prior (FLOP counters read this)

    def __init__(self, frames: int = 3, blocks: int = 4, stem: int = 32, channels: int = 64, branch: int = 32,
                 head: int = 32, dilations: tuple[int, ...] = (1, 2, 3, 4), slope: float = 0.3) -> None:
        super().__init__()
        if frames != 3:
            raise ValueError(f"MultiFrameRefiner deblurs three frames (frames=3), not {frames}")
        self.frames = 3
        # frames=4 ordered [t-1, t, prior, t+1]: AtrousNet adds its residual to the middle one
        # (index 2), the prior.
        self.refine = AtrousNet(frames=4, blocks=blocks, stem=stem, channels=channels, branch=branch, head=head,
                                dilations=dilations, slope=slope)
        self.halo = self.refine.halo

    @staticmethod
    def prior(frames: np.ndarray) -> np.ndarray:
        """The physics prior (H, W, 3) uint8 of three frames (3, H, W, 3) uint8: ``restore``."""
        return restore(frames)

    def per_image(self, frames: np.ndarray,
                  kernel: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """The per-image input (the hook deblur.inference.Deblurrer calls once per image, on the
        whole uint8 (3, H, W, 3) input, before any tile or view is cut): the frames with their prior
        appended as a fourth, so it is tiled and turned with them; no keyword inputs. Blind: a
        kernel is not used."""
        return np.concatenate([frames, self.prior(frames)[None]]), {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 12:
            raise ValueError(f"MultiFrameRefiner takes 12 channels (3 frames and the prior), got {x.shape[1]}")
        return self.refine(torch.cat([x[:, :6], x[:, 9:12], x[:, 6:9]], dim=1))


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[0] != 3 or frames.shape[-1] != 3:
        raise DeblurError(f"multi-frame deblurring takes three RGB uint8 frames (3, H, W, 3), got "
                          f"{frames.dtype} {frames.shape}")
    return frames


@dataclass(frozen=True)
class MultiFrameWiener:
    """The restorer of ``deblur.baselines.BASELINES``: blind, three frames, motion blur only.
    A single image (H, W, 3) or fewer than three frames comes back unchanged: the method needs
    the neighbours."""

    name: str = "multiframe_wiener"
    needs_kernel: bool = False
    frames: int = 3
    blurs: tuple[str, ...] = ("motion",)

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            raise DeblurError(f"multiframe_wiener expects uint8 frames, got dtype {frames.dtype}")
        if frames.ndim == 3:
            return frames.copy()
        if frames.shape[0] != 3:
            return frames[frames.shape[0] // 2].copy()
        return restore(frames)
