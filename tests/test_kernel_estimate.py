"""deblur.kernel_estimate: a blind kernel found on small crops of a photo blurred by a known line or
disc (similarity >= 0.6, verdict "kernel"), "no blur" on the sharp photo, the kernel's conventions
(odd square, non-negative, sums to 1, centred), determinism, and the accuracy measures.

Photos: crops of scikit-image's camera (a training photo, fine for a unit test; the bench uses
unseen ones), blurred in linear light without noise so each test runs in a few seconds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from deblur import blur, io
from deblur.errors import ImageError
from deblur.kernel_estimate import (
    KernelEstimate, blockiness, classify, concentration, error_ratio, estimate_kernel, kernel_similarity,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    grey = data.camera()[40:296, 120:376].astype(np.float32) / 255.0  # 256 x 256: the man and his camera
    return np.repeat(grey[:, :, None], 3, axis=2)


def _blurred(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return blur.camera_blur(img, np.random.default_rng(0), kernel=kernel, noise=False, jpeg=False)[0]


def _check_conventions(k: np.ndarray) -> None:
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.dtype == np.float64 and (k >= 0).all()
    assert k.sum() == pytest.approx(1.0, abs=1e-9)
    cy, cx = ndimage.center_of_mass(k)
    c = k.shape[0] // 2
    assert abs(cy - c) <= 1.0 and abs(cx - c) <= 1.0


@pytest.mark.parametrize("name,kernel", [
    ("line", blur.linear_motion_kernel(15, 30)),
    ("disc", blur.defocus_kernel(4.0)),
])
def test_a_known_blur_is_found(photo, name, kernel):
    est = estimate_kernel(_blurred(photo, kernel))
    assert isinstance(est, KernelEstimate)
    _check_conventions(est.kernel)
    sim = kernel_similarity(est.kernel, kernel)
    assert sim >= 0.6, (name, sim, est.description)
    assert est.verdict == "kernel", est
    assert 0.0 <= est.confidence <= 1.0
    if name == "line":  # direction in linear_motion_kernel's convention (y down)
        assert est.angle is not None and min(abs(est.angle - 30), 180 - abs(est.angle - 30)) <= 10, est


def test_a_sharp_photo_has_no_blur(photo):
    sharp = blur.jpeg_roundtrip(photo, 90)
    est = estimate_kernel(sharp)
    assert est.verdict == "no blur", est
    assert est.description == "no blur found"
    assert est.kernel.shape == (1, 1) and est.kernel[0, 0] == 1.0


def test_the_estimate_is_deterministic(photo):
    img = _blurred(photo, blur.linear_motion_kernel(9, 100))
    a, b = estimate_kernel(img), estimate_kernel(img.copy())
    assert np.array_equal(a.kernel, b.kernel)
    assert (a.confidence, a.verdict, a.description) == (b.confidence, b.verdict, b.description)


def test_uint8_grey_and_float_inputs_agree(photo):
    img = _blurred(photo, blur.defocus_kernel(3.0))
    u8 = np.rint(img * 255).astype(np.uint8)
    a = estimate_kernel(u8, second_opinion=False)
    b = estimate_kernel(u8.astype(np.float32) / 255.0, second_opinion=False)
    assert np.array_equal(a.kernel, b.kernel)
    _check_conventions(estimate_kernel(u8[:, :, 0], second_opinion=False).kernel)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="48x48"):
        estimate_kernel(np.zeros((20, 200, 3), np.uint8))
    with pytest.raises(ValueError, match="max_size"):
        estimate_kernel(np.zeros((64, 64, 3), np.uint8), max_size=301)


def test_kernel_similarity():
    line = blur.linear_motion_kernel(15, 30)
    assert kernel_similarity(line, line) == pytest.approx(1.0)
    shifted = np.pad(line, ((0, 6), (3, 0)))  # the same kernel, moved and in a larger window
    assert kernel_similarity(shifted, line) == pytest.approx(1.0)
    assert kernel_similarity(line, blur.linear_motion_kernel(15, 120)) < 0.5
    assert kernel_similarity(np.ones((1, 1)), blur.defocus_kernel(5)) < 0.2


def test_error_ratio_is_one_with_the_true_kernel_and_grows_with_a_wrong_one(photo):
    k = blur.linear_motion_kernel(11, 0)
    blurred = _blurred(photo, k)
    assert error_ratio(photo, blurred, k, k) == pytest.approx(1.0)
    assert error_ratio(photo, blurred, blur.linear_motion_kernel(11, 90), k) > 1.5


def test_classify_names_the_parametric_shapes():
    shape, size, angle = classify(blur.linear_motion_kernel(22, 135))
    assert shape == "line" and abs(size - 22) <= 2 and abs(angle - 135) <= 2
    shape, size, _ = classify(blur.defocus_kernel(7))
    assert shape == "disc" and abs(size - 7) <= 1
    shape, size, _ = classify(blur.gaussian_kernel(2.0))
    assert shape == "gaussian" and abs(size - 2.0) <= 0.3
    assert classify(np.ones((1, 1)))[0] == "none"
    assert concentration(np.ones((1, 1))) == 1.0 and concentration(blur.defocus_kernel(6)) < 0.1


def test_blockiness_sees_jpeg(photo):
    soft = _blurred(photo, blur.gaussian_kernel(2.0)).mean(axis=2)
    assert abs(blockiness(soft)) < 0.1
    jpeg = blur.jpeg_roundtrip(np.repeat(soft[:, :, None], 3, axis=2), 40).mean(axis=2)
    assert blockiness(jpeg) > 0.3


def test_kernel_files_round_trip(tmp_path):
    k = blur.linear_motion_kernel(9, 45)
    back = io.read_kernel(io.write_kernel(tmp_path / "k.npy", k * 3.0))
    assert back.dtype == np.float64 and np.allclose(back, k)
    png = io.read_kernel(io.write_kernel(tmp_path / "k.png", k))
    assert png.shape == k.shape and kernel_similarity(png, k) > 0.99
    with pytest.raises(ImageError, match="suffix"):
        io.write_kernel(tmp_path / "k.txt", k)
    with pytest.raises(ImageError, match="positive sum"):
        io.write_kernel(tmp_path / "z.npy", np.zeros((3, 3)))
