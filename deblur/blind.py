"""Blind deblurring of any uniform blur: estimate the kernel, then deconvolve -- or do no harm.

``BlindKernel`` is a restorer ``restorer(frames_u8, kernel=None) -> uint8 (H, W, 3)``:

1. ``deblur.kernel_estimate.estimate_kernel`` reads the photo's kernel (non-parametric, coarse to
   fine under an L0 gradient prior) with a verdict: "no blur", "unsure" or "kernel";
2. only a "kernel" verdict is deconvolved (Wiener with ``deblur.psf.psf_balance``, the balance
   floor for a PSF found blind); "no blur" and "unsure" return the photo unchanged, so a sharp
   photo, or one the estimator cannot read, is never made worse by a wrong kernel.

What it found is kept in ``.found`` (verdict, description, confidence, kernel) after each call,
for the CLI's ``--save-kernel`` and the app's "blur found" line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deblur.baselines import _to_float, _to_uint8, _wiener_deconvolve, middle_frame
from deblur.kernel_estimate import estimate_kernel
from deblur.psf import psf_balance

MIN_SIDE = 48  # the estimator's own minimum


@dataclass
class BlindKernel:
    """Kernel estimate -> Wiener where the verdict is "kernel", else the photo itself."""

    name: str = "blind_kernel"
    needs_kernel: bool = False
    frames: int = 1
    found: dict = field(default_factory=dict)

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        img_u8 = middle_frame(frames)
        if min(img_u8.shape[:2]) < MIN_SIDE:
            self.found = {"verdict": "unsure", "description": "too small to read a blur from"}
            return img_u8.copy()
        est = estimate_kernel(img_u8)
        self.found = {"verdict": est.verdict, "description": est.description, "confidence": est.confidence,
                      "kernel": est.kernel}
        if est.verdict != "kernel" or est.kernel.shape == (1, 1):
            return img_u8.copy()
        img = _to_float(img_u8)
        return _to_uint8(_wiener_deconvolve(img, est.kernel, psf_balance(img)))
