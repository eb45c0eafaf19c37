"""Blind deblurring of any uniform blur: estimate the kernel, then deconvolve -- or do no harm.

Two restorers ``restorer(frames_u8, kernel=None) -> uint8 (H, W, 3)``, both blind (told nothing):

* ``BlindKernel``: ``deblur.kernel_estimate.estimate_kernel`` reads the photo's kernel (non-
  parametric, coarse to fine under an L0 gradient prior) with a verdict ("no blur", "unsure",
  "kernel"); only a "kernel" verdict is deconvolved, by Wiener (``deblur.psf.psf_balance``).
* ``BlindPnP``: the same estimate, a stricter gate (``deconvolve_verdict``), and the learned
  non-blind step (``deblur.pnp.PnPDeconvolution``, linear light) where the gate opens; elsewhere
  only the prior's denoising at the photo's own noise level, which measured never below the
  input on camera-like pairs nor on sharp JPEG photos (bench/blind_probe.py).

``report(frames)`` returns (restored, found): what the estimator found (verdict, description,
confidence, kernel, and whether it was deconvolved), for the CLI's ``--save-kernel`` and the app's
"blur found" line. It is returned, never kept on the shared restorer, so two requests served at
once cannot read each other's kernel.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deblur.classical import _to_float, _to_uint8, _wiener_deconvolve, estimate_noise_std, middle_frame
from deblur.kernel_estimate import KernelEstimate, estimate_kernel
from deblur.pnp import MAX_LEVEL, PnPDeconvolution, denoise
from deblur.psf import psf_balance

MIN_SIDE = 48  # the estimator's own minimum
DENOISE_FLOOR = 2.0 / 255.0  # PriorDenoise's least noise level (JPEG blocks the noise estimate misses)

# The gate of BlindPnP, chosen on camera-like pairs of seed 9001 (bench/blind_probe.py): a photo's own
# softness (lens, depth of field, upscaling) reads as a Gaussian of sigma up to about 3.3 px, and
# deconvolving it rang (-4.6 to -14.5 dB on 4 of 26 pairs), so a Gaussian is only undone from
# GAUSSIAN_SIGMA up; very small lines, shakes and discs are within what texture makes up. Checked on
# seeds it was not chosen on (9101 camera pairs, 9103 sharp JPEG photos) it still let through a 54-67 px
# "shake" read from defocus at confidence 0.74 and a 12 px "shake" read from a sharp photo's texture at
# 0.93 (-7 to -9.6 dB): the confidence (two windows agreeing) does not catch an error both windows make,
# so blind_pnp is not the default (docs/real-photos.md).
GAUSSIAN_SIGMA = 4.0     # px
MOTION_EXTENT = 7.0      # px: a line or shake at least this long
DISC_RADIUS = 3.0        # px


def deconvolve_verdict(est: KernelEstimate) -> tuple[bool, str]:
    """(deconvolve?, why) for a kernel estimate: a "kernel" verdict of a blur larger than what a
    sharp photo's own softness reads as."""
    if est.verdict != "kernel" or est.kernel.size == 1:
        return False, est.verdict
    if est.shape == "gaussian" and est.size < GAUSSIAN_SIGMA:
        return False, f"a soft blur under {GAUSSIAN_SIGMA:.0f} px is what sharp photos look like too"
    if est.shape in ("line", "shake") and est.size < MOTION_EXTENT:
        return False, f"a shake under {MOTION_EXTENT:.0f} px is within what texture makes up"
    if est.shape == "disc" and est.size < DISC_RADIUS:
        return False, f"a disc under {DISC_RADIUS:.0f} px radius is within what texture makes up"
    return True, "kernel"


