"""Three-frame motion deblurring from the exposures' physics (deblur.multiframe).

What would silently break it: kernels that no longer match how the synthesis blurs (the path
is sampled uniformly in time, and the kernels are not centred), a path fit that stops finding
the path, a restorer that invents detail in a still photo, and a registry that offers it for
a blur it cannot take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from deblur import blur as B
from deblur import metrics, registry
from deblur import multiframe as M
from deblur.baselines import RichardsonLucy
from deblur.errors import DeblurError


@pytest.fixture(scope="module")
def triplet():
    """(blurred frames, sharp target, true CameraPath, centred oracle kernel): a 320 px crop of
    astronaut, a 6 px camera path with a small rotation, as the motion protocol renders it."""
    sharp = np.ascontiguousarray(skimage.data.astronaut()[40:360, 100:420]).astype(np.float32) / 255.0
    seen = {}
    real = B.camera_path

    def spy(*args, **kwargs):
        seen["path"] = real(*args, **kwargs)
        return seen["path"]

    B.camera_path = spy
    try:
        frames, target, info = B.synthesize_triplet(sharp, np.random.default_rng(3), length=6.0, max_rotation_deg=0.3)
    finally:
        B.camera_path = real
    shift, angle, _ = seen["path"]
    h, w = target.shape[:2]
    path = M.CameraPath(shift, angle, ((w - 1) / 2.0, (h - 1) / 2.0))
    to_u8 = lambda x: np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)  # noqa: E731
    return to_u8(frames), to_u8(target), path, info["kernel"]


def test_kernels_of_the_true_path_reproduce_the_synthesis(triplet):
    """Blurring the sharp frame with the path's kernels at a point gives the synthesised frames
    there (all three, not centred); kernels sampled uniformly in arc length instead of time, or
    centred, fail this by a wide margin."""
    frames, target, path, _ = triplet
    x, y = 160.0, 160.0
    radius = int(np.ceil(path.extent(320, 320))) + 2
    for i, k in enumerate(path.kernels(x, y, radius)):
        assert k.shape == (2 * radius + 1,) * 2 and abs(k.sum() - 1) < 1e-9
        model = B.apply_kernel(target.astype(np.float32) / 255.0, k)
        inner = (slice(110, 210), slice(110, 210))  # where the small rotation leaves the kernel unchanged
        assert metrics.psnr(model[inner], frames[i][inner].astype(np.float32) / 255.0) > 40.0


@pytest.fixture(scope="module")
def fitted(triplet):
    return M.estimate_path(triplet[0])


def test_the_path_fit_finds_the_camera_path(triplet, fitted):
    frames, _, true, _ = triplet
    fit = fitted
    s = fit.subframes
    ref = np.stack([np.interp(np.linspace(0, 1, 3 * s), np.linspace(0, 1, len(true.shift)), true.shift[:, k])
                    for k in range(2)], 1)
    middle = slice(s, 2 * s)
    assert np.abs(ref[middle] - fit.shift[middle]).mean() < 0.3
    assert np.abs(ref - fit.shift).mean() < 0.6
    assert fit.residual < 0.05


def test_three_frames_beat_the_true_kernel_oracle(triplet, fitted):
    """Blind (the fitted path) against Richardson-Lucy handed the true (centred) kernel."""
    frames, target, _, kernel = triplet
    blurred = metrics.psnr(frames[1], target)
    oracle = metrics.psnr(RichardsonLucy()(frames, kernel), target)
    ours = metrics.psnr(M.restore(frames, fitted), target)
    assert ours > oracle + 1.0 and ours > blurred + 3.0


def test_a_still_photo_comes_back_unchanged():
    photo = np.ascontiguousarray(skimage.data.chelsea()[:120, :150])
    restorer = M.MultiFrameWiener()
    np.testing.assert_array_equal(restorer(np.stack([photo] * 3)), photo)   # one photo, repeated
    np.testing.assert_array_equal(restorer(photo), photo)                   # a single image
    np.testing.assert_array_equal(restorer(np.stack([photo] * 5)), photo)   # not three frames
    tiny = photo[:20, :20]
    np.testing.assert_array_equal(restorer(np.stack([tiny, tiny[::-1], tiny])), tiny[::-1])  # too small to fit


def test_bad_input_is_a_clear_error():
    with pytest.raises(DeblurError, match="uint8"):
        M.MultiFrameWiener()(np.zeros((3, 64, 64, 3), np.float32))
    with pytest.raises(DeblurError, match=r"\(3, H, W, 3\)"):
        M.restore(np.zeros((3, 64, 64), np.uint8))


def test_registry_offers_it_for_motion_blur_only():
    assert "multiframe_wiener" in registry.names("motion")
    assert "multiframe_wiener" not in registry.names("gaussian")
    assert "multiframe_wiener" not in registry.names("camera")
    info = registry.lookup("multiframe_wiener", "motion")
    assert info.kind == "baseline" and info.frames == 3 and not info.needs_kernel
    with pytest.raises(registry.IncompatibleModelError, match="motion"):
        registry.lookup("multiframe_wiener", "gaussian")


def test_the_module_imports_on_its_own():
    """deblur.baselines registers multiframe_wiener, so deblur.multiframe must not need baselines
    at import time (a cycle that only showed when multiframe was imported first)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", "import deblur.multiframe"], check=True, cwd=Path(__file__).resolve().parent.parent)


