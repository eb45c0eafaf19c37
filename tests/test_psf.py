"""deblur.psf: a large defocus disc / straight motion identified from one photo's spectrum, the
blind_psf baseline built on it, and NAME+psf (deconvolve a large blur, then the network).

Photos: scikit-image's camera and coins (not in the builtin evaluation set), blurred through the
camera pipeline (linear light, sensor noise, JPEG) with a known PSF over five seeds, and the
gallery's real misfocused page (OpenCV's text_defocus.jpg, no sharp twin). bench/psf_identify.py
measures the rates on many photos."""

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from deblur import blur, registry
from deblur.baselines import BASELINES
from deblur.errors import DeblurError
from deblur.inference import Deblurrer
from deblur.io import read_image
from deblur.metrics import psnr
from deblur.models import build_model
from deblur.psf import PSFEstimate, deconvolve_large, identify_psf, is_large
from deblur.weights import save_weights, write_manifest_entry


def _photo(name: str) -> np.ndarray:
    return np.repeat(getattr(data, name)()[:, :, None], 3, axis=-1).astype(np.float32) / 255.0


def _blurred(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out, params = blur.camera_blur(img, np.random.default_rng(0), kernel=kernel, noise=False, jpeg=False)
    assert params["kernel_family"] == "given"
    return out


def _u8(img: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def _camera_photo(img: np.ndarray, kernel: np.ndarray, seed: int) -> np.ndarray:
    return blur.camera_blur(img, np.random.default_rng(seed), kernel=kernel)[0]


MISFOCUSED_PAGE = Path(__file__).resolve().parent.parent / "gallery" / "inputs" / "text_defocus.png"


def test_a_real_misfocused_page_reads_as_a_disc_of_about_ten_px():
    page = read_image(MISFOCUSED_PAGE)
    est = identify_psf(page)
    as_float = identify_psf(page.astype(np.float64) / 255.0)  # the scale does not matter
    assert (as_float.family, as_float.size, as_float.angle) == (est.family, est.size, est.angle)
    assert est.family == "defocus" and 9 <= est.size <= 11, est
    assert est.evidence < 1.0 and is_large(est)


@pytest.mark.parametrize("length,angle", [(30, 60), (24, 0), (36, 135), (45, 15)])
def test_a_straight_motion_is_found_with_its_length_and_direction(length, angle):
    k = blur.linear_motion_kernel(length, angle)
    found = 0
    for seed in range(5):
        est = identify_psf(_camera_photo(_photo("coins"), k, seed))
        d = abs((est.angle or 0.0) - angle) % 180
        found += est.family == "motion" and abs(est.size - length) <= 0.2 * length and min(d, 180 - d) <= 5
    assert found >= 3, f"found {found} of 5"


@pytest.mark.parametrize("name", ["camera", "coins"])
def test_a_sharp_noisy_photo_has_no_large_blur(name):
    for seed in range(5):
        est = identify_psf(_camera_photo(_photo(name), np.ones((1, 1)), seed))
        assert est.family == "none" and est.kernel.shape == (1, 1), (seed, est)


def test_small_blur_is_left_to_the_networks():
    for seed in range(3):
        assert identify_psf(_camera_photo(_photo("camera"), blur.linear_motion_kernel(4, 30), seed)).family == "none"
    small = PSFEstimate("defocus", 5.0, None, blur.defocus_kernel(5), 1e-3, 0.8)
    assert not is_large(small)


def test_identify_refuses_a_tiny_image():
    with pytest.raises(ValueError, match="at least 32x32"):
        identify_psf(np.zeros((20, 64, 3)))
    with pytest.raises(ValueError, match="at least 32x32"):
        identify_psf(np.zeros(100))


def test_camera_blur_with_a_given_kernel_is_that_convolution_in_linear_light():
    img = _photo("camera")[:64, :64]
    k = blur.defocus_kernel(3)
    out = _blurred(img, k)
    lin = np.clip(blur.apply_kernel(blur.srgb_to_linear(img), k), 0, 1)
    np.testing.assert_allclose(out, blur.quantize(blur.linear_to_srgb(lin)), atol=1e-6)


def test_blind_psf_sharpens_a_large_blur_and_returns_sharp_photos_unchanged():
    sharp = _photo("coins")
    x = _u8(_camera_photo(sharp, blur.linear_motion_kernel(30, 60), 0))
    out = BASELINES["blind_psf"](x)
    assert psnr(out, _u8(sharp)) > psnr(x, _u8(sharp)) + 1.0
    clean = _u8(blur.quantize(sharp))
    np.testing.assert_array_equal(BASELINES["blind_psf"](clean), clean)
    tiny = clean[:20, :20]
    np.testing.assert_array_equal(BASELINES["blind_psf"](tiny), tiny)
    assert not BASELINES["blind_psf"].needs_kernel


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    for name, arch, task, size in [("res_unet-camera", "res_unet", "camera", dict(width=4, enc=(1, 1), middle=1, dec=(1, 1))),
                                   ("atrous_net-motion", "atrous_net", "motion",
                                    dict(blocks=1, stem=4, channels=4, branch=4, head=4))]:
        model = build_model(arch, "lite", task, **size)
        sha = save_weights(d / f"{name}.safetensors", model, {"task": task, "name": name})
        write_manifest_entry(name, f"{name}.safetensors", sha, {"arch": arch, "task": task}, weights_dir=d)
    return d


def test_registry_offers_psf_first_for_camera_networks_only(weights):
    assert "res_unet-camera+psf" in registry.names("camera", weights_dir=weights)
    assert not any(n.endswith("+psf") for n in registry.names("motion", weights_dir=weights))
    info = registry.lookup("res_unet-camera+psf+x8", "camera", weights)
    assert info.psf and info.ensemble and info.name == "res_unet-camera+psf+x8"
    with pytest.raises(registry.IncompatibleModelError, match=r"\+psf"):
        registry.lookup("atrous_net-motion+psf", "motion", weights)
    with pytest.raises(registry.IncompatibleModelError, match=r"\+psf"):
        registry.lookup("blind_wiener+psf")
    with pytest.raises(DeblurError, match="single-frame"):
        Deblurrer(build_model("atrous_net", "lite", "motion", blocks=1, stem=4, channels=4, branch=4, head=4),
                  psf=True)


def test_psf_first_deconvolves_only_a_large_blur(weights):
    plain = registry.load("res_unet-camera", "camera", weights, tile=None)
    first = registry.load("res_unet-camera+psf", "camera", weights, tile=None)
    assert first.psf and not plain.psf
    sharp = _u8(blur.quantize(_photo("camera")))
    np.testing.assert_array_equal(first(sharp), plain(sharp))  # nothing found: the network alone
    x = read_image(MISFOCUSED_PAGE)
    deconvolved, est = deconvolve_large(x)
    assert est.family == "defocus" and not np.array_equal(deconvolved, x)
    np.testing.assert_array_equal(first(x), plain(deconvolved))
    # what it found comes back with the result (Deblurrer.report), for the app's "Blur found" line
    out, found = first.report(x)
    np.testing.assert_array_equal(out, plain(deconvolved))
    assert found["deconvolved"] and found["psf"].family == "defocus"
    assert first.report(sharp)[1]["deconvolved"] is False and plain.report(sharp)[1] is None


def test_camera_sampler_can_show_a_network_what_psf_first_hands_it():
    from deblur.sampling import CameraSampler

    photos = [np.repeat(data.camera()[:, :, None], 3, axis=-1), data.astronaut()]
    plain, psf = CameraSampler(photos, 64), CameraSampler(photos, 64, psf=1.0)
    a, b = plain.sample(np.random.default_rng(5)), CameraSampler(photos, 64, psf=0.0).sample(np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])  # psf=0 keeps the family's own stream
    x, y = psf.sample(np.random.default_rng(5))
    assert x.shape == y.shape == (64, 64, 3) and x.dtype == y.dtype == np.uint8
    assert not np.array_equal(x, y)
    with pytest.raises(ValueError, match="psf is a fraction"):
        CameraSampler(photos, 64, psf=1.5)
