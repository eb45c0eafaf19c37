"""The blind pipeline: kernel estimate, then Wiener only where the verdict is "kernel"."""

from __future__ import annotations

import numpy as np
from skimage import data

from deblur import blur, registry
from deblur.blind import BlindKernel
from deblur.io import to_float, to_uint8


def _photo() -> np.ndarray:
    grey = data.camera()[40:296, 120:376]  # 256 x 256: the man and his camera (what the estimator's tests use)
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_a_sharp_photo_comes_back_unchanged():
    img = _photo()
    restorer = BlindKernel()
    assert np.array_equal(restorer(img), img)
    assert restorer.found["verdict"] == "no blur"


def test_a_line_blur_is_found_and_undone():
    img = _photo()
    k = blur.linear_motion_kernel(15.0, 30.0)
    blurred = to_uint8(blur.camera_blur(to_float(img), np.random.default_rng(0), kernel=k, noise=False, jpeg=False)[0])
    restorer = BlindKernel()
    out = restorer(blurred)
    assert restorer.found["verdict"] == "kernel" and abs(restorer.found["kernel"].sum() - 1.0) < 1e-9
    from deblur.kernel_estimate import kernel_similarity

    assert kernel_similarity(restorer.found["kernel"], k) > 0.6
    # deconvolved with it: the detail along the blur comes back (PSNR gains are measured on the boards:
    # on this 256 px crop Wiener's border ringing eats them)
    def detail(a):
        return float(np.abs(np.diff(to_float(a)[32:-32, 32:-32].mean(axis=2), axis=1)).mean())

    assert detail(out) > 1.3 * detail(blurred)


def test_registered_as_a_blind_baseline_for_every_family():
    for family in ("gaussian", "motion", "camera"):
        assert "blind_kernel" in registry.names(family, kernel=False)
    info = registry.lookup("blind_kernel", "camera")
    assert info.kind == "baseline" and not info.needs_kernel
    small = _photo()[:40, :40]
    assert np.array_equal(registry.load("blind_kernel")(small), small)  # too small to read: unchanged
