"""The learned Gaussian sigma estimator (deblur/sigma_net.py): its sampler, its file, its invariances."""

import numpy as np
import pytest
import torch
from skimage import data

from deblur import sigma_net, sigma_train
from deblur.blur import gaussian_blur
from deblur.errors import DeblurError


def _photos():
    return [np.ascontiguousarray(data.astronaut()), np.ascontiguousarray(data.coffee())]


def _seeded_batch(sampler, n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A sampler's batch, checked: the same seed gives the same crops, (n, 3, size, size) on the
    8-bit grid, sigma within the training range."""
    x, s = sampler(_photos(), n, np.random.default_rng(seed))
    x2, _ = sampler(_photos(), n, np.random.default_rng(seed))
    torch.testing.assert_close(x, x2, rtol=0, atol=0)
    assert x.shape == (n, 3, size, size)
    assert float(s.min()) >= 0 and float(s.max()) <= sigma_net.SIGMA_TRAIN_MAX
    np.testing.assert_allclose((x * 255).numpy(), np.rint((x * 255).numpy()), atol=1e-3)  # the 8-bit grid
    return x, s


def test_sample_blurs_like_the_evaluator_and_is_seeded():
    _seeded_batch(sigma_train.sample, 6, sigma_net.TRAIN_CROP, 1)
    # a crop of a photo blurred by the numpy degradation, same sigma: the batch path matches it
    # away from the borders (the sampler cuts MARGIN px, wider than half the widest kernel)
    img = _photos()[0][100:204, 100:204].astype(np.float32) / 255.0
    ref = np.rint(np.clip(gaussian_blur(img, 2.5), 0, 1) * 255) / 255
    from deblur.blur import gaussian_blur_batch

    got = gaussian_blur_batch(torch.from_numpy(img).permute(2, 0, 1)[None], [2.5])[0].permute(1, 2, 0).numpy()
    m = sigma_net.MARGIN
    np.testing.assert_allclose(got[m:-m, m:-m], ref[m:-m, m:-m], atol=1.5 / 255)


def test_estimate_is_invariant_to_flips_and_turns_and_takes_grey(tmp_path):
    torch.manual_seed(0)
    net = sigma_net.SigmaNet(width=8)
    img = np.ascontiguousarray(data.astronaut()[:120, :100])
    a = sigma_net.estimate(net, img)
    for view in (img[:, ::-1], img[::-1], np.rot90(img)):
        assert sigma_net.estimate(net, np.ascontiguousarray(view)) == pytest.approx(a, abs=1e-4)
    assert np.isfinite(sigma_net.estimate(net, img[..., 0]))
    with pytest.raises(DeblurError, match="H, W, 3"):
        sigma_net.estimate(net, np.zeros((4, 8, 8, 3), np.uint8))


def test_weights_round_trip_and_a_broken_file_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    net = sigma_net.SigmaNet(width=8, dilations=(1, 2))
    path = tmp_path / "s.safetensors"
    sigma_net.save(net, path, {"samples": 0})
    back, info = sigma_net.load(path)
    assert info == {"samples": 0} and back.config == net.config
    img = np.ascontiguousarray(data.coffee()[:64, :64])
    assert sigma_net.estimate(back, img) == pytest.approx(sigma_net.estimate(net, img), abs=1e-6)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DeblurError, match="not a sigma estimator"):
        sigma_net.load(path)
    with pytest.raises(DeblurError, match="no sigma estimator"):
        sigma_net.load(tmp_path / "missing.safetensors")


def test_a_tiny_training_run_writes_a_loadable_estimator_and_its_log(tmp_path):
    from test_train import _tiny_corpus

    corpus = _tiny_corpus(tmp_path / "corpus")
    out = tmp_path / "est.safetensors"
    info = sigma_train.train(str(corpus), out, samples=16, batch=8, val_samples=8, log_every=1)
    assert info["samples"] == 16 and np.isfinite(info["val_mae_px"])
    net, meta = sigma_net.load(out)
    assert meta["samples"] == 16
    assert out.with_suffix(".log.csv").read_text().count("\n") == 3  # header + 2 steps


def test_thumbnail_sample_is_a_blurred_reduced_photo_and_is_seeded():
    x, s = _seeded_batch(sigma_train.sample_thumbs, 8, sigma_net.THUMB, 2)
    spread = x.std(dim=(1, 2, 3))
    assert int((spread > 0.02).sum()) >= 6  # reduced photos (a flat window of one is possible)
    # blurred in place (reflect-101, like the cifar protocol's samples): among the textured crops,
    # the least blurred has more fine detail per unit of contrast than the most blurred
    keep = spread > 0.02
    detail = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3))[keep] / spread[keep]
    sk = s[keep]
    assert float(detail[sk.argmin()]) > float(detail[sk.argmax()])


def test_fine_tuning_from_a_file_with_thumbnails_records_both(tmp_path):
    from test_train import _tiny_corpus

    corpus = _tiny_corpus(tmp_path / "corpus")
    first = tmp_path / "first.safetensors"
    sigma_train.train(str(corpus), first, samples=8, batch=8, val_samples=8, log_every=1)
    out = tmp_path / "tuned.safetensors"
    info = sigma_train.train(str(corpus), out, samples=16, batch=8, val_samples=8, log_every=1, thumbs=1.0, init=first)
    assert info["samples"] == 24 and info["init"]["samples"] == 8 and info["thumbs"] == 1.0
    assert np.isfinite(info["val_mae_thumbs_px"])
    assert "val_mae_thumbs" in out.with_suffix(".log.csv").read_text().splitlines()[0]
