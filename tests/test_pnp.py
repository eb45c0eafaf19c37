"""The denoiser prior, its noise synthesis, its trainer and the plug-and-play deconvolution."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn as nn

from deblur import blur as B
from deblur import noise as N
from deblur.denoise_train import DenoiseConfig, clean_crop, train
from deblur.denoiser import DenoiserUNet
from deblur.io import to_float, to_uint8, write_image
from deblur.metrics import psnr
from deblur.models import create
from deblur.pnp import PnPDeconvolution, denoise
from deblur.weights import load_weights


def _photo(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    img = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy) for c in range(3)], -1) * 0.3 + 0.5
    img[size // 4: size // 2, size // 3: 2 * size // 3] = 0.9  # an edge
    return np.clip(img + 0.02 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


# ------------------------------------------------------------------------------------ noise


def test_corruption_repeats_for_a_seed_and_reports_its_level():
    clean = _photo()
    a = N.random_corruption(clean, np.random.default_rng(3))
    b = N.random_corruption(clean, np.random.default_rng(3))
    assert a[2] == b[2] and a[1] == b[1] and np.array_equal(a[0], b[0])
    kinds = set()
    for seed in range(60):
        noisy, level, kind = N.random_corruption(clean, np.random.default_rng(seed))
        kinds.add(kind)
        assert 0.0 <= level <= N.MAX_LEVEL + 1e-9
        if kind == "clean":
            assert level == 0.0 and np.array_equal(noisy, clean)
        elif kind != "gaussian":  # told the rms of what was actually added
            assert level == pytest.approx(min(np.sqrt(np.mean((noisy - clean) ** 2)), N.MAX_LEVEL), rel=1e-6)
    assert kinds == set(N.KIND_PROBS)


def test_poisson_gaussian_noise_is_stronger_in_the_shadows():
    rng = np.random.default_rng(0)
    dark, bright = np.full((64, 64, 3), 0.2, np.float32), np.full((64, 64, 3), 0.8, np.float32)
    # shot noise: std grows with sqrt(x) in linear light, but the sRGB curve is much steeper in
    # the shadows, so the noise a viewer sees is larger there (about 0.018 against 0.0145)
    d = N.poisson_gaussian(dark, 1e-3, 1e-4, rng) - dark
    b = N.poisson_gaussian(bright, 1e-3, 1e-4, rng) - bright
    assert d.std() > 1.1 * b.std() > 0.01


# ------------------------------------------------------------------------------------ network


def test_untrained_denoiser_is_the_identity_and_reads_its_level():
    model = create("denoiser_unet", {"width": 8, "blocks": (1, 1), "middle": 1}).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x, torch.tensor([0.1, 0.2])), x)
        for p in model.outro.parameters():
            p.normal_(0, 0.1)
        low, high = model(x, 0.0), model(x, 0.2)
    assert not torch.allclose(low, high)  # the level map reaches the output


def test_denoise_pads_and_tiles_to_the_same_result(monkeypatch):
    torch.manual_seed(0)
    model = create("denoiser_unet", {"width": 8, "blocks": (1, 1), "middle": 1}).eval()
    for p in model.outro.parameters():
        nn.init.normal_(p, 0, 0.05)
    img = np.random.default_rng(0).random((70, 90, 3))
    whole = denoise(model, img, 0.05)
    import deblur.pnp as P

    monkeypatch.setattr(P, "TILE_PIXELS", 1000)
    monkeypatch.setattr(P, "TILE", 32)
    tiled = denoise(model, img, 0.05)
    assert whole.shape == img.shape and np.abs(whole - tiled).max() < 1e-4


# ------------------------------------------------------------------------------------ pnp


class _Oracle(nn.Module):
    """A 'denoiser' that knows the answer: HQS must then converge to it."""

    multiple, halo = 1, 0

    def __init__(self, sharp: np.ndarray, pad: tuple[int, int]) -> None:
        super().__init__()
        self.sharp = torch.from_numpy(sharp).permute(2, 0, 1)[None].float()
        self.pad = pad

    def forward(self, x, sigma):
        out = x.clone()
        py, px = self.pad
        out[:, :, py:py + self.sharp.shape[2], px:px + self.sharp.shape[3]] = self.sharp
        return out


@pytest.mark.parametrize("light", ["srgb", "linear"])
def test_hqs_with_a_perfect_prior_recovers_the_photo(light):
    sharp = _photo(1, 80).astype(np.float64)
    k = B.linear_motion_kernel(9.0, 30.0)
    src = B.srgb_to_linear(sharp) if light == "linear" else sharp
    blurred = B.apply_kernel(src, k)
    blurred = B.linear_to_srgb(blurred) if light == "linear" else blurred
    from deblur.pnp import extend

    _, _, crop = extend(sharp, k.shape)
    restorer = PnPDeconvolution(_Oracle(sharp, (crop[0].start, crop[1].start)), light=light)
    out = to_float(restorer(to_uint8(blurred)[None], k))
    assert psnr(out, sharp) > 40 > psnr(to_float(to_uint8(blurred)), sharp)


def test_pnp_refuses_a_missing_kernel_and_passes_an_identity_kernel():
    from deblur.errors import DeblurError

    model = create("denoiser_unet", {"width": 8, "blocks": (1,), "middle": 1}).eval()
    img = to_uint8(_photo())
    restorer = PnPDeconvolution(model)
    with pytest.raises(DeblurError, match="needs the true blur kernel"):
        restorer(img, None)
    assert np.array_equal(restorer(img, np.ones((1, 1))), img)  # clean photo, identity denoiser


# ------------------------------------------------------------------------------------ trainer


def test_trainer_runs_ships_and_rebuilds(tmp_path):
    corpus = tmp_path / "corpus"
    rows = []
    for i in range(4):
        write_image(corpus / "photos" / f"p{i}.png", to_uint8(_photo(i, 120)))
        rows.append({"file": f"photos/p{i}.png", "kind": "photo", "source": "test", "licence": "CC0",
                     "width": 120, "height": 120, "frames": 1, "split": "train"})
    with open(corpus / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cfg = DenoiseConfig(data=str(corpus), width=8, blocks=(1,), middle=1, crop=32, batch=4, budget=16, val_every=8,
                        val_samples=4, run_dir=str(tmp_path / "runs"), out=str(tmp_path / "out"), ship=True)
    path = train(cfg)
    model, meta = load_weights(path)
    assert isinstance(model, DenoiserUNet) and meta["task"] == "denoise" and meta["samples"] == 16
    log = list(csv.DictReader(open(tmp_path / "out" / "denoiser_unet.log.csv")))
    assert [int(r["samples"]) for r in log] == [8, 16] and all(float(r["val_g25"]) > 10 for r in log)
    assert "SHA-256" in (tmp_path / "out" / "denoiser_unet.md").read_text()
    from deblur.weights import read_manifest, sha256_file

    assert read_manifest(tmp_path / "out")["denoiser_unet"]["sha256"] == sha256_file(path)
    # resumable: a second run continues from the checkpoint to a larger budget
    train(DenoiseConfig(**{**cfg.__dict__, "budget": 24, "resume": True, "ship": False}))
    state = torch.load(tmp_path / "runs" / "denoiser_unet" / "checkpoint.pt", weights_only=True)
    assert state["samples"] == 24


def test_clean_crop_is_a_crop_of_the_photo_size():
    photo = to_uint8(_photo(0, 200))
    rng = np.random.default_rng(0)
    for _ in range(10):
        c = clean_crop(photo, 48, rng)
        assert c.shape == (48, 48, 3) and c.dtype == np.float32 and 0 <= c.min() and c.max() <= 1


# ------------------------------------------------------------------------------------ registry


def _ship_prior(weights: "Path") -> None:
    from deblur.weights import save_weights, write_manifest_entry

    model = create("denoiser_unet", {"width": 8, "blocks": (1,), "middle": 1})
    sha = save_weights(weights / "priors" / "denoiser_unet.safetensors", model, {"task": "denoise"})
    write_manifest_entry("denoiser_unet", "denoiser_unet.safetensors", sha, {"arch": "denoiser_unet", "task": "denoise"},
                         weights / "priors")


def test_registry_offers_pnp_only_with_its_prior(tmp_path):
    from deblur import registry
    from deblur.errors import WeightsError

    assert "pnp" not in registry.names(weights_dir=tmp_path)
    with pytest.raises(WeightsError, match="denoiser_unet"):
        registry.lookup("pnp", weights_dir=tmp_path)
    _ship_prior(tmp_path)
    for blur in ("gaussian", "motion", "camera"):
        assert {"pnp", "pnp_linear"} <= set(registry.names(blur, weights_dir=tmp_path))
        assert "pnp" not in registry.names(blur, weights_dir=tmp_path, kernel=False)  # an oracle row
    info = registry.lookup("pnp_linear", "camera", weights_dir=tmp_path)
    assert info.needs_kernel and info.label == "learned prior, oracle: given the true kernel"
    restorer = registry.load("pnp_linear", weights_dir=tmp_path)
    assert isinstance(restorer, PnPDeconvolution) and restorer.light == "linear" and restorer.needs_kernel
    img = to_uint8(_photo())
    out = restorer(np.stack([img] * 3), B.gaussian_kernel(1.0))  # three frames: the middle one
    assert out.shape == img.shape and out.dtype == np.uint8


def test_multiframe_pnp_deblurs_a_triplet_and_leaves_a_still_alone():
    from deblur.pnp import MultiFramePnP

    torch.manual_seed(0)
    model = create("denoiser_unet", {"width": 8, "blocks": (1,), "middle": 1}).eval()  # the identity
    sharp = to_float(to_uint8(_photo(2, 128)))
    blurred, target, _ = B.synthesize_triplet(np.stack([sharp] * 3), np.random.default_rng(5), length=8.0)
    frames = to_uint8(blurred)
    restorer = MultiFramePnP(model, iterations=3)
    out = restorer(frames)
    assert out.shape == frames.shape[1:] and out.dtype == np.uint8
    assert psnr(to_float(out), target) > psnr(to_float(frames[1]), target) + 1.0
    still = np.stack([to_uint8(sharp)] * 3)
    assert np.array_equal(restorer(still), still[1])  # no motion found: nothing to undo


def test_the_shipped_prior_measures_a_photos_noise():
    from deblur import registry

    restorer = registry.load("pnp_linear")
    assert restorer.noise_from == "denoiser"
    smooth = B.apply_kernel(_photo(4, 192).astype(np.float64), B.gaussian_kernel(1.5))  # its own noise blurred away
    assert restorer.noise_level(smooth) < 2 / 255
    for std in (4, 8, 16):
        noisy = smooth + std / 255 * np.random.default_rng(std).standard_normal(smooth.shape)
        assert 0.6 * std / 255 < restorer.noise_level(noisy) < 1.25 * std / 255
