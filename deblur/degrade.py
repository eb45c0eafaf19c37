"""One degradation function per blur family: sharp source -> what a restorer is given.

Every family is a pure function ``fn(source, rng, **options) -> Degraded``: the same generator
state gives byte-identical frames. The evaluator (eval/inputs.py), the app's "Blur it first" and
training all call these, so a leaderboard row, an app demo and a training sample of one family
are drawn from one distribution. Adding a blur family is one entry in ``FAMILIES``.

- ``gaussian``: the paper's CIFAR-10 task, sigma ~ U[0, 3] (or a given sigma), 8-bit.
- ``motion``: the paper's 3-frame REDS task, three exposures along one camera path.
- ``camera``: a real photo's blur: a kernel mixture in linear light, clipped highlights,
  shot and read noise, 8 bits, JPEG (deblur.blur.camera_blur documents every range).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deblur import blur as B
from deblur.errors import DeblurError
from deblur.io import to_float, to_uint8


@dataclass(frozen=True)
class Degraded:
    """A degraded sample: uint8 input frames (F, H, W, 3), uint8 target (H, W, 3), the true PSF
    (float64, sums to 1; None when it is unknown) and the parameters drawn (JSON-able)."""

    frames: np.ndarray
    target: np.ndarray
    kernel: np.ndarray | None
    params: dict[str, Any] = field(default_factory=dict)


def _u8(img: np.ndarray) -> np.ndarray:
    return to_uint8(img)


def _still(source: np.ndarray) -> np.ndarray:
    """The sharp still of a source: (H, W, 3) as is, or the middle of (K, H, W, 3) frames."""
    src = np.asarray(source)
    return src[src.shape[0] // 2] if src.ndim == 4 else src


def _float(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    return to_float(img) if img.dtype == np.uint8 else img.astype(np.float32)


def gaussian(source: np.ndarray, rng: np.random.Generator, *, sigma: float | None = None,
             sigma_range: tuple[float, float] = (0.0, 3.0)) -> Degraded:
    """Gaussian blur with sigma ~ U[sigma_range] (the paper's U[0, 3]) or exactly ``sigma``."""
    sharp = _float(_still(source))
    if sigma is None:
        blurred, info = B.sample_gaussian(sharp, rng, sigma_min=sigma_range[0], sigma_max=sigma_range[1])
        sigma = info["sigma"]
    else:
        blurred = B.gaussian_blur(sharp, float(sigma))
    kernel = B.gaussian_kernel(float(sigma))
    return Degraded(_u8(blurred)[None], _u8(sharp), kernel,
                    {"sigma": float(sigma), "kernel_size": int(kernel.shape[0])})


def motion(source: np.ndarray, rng: np.random.Generator, *, length: float = 8.0) -> Degraded:
    """Three exposures t-1, t, t+1 along one camera path of ``length`` px per exposure.

    ``source`` is a still (H, W, 3) or real consecutive frames (K, H, W, 3), K >= 3 (the middle
    three are used)."""
    src = _float(source)
    if src.ndim == 4:
        if src.shape[0] < 3:
            raise DeblurError(f"motion blur needs a still or at least 3 frames, got {src.shape[0]}")
        k = src.shape[0] // 2
        src = src[k - 1 : k + 2]
    blurred, sharp_mid, info = B.synthesize_triplet(src, rng, length=float(length))
    return Degraded(_u8(blurred), _u8(sharp_mid), info["kernel"],
                    {"motion_length": float(info["length"]), "kernel_size": int(info["kernel"].shape[0])})


def camera(source: np.ndarray, rng: np.random.Generator, *, strength: float | None = None,
           family: str | None = None, noise: bool = True) -> Degraded:
    """A camera-realistic blurred photo (deblur.blur.camera_blur): strength in [0, 1] or drawn;
    ``noise`` False leaves out the sensor noise (JPEG is still drawn)."""
    sharp = _float(_still(source))
    blurred, info = B.camera_blur(sharp, rng, strength=strength, family=family, noise=noise)
    kernel = info.pop("kernel")
    return Degraded(_u8(blurred)[None], _u8(sharp), kernel, info)


@dataclass(frozen=True)
class Family:
    """A blur family: its function, the frames a restorer sees, and its sweep parameter."""

    fn: Callable[..., Degraded]
    frames: int
    level: str           # the keyword a sweep sets (sigma / length / strength)
    description: str     # one line for the app and the CLI: which photos it is for


FAMILIES: dict[str, Family] = {
    "gaussian": Family(gaussian, 1, "sigma", "Gaussian blur (the paper's CIFAR-10 task): lens softness, no noise"),
    "motion": Family(motion, 3, "length", "three video frames blurred along one camera path (the paper's REDS task)"),
    "camera": Family(camera, 1, "strength",
                     "real photos: defocus, shake or motion in linear light, with sensor noise and JPEG"),
}


def degrade(family: str, source: np.ndarray, rng: np.random.Generator, **options: Any) -> Degraded:
    """Degrade ``source`` with one blur family; unknown names list the valid ones."""
    if family not in FAMILIES:
        raise DeblurError(f"unknown blur {family!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[family].fn(source, rng, **options)
