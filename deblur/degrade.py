"""One record per blur family: sharp source -> what a restorer is given, and every fact about it.

Every family is a pure function ``fn(source, rng, **options) -> Degraded``: the same generator
state gives byte-identical frames. Its ``Family`` record holds everything else that is per
family -- the frames a restorer sees, the parameter draw, the sweep grid and label, the app's
range, the training crop and batch, the description and the model card's line -- so the
evaluator (eval/inputs.py, eval/sweep.py), the app's "Blur it first", every training sampler
(deblur/sampling.py), the sigma estimator's trainer and the model card read one place, and a
leaderboard row, an app demo and a training sample of one family share one parameter draw.
Adding a blur family is one ``Family`` in ``FAMILIES`` (plus its function); a record missing a
field fails at import, and an unknown family name is an error that lists the valid ones.

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
import torch

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
        sigma = float(uniform_draw(rng, sigma_range))
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
           family: str | None = None, noise: bool = True, kernel: np.ndarray | None = None) -> Degraded:
    """A camera-realistic blurred photo (deblur.blur.camera_blur): strength in [0, 1] or drawn;
    ``noise`` False leaves out the sensor noise (JPEG is still drawn); a given ``kernel`` (a PSF
    summing to 1) replaces the drawn one (kernel family "given")."""
    sharp = _float(_still(source))
    blurred, info = B.camera_blur(sharp, rng, strength=strength, family=family, noise=noise, kernel=kernel)
    kernel = info.pop("kernel")
    return Degraded(_u8(blurred)[None], _u8(sharp), kernel, info)


def uniform_draw(rng: np.random.Generator, lo_hi: tuple[float, float], n: int | None = None) -> float | np.ndarray:
    """The level draw of the gaussian and motion families: U[lo, hi], one value or ``n`` of them.

    ``rng.uniform(lo, hi, n)`` consumes the generator as ``n`` single draws do, so a batched
    sampler and a per-sample one given the same generator state draw the same levels."""
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if n is None else rng.uniform(lo, hi, n)


def _gaussian_batch(sharp: torch.Tensor, levels: np.ndarray, rng: np.random.Generator
                    ) -> tuple[torch.Tensor, dict[str, Any]]:
    """Batched gaussian render on the training device: sharp (n, 1, 3, S, S) -> blurred (n, 1, 3, S, S)."""
    return B.gaussian_blur_batch(sharp[:, 0], levels)[:, None], {}


def _motion_batch(sharp: torch.Tensor, levels: np.ndarray, rng: np.random.Generator
                  ) -> tuple[torch.Tensor, dict[str, Any]]:
    """Batched motion render: three sharp frames (n, 3, 3, S, S) (a still repeated, or a real
    window) -> three exposures along one camera path of ``levels`` px each, on the 8-bit grid;
    the paths and rotations drawn are returned (a prior-refining model's prior is made from them)."""
    sub = B.default_subframes(float(levels.max()))
    paths, rots = zip(*(B.camera_path(rng, float(length), sub)[:2] for length in levels))
    out = B.warp_exposures(sharp, torch.from_numpy(np.stack(paths)), torch.from_numpy(np.stack(rots)))
    return torch.round(out.clamp(0.0, 1.0) * 255.0) / 255.0, {"paths": paths, "rots": rots}


@dataclass(frozen=True)
class Family:
    """Every per-family fact. No field has a default: a family that leaves one out fails at import.

    ``level`` is the keyword of ``fn`` that sets the blur's strength exactly (a sweep, the app's
    slider and the evaluator's motion length hand it over); ``draw`` is the family's random level
    (a training sampler and the evaluator draw it through ``Family.draw_level``), or None when
    ``fn`` draws its own parameters (camera: a kernel family, a strength, noise and JPEG all in
    deblur.blur.camera_blur, in a fixed order).
    """

    name: str
    fn: Callable[..., Degraded]
    frames: int                     # frames a restorer sees (1, or 3: t-1, t, t+1)
    level: str                      # the keyword a sweep / the app / the evaluator sets (sigma / length / strength)
    level_range: tuple[float, float]  # the training draw's default range of ``level``
    draw: Callable[..., Any] | None  # (rng, (lo, hi), n=None) -> level(s); None: ``fn`` draws its own
    batch_fn: Callable[..., Any] | None  # torch render of a batch for the corpus sampler; None: per-sample on the CPU
    sweep: tuple[float, ...]        # `python -m eval sweep`'s default grid of ``level``
    sweep_label: str                # what a sweep's level means, for its printout
    sweep_max: float | None         # the largest level a sweep may ask for (None: no bound)
    app_range: tuple[float, float, float, float]  # the app's "Blur it first" slider: min, max, step, default
    crop: int                       # default training crop (px)
    batch: int                      # default training batch
    downscale: bool                 # training photos may be shrunk to 1.25 crops (whole objects in a crop, CIFAR-like)
    description: str                # one line for the app and the CLI: which photos it is for
    card: str                       # the model card's Blur line; ``{lo}``, ``{hi}``: the training range of ``level``

    def __post_init__(self) -> None:
        problems = []
        if not callable(self.fn):
            problems.append("fn is not callable")
        if self.frames not in (1, 3):
            problems.append(f"frames must be 1 or 3, not {self.frames!r}")
        for field_name in ("name", "level", "sweep_label", "description", "card"):
            if not isinstance(getattr(self, field_name), str) or not getattr(self, field_name).strip():
                problems.append(f"{field_name} is empty")
        lo, hi = self.level_range
        if not lo <= hi:
            problems.append(f"level_range {self.level_range} is not (lo, hi)")
        if not self.sweep:
            problems.append("sweep has no levels")
        if len(self.app_range) != 4 or not self.app_range[0] <= self.app_range[3] <= self.app_range[1]:
            problems.append(f"app_range {self.app_range} is not (min, max, step, default) with min <= default <= max")
        if self.crop <= 0 or self.batch <= 0:
            problems.append("crop and batch must be positive")
        if self.draw is not None and not callable(self.draw):
            problems.append("draw is neither None nor callable")
        if self.batch_fn is not None and self.draw is None:
            problems.append("a batched render needs a level draw")
        if problems:
            raise DeblurError(f"blur family {self.name!r}: {'; '.join(problems)}")

    def draw_level(self, rng: np.random.Generator, lo_hi: tuple[float, float] | None = None, n: int | None = None
                   ) -> float | np.ndarray | None:
        """The family's random level (``n`` of them, or one), from ``lo_hi`` or ``level_range``;
        None (nothing drawn) for a family whose ``fn`` draws its own."""
        return None if self.draw is None else self.draw(rng, lo_hi or self.level_range, n)

    def pick_range(self, **ranges: tuple[float, float] | None) -> tuple[float, float] | None:
        """The range given for this family's ``level`` keyword among ``ranges`` (the trainer's
        ``sigma=`` and ``length=`` flags), or None: the record's own ``level_range``."""
        return ranges.get(self.level)

    def card_line(self, lo_hi: tuple[float, float] | None = None) -> str:
        lo, hi = lo_hi or self.level_range
        return self.card.format(lo=lo, hi=hi)


FAMILIES: dict[str, Family] = {
    "gaussian": Family(
        "gaussian", gaussian, 1, "sigma", (0.0, 3.0), uniform_draw, _gaussian_batch,
        sweep=(0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0), sweep_label="sigma", sweep_max=None,
        app_range=(0.5, 3.0, 0.1, 1.5), crop=32, batch=32, downscale=True,
        description="Gaussian blur (the paper's CIFAR-10 task): lens softness, no noise",
        card="Gaussian, sigma ~ U[{lo:g}, {hi:g}], 8-bit quantised"),
    "motion": Family(
        "motion", motion, 3, "length", (2.0, 14.0), uniform_draw, _motion_batch,
        sweep=(0.0, 4.0, 8.0, 12.0, 16.0, 24.0), sweep_label="motion length (px)", sweep_max=None,
        app_range=(2.0, 24.0, 1.0, 8.0), crop=256, batch=4, downscale=False,
        description="three video frames blurred along one camera path (the paper's REDS task)",
        card="3 exposures along one camera path, {lo:g}-{hi:g} px per exposure, 8-bit quantised"),
    "camera": Family(
        "camera", camera, 1, "strength", (0.0, 1.0), None, None,
        sweep=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), sweep_label="strength (fraction of each kernel family's size range)",
        sweep_max=1.0, app_range=(0.0, 1.0, 0.05, 0.5), crop=128, batch=8, downscale=False,
        description="real photos: defocus, shake or motion in linear light, with sensor noise and JPEG",
        card=("the camera family (deblur.degrade.camera): a defocus / Gaussian / anisotropic / shake / linear "
              "kernel in linear light, clipped highlights, shot + read noise, 8 bits, JPEG 30-95")),
}


def family(name: str) -> Family:
    """The record of blur family ``name``; an unknown name is a DeblurError listing the valid ones
    (never a silent fall-back to another family)."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise DeblurError(f"unknown blur family {name!r}; valid: {', '.join(FAMILIES)}") from None


def degrade(family_name: str, source: np.ndarray, rng: np.random.Generator, **options: Any) -> Degraded:
    """Degrade ``source`` with one blur family; unknown names list the valid ones."""
    return family(family_name).fn(source, rng, **options)
