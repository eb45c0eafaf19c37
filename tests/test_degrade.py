"""The one degradation function per blur family (deblur.degrade) and the camera family.

These tests guard what a silent change would corrupt: the published protocols (the evaluator's
gaussian / motion inputs must still be the ones the published leaderboards scored), the camera
family's physics (linear light, noise model, JPEG), its documented proportions (a sampler that
drifts), and the wiring (evaluator and trainer draw from the same function).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import pandas as pd
import pytest
import skimage.data

from deblur import blur, degrade, metrics
from deblur.data import builtin

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "eval" / "leaderboards"


@pytest.fixture(scope="module")
def photo_u8() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[100:196, 180:276])


@pytest.mark.parametrize("family", list(degrade.FAMILIES))
def test_every_family_is_pure_and_seeded(family, photo_u8):
    a = degrade.degrade(family, photo_u8, np.random.default_rng(7))
    b = degrade.degrade(family, photo_u8, np.random.default_rng(7))
    c = degrade.degrade(family, photo_u8, np.random.default_rng(8))
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.params == {**b.params}
    assert not np.array_equal(a.frames, c.frames) or a.params != c.params
    n = degrade.FAMILIES[family].frames
    assert a.frames.dtype == np.uint8 and a.frames.shape == (n, 96, 96, 3)
    assert a.target.dtype == np.uint8 and a.target.shape == (96, 96, 3)
    assert a.kernel is not None and a.kernel.sum() == pytest.approx(1.0, abs=1e-9)


def test_unknown_family_lists_the_valid_ones(photo_u8):
    with pytest.raises(ValueError, match="camera"):
        degrade.degrade("defocus", photo_u8, np.random.default_rng(0))


@pytest.mark.parametrize("board,blur_name", [("builtin-gaussian", "gaussian"), ("builtin-motion", "motion")])
def test_evaluator_inputs_are_still_the_published_ones(board, blur_name):
    """The blurred input's published PSNR per image must come out of today's degradation exactly."""
    from eval.config import DEFAULT_SEED, MOTION_LENGTH
    from eval.inputs import degrade as eval_degrade

    rows = pd.read_csv(BOARDS / board / "per_image.csv")
    rows = rows[rows["model"] == "blurred"].set_index("image")
    ds = builtin()
    for name in ("astronaut", "coffee"):
        item = next(it for it in ds if it.name == name)
        sample = eval_degrade(item, blur_name, DEFAULT_SEED, motion_length=MOTION_LENGTH)
        mid = sample.frames[sample.frames.shape[0] // 2]
        assert metrics.psnr(mid, sample.target) == pytest.approx(rows.loc[name, "psnr"], abs=1e-4)
        assert sample.params["kernel_size"] == rows.loc[name, "kernel_size"]


def test_evaluator_camera_input_is_the_degrade_function():
    from eval.inputs import degrade as eval_degrade
    from eval.inputs import image_rng

    item = next(iter(builtin()))
    sample = eval_degrade(item, "camera", 5, motion_length=0.0)
    direct = degrade.camera(item.sharp, image_rng(5, item.name))
    np.testing.assert_array_equal(sample.frames, direct.frames)
    np.testing.assert_array_equal(sample.kernel, direct.kernel)
    assert sample.params["jpeg_quality"] == direct.params["jpeg_quality"]


def test_blur_happens_in_linear_light():
    """A dark / bright edge blurred by a symmetric kernel: the two edge columns average half the
    bright *radiance* (exact for any symmetric PSF), far brighter in sRGB than an sRGB-space blur."""
    bright = 0.9  # below the clipping level, so highlight saturation does not apply
    img = np.zeros((32, 32, 3), np.float32)
    img[:, 16:] = bright
    out, p = blur.camera_blur(img, np.random.default_rng(0), strength=0.5, family="defocus", noise=False, jpeg=False)
    half = float(blur.srgb_to_linear(np.float32(bright))) / 2
    assert blur.srgb_to_linear(out[8:24, 15:17]).mean() == pytest.approx(half, abs=0.01)
    assert out[8:24, 15:17].mean() > bright / 2 + 0.15  # an sRGB-space blur would give bright / 2


def test_no_kernel_no_noise_no_jpeg_is_the_input(photo_u8):
    img = photo_u8.astype(np.float32) / 255
    out, p = blur.camera_blur(img, np.random.default_rng(3), family="none", noise=False, jpeg=False)
    assert p["kernel_size"] == 1 and p["jpeg_quality"] == 0
    assert np.abs(out - img).max() <= 1.0 / 255 + 1e-6


def test_noise_follows_the_poisson_gaussian_model():
    """Flat grey patches: the noise variance in linear light is shot * x + read^2."""
    rng = np.random.default_rng(11)
    for _ in range(40):  # find a draw with noise but no JPEG (JPEG would smooth the noise)
        state = rng.bit_generator.state
        _, p = blur.camera_blur(np.full((8, 8, 3), 0.5, np.float32), rng)
        if p["shot"] > 1e-3 and p["jpeg_quality"] == 0:
            break
    else:
        pytest.fail("no noisy, JPEG-free draw in 40 tries: the documented proportions drifted")
    rng.bit_generator.state = state
    x = np.full((256, 256, 3), 0.5, np.float32)
    out, p = blur.camera_blur(x, rng)
    lin = blur.srgb_to_linear(out)
    level = float(blur.srgb_to_linear(np.float32(0.5)))
    expected = np.sqrt(p["shot"] * level + p["read"] ** 2)
    assert lin.std() == pytest.approx(expected, rel=0.15)


def test_camera_draws_match_the_documented_proportions():
    """Drift guard: family frequencies, noise-free share and JPEG share over 600 draws."""
    rng = np.random.default_rng(2024)
    tiny = np.full((4, 4, 3), 0.5, np.float32)
    draws = [blur.camera_blur(tiny, rng)[1] for _ in range(600)]
    fam = pd.Series([d["kernel_family"] for d in draws]).value_counts(normalize=True)
    total = sum(blur.CAMERA_FAMILIES.values())
    for name, weight in blur.CAMERA_FAMILIES.items():
        assert fam.get(name, 0.0) == pytest.approx(weight / total, abs=0.05), name
    clean = np.mean([d["shot"] == 0 for d in draws])
    jpeg = np.mean([d["jpeg_quality"] > 0 for d in draws])
    assert clean == pytest.approx(blur.CLEAN_PROB, abs=0.04)
    assert jpeg == pytest.approx(blur.JPEG_PROB, abs=0.05)
    qualities = [d["jpeg_quality"] for d in draws if d["jpeg_quality"]]
    assert min(qualities) >= blur.JPEG_QUALITY[0] and max(qualities) <= blur.JPEG_QUALITY[1]
    strengths = np.array([d["strength"] for d in draws])
    assert strengths.mean() == pytest.approx(0.4, abs=0.04)  # u^1.5 has mean 0.4


@pytest.mark.parametrize("family", ["defocus", "gaussian", "anisotropic", "shake", "linear"])
def test_strength_sets_the_kernel_size(family):
    small, _ = blur.camera_kernel(np.random.default_rng(1), 0.1, family)
    large, _ = blur.camera_kernel(np.random.default_rng(1), 1.0, family)
    assert large.shape[0] > small.shape[0]
    assert large.sum() == pytest.approx(1.0) and small.sum() == pytest.approx(1.0)
    from deblur.sampling import MARGIN

    # the training sampler's margin must hold the largest kernel's reach (no reflect-padded edges)
    assert large.shape[0] // 2 <= MARGIN


def test_training_sampler_draws_from_the_degrade_function(monkeypatch, photo_u8):
    from deblur import sampling

    calls = []

    def spy(source, rng, **kw):
        calls.append(source.shape)
        return degrade.camera(source, rng, **kw)

    # the sampler reaches the camera family through its record (deblur.degrade.FAMILIES)
    monkeypatch.setitem(degrade.FAMILIES, "camera", dataclasses.replace(degrade.FAMILIES["camera"], fn=spy))
    s = sampling.CameraSampler([np.ascontiguousarray(skimage.data.coffee())], 48)
    x, y = s.batch(3, np.random.default_rng(0))
    assert len(calls) == 3 and x.shape == y.shape == (3, 3, 48, 48)
    assert calls[0] == (48 + 2 * sampling.MARGIN,) * 2 + (3,)
    xv, yv = s.fixed(2, 9)
    xv2, _ = s.fixed(2, 9)
    np.testing.assert_array_equal(xv, xv2)


def test_prefetcher_renders_the_samplers_batches_ahead_reproducibly():
    from deblur import sampling

    s = sampling.CameraSampler([np.ascontiguousarray(skimage.data.coffee())], 32)
    a, b = sampling.Prefetcher(s), sampling.Prefetcher(s)
    first = [a.batch(2, np.random.default_rng(5)) for _ in range(3)]
    second = [b.batch(2, np.random.default_rng(5)) for _ in range(3)]
    for (xa, ya), (xb, yb) in zip(first, second):  # same seed, same stream
        assert xa.shape == ya.shape == (2, 3, 32, 32)
        torch.testing.assert_close(xa, xb, rtol=0, atol=0)
        torch.testing.assert_close(ya, yb, rtol=0, atol=0)
    assert not torch.equal(first[0][1], first[1][1])  # a stream, not one batch repeated
    with pytest.raises(ValueError, match="batches of 2"):
        a.batch(3, np.random.default_rng(5))


def test_camera_sampler_sharp_fraction_adds_clean_identity_samples_and_keeps_the_default_stream():
    from deblur import sampling

    photo = [np.ascontiguousarray(skimage.data.astronaut())]
    plain = sampling.CameraSampler(photo, 32).fixed(6, 3)
    again = sampling.CameraSampler(photo, 32, sharp=0.0).fixed(6, 3)
    np.testing.assert_array_equal(plain[0], again[0])  # sharp=0 draws nothing extra: old runs reproduce
    x, y = sampling.CameraSampler(photo, 32, sharp=1.0).fixed(12, 3)

    def psnr(a, b):
        return 10 * np.log10(255.0**2 / max(((a.astype(float) - b) ** 2).mean(), 1e-12))

    clean = [psnr(xi, yi) for xi, yi in zip(x[:, 0], y)]
    assert min(clean) > 24  # no kernel, no noise: at most a JPEG round trip (quality >= 30) away
    px, py = sampling.CameraSampler(photo, 32).fixed(12, 3)
    assert np.mean(clean) > np.mean([psnr(xi, yi) for xi, yi in zip(px[:, 0], py)]) + 3
    mixed = sampling.CameraSampler(photo, 32, sharp=0.5)
    assert not np.array_equal(mixed.fixed(6, 3)[0], plain[0])
    with pytest.raises(ValueError, match="fraction"):
        sampling.CameraSampler(photo, 32, sharp=1.5)