def _found(est: KernelEstimate | None, deconvolved: bool, why: str = "") -> dict[str, Any]:
    if est is None:
        return {"verdict": "unsure", "description": "too small to read a blur from", "confidence": 0.0,
                "kernel": np.ones((1, 1)), "deconvolved": False}
    return {"verdict": est.verdict, "description": est.description, "confidence": est.confidence,
            "kernel": est.kernel, "deconvolved": deconvolved, "why": why, "shape": est.shape, "size": est.size}


READ_CACHE = 4  # photos whose kernel estimate is kept (by content): the app reads it twice a request
_reads: OrderedDict[bytes, KernelEstimate] = OrderedDict()
_reads_lock = threading.Lock()


def read_kernel(img_u8: np.ndarray) -> KernelEstimate | None:
    """The photo's kernel estimate (``estimate_kernel``), or None when it is too small to read one
    from. Kept for the last READ_CACHE photos, keyed by their content (a hash of the pixels): the
    app's guarded default reads the kernel to decide, and its "blur read from the photo" line
    reads it again (2-3 s on a 2-core CPU). The estimate depends on the pixels only, so a kept one
    is what a second reading would give, whichever request asks. Do not modify what it returns."""
    img_u8 = np.ascontiguousarray(img_u8)
    if min(img_u8.shape[:2]) < MIN_SIDE:
        return None
    key = hashlib.blake2b(img_u8.data, digest_size=16, person=str(img_u8.shape).encode()[:16]).digest()
    with _reads_lock:
        if key in _reads:
            _reads.move_to_end(key)
            return _reads[key]
    est = estimate_kernel(img_u8)
    with _reads_lock:
        _reads[key] = est
        while len(_reads) > READ_CACHE:
            _reads.popitem(last=False)
    return est


def forget_reads() -> None:
    """Empty ``read_kernel``'s store (tests that count readings)."""
    with _reads_lock:
        _reads.clear()



class _Reporting:
    """A blind restorer whose ``report(frames)`` returns (restored, found); calling it returns the
    image alone (any kernel handed to it is ignored: it reads its own)."""

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        return self.report(frames)[0]


