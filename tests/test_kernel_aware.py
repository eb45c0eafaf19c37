"""Tests for deblur/kernel_aware.py: the torch Wiener, the sigma estimator, the kernel-aware
network (identity-plus-deconvolution at init, exact tiling given one sigma), its registry names
(the "+true_sigma" oracle) and its training step. CPU only, a few seconds each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from deblur import registry
from deblur.baselines import Wiener, gcv_gaussian_sigma
from deblur.blur import gaussian_kernel, gaussian_kernel_1d, linear_motion_kernel
from deblur.degrade import degrade
from deblur.errors import DeblurError
from deblur.inference import Deblurrer
from deblur.kernel_aware import (RADIUS, KernelAwareNet, SigmaEstimator, estimator_report, fit_sigma, format_report,
                                 gaussian_taps, gcv_estimate, gcv_sigma, image_estimator, reflect_pad,
                                 sigma_from_kernel, wiener_deconvolve)
from deblur.models import ARCH_TASKS, ARCHITECTURES, build_model
from deblur.train import training_loss
from deblur.weights import save_weights, write_manifest_entry

ARCH = "kernel_aware_atrous"


def _t(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def _crops(side: int) -> list[np.ndarray]:
    return [data.astronaut()[40 : 40 + side, 180 : 180 + side], data.coffee()[100 : 100 + side, 200 : 200 + side],
            data.chelsea()[50 : 50 + side, 100 : 100 + side]]


# ------------------------------------------------------------------ pure functions


def test_reflect_pad_is_numpys_reflect_even_beyond_the_image():
    a = np.random.default_rng(0).random((2, 3, 5, 7))
    for pads in [(1, 2, 3, 4), (9, 11, 13, 20), (0, 0, 6, 0)]:
        t, b, l, r = pads
        np.testing.assert_array_equal(reflect_pad(torch.from_numpy(a), t, b, l, r).numpy(),
                                      np.pad(a, ((0, 0), (0, 0), (t, b), (l, r)), mode="reflect"))


def test_gaussian_taps_are_the_degradations_taps():
    sigmas = torch.tensor([0.0, 0.05, 0.3, 1.0, 2.37, 3.0, 4.0], dtype=torch.float64)
    taps = gaussian_taps(sigmas, RADIUS)
    for row, s in zip(taps, sigmas):
        ref = gaussian_kernel_1d(float(s))
        r = len(ref) // 2
        np.testing.assert_allclose(row[RADIUS - r : RADIUS + r + 1].numpy(), ref, atol=1e-12)
        assert float(row.sum()) == pytest.approx(1.0) and float(row.abs().sum()) == pytest.approx(1.0)


# Mean |torch - numpy| in 8-bit levels, both rounded to uint8, measured on these three 128 px crops:
# 0.03-0.10 at sigma 0.5-2 (rounding), 0.35-0.56 at sigma 3 (the finite filter's truncation at
# radius 32); the same torch Wiener told sigma x 1.15 differs by 1.1-5.7 levels.
@pytest.mark.parametrize("sigma,bound", [(0.5, 0.2), (1.0, 0.2), (2.0, 0.2), (3.0, 0.8)])
def test_torch_wiener_matches_the_numpy_wiener_baseline(sigma, bound):
    for crop in _crops(128):
        d = degrade("gaussian", crop, np.random.default_rng(0), sigma=sigma)
        ref = Wiener(balance=1e-3)(d.frames[0], d.kernel).astype(np.float64)

        def levels(s: float) -> float:
            out = wiener_deconvolve(_t(d.frames[0]).double(), torch.tensor([s]), 1e-3)[0].permute(1, 2, 0).numpy()
            return float(np.abs(np.rint(np.clip(out, 0, 1) * 255) - ref).mean())

        assert levels(sigma) < bound
        assert levels(1.15 * sigma) > 1.0  # the tolerance tells a wrong sigma apart


def test_wiener_keeps_flat_images_and_is_the_identity_at_sigma_0():
    flat = torch.full((2, 3, 40, 48), 0.37, dtype=torch.float64)
    out = wiener_deconvolve(flat, torch.tensor([1.0, 3.0]), 1e-3)
    torch.testing.assert_close(out, flat, atol=1e-10, rtol=0)  # unit-sum filter: no brightness shift
    x = torch.rand(1, 3, 37, 53, dtype=torch.float64)
    torch.testing.assert_close(wiener_deconvolve(x, torch.tensor([0.0]), 1e-3), x, atol=1e-10, rtol=0)


def test_wiener_output_depends_on_the_input_within_its_radius_only():
    x = torch.rand(1, 3, 100, 100, dtype=torch.float64)
    y = x.clone()
    y[..., :, 50 + RADIUS + 1 :] = torch.rand_like(y[..., :, 50 + RADIUS + 1 :])  # beyond the radius of column 50
    a, b = (wiener_deconvolve(v, torch.tensor([3.0]), 1e-3) for v in (x, y))
    assert float((a[..., 50] - b[..., 50]).abs().max()) < 1e-9
    assert float((a[..., 51] - b[..., 51]).abs().max()) > 1e-6  # column 51 does see the change


def test_wiener_is_differentiable_in_sigma_and_balance():
    x = _t(_crops(48)[0]).double()
    sigma = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(1e-3, dtype=torch.float64, requires_grad=True)
    wiener_deconvolve(x, sigma, lam).pow(2).mean().backward()
    assert sigma.grad is not None and float(sigma.grad.abs()) > 0 and float(lam.grad.abs()) > 0


# ------------------------------------------------------------------ sigma estimation


def test_torch_gcv_agrees_with_numpy_gcv_and_ignores_flips_and_turns():
    for crop, sigma in zip(_crops(96), (1.0, 2.0, 3.0)):
        b = degrade("gaussian", crop, np.random.default_rng(0), sigma=sigma).frames[0]
        x = _t(b)
        got = float(gcv_sigma(x, fine=None)[0])
        # within two grid steps: numpy pads to a fast FFT size, which moves a flat GCV minimum
        # (measured: equal at sigma 1 and 2, 3.1 against 2.9 at sigma 3 on these 96 px crops)
        assert abs(got - gcv_gaussian_sigma(b.astype(np.float64) / 255.0)) <= 0.2 + 1e-9
        assert abs(float(gcv_sigma(x)[0]) - got) <= 0.1 + 1e-9  # the fine search stays near the coarse minimum
    rect = x[..., :90, :]  # a non-square image: quarter turns swap its sides
    views = [torch.rot90(v, k, dims=(-2, -1)) for v in (rect, rect.flip(-1)) for k in range(4)]
    upright, turned = torch.cat(views[::2]), torch.cat(views[1::2])  # one batch per shape
    assert len({float(s) for s in torch.cat([gcv_sigma(upright), gcv_sigma(turned)])}) == 1


# GCV (0.01 px search) on 192 px crops of three photos at sigma 1 / 1.5 / 2 / 2.5: errors measured
# 0.01-0.18 px, mean 0.093 px, bias +0.035 px. Without the intrinsic-blur correction the bias
# would be ~+0.2 px; on the 0.1 px grid alone the mean error was 0.113 px.
def test_estimator_error_on_images_of_known_sigma_is_bounded():
    pairs = []
    for crop in _crops(192):
        for sigma in (1.0, 1.5, 2.0, 2.5):
            pairs.append((degrade("gaussian", crop, np.random.default_rng(0), sigma=sigma).frames[0], sigma))
    est = SigmaEstimator(width=0).eval()
    rows = estimator_report(pairs, image_estimator(est))
    overall = rows[-1]
    assert overall["sigma"] == "all" and overall["n"] == 12
    assert overall["mae"] < 0.15 and abs(overall["bias"]) < 0.1, format_report(rows)
    assert {r["sigma"] for r in rows[:-1]} == {"[1, 1.5)", "[1.5, 2)", "[2, 2.5)", "[2.5, 3)"}
    assert sum(r["n"] for r in rows[:-1]) == 12
    # the report's arithmetic: a constant estimator of 2.0 px
    rows = estimator_report([(None, 1.0), (None, 3.0)], lambda img: 2.0)
    assert rows[-1]["mae"] == 1.0 and rows[-1]["bias"] == 0.0 and rows[-1]["rel_mae"] == pytest.approx((1 + 1 / 3) / 2)


def test_untrained_estimator_is_gcv_and_its_cnn_is_flip_invariant():
    torch.manual_seed(0)
    est = SigmaEstimator(width=8).eval()
    b = degrade("gaussian", _crops(64)[1], np.random.default_rng(0), sigma=1.7).frames[0]
    x = _t(b)[..., :60, :]
    torch.testing.assert_close(est(x), gcv_estimate(x, fine=None).float(), atol=1e-6, rtol=0)
    with torch.no_grad():
        for p in est.parameters():
            p.add_(0.1 * torch.randn_like(p))
    views = [torch.rot90(v, k, dims=(-2, -1)) for v in (x, x.flip(-2)) for k in range(4)]
    with torch.no_grad():
        got = torch.cat([est(v) for v in views])
    assert float((got - got[0]).abs().max()) < 1e-5
    assert float((got[0] - gcv_estimate(x, fine=None)).abs()) > 1e-3  # the perturbed CNN does correct GCV


@pytest.mark.parametrize("sigma", [0.0, 0.05, 0.3, 0.61, 1.0, 1.77, 2.5, 3.0, 3.9])
def test_sigma_from_kernel_recovers_the_degradations_sigma(sigma):
    got = sigma_from_kernel(gaussian_kernel(sigma))
    np.testing.assert_allclose(gaussian_kernel(got), gaussian_kernel(sigma), atol=1e-9)
    if gaussian_kernel(sigma).shape[0] > 1:
        assert got == pytest.approx(sigma, abs=1e-6)


def test_sigma_from_kernel_refuses_other_blur():
    with pytest.raises(DeblurError, match="Gaussian"):
        sigma_from_kernel(linear_motion_kernel(7.0, 30.0))


def test_fit_sigma_recovers_the_sigma_of_training_pairs():
    xs, ys = [], []
    for crop, sigma in zip(_crops(32), (0.9, 2.2, 2.9)):
        d = degrade("gaussian", crop, np.random.default_rng(0), sigma=sigma)
        xs.append(_t(d.frames[0]))
        ys.append(_t(d.target))
    np.testing.assert_allclose(fit_sigma(torch.cat(xs), torch.cat(ys)).numpy(), [0.9, 2.2, 2.9], atol=0.015)


# ------------------------------------------------------------------ the network


def _small(estimator: int = 0) -> KernelAwareNet:
    """A one-block network (every layer type, a small halo) for tiling tests."""
    torch.manual_seed(0)
    return build_model(ARCH, "lite", "gaussian", blocks=1, estimator=estimator)


def _perturb(model: nn.Module, std: float = 0.02) -> nn.Module:
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn_like(p))
    return model


def test_registered_as_a_gaussian_architecture():
    assert ARCHITECTURES[ARCH] is KernelAwareNet and ARCH_TASKS[ARCH] == ("gaussian",)
    model = build_model(ARCH)
    atrous = build_model("atrous_net", "lite", "gaussian")
    assert model.frames == 1 and model.multiple == 2 and model.halo == atrous.halo + RADIUS
    # the refinement is ATROUS_NET lite (gaussian) with a 6-channel stem
    assert model.refine.stem.in_channels == 6 and model.refine.channels == atrous.channels
    assert model.refine.blocks == atrous.blocks and float(model.balance().detach()) == pytest.approx(1e-3)


def test_untrained_network_is_wiener_deconvolution_with_the_sigma_it_is_given():
    model = build_model(ARCH).eval()
    x = _t(degrade("gaussian", _crops(64)[0], np.random.default_rng(0), sigma=2.0).frames[0])
    with torch.no_grad():
        torch.testing.assert_close(model(x, sigma=torch.tensor([2.0])),
                                   wiener_deconvolve(x, torch.tensor([2.0]), 1e-3), atol=1e-6, rtol=0)
        torch.testing.assert_close(model(x, sigma=torch.tensor([0.0])), x, atol=1e-6, rtol=0)
        # without a sigma it estimates one itself, with its estimator (the preset's: a SigmaNet)
        est = model.estimate_sigma(x).float()
        assert est.shape == (1,) and 0.0 <= float(est) <= model.sigma_max
        torch.testing.assert_close(model(x), wiener_deconvolve(x, est, 1e-3), atol=1e-6, rtol=0)


def test_sigma_gate_starts_open_and_closed_returns_the_wiener_output():
    x = _t(degrade("gaussian", _crops(64)[0], np.random.default_rng(0), sigma=1.5).frames[0])
    sig = torch.tensor([1.5])
    plain = _perturb(build_model(ARCH, "lite", "gaussian", blocks=1, estimator=0, gate=0)).eval()
    gated = build_model(ARCH, "lite", "gaussian", blocks=1, estimator=0, gate=8).eval()
    missing = gated.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == [f"gate.{i}.{k}" for i in (0, 2) for k in ("bias", "weight")]
    with torch.no_grad():
        # the gate's last layer starts at zero: a factor of 1, the ungated network's output
        torch.testing.assert_close(gated(x, sig), plain(x, sig), atol=1e-6, rtol=0)
        assert (plain(x, sig) - gated.deconvolve(x, sig)).abs().mean() > 1e-3  # the refinement does act
        gated.gate[2].bias.fill_(-30.0)  # closed: the residual is switched off
        torch.testing.assert_close(gated(x, sig), gated.deconvolve(x, sig), atol=1e-6, rtol=0)
        # the factor is a function of sigma: another sigma, another factor
        gated.gate[2].bias.zero_()
        gated.gate[2].weight.fill_(1.0)
        f = [2 * torch.sigmoid(gated.gate(torch.tensor([[v / gated.sigma_max]]))) for v in (0.5, 2.5)]  # gain aside
        assert not torch.allclose(f[0], f[1])


def _tiled_case(model: nn.Module, use_kernel: bool) -> tuple[Deblurrer, np.ndarray]:
    tiled = Deblurrer(model, tile=64, use_kernel=use_kernel)
    img = degrade("gaussian", data.astronaut()[: tiled.tile + 24, : tiled.tile + 40], np.random.default_rng(0),
                  sigma=3.0).frames[0]
    return tiled, img


# Tiled against untiled on the float output: float noise. Halving the halo (which then no longer
# covers the 32 px deconvolution filter) changed the output by 2.8e-4 (sigma 3).
TILE_ATOL = 5e-6


@pytest.mark.parametrize("use_kernel", [True, False])
def test_tiled_matches_untiled_given_one_sigma(use_kernel):
    model = _perturb(_small(estimator=8 if not use_kernel else 0))
    tiled, img = _tiled_case(model, use_kernel)
    kernel = gaussian_kernel(3.0) if use_kernel else None
    whole = Deblurrer(model, tile=None, use_kernel=use_kernel).restore_float(img, kernel=kernel)
    assert np.abs(whole - img.astype(np.float32) / 255.0).mean() > 0.01
    calls = []
    out = tiled.restore_float(img, progress=lambda done, total: calls.append(total), kernel=kernel)
    assert calls and calls[-1] == 4
    np.testing.assert_allclose(out, whole, rtol=0, atol=TILE_ATOL)
    ens = Deblurrer(model, tile=None, ensemble=True, use_kernel=use_kernel).restore_float(img, kernel=kernel)
    ens_tiled = Deblurrer(model, tile=tiled.tile, ensemble=True, use_kernel=use_kernel).restore_float(img,
                                                                                                     kernel=kernel)
    np.testing.assert_allclose(ens_tiled, ens, rtol=0, atol=TILE_ATOL)


def test_tiles_show_seams_when_the_halo_leaves_out_the_deconvolution():
    model = _perturb(_small())
    tiled, img = _tiled_case(model, True)
    kernel = gaussian_kernel(3.0)
    whole = Deblurrer(model, tile=None, use_kernel=True).restore_float(img, kernel=kernel)
    model.halo //= 2
    short = Deblurrer(model, tile=tiled.tile, use_kernel=True)
    assert short.discard < RADIUS
    assert np.abs(short.restore_float(img, kernel=kernel) - whole).max() > 10 * TILE_ATOL


def test_deblurrer_gives_the_true_sigma_only_when_told_to():
    model = _perturb(_small())
    img = degrade("gaussian", _crops(64)[2], np.random.default_rng(0), sigma=2.0).frames[0]
    oracle = Deblurrer(model, tile=None, use_kernel=True)
    assert oracle.needs_kernel and not Deblurrer(model, tile=None).needs_kernel
    with pytest.raises(DeblurError, match="no kernel"):
        oracle(img)
    with torch.no_grad():
        direct = model.eval()(_t(img), sigma=torch.tensor([2.0]))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(oracle.restore_float(img, kernel=gaussian_kernel(2.0)), direct, atol=1e-5, rtol=0)
    with pytest.raises(DeblurError, match="kernel-aware"):
        Deblurrer(build_model("atrous_net"), use_kernel=True)


# ------------------------------------------------------------------ registry


def _ship(folder, name: str, arch: str) -> None:
    model = build_model(arch, "lite", "gaussian", **({"blocks": 1, "estimator": 0} if arch == ARCH else {"blocks": 1}))
    digest = save_weights(folder / f"{name}.safetensors", model, {"task": "gaussian", "name": name})
    write_manifest_entry(name, f"{name}.safetensors", digest, {"arch": arch, "task": "gaussian", "frames": 1},
                         weights_dir=folder)


def test_registry_names_the_network_and_its_true_sigma_oracle(tmp_path):
    _ship(tmp_path, f"{ARCH}-gaussian", ARCH)
    _ship(tmp_path, "atrous_net-gaussian", "atrous_net")
    names = registry.names("gaussian", weights_dir=tmp_path)
    assert f"{ARCH}-gaussian" in names and f"{ARCH}-gaussian+true_sigma" in names
    assert "atrous_net-gaussian+true_sigma" not in names
    assert f"{ARCH}-gaussian+true_sigma" not in registry.names("gaussian", weights_dir=tmp_path, kernel=False)
    blind = registry.lookup(f"{ARCH}-gaussian", "gaussian", tmp_path)
    assert blind.kind == "network" and not blind.needs_kernel and blind.arch == ARCH
    oracle = registry.lookup(ARCH + "+true_sigma+x8", "gaussian", tmp_path)  # the architecture's name works too
    assert oracle.name == f"{ARCH}-gaussian+true_sigma+x8" and oracle.needs_kernel and oracle.ensemble
    assert "oracle" in oracle.label
    with pytest.raises(registry.IncompatibleModelError, match="kernel-aware"):
        registry.lookup("atrous_net-gaussian+true_sigma", "gaussian", tmp_path)
    with pytest.raises(registry.IncompatibleModelError, match="kernel-aware"):
        registry.lookup("wiener+true_sigma")
    restorer = registry.load(f"{ARCH}-gaussian+true_sigma", "gaussian", tmp_path, tile=None)
    assert restorer.needs_kernel and restorer.name == f"{ARCH}-gaussian+true_sigma"
    img = degrade("gaussian", _crops(48)[0], np.random.default_rng(0), sigma=1.5)
    out = restorer(img.frames[0], kernel=img.kernel)
    assert out.shape == img.target.shape and out.dtype == np.uint8
    assert not registry.load(f"{ARCH}-gaussian", "gaussian", tmp_path, tile=None).needs_kernel
    # a weight file given by path takes the suffix as well
    info = registry.lookup(str(tmp_path / f"{ARCH}-gaussian.safetensors") + "+true_sigma", "gaussian")
    assert info.needs_kernel and info.arch == ARCH


# ------------------------------------------------------------------ training


def test_training_sigma_is_the_true_sigma_jittered_and_trains_the_estimator():
    torch.manual_seed(0)
    model = build_model(ARCH, "lite", "gaussian", blocks=1, estimator=8)
    xs, ys = [], []
    for i, crop in enumerate(_crops(32) * 4):
        d = degrade("gaussian", crop, np.random.default_rng(i), sigma=0.5 + 0.2 * i)
        xs.append(_t(d.frames[0]))
        ys.append(_t(d.target))
    x, y = torch.cat(xs), torch.cat(ys)
    told, aux = model.training_sigma(x, y, np.random.default_rng(0))
    true = 0.5 + 0.2 * torch.arange(12)
    err = (told - true).abs()
    assert told.shape == (12,) and float(err.max()) < 0.6 and 0 < int((err > 0.02).sum()) < 12  # some exact, some not
    assert aux is not None and aux.requires_grad
    aux.backward()
    assert all(p.grad is not None for p in model.estimator.parameters())
    assert all(p.grad is None for p in model.refine.parameters())  # the image loss alone trains the refinement
    # told the true sigma (the trainer fits it once per cached sample), nothing is fitted; a frozen
    # estimator (the trainer's --estimator FILE) adds no loss
    model.estimator.requires_grad_(False)
    told, aux = model.training_sigma(x, y, np.random.default_rng(0), true=true.double())
    assert aux is None and told.dtype == torch.float32
    assert float((told - true).abs().max()) < 0.6 and int(((told - true).abs() < 1e-6).sum()) > 0


def test_three_training_steps_lower_the_loss():
    """The trainer's step (deblur/train.py): sigma from training_sigma, then net(x, sigma=...)."""
    torch.manual_seed(0)
    model = _perturb(build_model(ARCH, "lite", "gaussian", blocks=1, estimator=8), 0.02)
    xs, ys = [], []
    for i, crop in enumerate(_crops(32)):
        d = degrade("gaussian", crop, np.random.default_rng(i), sigma=2.0)
        xs.append(_t(d.frames[0]))
        ys.append(_t(d.target))
    x, y = torch.cat(xs), torch.cat(ys)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    rng = np.random.default_rng(0)
    model.train()
    with torch.no_grad():
        before = training_loss(model(x, sigma=fit_sigma(x, y)), y).item()
    for _ in range(3):
        sigma, aux = model.training_sigma(x, y, rng)
        loss = training_loss(model(x, sigma=sigma), y)
        opt.zero_grad(set_to_none=True)
        (loss + aux).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    with torch.no_grad():
        after = training_loss(model(x, sigma=fit_sigma(x, y)), y).item()
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("source", ["corpus", "cifar10"])
def test_trainer_runs_it_end_to_end(source, tmp_path, monkeypatch):
    from test_train import _tiny_corpus, _write_cifar

    from deblur.train import main
    from deblur.weights import load_model

    monkeypatch.chdir(tmp_path)
    if source == "corpus":
        spec = str(_tiny_corpus(tmp_path / "corpus"))
    else:
        _write_cifar(tmp_path / "cifar")
        spec = f"cifar10:{tmp_path / 'cifar'}"
    args = ["--model", ARCH, "--blur", "gaussian", "--data", spec, "--run-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "weights"), "--epochs", "1", "--steps-per-epoch", "3", "--batch", "4",
            "--cache-samples", "16", "--val-samples", "8", "--threads", "1", "--ship"]
    assert main(args) == 0
    model, meta = load_model(f"{ARCH}-gaussian", weights_dir=tmp_path / "weights")
    assert isinstance(model, KernelAwareNet) and meta["samples_seen"] == 12
    assert registry.lookup(f"{ARCH}-gaussian+true_sigma", "gaussian", tmp_path / "weights").needs_kernel


