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
    c = (size - 1) / 2.0
    kernel = np.zeros((size, size), dtype=np.float64)
    xs, ys = pts[:, 0] + c, pts[:, 1] + c
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        np.add.at(kernel, (yi[ok], xi[ok]), w[ok])
    return kernel / kernel.sum()


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


def warp_exposures(frames: torch.Tensor, path: torch.Tensor, rot: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """Batched, device-agnostic core of ``synthesize_triplet``: mean of warped sub-frames.

    frames (N, 3, C, H, W) float, one sharp frame per exposure; path (N, 3 * S, 2) sub-pixel
    shifts and rot (N, 3 * S) angles in radians, S sub-frames per exposure. Returns the three
    blurred exposures (N, 3, C, H, W), unquantised. Runs wherever the tensors live (CPU or GPU).
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
    frames = source[None].repeat(3, axis=0) if source.ndim == 3 else source
    if frames.shape[0] != 3:
        raise ValueError(f"synthesize_triplet needs a still or 3 frames, got {frames.shape[0]}")
    frames = frames.astype(np.float32)
    if subframes is None:
        subframes = default_subframes(length)
    if length <= 0:
        blurred = quantize(_add_noise(frames.copy(), noise_std, rng))
        return blurred, frames[1].copy(), {"length": 0.0, "rotation_deg": 0.0, "kernel": np.ones((1, 1)),
                                           "kernel_size": 1}
    path, rot, rot_deg = camera_path(rng, length, subframes, max_rotation_deg)
    src = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))[None]
    blurred = warp_exposures(src, torch.from_numpy(path)[None], torch.from_numpy(rot)[None])
    blurred = blurred[0].numpy().transpose(0, 2, 3, 1)
    blurred = quantize(_add_noise(blurred, noise_std, rng))
    # Sampling the source at p + d averages I(p + d): convolution with a PSF at -d.
    kernel = _rasterize(_densify(-path[subframes : 2 * subframes]))
    params = {"length": float(length), "rotation_deg": rot_deg, "kernel": kernel, "kernel_size": kernel.shape[0]}
    return blurred, frames[1].copy(), params


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
