"""The do-no-harm guard (NAME+guard, deblur.blind.Guarded): a photo in which the kernel estimate
finds no blur ("no blur" or "unsure") is only denoised and the network does not run; the verdict
"kernel" runs the network.
The default for real photos (registry.PREFERRED) is a guarded network."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from deblur import blur, registry
from deblur.blind import Guarded
from deblur.errors import DeblurError
from deblur.inference import deblur_video
from deblur.io import to_float, to_uint8


def _photo() -> np.ndarray:
    grey = data.camera()[40:296, 120:376]  # 256 x 256, sharp
    return np.repeat(grey[:, :, None], 3, axis=2)


def _line_blurred() -> np.ndarray:
    k = blur.linear_motion_kernel(15.0, 30.0)
    out = blur.camera_blur(to_float(_photo()), np.random.default_rng(0), kernel=k, noise=False, jpeg=False)[0]
    return to_uint8(out)


class Recorder:
    """A stand-in restorer that says which frames it was called on (inverted, so its output is
    told apart from the input and from the denoiser's)."""

    name = "recorder"
    frames = 1
    needs_kernel = False

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frames: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        self.calls += 1
        return 255 - frames


@pytest.fixture(scope="module")
def denoise():
    return registry.load(registry.GUARD_PRIOR)


def test_a_sharp_photo_is_only_denoised_and_the_network_never_runs(denoise):
    inner = Recorder()
    guard = Guarded(inner, denoise, name="recorder+guard")
    img = _photo()
    out, found = guard.report(img)
    assert inner.calls == 0
    assert np.array_equal(out, denoise(img))
    assert found["guard"]["verdict"] == "no blur" and found["guard"]["ran"] == denoise.name
    # a clean 8-bit photo: the denoiser at its own (near zero) noise level leaves it close to as it was
    assert np.abs(out.astype(int) - img).mean() < 1.0


def test_a_blurred_photo_runs_the_network_and_keeps_its_report(denoise):
    inner = Recorder()
    guard = Guarded(inner, denoise, name="recorder+guard")
    blurred = _line_blurred()
    out, found = guard.report(blurred)
    assert inner.calls == 1 and np.array_equal(out, 255 - blurred)
    assert found["guard"]["verdict"] == "kernel" and found["guard"]["ran"] == "recorder"
    assert guard(blurred).shape == blurred.shape  # called like any restorer: the image alone


def test_a_clip_is_decided_once_not_frame_by_frame(denoise, monkeypatch):
    import deblur.blind as blind

    reads = []
    real = blind.estimate_kernel
    monkeypatch.setattr(blind, "estimate_kernel", lambda img: reads.append(1) or real(img))
    blind.forget_reads()
    inner = Recorder()
    guard = Guarded(inner, denoise, name="recorder+guard")
    clip = [_line_blurred()] * 5
    out = list(deblur_video(guard, clip))
    assert len(reads) == 1 and inner.calls == 5
    assert all(np.array_equal(o, 255 - clip[0]) for o in out)
    sharp = [_photo()] * 4
    reads.clear()
    blind.forget_reads()
    out = list(deblur_video(Guarded(Recorder(), denoise, name="r+guard"), sharp))
    assert len(reads) == 1 and all(np.array_equal(o, out[0]) for o in out)


def test_the_grammar_and_what_it_refuses():
    info = registry.lookup("res_unet-camera+psf+guard", "camera")
    assert info.guard and info.psf and not info.ensemble and info.told == ""
    assert "only denoised" in info.label
    assert registry.lookup("res_unet-camera+psf+x8+guard").ensemble
    # the app appends +x8 to whatever is chosen: the same restorer, one canonical name
    assert registry.lookup("res_unet-camera+psf+guard+x8").name == "res_unet-camera+psf+x8+guard"
    for bad in ("wiener+guard", "pnp+guard", "blind_pnp+guard", "res_unet-camera+guard+guard",
                "kaist_net-motion+guard", "kernel_aware_atrous-gaussian+true_sigma+guard"):
        with pytest.raises(DeblurError, match=r"\+guard"):
            registry.lookup(bad)
    # listed beside the +psf variants of the camera networks, and described by catalog the same way
    names = registry.names("camera")
    assert "res_unet-camera+psf+guard" in names
    assert list(registry.catalog("camera")) == names


def test_the_default_for_real_photos_is_guarded_and_loads():
    best = registry.PREFERRED["camera"]
    assert best.endswith(registry.GUARD_SUFFIX)
    restorer = registry.load(best, "camera", tile=None)
    assert isinstance(restorer, Guarded) and restorer.name == best
    small = _photo()[:40, :40]  # too small to read a kernel from: the network decides alone
    out, found = restorer.report(small)
    assert out.shape == small.shape and found["guard"]["ran"] == best.removesuffix(registry.GUARD_SUFFIX)


def test_a_guard_needs_the_prior(tmp_path):
    import shutil

    weights = tmp_path / "weights"
    shutil.copytree(registry.W._weights_dir(None), weights, ignore=shutil.ignore_patterns("priors"))
    assert not any(n.endswith("+guard") for n in registry.names("camera", weights_dir=weights))
    with pytest.raises(DeblurError, match="prior"):
        registry.lookup("res_unet-camera+psf+guard", weights_dir=weights)


def test_an_unsure_reading_only_denoises(denoise, monkeypatch):
    import deblur.blind as blind
    from deblur.kernel_estimate import KernelEstimate

    unsure = KernelEstimate(blur.linear_motion_kernel(9.0, 0.0), 0.2, "unsure", "straight shake (unsure)",
                            "line", 9.0, 0.0)
    monkeypatch.setattr(blind, "estimate_kernel", lambda img: unsure)
    inner = Recorder()
    out, found = Guarded(inner, denoise, name="recorder+guard").report(_line_blurred())
    assert inner.calls == 0 and found["guard"]["verdict"] == "unsure" and found["guard"]["ran"] == denoise.name


def test_a_photos_reading_is_kept_by_content_not_by_request(monkeypatch):
    """The app reads the kernel twice a request (the guard, then the 'blur read' line): the second
    reading is the kept one; another photo, or the same pixels changed, is read afresh."""
    import deblur.blind as blind

    reads = []
    real = blind.estimate_kernel
    monkeypatch.setattr(blind, "estimate_kernel", lambda img: reads.append(1) or real(img))
    blind.forget_reads()
    img = _line_blurred()
    first = blind.read_kernel(img)
    again = blind.read_kernel(img.copy())
    assert len(reads) == 1 and again is first
    other = img.copy()
    other[0, 0, 0] ^= 1
    assert blind.read_kernel(other) is not first and len(reads) == 2
    for i in range(blind.READ_CACHE):  # the oldest falls out
        blind.read_kernel(np.roll(img, i + 1, axis=1))
    blind.read_kernel(img)
    assert len(reads) == 3 + blind.READ_CACHE
    assert blind.read_kernel(img[:40, :40]) is None  # too small to read


def test_the_cli_default_says_what_the_guard_decided(tmp_path, capsys):
    """`python -m deblur IN -o OUT` without --model runs the guarded default and says, per photo,
    whether the network ran; a folder says it photo by photo."""
    from deblur import io
    from deblur.cli import main

    io.write_image(tmp_path / "sharp.png", _photo())
    io.write_image(tmp_path / "shaken.png", _line_blurred())
    assert main([str(tmp_path / "sharp.png"), "-o", str(tmp_path / "out.png"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "no blur found: the photo was only denoised" in err and (tmp_path / "out.png").is_file()
    assert main([str(tmp_path), "-o", str(tmp_path / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "sharp.png: no blur found" in err
    assert "shaken.png: blur read from the photo (" in err and registry.PREFERRED["camera"].removesuffix(
        registry.GUARD_SUFFIX) + " ran" in err


def test_a_weight_file_given_by_path_is_the_network_guarded(tmp_path):
    """A file whose metadata names a shipped network (a fine-tune of it, say) is what runs behind
    the guard, not the shipped network of that name."""
    from deblur.models import build_model
    from deblur.weights import save_weights

    tiny = build_model("atrous_net", "lite", "camera", blocks=1, stem=4, channels=4, branch=4, head=4)
    path = tmp_path / "tiny.safetensors"
    save_weights(path, tiny, {"task": "camera", "name": "res_unet-camera"})
    restorer = registry.load(f"{path}+psf+guard", "camera", tile=None)
    assert isinstance(restorer, Guarded) and restorer.inner.psf
    n = sum(p.numel() for p in restorer.inner.model.parameters())
    assert n == sum(p.numel() for p in tiny.parameters())


def test_the_cli_default_decides_a_video_once_and_says_so(tmp_path, capsys):
    from deblur import io
    from deblur.cli import main

    frames = [np.roll(_photo(), i, axis=1) for i in range(4)]
    io.write_video(tmp_path / "clip.mp4", iter(frames), 10)
    assert main([str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "out.mp4"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("the whole clip, decided on its second frame:") == 1
    out, _ = io.read_video(tmp_path / "out.mp4")
    assert len(out) == 4 and out[0].shape == frames[0].shape