# ----------------------------------------------------------------------------- the refiner


def test_jitter_path_makes_smooth_bounded_errors_anchored_at_the_target_pose(triplet):
    """The training prior's path error: zero at the middle instant of exposure t (where every
    fitted path is anchored), of RMS at most JITTER_MAX px, sometimes none, reproducible."""
    _, _, path, _ = triplet
    s = path.subframes
    anchor = s + s // 2
    errors, exact = [], 0
    rng = np.random.default_rng(0)
    for _ in range(200):
        j = M.jitter_path(path, rng)
        err = j.shift - path.shift
        if not err.any() and np.array_equal(j.angle, path.angle):
            exact += 1
            continue
        assert np.abs(err[anchor]).max() < 1e-12 and abs(j.angle[anchor] - path.angle[anchor]) < 1e-12
        rms = float(np.sqrt((err ** 2).sum(1).mean()))
        assert rms <= M.JITTER_MAX + 1e-9
        assert np.abs(np.diff(err, 2, axis=0)).max() < 0.05  # smooth: no jumps between samples
        errors.append(rms)
    assert 25 <= exact <= 75                                  # ~ JITTER_EXACT of 200
    assert 0.15 < np.mean(errors) < 0.35                      # ~ U(0, JITTER_MAX)
    a, b = M.jitter_path(path, np.random.default_rng(5)), M.jitter_path(path, np.random.default_rng(5))
    np.testing.assert_array_equal(a.shift, b.shift)


def test_an_untrained_refiner_returns_the_prior_computed_once_on_the_whole_frame(monkeypatch):
    """The inference object computes the prior once per image, on the whole frame, and hands it
    to every tile as a fourth frame; an untrained refiner (zero residual) returns it exactly,
    so tiles that saw only their part of the prior would show as a mismatch."""
    import torch

    from deblur.inference import Deblurrer
    from deblur.models import build_model

    torch.manual_seed(0)
    model = build_model("multiframe_atrous", "lite", "motion")
    calls = []
    rng = np.random.default_rng(1)
    prior = rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)

    def fake_prior(frames):
        calls.append(frames.shape)
        return prior

    monkeypatch.setattr(model, "prior", fake_prior)
    frames = rng.integers(0, 256, (3, 150, 170, 3), dtype=np.uint8)
    out = Deblurrer(model, tile=128)(frames)
    assert calls == [(3, 150, 170, 3)]
    np.testing.assert_array_equal(out, prior)
    with pytest.raises(ValueError, match="12 channels"):
        model(torch.zeros(1, 9, 32, 32))


def test_the_training_sampler_renders_the_prior_from_the_true_path(tmp_path):
    """A refiner's training samples carry a fourth frame, the multi-frame Wiener prior made from
    the synthesis' path (jittered): far sharper than the blurred middle frame, and no neighbour
    shift (it would break that path). Plain motion networks keep three frames."""
    import torch
    from PIL import Image

    from deblur.sampling import OnlineSampler
    from deblur.train import TrainConfig

    photo = tmp_path / "brick.png"
    Image.fromarray(np.ascontiguousarray(skimage.data.astronaut()[100:260, 150:310])).save(photo)
    cfg = TrainConfig(model="multiframe_atrous", task="motion", crop=96, motion_length=(6.0, 8.0))
    sampler = OnlineSampler(cfg, [photo], [], torch.device("cpu"))
    assert sampler.prior
    x, y = sampler.batch(4, np.random.default_rng(0))
    assert x.shape == (4, 12, 96, 96)
    err = lambda a: float(((a - y) ** 2).mean(dim=(1, 2, 3)).log10().mean())  # noqa: E731
    assert err(x[:, 9:12]) < err(x[:, 3:6]) - 0.3        # prior >= 3 dB better than frame t, on average
    plain = OnlineSampler(TrainConfig(model="atrous_net", task="motion", crop=96), [photo], [], torch.device("cpu"))
    assert not plain.prior and plain.batch(2, np.random.default_rng(0))[0].shape == (2, 9, 96, 96)