def test_trainer_starts_the_sigma_net_estimator_from_a_file_and_refuses_a_mismatch(tmp_path, monkeypatch, capsys):
    from test_train import _tiny_corpus

    from deblur import sigma_net
    from deblur.train import main
    from deblur.weights import load_model

    monkeypatch.chdir(tmp_path)
    spec = str(_tiny_corpus(tmp_path / "corpus"))
    torch.manual_seed(3)
    est = sigma_net.SigmaNet(width=build_model(ARCH).estimator.width)
    sigma_net.save(est, tmp_path / "est.safetensors", {"samples": 1000, "data": "somewhere", "val_mae_px": 0.25})
    args = ["--model", ARCH, "--blur", "gaussian", "--data", spec, "--run-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "weights"), "--epochs", "1", "--steps-per-epoch", "1", "--batch", "2",
            "--cache-samples", "4", "--val-samples", "2", "--threads", "1", "--lr", "0.05", "--ship"]
    assert main(args + ["--estimator", str(tmp_path / "est.safetensors")]) == 0
    model, _ = load_model(f"{ARCH}-gaussian", weights_dir=tmp_path / "weights")
    card = (tmp_path / "weights" / f"{ARCH}-gaussian.md").read_text()
    assert "1,000 crops of `somewhere` on its own, validation MAE 0.250 px" in card and "frozen" in card
    for k, v in est.state_dict().items():  # frozen (even at this lr): the shipped estimator is the file's
        torch.testing.assert_close(model.estimator.state_dict()[k], v, rtol=0, atol=1e-7)
    sigma_net.save(sigma_net.SigmaNet(width=8), tmp_path / "small.safetensors", {})
    assert main(args + ["--estimator", str(tmp_path / "small.safetensors"), "--name", "other"]) != 0
    assert "holds {'width': 8" in capsys.readouterr().err
