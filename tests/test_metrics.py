"""Metrics against scikit-image on real photos, plus the conventions they promise."""

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from deblur import blur, metrics
from deblur.errors import DeblurError

FIELD_SSIM_ARGS = dict(  # the exact call from the field's convention (field-anchors.md)
    channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
)


def _photo(name: str) -> np.ndarray:
    img = getattr(data, name)()
    return img[:192, :256].astype(np.float32) / 255.0  # crop: keeps the suite fast


def _degraded(name: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    sharp = _photo(name)
    rng = np.random.default_rng(0)
    if kind == "gauss1":
        return sharp, blur.gaussian_blur(sharp, 1.0)
    if kind == "gauss2.5":
        return sharp, blur.gaussian_blur(sharp, 2.5)
    if kind == "gauss1.5+noise":
        return sharp, blur.gaussian_blur(sharp, 1.5, noise_std=0.02, rng=rng)
    if kind == "noise_float":  # not quantised, not clipped to 8 bits: a float network output
        return sharp, np.clip(sharp + rng.normal(0, 0.05, sharp.shape), 0, 1).astype(np.float32)
    raise AssertionError(kind)


PAIRS = [(n, k) for n in ("astronaut", "coffee") for k in ("gauss1", "gauss2.5", "gauss1.5+noise", "noise_float")]


@pytest.mark.parametrize("name,kind", PAIRS)
def test_values_match_skimage(name, kind):
    x, y = _degraded(name, kind)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    assert metrics.mse(y, x) == pytest.approx(mean_squared_error(x64, y64), abs=1e-9)
    assert metrics.psnr(y, x) == pytest.approx(peak_signal_noise_ratio(x64, y64, data_range=1.0), abs=1e-6)
    assert metrics.ssim(y, x) == pytest.approx(structural_similarity(x64, y64, **FIELD_SSIM_ARGS), abs=1e-6)


def _wang_ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """Independent Wang et al. (2004) SSIM: 11x11 Gaussian (sigma 1.5), population statistics."""
    g = dict(sigma=1.5, truncate=3.5, mode="reflect")
    mu_a, mu_b = ndimage.gaussian_filter(a, **g), ndimage.gaussian_filter(b, **g)
    va = ndimage.gaussian_filter(a * a, **g) - mu_a**2
    vb = ndimage.gaussian_filter(b * b, **g) - mu_b**2
    cov = ndimage.gaussian_filter(a * b, **g) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    return float(s[5:-5, 5:-5].mean())  # the 'valid' part: window radius 5 left out


def test_ssim_is_the_wang_variant_not_just_whatever_skimage_defaults_to():
    x, y = _degraded("astronaut", "gauss1.5+noise")
    x, y = x.astype(np.float64), y.astype(np.float64)
    ours = metrics.ssim(y, x)
    reference = np.mean([_wang_ssim_channel(x[..., c], y[..., c]) for c in range(3)])
    assert ours == pytest.approx(reference, abs=1e-9)
    # The variants the docstring warns about really differ, so the checks above have teeth.
    skimage_default = structural_similarity(x, y, channel_axis=-1, data_range=1.0)  # 7x7 box, sample cov
    assert abs(ours - skimage_default) > 1e-3


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_metrics_get_worse_as_blur_grows(name):
    sharp = _photo(name)
    scores = [(metrics.psnr(blur.gaussian_blur(sharp, s), sharp), metrics.ssim(blur.gaussian_blur(sharp, s), sharp))
              for s in (0.5, 1.0, 2.0, 3.0)]
    psnrs, ssims = zip(*scores)
    assert all(a > b for a, b in zip(psnrs, psnrs[1:])), psnrs
    assert all(a > b for a, b in zip(ssims, ssims[1:])), ssims
    assert all(m < 1.0 for m in ssims)


def test_identical_images_cap_at_100_db_and_ssim_1():
    img = (_photo("coffee") * 255).round().astype(np.uint8)
    assert metrics.PSNR_CAP_DB == 100.0
    assert 10 * math.log10(1.0 / metrics.MSE_FLOOR) == pytest.approx(metrics.PSNR_CAP_DB)
    assert metrics.mse(img, img) == 0.0
    assert metrics.psnr(img, img) == 100.0
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    # A 1x1 Gaussian kernel (sigma < ~0.08, the CIFAR case) leaves the image identical: finite score.
    f = img.astype(np.float32) / 255
    assert metrics.psnr(blur.gaussian_blur(f, 0.05), f) == 100.0
    # One grey level off in one pixel is a large but finite PSNR, below the cap.
    off = img.copy()
    off[0, 0, 0] ^= 1
    assert 60.0 < metrics.psnr(off, img) < 100.0


def test_uint8_and_float_inputs_agree():
    x, y = _degraded("astronaut", "gauss1.5+noise")  # quantised: exactly k / 255
    xu, yu = (np.rint(x * 255).astype(np.uint8), np.rint(y * 255).astype(np.uint8))
    for fn in (metrics.mse, metrics.psnr, metrics.ssim):
        assert fn(xu, yu) == pytest.approx(fn(x, y), abs=1e-6)
        assert fn(xu, y) == pytest.approx(fn(x, y), abs=1e-6)  # mixed dtypes


def test_metrics_are_symmetric():
    x, y = _degraded("coffee", "gauss2.5")
    for fn in (metrics.mse, metrics.psnr, metrics.ssim):
        assert fn(x, y) == pytest.approx(fn(y, x), abs=1e-12)


def test_grey_images_match_skimage():
    x = data.camera()[:128, :160].astype(np.float64) / 255
    y = blur.gaussian_blur(x[..., None].repeat(3, -1).astype(np.float32), 1.5)[..., 0].astype(np.float64)
    assert metrics.psnr(y, x) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1.0), abs=1e-6)
    args = {k: v for k, v in FIELD_SSIM_ARGS.items() if k != "channel_axis"}
    assert metrics.ssim(y, x) == pytest.approx(structural_similarity(x, y, **args), abs=1e-6)


def test_shape_mismatch_is_a_clear_error():
    a = np.zeros((32, 32, 3), np.uint8)
    b = np.zeros((32, 30, 3), np.uint8)
    for fn in (metrics.mse, metrics.psnr, metrics.ssim):
        with pytest.raises(ValueError, match=r"same shape.*\(32, 32, 3\).*\(32, 30, 3\)"):
            fn(a, b)
    with pytest.raises(DeblurError, match="same shape"):
        metrics.psnr(a, a[..., 0])


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((16, 16, 4), np.float32), "RGB"),
        (np.zeros((2, 16, 16, 3), np.float32), "RGB"),
        (np.full((16, 16, 3), 200.0, np.float32), r"\[0, 1\]"),  # 0..255 floats
        (np.full((16, 16, 3), np.nan, np.float32), "non-finite"),
        (np.zeros((16, 16, 3), np.int64), "dtype"),
    ],
)
def test_bad_inputs_raise(bad, match):
    with pytest.raises(DeblurError, match=match):
        metrics.psnr(bad, bad)


def test_ssim_needs_the_window_to_fit():
    tiny = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(DeblurError, match="11x11"):
        metrics.ssim(tiny, tiny)
    assert metrics.psnr(tiny, tiny) == 100.0  # PSNR has no such limit


def test_variants_are_documented_for_csvs():
    assert "sigma=1.5" in metrics.SSIM_VARIANT and "population" in metrics.SSIM_VARIANT
    assert "100 dB" in metrics.PSNR_VARIANT