@dataclass
class BlindKernel(_Reporting):
    """Kernel estimate -> Wiener where the verdict is "kernel", else the photo itself."""

    name: str = "blind_kernel"
    needs_kernel: bool = False
    frames: int = 1

    def report(self, frames: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        img_u8 = middle_frame(frames)
        est = read_kernel(img_u8)
        if est is None or est.verdict != "kernel" or est.kernel.shape == (1, 1):
            return img_u8.copy(), _found(est, False, est.verdict if est is not None else "")
        img = _to_float(img_u8)
        return _to_uint8(_wiener_deconvolve(img, est.kernel, psf_balance(img))), _found(est, True, "kernel")


@dataclass
class BlindPnP(_Reporting):
    """Kernel estimate -> learned deconvolution where ``deconvolve_verdict`` opens, else the
    photo denoised at its own noise level (by the same prior) -- never a guess deconvolved."""

    pnp: PnPDeconvolution = field(repr=False)
    name: str = "blind_pnp"
    needs_kernel: bool = False
    frames: int = 1

    def report(self, frames: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        img_u8 = middle_frame(frames)
        est = read_kernel(img_u8)
        go, why = deconvolve_verdict(est) if est is not None else (False, "too small")
        kernel = est.kernel if go else np.ones((1, 1))
        return _to_uint8(self.pnp.restore(_to_float(img_u8).astype(np.float64), kernel)), _found(est, go, why)


@dataclass
class PriorDenoise:
    """The do-no-harm path alone: the photo denoised by the trained prior at its own noise level
    (``deblur.classical.estimate_noise_std``), at least ``floor``; nothing deconvolved. A blind
    baseline for every board: how much of a restorer's gain is only noise and JPEG removed.

    floor (DENOISE_FLOOR = 2/255 by default): the wavelet estimate misses JPEG blocks and reads
    most sharp JPEG photos as clean (under 1/255), so without a floor they came back unchanged,
    blocks and all. Chosen between "no floor", 2/255 and the prior's own residual at 10/255
    (``PnPDeconvolution.noise_level("denoiser")``) on the photos the guard does not pass of two
    sets (camera pairs of seed 9101, sharp JPEG photos of seed 9103), gain over the input mean /
    worst: no floor +0.56 / 0.00 and +0.01 / 0.00; 2/255 +0.81 / -0.04 and +0.17 / -0.13; the
    residual +1.05 / -0.10 and +0.25 / -1.29 (it smooths the grain of a sharp photo away)."""

    pnp: PnPDeconvolution = field(repr=False)
    name: str = "prior_denoise"
    needs_kernel: bool = False
    frames: int = 1
    floor: float = DENOISE_FLOOR

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        img = _to_float(middle_frame(frames)).astype(np.float64)
        level = max(estimate_noise_std(img), self.floor)
        if level <= 0.0:
            return middle_frame(frames).copy()
        return _to_uint8(np.clip(denoise(self.pnp.model, img, min(level, MAX_LEVEL)), 0.0, 1.0))


@dataclass
class Guarded(_Reporting):
    """Do no harm in front of a blind single-frame restorer: the photo's kernel is read first
    (``deblur.kernel_estimate``); only the verdict "kernel" runs the restorer. Where the verdict
    is "no blur" or "unsure" the photo is only denoised by the prior (``PriorDenoise``); a photo
    too small to read a kernel from is left to the restorer.

    No threshold of its own: the verdict is the estimator's. Why: the camera networks, and any
    deconvolution, change sharp photos (grain smoothed away, streaks painted on soft texture: -7 to
    -9 dB on some sharp photos after a JPEG round trip, before the camera network's third training
    stage; -2.6 to -4.4 after it), while denoising alone (``PriorDenoise``, its 2/255 floor included)
    was never more than 0.26 dB below its input on any set or board it was scored on
    (docs/real-photos.md).

    ``report(frames)`` returns (restored, found): the inner restorer's own report (None for one
    that reports nothing) with "guard" added, what the estimator found and whether the restorer
    ran. ``for_clip(frame)`` decides once for a whole video (one frame read, no flicker between
    frames decided apart): the inner restorer, or the denoiser alone.
    """

    inner: Any = field(repr=False)
    denoise: PriorDenoise = field(repr=False)
    name: str = "guarded"
    needs_kernel: bool = False
    frames: int = 1

    def decide(self, img_u8: np.ndarray) -> tuple[Any, dict[str, Any]]:
        """(the restorer that runs: the inner one or the denoiser, what the estimator found with
        "ran": that restorer's name) for one uint8 (H, W, 3) photo."""
        est = read_kernel(img_u8)
        blur = est is None or est.verdict == "kernel"  # too small to read: the restorer decides alone
        chosen = self.inner if blur else self.denoise
        guard = _found(est, False, "the restorer ran" if blur else f"{est.verdict}: only denoised")
        return chosen, {**guard, "ran": chosen.name}

    def report(self, frames: np.ndarray, kernel: np.ndarray | None = None,
               progress: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        img_u8 = middle_frame(frames)
        chosen, guard = self.decide(img_u8)
        if chosen is self.denoise:
            return self.denoise(img_u8), {"guard": guard}
        if hasattr(self.inner, "report"):
            out, found = self.inner.report(img_u8, progress=progress) if progress is not None \
                else self.inner.report(img_u8)
        else:
            out, found = self.inner(img_u8), None
        return out, {**(found or {}), "guard": guard}

    def for_clip(self, frame: np.ndarray) -> Any:
        """The restorer for every frame of a clip whose frame ``frame`` is: decided once."""
        return self.decide(middle_frame(frame))[0]


def network_of(restorer: Any) -> Any:
    """The restorer that does the work: itself, or the one behind a guard (the CLI and the app
    wire a network's per-tile progress to it)."""
    return restorer.inner if isinstance(restorer, Guarded) else restorer
