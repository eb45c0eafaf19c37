"""Tests for deblur/inference.py: frames, padding, tiling, video windowing, restorer lookup."""

import numpy as np
import pytest
import torch
from torch import nn

from deblur.errors import DeblurError, ImageError, UnknownModelError
from deblur.inference import Deblurrer, deblur_video
from deblur.registry import load as load_restorer
from deblur.registry import names as available_restorers
from deblur.models import ARCH_TASKS, ARCHITECTURES, build_model
from deblur.weights import save_weights


class TinyNet(nn.Module):
    """Two 3x3 convs, residual on the middle frame: receptive-field radius 2."""

    multiple = 1
    halo = 2

    def __init__(self, frames: int = 1) -> None:
        super().__init__()
        self.frames = frames
        self.body = nn.Sequential(
            nn.Conv2d(3 * frames, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = x[:, 3 * (self.frames // 2) : 3 * (self.frames // 2) + 3]
        return mid + 0.2 * self.body(x)


class TinyPoolNet(TinyNet):
    """Down- and up-sampling, so H, W must be even and tiles must stay on the 2-pixel grid."""

    multiple = 2
    halo = 8

    def __init__(self, frames: int = 1) -> None:
        super().__init__(frames)
        self.body = nn.Sequential(
            nn.Conv2d(3 * frames, 8, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(8, 3, 3, padding=1),
        )


class MeanOfFrames(nn.Module):
    """Returns the per-pixel mean of its input frames (no parameters): shows what a window saw."""

    frames, multiple, halo = 3, 1, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], 3, 3, *x.shape[2:]).mean(dim=1)


class MultipleProbe(nn.Module):
    """Refuses inputs not divisible by its multiple, like a real encoder-decoder would."""

    frames, multiple, halo = 1, 8, 0

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0, x.shape
        self.seen.append(tuple(x.shape[-2:]))
        return x


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth-ish content plus noise, so the network output is not trivially constant.
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127 + 60 * np.sin(xx[..., None] / 7.0 + np.arange(3)) * np.cos(yy[..., None] / 11.0)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _seeded(cls, *args):
    torch.manual_seed(0)
    return cls(*args)


@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (5, 130), (64, 64)])
def test_odd_sizes_keep_shape(shape):
    img = _image(*shape)
    for net in (_seeded(TinyPoolNet), MultipleProbe()):
        out = Deblurrer(net, tile=64, overlap=8)(img)
        assert out.shape == img.shape and out.dtype == np.uint8


def test_padding_is_outside_the_model_and_identity_survives():
    probe = MultipleProbe()
    img = _image(37, 53)
    out = Deblurrer(probe, tile=None)(img)
    assert probe.seen == [(40, 56)]
    np.testing.assert_array_equal(out, img)  # identity network: padding is cropped exactly


@pytest.mark.parametrize("net_cls", [TinyNet, TinyPoolNet])
@pytest.mark.parametrize("frames", [1, 3])
def test_tiled_matches_untiled_tiny(net_cls, frames):
    img = _image(96, 128)
    whole = Deblurrer(_seeded(net_cls, frames), tile=None)(img)
    tiled = Deblurrer(_seeded(net_cls, frames), tile=48, overlap=16)(img)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_tiles_cover_and_report_progress():
    calls = []
    net = Deblurrer(_seeded(TinyNet), tile=40, overlap=8)
    net(_image(96, 128), progress=lambda done, total: calls.append((done, total)))
    total = calls[-1][1]
    assert total > 4 and calls == [(i + 1, total) for i in range(total)]


def test_too_small_overlap_is_visible():
    """Sanity check of the test above: with no overlap the seams do differ."""
    img = _image(96, 128)
    whole = Deblurrer(_seeded(TinyNet), tile=None)(img)
    seams = Deblurrer(_seeded(TinyNet), tile=32, overlap=0)(img)
    assert np.abs(whole.astype(int) - seams.astype(int)).max() > 1


def test_tile_is_raised_to_fit_the_overlap_and_multiple():
    d = Deblurrer(TinyPoolNet(), tile=16, overlap=16)  # discard 8: margins need 2 * (16 + 8)
    assert d.tile == 48 and d.discard == 8
    assert Deblurrer(TinyPoolNet(), tile=101, overlap=16).tile == 100  # down to the multiple
    assert Deblurrer(TinyPoolNet(), tile=None).tile is None
    with pytest.raises(DeblurError, match="tile"):
        Deblurrer(TinyPoolNet(), tile=0)


def test_single_image_into_three_frame_model_is_repeated():
    img = _image(20, 30)
    out = Deblurrer(MeanOfFrames(), tile=None)(img)
    np.testing.assert_array_equal(out, img)


def test_three_frames_into_one_frame_model_uses_middle():
    stack = np.stack([_image(20, 30, seed) for seed in range(3)])
    net = _seeded(TinyNet)
    net.body[-1].weight.data.zero_()
    net.body[-1].bias.data.zero_()  # identity network
    out = Deblurrer(net, tile=None)(stack)
    np.testing.assert_array_equal(out, stack[1])


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8, 4), np.uint8), np.zeros((2, 8, 8, 3), np.uint8),
            np.zeros((0, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)]
)
def test_bad_arrays_are_image_errors(bad):
    with pytest.raises(ImageError):
        Deblurrer(TinyNet(), tile=None)(bad)


