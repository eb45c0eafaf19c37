"""Blur synthesis: pure, seeded functions on float32 RGB images in [0, 1], shape (H, W, 3).

Kernels are point-spread functions (PSFs) applied by *convolution* with reflect-101 borders
(numpy's ``reflect`` padding, OpenCV's ``BORDER_REFLECT_101``), which is what the paper's code
used for CIFAR-10 and what the classical baselines must assume to be fair. Randomness enters only
through an explicit ``np.random.Generator``: the same generator state gives byte-identical output.

Three degradations:
- Gaussian (the paper's CIFAR-10 task): ``gaussian_blur`` / ``sample_gaussian``.
- Single-image camera shake: ``trajectory_motion_kernel`` (a continuous random trajectory with
  inertia and occasional jerks, in the spirit of Boracchi & Foi 2012 and DeblurGAN) and
  ``linear_motion_kernel``; apply either with ``apply_kernel``.
- Video motion (the paper's 3-frame REDS task): ``synthesize_triplet`` averages many sub-frames
  along one smooth camera path (sub-pixel shifts plus small rotations) that continues across
  three consecutive exposures, the way REDS and GoPro were rendered from high-frame-rate video.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, signal

# OpenCV picks the Gaussian kernel size from sigma as round(6 * sigma + 1), forced odd, for
# 8-bit images; the paper's CIFAR data was made that way, so we follow the same rule.
_SIGMA_TO_SIZE = 6.0


def quantize(img: np.ndarray) -> np.ndarray:
    """Round a float image in [0, 1] to the 8-bit grid (k / 255), as stored datasets are."""
    return (np.clip(np.rint(np.clip(img, 0.0, 1.0) * 255.0), 0, 255) / 255.0).astype(np.float32)


def gaussian_kernel_size(sigma: float) -> int:
    """Odd kernel size for ``sigma``: int(round(6 * sigma + 1)) | 1 (OpenCV's rule for uint8)."""
    if sigma <= 0:
        return 1
    return int(round(_SIGMA_TO_SIZE * sigma + 1.0)) | 1


def gaussian_kernel_1d(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps (float64); a single tap [1.] when the size rounds to 1."""
    size = gaussian_kernel_size(sigma)
    if size == 1:
        return np.ones(1, dtype=np.float64)
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(x**2) / (2.0 * sigma**2))
    return taps / taps.sum()


def gaussian_kernel(sigma: float) -> np.ndarray:
    """2-D Gaussian PSF (k, k), float64, sums to 1; sigma <= ~0.08 gives the identity [[1.]]."""
    g = gaussian_kernel_1d(sigma)
    return np.outer(g, g)


def _rasterize(points: np.ndarray, size: int | None = None) -> np.ndarray:
    """Splat 2-D points (N, 2) as (x, y) with bilinear weights into an odd square kernel.

    The kernel is centred on the points' centroid so that blurring does not shift the image.
    """
    pts = points - points.mean(axis=0, keepdims=True)
    if size is None:
        extent = float(np.abs(pts).max()) if len(pts) else 0.0
        size = 2 * int(math.ceil(extent)) + 3
    size |= 1
    kernel = splat(pts, size)
    return kernel / kernel.sum()


def splat(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of points (N, 2) (x, y), offsets from the centre of an odd (size, size)
    grid, each of weight 1; points (or corners) outside the grid are dropped. Not normalised."""
    c = (size - 1) / 2.0
    kernel = np.zeros((size, size), dtype=np.float64)
    xs, ys = points[:, 0] + c, points[:, 1] + c
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        np.add.at(kernel, (yi[ok], xi[ok]), w[ok])
    return kernel


def _densify(path: np.ndarray, spacing: float = 0.25) -> np.ndarray:
    """Resample a polyline (N, 2) so consecutive points are at most ``spacing`` px apart."""
    if len(path) < 2:
        return path
    out = [path[:1]]
    for a, b in zip(path[:-1], path[1:]):
        n = max(1, int(math.ceil(np.linalg.norm(b - a) / spacing)))
        t = (np.arange(1, n + 1) / n)[:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def linear_motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Straight-line motion PSF of ``length`` pixels at ``angle_deg`` (0 = horizontal), sums to 1."""
    if length <= 1e-6:
        return np.ones((1, 1))
    a = math.radians(angle_deg)
    d = np.array([math.cos(a), math.sin(a)]) * length / 2.0
    return _rasterize(_densify(np.stack([-d, d])))


def camera_trajectory(length: float, rng: np.random.Generator, steps: int = 64) -> np.ndarray:
    """A continuous random 2-D camera trajectory (steps, 2) whose arc length equals ``length`` px.

    Velocity has inertia, a pull back towards the start, small Gaussian jitter and rare large
    jerks (the ingredients of Boracchi & Foi's camera-shake model); the shape is then scaled to
    the requested length, so ``length`` alone sets the blur strength.
    """
    anxiety = rng.uniform(0.0, 0.15)
    p_jerk = rng.uniform(0.0, 0.1)
    pos = np.zeros(2)
    angle = rng.uniform(0, 2 * math.pi)
    vel = np.array([math.cos(angle), math.sin(angle)])
    pts = [pos.copy()]
    for _ in range(steps - 1):
        jerk = rng.uniform(-1, 1, 2) * 2.0 if rng.random() < p_jerk else 0.0
        vel = vel + anxiety * (rng.normal(size=2) - 0.1 * pos) + jerk
        vel = vel / max(np.linalg.norm(vel), 1e-9)
        pos = pos + vel
        pts.append(pos.copy())
    path = np.asarray(pts)
    arc = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    return path * (length / max(arc, 1e-9))


def trajectory_motion_kernel(length: float, rng: np.random.Generator) -> np.ndarray:
    """Random camera-shake PSF from a continuous trajectory of arc length ``length`` px."""
    if length <= 1e-6:
        return np.ones((1, 1))
    return _rasterize(_densify(camera_trajectory(length, rng)))


def apply_kernel(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an (H, W, C) float image with a PSF, reflect-101 borders, same size out."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.shape == (1, 1):
        return img.astype(np.float32, copy=True)
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    padded = np.pad(img.astype(np.float64), ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    out = signal.fftconvolve(padded, kernel[:, :, None], mode="valid", axes=(0, 1))
    return out.astype(np.float32)


def _add_noise(img: np.ndarray, noise_std: float, rng: np.random.Generator | None) -> np.ndarray:
    if noise_std <= 0:
        return img
    if rng is None:
        raise ValueError("noise_std > 0 needs an explicit rng so the result is repeatable")
    return img + rng.normal(0.0, noise_std, img.shape).astype(np.float32)


def gaussian_blur(
    img: np.ndarray,
    sigma: float,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
    quantize_output: bool = True,
) -> np.ndarray:
    """Gaussian blur (separable, reflect-101), optional additive noise, 8-bit quantisation.

    sigma = 0 (or small enough that the kernel is 1x1) returns the input unchanged.
    """
    g = gaussian_kernel_1d(sigma)
    out = img.astype(np.float32, copy=True)
    if len(g) > 1:
        out = ndimage.correlate1d(out, g, axis=0, mode="mirror")
        out = ndimage.correlate1d(out, g, axis=1, mode="mirror")
    out = _add_noise(out, noise_std, rng)
    return quantize(out) if quantize_output else np.clip(out, 0.0, 1.0).astype(np.float32)


def gaussian_blur_batch(x: torch.Tensor, sigmas: torch.Tensor | np.ndarray, quantize_output: bool = True
                        ) -> torch.Tensor:
    """``gaussian_blur`` for a batch (N, C, H, W) in [0, 1], one sigma per image, on any device.

    The same taps (OpenCV's size rule) and reflect-101 borders as the numpy version; every
    kernel is zero-padded to the largest size in the batch, which changes nothing.
    """
    n, c, h, w = x.shape
    taps = [gaussian_kernel_1d(float(s)) for s in np.asarray(sigmas, dtype=np.float64).reshape(-1)]
    if len(taps) != n:
        raise ValueError(f"need one sigma per image: {n} images, {len(taps)} sigmas")
    k = max(len(t) for t in taps)
    out = x.float()
    if k > 1:
        if k // 2 >= min(h, w):
            raise ValueError(f"image {h}x{w} is too small for a {k}-tap kernel with reflect borders")
        bank = np.zeros((n, k))
        for i, t in enumerate(taps):
            off = (k - len(t)) // 2
            bank[i, off : off + len(t)] = t
        weight = torch.from_numpy(bank).to(x.device, torch.float32).repeat_interleave(c, 0)  # (N*C, k)
        out = F.pad(out.reshape(1, n * c, h, w), (k // 2,) * 4, mode="reflect")
        out = F.conv2d(out, weight[:, None, :, None], groups=n * c)    # vertical
        out = F.conv2d(out, weight[:, None, None, :], groups=n * c)    # horizontal
        out = out.reshape(n, c, h, w)
    out = out.clamp(0.0, 1.0)
    return torch.round(out * 255.0) / 255.0 if quantize_output else out


def sample_gaussian(
    img: np.ndarray, rng: np.random.Generator, sigma_max: float = 3.0, noise_std: float = 0.0,
    sigma_min: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Blur with sigma ~ U[sigma_min, sigma_max] (the paper's: U[0, 3]); returns (blurred, params)."""
    sigma = float(rng.uniform(sigma_min, sigma_max))
    blurred = gaussian_blur(img, sigma, noise_std=noise_std, rng=rng)
    return blurred, {"sigma": sigma, "kernel": gaussian_kernel(sigma), "kernel_size": gaussian_kernel_size(sigma)}


def sample_motion(
    img: np.ndarray, rng: np.random.Generator, length: float, linear_prob: float = 0.2, noise_std: float = 0.0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Single-image motion blur: a trajectory kernel (or, with ``linear_prob``, a straight one)."""
    if rng.random() < linear_prob:
        kernel = linear_motion_kernel(length, float(rng.uniform(0, 180)))
    else:
        kernel = trajectory_motion_kernel(length, rng)
    out = _add_noise(apply_kernel(img, kernel), noise_std, rng)
    return quantize(out), {"length": float(length), "kernel": kernel, "kernel_size": kernel.shape[0]}


# ----------------------------------------------------------------------------------------------
# Video: three consecutive exposures along one continuous camera path


def _smooth_path(n: int, rng: np.random.Generator, dims: int) -> np.ndarray:
    """A smooth random path (n, dims): integrated velocity that drifts slowly (inertia)."""
    knots = 6
    vel_knots = rng.normal(size=(knots, dims))
    vel_knots[:, :] += rng.normal(size=(1, dims)) * 1.5  # a dominant direction, as hand shake has
    t_knots = np.linspace(0, 1, knots)
    t = np.linspace(0, 1, n)
    vel = np.stack([np.interp(t, t_knots, vel_knots[:, d]) for d in range(dims)], axis=1)
    return np.cumsum(vel, axis=0)


# Above this many pixels per frame, ``warp_exposures`` renders the output in horizontal strips so
# that memory stays bounded (a 3840 x 2160 photo took 8-21 GB warped whole: one copy of the frame
# and one sampling grid per sub-frame). Up to it -- every training crop and evaluation frame so
# far, REDS' 1280 x 720 included -- the whole-frame path runs, so published numbers stay as
# they were.
STRIP_ABOVE_PIXELS = 1280 * 720
# Output pixels of one strip times sub-frames warped together: the strip's temporaries (sampling
# grids, warped copies) take about 40 bytes per unit, so ~160 MB whatever the photo's size.
STRIP_BUDGET = 4 << 20


def warp_exposures(frames: torch.Tensor, path: torch.Tensor, rot: torch.Tensor, chunk: int = 16,
                   rows: int | None = None) -> torch.Tensor:
    """Batched, device-agnostic core of ``synthesize_triplet``: mean of warped sub-frames.

    frames (N, 3, C, H, W) float, one sharp frame per exposure; path (N, 3 * S, 2) sub-pixel
    shifts and rot (N, 3 * S) angles in radians, S sub-frames per exposure. Returns the three
    blurred exposures (N, 3, C, H, W), unquantised. Runs wherever the tensors live (CPU or GPU).

    rows: output rows rendered at once. None warps whole frames up to STRIP_ABOVE_PIXELS and
    larger ones in strips of about STRIP_BUDGET / (W * chunk) rows; strips give the same result
    up to float rounding (see ``_warp_strips``) in memory bounded by the strip, not the frame.
    ``frames`` may be an expanded view (a still used for all three exposures): the strip path
    never copies it.
    """
    n, e, c, h, w = frames.shape
    sub = path.shape[1] // e
    sx, sy = max((w - 1) / 2.0, 0.5), max((h - 1) / 2.0, 0.5)
    path = path.to(frames.device, torch.float32)
    rot = rot.to(frames.device, torch.float32)
    cos, sin = torch.cos(rot), torch.sin(rot)
    # Affine matrices for grid_sample(align_corners=True): sample input at R(p - c) + c + d.
    theta = torch.stack([torch.stack([cos, -sin * sy / sx, path[..., 0] / sx], -1),
                         torch.stack([sin * sx / sy, cos, path[..., 1] / sy], -1)], -2)  # (N, 3S, 2, 3)
    theta = theta.reshape(n, e, sub, 2, 3)
    if rows is None:
        rows = h if h * w <= STRIP_ABOVE_PIXELS else max(1, STRIP_BUDGET // (w * min(chunk, sub)))
    if rows < h:
        return _warp_strips(frames, theta, int(rows), chunk)
    out = torch.zeros_like(frames, dtype=torch.float32)
    src_all = frames.float()
    for i in range(0, sub, chunk):
        th = theta[:, :, i : i + chunk]                                   # (N, E, k, 2, 3)
        k = th.shape[2]
        grid = F.affine_grid(th.reshape(-1, 2, 3), [n * e * k, c, h, w], align_corners=True)
        src = src_all[:, :, None].expand(n, e, k, c, h, w).reshape(n * e * k, c, h, w)
        warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
        out += warped.reshape(n, e, k, c, h, w).sum(2)
    return out / sub


def _warp_strips(frames: torch.Tensor, theta: torch.Tensor, rows: int, chunk: int) -> torch.Tensor:
    """``warp_exposures`` one horizontal strip of output rows at a time, in bounded memory.

    Each strip's sampling grid is the whole-frame grid's rows (the same base coordinates times
    the same matrices as ``F.affine_grid``), and it samples the whole, uncopied source frame: so
    a strip needs no margin for the path's displacement or rotation, the reflection borders are
    the frame's own, and the result equals the whole-frame path up to float rounding. The k
    sub-frames of a chunk are stacked along the grid's height, so one ``grid_sample`` call warps
    them all from a single source (no per-sub-frame copy of the frame). The output is laid out
    (N, 3, H, W, C) in memory (returned as a permuted (N, 3, C, H, W) view), so that
    ``synthesize_triplet``'s (3, H, W, C) result needs no further copy.
    """
    n, e, c, h, w = frames.shape
    sub = theta.shape[2]
    dev = frames.device
    out = torch.empty((n, e, h, w, c), dtype=torch.float32, device=dev).permute(0, 1, 4, 2, 3)
    xs = torch.linspace(-1.0, 1.0, w, device=dev) if w > 1 else torch.zeros(1, device=dev)
    ys = torch.linspace(-1.0, 1.0, h, device=dev) if h > 1 else torch.zeros(1, device=dev)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        hs = y1 - y0
        base = torch.empty((hs, w, 3), dtype=torch.float32, device=dev)
        base[..., 0] = xs
        base[..., 1] = ys[y0:y1, None]
        base[..., 2] = 1.0
        base = base.reshape(1, hs * w, 3)
        for i in range(n):
            for j in range(e):
                src = frames[i, j][None].float()                            # (1, C, H, W), no copy
                acc = torch.zeros((c, hs, w), dtype=torch.float32, device=dev)
                for s in range(0, sub, chunk):
                    th = theta[i, j, s : s + chunk].float()                  # (k, 2, 3)
                    k = th.shape[0]
                    grid = torch.bmm(base.expand(k, -1, -1), th.transpose(1, 2))   # (k, hs * W, 2)
                    warped = F.grid_sample(src, grid.reshape(1, k * hs, w, 2), mode="bilinear",
                                           padding_mode="reflection", align_corners=True)
                    acc += warped.reshape(c, k, hs, w).sum(1)
                out[i, j, :, y0:y1] = acc / sub
    return out


def _quantize_(img: np.ndarray) -> np.ndarray:
    """``quantize`` in place (same float32 operations, same result): no full-size temporaries."""
    np.clip(img, 0.0, 1.0, out=img)
    img *= 255.0
    np.rint(img, out=img)
    np.clip(img, 0, 255, out=img)
    img /= 255.0
    return img


def default_subframes(length: float) -> int:
    """Sub-frames per exposure for a blur of ``length`` px: <= ~0.4 px apart, 9 to 48."""
    return int(min(48, max(9, math.ceil(2.5 * length))))


def camera_path(
    rng: np.random.Generator, length: float, subframes: int, max_rotation_deg: float = 0.5
) -> tuple[np.ndarray, np.ndarray, float]:
    """The camera motion of ``synthesize_triplet``: (path (3S, 2) px, rot (3S,) rad, rotation deg).

    Translation is a smooth path scaled so the middle exposure's arc length is ``length``; the
    rotation, up to ``max_rotation_deg``, is another smooth path. Both are zero at the middle
    instant of exposure t, the pose of the sharp target.
    """
    n = 3 * subframes
    path = _smooth_path(n, rng, 2)
    mid = slice(subframes, 2 * subframes)
    arc = np.linalg.norm(np.diff(path[mid], axis=0), axis=1).sum()
    path = path * (length / max(arc, 1e-9))
    rot = _smooth_path(n, rng, 1)[:, 0]
    rot_deg = float(rng.uniform(0.0, max_rotation_deg))
    rot = rot / max(np.abs(rot - rot[n // 2]).max(), 1e-9) * math.radians(rot_deg)
    centre = subframes + subframes // 2
    return path - path[centre], rot - rot[centre], rot_deg


def synthesize_triplet(
    source: np.ndarray,
    rng: np.random.Generator,
    length: float = 12.0,
    max_rotation_deg: float = 0.5,
    subframes: int | None = None,
    noise_std: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Render blurred frames t-1, t, t+1 from one smooth camera path, REDS/GoPro style.

    ``source`` is a still (H, W, 3) or real consecutive sharp frames (3, H, W, 3) in [0, 1].
    Time runs over three back-to-back exposures; the camera path (sub-pixel translation plus a
    small in-plane rotation) continues across them. Each blurred frame is the mean of
    ``subframes`` warped sub-frames of its exposure (sub-frames of exposure i come from real
    frame i when real frames are given). The path is expressed relative to the middle instant
    of exposure t, so the target -- the sharp middle sub-frame of t -- is the source (or the
    middle real frame) itself. ``length`` is the arc length in pixels of the camera's
    translation during the middle exposure: the blur strength. ``length`` 0 is no motion at
    all (no rotation either): the frames come back unchanged, up to 8-bit rounding.

    Returns (blurred (3, H, W, 3) quantised to 8 bits, sharp_mid (H, W, 3), params), params
    holding the translation-only PSF of the middle exposure (``kernel``) for the oracle
    baselines, plus ``length`` and the rotation used.
    """
    if source.ndim != 3 and source.shape[0] != 3:
        raise ValueError(f"synthesize_triplet needs a still or 3 frames, got {source.shape[0]}")
    if subframes is None:
        subframes = default_subframes(length)
    if length <= 0:
        frames = (source[None].repeat(3, axis=0) if source.ndim == 3 else source).astype(np.float32)
        blurred = quantize(_add_noise(frames.copy(), noise_std, rng))
        return blurred, frames[1].copy(), {"length": 0.0, "rotation_deg": 0.0, "kernel": np.ones((1, 1)),
                                           "kernel_size": 1}
    path, rot, rot_deg = camera_path(rng, length, subframes, max_rotation_deg)
    # A still is one (C, H, W) copy viewed three times, not three copies: at 4K each is 100 MB.
    frames = source[None] if source.ndim == 3 else source
    src = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32))
    src = src.expand(3, -1, -1, -1)[None]
    blurred = warp_exposures(src, torch.from_numpy(path)[None], torch.from_numpy(rot)[None])
    blurred = blurred[0].numpy().transpose(0, 2, 3, 1)
    del src
    if noise_std <= 0 and blurred.flags.c_contiguous:
        blurred = _quantize_(blurred)   # the strip path's (3, H, W, C) buffer: no full-size temporaries
    else:
        blurred = quantize(_add_noise(blurred, noise_std, rng))
    # Sampling the source at p + d averages I(p + d): convolution with a PSF at -d.
    kernel = _rasterize(_densify(-path[subframes : 2 * subframes]))
    params = {"length": float(length), "rotation_deg": rot_deg, "kernel": kernel, "kernel_size": kernel.shape[0]}
    sharp_mid = (source if source.ndim == 3 else source[1]).astype(np.float32)  # a copy, as before
    return blurred, sharp_mid, params


def shift_neighbours(frames: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """The paper's augmentation: shift frame t-1 by up to ``max_shift`` px and t+1 the opposite way.

    It gives stationary scenes a little motion so the network learns to use the neighbours.
    Borders are filled by edge replication; the middle frame is untouched.
    """
    dx, dy = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    out = frames.copy()
    out[0] = _shift(frames[0], dx, dy)
    out[2] = _shift(frames[2], -dx, -dy)
    return out


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    if dx == 0 and dy == 0:
        return img.copy()
    h, w = img.shape[:2]
    p = max(abs(dx), abs(dy))
    padded = np.pad(img, ((p, p), (p, p), (0, 0)), mode="edge")
    return padded[p - dy : p - dy + h, p - dx : p - dx + w].copy()


# ----------------------------------------------------------------------------------------------
# Camera: what a real photo goes through (the "camera" blur family)
#
# Real blurry photos differ from the paper's synthetic blur in three ways that published
# studies found decisive (RSBlur, Rim et al. 2022; Real-ESRGAN, Wang et al. 2021; BSRGAN,
# Zhang et al. 2021): the blur happens in linear light before the camera's tone curve (and
# saturated highlights stay clipped), the kernels come from several families (defocus, shake,
# object motion), and sensor noise plus JPEG sit on top. ``camera_blur`` renders all of it.

# Kernel families and how often each is drawn. Shake and defocus dominate real hand-held photos;
# "none" (about 1 in 16) keeps the network from sharpening photos that are only noisy / JPEG.
CAMERA_FAMILIES: dict[str, float] = {
    "none": 0.06, "defocus": 0.22, "gaussian": 0.12, "anisotropic": 0.14, "shake": 0.32, "linear": 0.14,
}
# Strength s in [0, 1] maps linearly onto each family's size range (lo, hi). The largest sizes are
# those of a moderately shaken or misfocused 1-2 MP photo: a 30 px shake path (the and
# Boracchi & Foi's range), a defocus disc up to 16 px across, Gaussians up to sigma 3.5.
CAMERA_SIZE_RANGES: dict[str, tuple[float, float]] = {
    "defocus": (0.5, 8.0),      # disc radius, px
    "gaussian": (0.3, 3.5),     # sigma, px
    "anisotropic": (0.5, 4.0),  # major-axis sigma, px (minor = major x U[0.2, 1])
    "shake": (2.0, 30.0),       # trajectory arc length, px
    "linear": (2.0, 24.0),      # straight-line length, px
}
SATURATION_PROB = 0.5          # half the photos have highlights that were brighter than white
SATURATION_GAIN = (1.5, 6.0)   # clipped source pixels are given this much more radiance
CLEAN_PROB = 0.1               # a tenth of the photos carry no noise at all (bright daylight)
SHOT_RANGE = (1e-4, 1e-2)      # Poisson gain a: variance a * x in linear light (log-uniform)
READ_RANGE = (2e-4, 5e-3)      # read-noise standard deviation in linear light (log-uniform)
JPEG_PROB = 0.85               # most photos people have are JPEGs ...
JPEG_QUALITY = (30, 95)        # ... from heavily recompressed web images to camera defaults


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB decoding curve (IEC 61966-2-1) on floats in [0, 1]."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(y: np.ndarray) -> np.ndarray:
    """The sRGB encoding curve, inverse of ``srgb_to_linear``; input clipped to [0, 1]."""
    y = np.clip(np.asarray(y, dtype=np.float32), 0.0, 1.0)
    return np.where(y <= 0.0031308, 12.92 * y, 1.055 * np.power(y, 1 / 2.4) - 0.055).astype(np.float32)


def defocus_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """An anti-aliased uniform disc (out-of-focus PSF) of ``radius`` px, sums to 1."""
    if radius <= 0.5:
        return np.ones((1, 1))
    half = int(math.ceil(radius))
    size = 2 * half + 1
    # area of the disc inside each pixel, from a supersampled grid
    t = (np.arange(size * supersample) + 0.5) / supersample - size / 2.0
    inside = (t[:, None] ** 2 + t[None, :] ** 2) <= radius**2
    k = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3)).astype(np.float64)
    return k / k.sum()


def anisotropic_gaussian_kernel(sigma_major: float, sigma_minor: float, angle_deg: float) -> np.ndarray:
    """Elliptical Gaussian PSF with axes ``sigma_major`` / ``sigma_minor`` px rotated by the angle."""
    size = gaussian_kernel_size(max(sigma_major, sigma_minor))
    if size == 1:
        return np.ones((1, 1))
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - c
    a = math.radians(angle_deg)
    u = x * math.cos(a) + y * math.sin(a)
    v = -x * math.sin(a) + y * math.cos(a)
    k = np.exp(-0.5 * ((u / max(sigma_major, 1e-3)) ** 2 + (v / max(sigma_minor, 1e-3)) ** 2))
    return k / k.sum()


def camera_kernel(rng: np.random.Generator, strength: float | None = None, family: str | None = None
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """A PSF from the camera mixture: (kernel float64 (k, k) summing to 1, its parameters).

    ``family`` (one of CAMERA_FAMILIES) and ``strength`` in [0, 1] are drawn when not given;
    strength maps linearly onto the family's CAMERA_SIZE_RANGES entry.
    """
    names = list(CAMERA_FAMILIES)
    if family is None:
        p = np.array([CAMERA_FAMILIES[n] for n in names])
        family = names[int(rng.choice(len(names), p=p / p.sum()))]
    if family not in CAMERA_FAMILIES:
        raise ValueError(f"unknown camera kernel family {family!r}; valid: {', '.join(names)}")
    # Drawn strengths lean small (s = u^1.5, mean 0.4): slight misfocus and shake are far more
    # common in the photos people keep than a 30 px smear.
    s = float(rng.uniform(0.0, 1.0)) ** 1.5 if strength is None else float(np.clip(strength, 0.0, 1.0))
    params: dict[str, Any] = {"kernel_family": family, "strength": s}
    if family == "none":
        return np.ones((1, 1)), params
    lo, hi = CAMERA_SIZE_RANGES[family]
    size = lo + s * (hi - lo)
    params["kernel_px"] = float(size)
    if family == "defocus":
        k = defocus_kernel(size)
    elif family == "gaussian":
        k = gaussian_kernel(size)
    elif family == "anisotropic":
        k = anisotropic_gaussian_kernel(size, size * float(rng.uniform(0.2, 1.0)), float(rng.uniform(0, 180)))
    elif family == "shake":
        k = trajectory_motion_kernel(size, rng)
    else:
        k = linear_motion_kernel(size, float(rng.uniform(0, 180)))
    return k, params


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode an (H, W, 3) float image in [0, 1] as a JPEG at ``quality`` (Pillow, 4:2:0) and decode."""
    import io as _io

    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return (np.asarray(Image.open(buf).convert("RGB")).astype(np.float32) / 255.0)


def camera_blur(img: np.ndarray, rng: np.random.Generator, strength: float | None = None,
                family: str | None = None, noise: bool = True, jpeg: bool = True,
                kernel: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a camera-realistic blurred photo from a sharp sRGB (H, W, 3) float image in [0, 1].

    Steps (each range is a module constant, documented above): sRGB -> linear light; with
    probability SATURATION_PROB, pixels clipped in the source get SATURATION_GAIN more radiance;
    convolution with a ``camera_kernel`` (reflect-101 borders); clipping at white; Poisson-Gaussian
    sensor noise in linear light (shot gain and read std log-uniform, none with CLEAN_PROB);
    back to sRGB; 8 bits; a JPEG round trip at a quality in JPEG_QUALITY (with JPEG_PROB).
    ``noise`` / ``jpeg`` False turn those stages off (for sweeps over the blur alone); a given
    ``kernel`` (PSF summing to 1) replaces the drawn one (benches of a known PSF; family "given").

    Returns (blurred float32 (H, W, 3) on the 8-bit grid, params) with params holding the
    kernel (``kernel``, the PSF in linear light), its family and size, the noise and the JPEG
    quality (0 = none) drawn. The generator is consumed in a fixed order, so the same state
    gives byte-identical output.
    """
    if kernel is None:
        kernel, params = camera_kernel(rng, strength, family)
    else:
        kernel, params = np.asarray(kernel, dtype=np.float64), {"kernel_family": "given"}
    saturate = rng.random() < SATURATION_PROB
    gain = float(rng.uniform(*SATURATION_GAIN)) if saturate else 1.0
    clean = rng.random() < CLEAN_PROB
    shot = float(np.exp(rng.uniform(*np.log(SHOT_RANGE))))
    read = float(np.exp(rng.uniform(*np.log(READ_RANGE))))
    use_jpeg = rng.random() < JPEG_PROB
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    noise_seed = int(rng.integers(2**31))
    shot, read = (0.0, 0.0) if (clean or not noise) else (shot, read)
    quality = quality if (use_jpeg and jpeg) else 0

    src = np.clip(img.astype(np.float32), 0.0, 1.0)
    lin = srgb_to_linear(src)
    if gain > 1.0:
        lin = np.where(src.max(axis=2, keepdims=True) >= 254.5 / 255.0, lin * gain, lin)
    lin = np.clip(apply_kernel(lin, kernel), 0.0, 1.0)
    if shot > 0 or read > 0:
        nrng = np.random.default_rng(noise_seed)
        std = np.sqrt(shot * lin + read**2)
        lin = lin + std * nrng.standard_normal(lin.shape).astype(np.float32)
    out = quantize(linear_to_srgb(lin))
    if quality:
        out = jpeg_roundtrip(out, quality)
    params.update(kernel=kernel, kernel_size=int(kernel.shape[0]), saturation_gain=gain, shot=shot,
                  read=read, jpeg_quality=quality)
    return out.astype(np.float32), params