def test_bf16_and_contiguous_paths_run():
    img = _image(24, 40)
    ref = Deblurrer(_seeded(TinyNet), tile=None, channels_last=False)(img)
    fast = Deblurrer(_seeded(TinyNet), tile=None, channels_last=True, threads=1)(img)
    half = Deblurrer(_seeded(TinyNet), tile=None, bf16=True)(img)
    assert np.abs(ref.astype(int) - fast.astype(int)).max() <= 1
    assert np.abs(ref.astype(int) - half.astype(int)).max() <= 8  # bf16 has 8 mantissa bits


class HookNet(nn.Module):
    """A network with a per-image input (the ``per_image`` hook): one frame appended (constant 200)
    and one keyword input (``gain``); its output is gain * appended + (1 - gain) * image."""

    frames, multiple, halo = 1, 1, 0

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[int, ...], object]] = []

    def per_image(self, frames: np.ndarray, kernel: np.ndarray | None = None):
        self.calls.append((frames.shape, kernel))
        return np.concatenate([frames, np.full_like(frames[:1], 200)]), {"gain": torch.tensor([0.25])}

    def forward(self, x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        return gain * x[:, 3:6] + (1 - gain) * x[:, 0:3]


@pytest.mark.parametrize("ensemble", [False, True])
def test_the_per_image_hook_is_called_once_on_the_whole_input_and_reaches_every_tile(ensemble):
    img = _image(40, 56)
    net = HookNet()
    d = Deblurrer(net, tile=16, overlap=0, ensemble=ensemble)
    tiles = []
    out = d(img, kernel=np.ones((3, 3)) / 9, progress=lambda done, total: tiles.append(total))
    assert tiles[-1] > 1  # tiled (and, with the ensemble, over 8 views) ...
    assert net.calls == [((1, 40, 56, 3), None)]  # ... yet one call, on the whole image; a blind net gets no kernel
    want = np.rint(0.25 * 200 + 0.75 * img.astype(np.float64))
    assert np.abs(out - want).max() <= 1


def test_video_window_sees_neighbours():
    # Frame t is constant 10 * (t + 1): a window's mean tells which frames it saw.
    frames = [np.full((6, 8, 3), 10 * (t + 1), np.uint8) for t in range(5)]
    seen = []
    outs = list(
        Deblurrer(MeanOfFrames(), tile=None).deblur_video(
            frames, progress=lambda d, n: seen.append((d, n))
        )
    )
    assert len(outs) == 5
    means = [int(o[0, 0, 0]) for o in outs]
    # Edges repeat: (10, 10, 20) -> 13, (40, 50, 50) -> 47; middle (20, 30, 40) -> 30.
    assert means == [13, 20, 30, 40, 47]
    assert seen == [(i + 1, 5) for i in range(5)]


def test_video_one_frame_model_maps_frames_lazily():
    net = MultipleProbe()
    gen = (np.full((8, 8, 3), t, np.uint8) for t in range(4))
    outs = Deblurrer(net, tile=None).deblur_video(gen)
    assert [int(o[0, 0, 0]) for o in outs] == [0, 1, 2, 3]


def test_video_needs_three_frames():
    two = [np.zeros((8, 8, 3), np.uint8)] * 2
    with pytest.raises(ImageError, match="at least 3 frames"):
        list(Deblurrer(MeanOfFrames(), tile=None).deblur_video(two))


# ------------------------------------------------------------------ the real architectures

ARCH_CASES = [(arch, task) for arch in ARCHITECTURES for task in ARCH_TASKS[arch]]

# The tiling test needs an image larger than one tile, and a tile is at least 2 * (overlap +
# discard) ~ 4 * halo; these overrides shrink depth / width (and so halo and run time) while
# keeping every layer type, stride and padding mode of the architecture (naf_unet: two levels,
# so its bottom level still has the wide depthwise kernels and the local channel attention).
SMALL = {
    "kaist_net": {"channels": 4, "repeats": (1, 0, 0, 0, 0)},
    "atrous_net": {"blocks": 1},
    "naf_unet": {"width": 8, "enc": (1, 1), "middle": 1, "dec": (1, 1)},
    "res_unet": {"width": 8, "enc": (1, 1), "middle": 1, "dec": (1, 1)},
    "kernel_aware_atrous": {"blocks": 1},
    "multiframe_atrous": {"blocks": 1},
}

# Every architecture starts as an exact identity (zero-initialised output layers; NAF blocks'
# branch scales start at 0), and an identity stitches seamlessly whatever its halo, so tiling and
# self-ensemble checks on untrained networks can never fail. Each parameter gets Gaussian noise of
# this standard deviation instead (0.02 unless listed). Where 0.02 left the far end of the halo
# too faint to test, the noise is larger: kaist_net's coarse levels (a halved halo changed the
# output by only 1.1e-5), naf_unet, whose blocks scale their branches by factors that start at
# 0 (2e-7), and res_unet, whose blocks' second convs start at a tenth (3e-7). Every output stays
# within about [-0.7, 1.7].
PERTURB = {"kaist_net": 0.05, "naf_unet": 0.1, "res_unet": 0.1}

# Tiled against untiled, on the float output: float noise measured at most 2.4e-7, while halving
# any architecture's halo changed the output by 1.3e-4 (kaist_net) to 1.1e-3 (atrous_net). A
# uint8 comparison (<= 1/255) could see neither.
TILE_ATOL = 5e-6


def _perturbed(arch: str, task: str) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(arch, "lite", task, **SMALL.get(arch, {}))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(PERTURB.get(arch, 0.02) * torch.randn_like(p))
    if getattr(model, "takes_prior", False):
        # The physics prior (a ~15 s path fit, tests/test_multiframe.py) is not what these tests
        # are about: a cheap one that commutes with flips and quarter turns, as the real one would.
        model.prior = lambda frames: np.rint(frames.mean(axis=0)).astype(np.uint8)
    if getattr(model, "takes_sigma", False):
        # Likewise the sigma estimate: the learned estimator reads these random test images as
        # unblurred (sigma ~0), where the deconvolution is the identity and reaches no pixel
        # beyond its own; a fixed 3 px keeps the deconvolution's 32 px reach in play.
        model.estimate_sigma = lambda x: torch.full((x.shape[0],), 3.0, dtype=x.dtype, device=x.device)
    return model


def _stack(model: nn.Module, h: int, w: int) -> np.ndarray:
    """(F, H, W, 3) input with different content in each frame, F = the model's frames."""
    return np.stack([_image(h, w, seed=s) for s in range(model.frames)])


def _two_by_two(model: nn.Module) -> tuple[Deblurrer, np.ndarray]:
    """A tiled Deblurrer (tile raised to what the model's halo needs) and an input of 2 x 2
    tiles, the last ones clamped to the border."""
    tiled = Deblurrer(model, tile=64)
    return tiled, _stack(model, tiled.tile + 16, tiled.tile + 40)


@pytest.mark.parametrize("arch,task", ARCH_CASES)
def test_every_architecture_keeps_odd_shapes(arch, task):
    torch.manual_seed(0)
    model = build_model(arch, "lite", task)
    img = _image(37, 53)
    out = Deblurrer(model, tile=None)(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    stack = np.stack([img, img, img])
    assert Deblurrer(model, tile=None)(stack).shape == img.shape


@pytest.mark.parametrize("arch,task", ARCH_CASES)
def test_every_architecture_tiled_matches_untiled(arch, task):
    model = _perturbed(arch, task)
    tiled, stack = _two_by_two(model)
    whole = Deblurrer(model, tile=None).restore_float(stack)
    middle = stack[model.frames // 2].astype(np.float32) / 255.0
    assert np.abs(whole - middle).mean() > 0.01  # not an identity: seams could show
    calls = []
    out = tiled.restore_float(stack, progress=lambda done, total: calls.append(total))
    assert calls and calls[-1] == 4
    np.testing.assert_allclose(out, whole, rtol=0, atol=TILE_ATOL)


@pytest.mark.parametrize("arch,task", ARCH_CASES)
def test_every_architecture_shows_seams_when_its_halo_is_too_small(arch, task):
    """Sanity check of the test above: a halo declared at half its value is caught."""
    model = _perturbed(arch, task)
    tiled, stack = _two_by_two(model)
    whole = Deblurrer(model, tile=None).restore_float(stack)
    model.halo //= 2
    short = Deblurrer(model, tile=tiled.tile)  # same tiles; overlap and discard from the small halo
    assert short.discard < tiled.discard
    assert np.abs(short.restore_float(stack) - whole).max() > 4 * TILE_ATOL


@pytest.mark.parametrize("arch,task", ARCH_CASES)
def test_every_architecture_self_ensemble(arch, task):
    from deblur.inference import DIHEDRAL

    model = _perturbed(arch, task)
    m = model.multiple
    # Sides on the model's grid: the padding (bottom / right) then adds nothing, so turning the
    # input commutes exactly with the network's own padding.
    stack = _stack(model, 6 * m if m > 1 else 40, 10 * m if m > 1 else 56)
    plain = Deblurrer(model, tile=None)
    ens = Deblurrer(model, tile=None, ensemble=True)
    views = []
    for k, flip in DIHEDRAL:
        y = np.rot90(plain.restore_float(_d4(stack, k, flip)), -k, axes=(0, 1))
        views.append(y[:, ::-1] if flip else y)
    got = ens.restore_float(stack)
    np.testing.assert_allclose(got, np.mean(views, axis=0), rtol=0, atol=1e-5)
    assert np.abs(got - plain.restore_float(stack)).max() > 1e-3  # the network alone is not equivariant
    np.testing.assert_allclose(ens.restore_float(_d4(stack, 1, True)), _d4(got, 1, True), rtol=0, atol=1e-5)


@pytest.mark.parametrize("arch,task", ARCH_CASES)
def test_every_architecture_self_ensemble_tiled_matches_untiled(arch, task):
    model = _perturbed(arch, task)
    tiled, stack = _two_by_two(model)
    whole = Deblurrer(model, tile=None, ensemble=True).restore_float(stack)
    out = Deblurrer(model, tile=tiled.tile, ensemble=True).restore_float(stack)
    np.testing.assert_allclose(out, whole, rtol=0, atol=TILE_ATOL)


# ------------------------------------------------------------------ restorer lookup


def test_unknown_restorer_lists_valid_names():
    with pytest.raises(UnknownModelError) as err:
        load_restorer("no_such_model")
    message = str(err.value)
    assert "no_such_model" in message
    for name in available_restorers():
        assert name in message


def test_baseline_restorer_and_video_windowing_with_it():
    restorer = load_restorer("blurred", tile=64)  # network options do not apply and are ignored
    assert restorer.name == "blurred" and restorer.frames == 1 and not restorer.needs_kernel
    frames = [np.full((6, 8, 3), t, np.uint8) for t in range(4)]
    assert [int(o[0, 0, 0]) for o in deblur_video(restorer, frames)] == [0, 1, 2, 3]
    assert "wiener" in available_restorers("motion")


def test_weight_file_and_shipped_name_become_deblurrers(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = build_model("carlo_net", "lite", "gaussian", layers=2, channels=4)
    path = tmp_path / "tiny.safetensors"
    save_weights(path, model, {"task": "gaussian"})
    from_file = load_restorer(str(path), tile=None)
    assert isinstance(from_file, Deblurrer) and from_file.name == "tiny" and from_file.tile is None
    assert from_file.frames == 1 and from_file.needs_kernel is False

    import deblur.weights as weights

    shipped_dir = tmp_path / "weights"
    digest = save_weights(shipped_dir / "tiny-gaussian.safetensors", model, {"task": "gaussian"})
    weights.write_manifest_entry("tiny-gaussian", "tiny-gaussian.safetensors", digest,
                                 {"arch": "carlo_net", "task": "gaussian", "frames": 1}, weights_dir=shipped_dir)
    monkeypatch.setattr(weights, "WEIGHTS_DIR", shipped_dir)  # the registry reads it at call time
    shipped = load_restorer("tiny-gaussian", tile=96)
    assert shipped.name == "tiny-gaussian" and shipped.tile == 96
    img = _image(20, 24)
    np.testing.assert_array_equal(shipped(img), from_file(img))
    assert available_restorers()[0] == "tiny-gaussian"


def test_auto_tiling_runs_frames_up_to_the_limit_whole_and_tiles_larger_ones():
    from deblur.inference import AUTO_TILE, AUTO_WHOLE_PIXELS

    auto = Deblurrer(_seeded(TinyNet))
    assert auto.auto and auto.tile == AUTO_TILE
    assert not auto.tiles(720, 1280) and 720 * 1280 <= AUTO_WHOLE_PIXELS  # 720p: one pass, no overlap work
    assert auto.tiles(2160, 3840)                                          # 4K: tiles bound memory
    explicit = Deblurrer(_seeded(TinyNet), tile=64, overlap=8)
    assert not explicit.auto and explicit.tiles(100, 100)                  # an explicit tile always applies
    assert not Deblurrer(_seeded(TinyNet), tile=None).tiles(4000, 4000)
    with pytest.raises(DeblurError):
        Deblurrer(_seeded(TinyNet), tile="big")


def _d4(img: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """One dihedral view of an (H, W, 3) or (F, H, W, 3) array (the spatial axes are -3, -2)."""
    out = img[..., ::-1, :] if flip else img
    return np.ascontiguousarray(np.rot90(out, k, axes=(-3, -2)))


@pytest.mark.parametrize("net_cls,frames", [(TinyNet, 1), (TinyNet, 3), (TinyPoolNet, 1)])
def test_self_ensemble_is_the_mean_of_the_eight_views_and_equivariant(net_cls, frames):
    from deblur.inference import DIHEDRAL

    net = _seeded(net_cls, frames)
    plain = Deblurrer(net, tile=None)
    ens = Deblurrer(net, tile=None, ensemble=True)
    stack = np.stack([_image(24, 40, seed=s) for s in range(frames)])
    # The mean of the 8 plain outputs on the turned inputs, each turned back by hand.
    views = []
    for k, flip in DIHEDRAL:
        y = plain.restore_float(_d4(stack, k, flip))
        y = np.rot90(y, -k, axes=(0, 1))
        views.append(y[:, ::-1] if flip else y)
    want = np.mean(views, axis=0)
    got = ens.restore_float(stack)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - plain.restore_float(stack)).max() > 1e-3  # the network is not equivariant by itself
    # Averaging over the whole group makes the restorer commute with every flip and rotation.
    for k, flip in [(1, False), (2, True), (3, True)]:
        np.testing.assert_allclose(ens.restore_float(_d4(stack, k, flip)), _d4(got, k, flip), atol=1e-5)


def test_self_ensemble_tiles_and_reports_progress_over_all_views():
    net = _seeded(TinyNet)
    calls: list[tuple[int, int]] = []
    ens = Deblurrer(net, tile=24, overlap=8, ensemble=True)
    img = _image(40, 56)
    out = ens(img, progress=lambda d, t: calls.append((d, t)))
    untiled = Deblurrer(net, tile=None, ensemble=True)(img)
    assert np.abs(out.astype(int) - untiled.astype(int)).max() <= 1
    totals = {t for _, t in calls}
    assert len(totals) == 1 and calls[-1][0] == calls[-1][1] == totals.pop()
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)  # monotone across the 8 views


def test_ensemble_suffix_loads_the_network_self_ensembled(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_weights(path, build_model("carlo_net", "lite", "gaussian", layers=2, channels=4), {"task": "gaussian"})
    ens = load_restorer(f"{path}+x8", tile=None)
    assert isinstance(ens, Deblurrer) and ens.ensemble and ens.name == "tiny+x8"
    assert not load_restorer(str(path)).ensemble
    with pytest.raises(UnknownModelError):
        load_restorer("wiener+x8")  # baselines have no self-ensemble
    with pytest.raises(UnknownModelError, match="no_such_model"):
        load_restorer("no_such_model+x8")
