import pytest
import torch

from deblur import models
from deblur.models import ARCH_TASKS, ARCHITECTURES, PRESETS, build_model, count_parameters, create, model_config

CASES = [(a, t, p) for a, tasks in ARCH_TASKS.items() for t in tasks for p in PRESETS[a]]


def _perturb(model):
    """Give zero-initialised output layers random weights, so outputs depend on the input."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and p.abs().sum() == 0:
                p.normal_(0, 0.02)
    return model


def _inputs(model) -> int:
    """Frames the network itself takes: a prior-refining one (deblur.multiframe) one more."""
    return getattr(model, "input_frames", model.frames)


@pytest.mark.parametrize("arch,task,preset", CASES)
def test_shapes_and_gradients(arch, task, preset):
    torch.manual_seed(0)
    model = _perturb(build_model(arch, preset, task))
    n = 16 if preset == "paper" else 24
    n = -(-n // model.multiple) * model.multiple  # a five-level U-Net needs a multiple of 16
    x = torch.rand(2, 3 * _inputs(model), n, n, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 3, n, n)
    assert torch.isfinite(y).all()
    y.abs().mean().backward()
    # a kernel-aware network's sigma estimator learns from its own loss (training_sigma, checked in
    # test_kernel_aware.py), never from the image: the image loss must not reach it
    own = {id(p) for p in model.estimator.parameters()} if getattr(model, "takes_sigma", False) else set()
    grads = [p.grad for p in model.parameters() if id(p) not in own]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(p.grad is None for p in model.parameters() if id(p) in own)
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("arch,task", [(a, t) for a, ts in ARCH_TASKS.items() for t in ts])
def test_untrained_model_returns_its_middle_frame(arch, task):
    model = build_model(arch, "lite", task).eval()
    x = torch.rand(1, 3 * _inputs(model), 32, 32)
    # a prior-refining model (deblur/multiframe.py) starts as its prior, the last input frame
    k = _inputs(model) - 1 if getattr(model, "takes_prior", False) else model.frames // 2
    # a kernel-aware model starts as Wiener deconvolution with the sigma it is told, so sigma 0 is
    # the identity (tests/test_kernel_aware.py checks the deconvolution itself)
    told = {"sigma": torch.zeros(1)} if getattr(model, "takes_sigma", False) else {}
    torch.testing.assert_close(model(x, **told), x[:, 3 * k : 3 * k + 3], atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_odd_multiples_of_the_network_work(arch):
    model = _perturb(build_model(arch, "lite", ARCH_TASKS[arch][0]))
    h, w = 3 * model.multiple * 2, 5 * model.multiple * 2
    assert model(torch.rand(1, 3 * _inputs(model), h, w)).shape == (1, 3, h, w)


def test_paper_sizes_follow_the_paper():
    atrous = build_model("atrous_net", "paper", "motion")
    assert len(atrous.trunk) == 10 and build_model("atrous_net", "paper", "gaussian").blocks == 5
    block = atrous.trunk[0]
    assert [b.dilation[0] for b in block.branches] == [1, 2, 3, 4]
    assert [b.out_channels for b in block.branches] == [128] * 4 and block.fuse.out_channels == 256
    # about 2.4M parameters per block, about 25M with 10 blocks (seed-code-facts.md)
    assert 2.3e6 < sum(p.numel() for p in block.parameters()) < 2.5e6
    assert 23e6 < count_parameters(atrous) < 27e6
    carlo = build_model("carlo_net", "paper", "gaussian")
    assert len(carlo.convs) == len(carlo.deconvs) == 10 and carlo.convs[1].out_channels == 128
    kaist = build_model("kaist_net", "paper", "motion")
    assert (len(kaist.rdu1), len(kaist.rdu2), len(kaist.rdu3), len(kaist.rud1), len(kaist.rud2)) == (9, 9, 4, 4, 9)
    assert kaist.conv1.in_channels == 9 and kaist.conv8.out_channels == 25


def test_kaist_adaptive_conv_with_a_shift_kernel_shifts_the_image():
    model = build_model("kaist_net", "lite", "gaussian")
    img = torch.rand(1, 3, 10, 12)
    kernels = torch.zeros(1, 25, 10, 12)
    kernels[:, 13] = 1.0  # centre row, one to the right: out[p] = img[p + (0, 1)]
    out = model.adaptive_conv(img, kernels)
    torch.testing.assert_close(out[..., :-1], img[..., 1:])


def test_config_rebuilds_the_same_model():
    model = build_model("atrous_net", "lite", "motion", blocks=2)
    again = create(**{"arch": model_config(model)["arch"], "args": model_config(model)["args"]})
    assert type(again) is type(model) and again.blocks == 2 and again.frames == 3
    assert count_parameters(again) == count_parameters(model)


def test_invalid_choices_are_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="atrous_net"):
        build_model("unet9000")
    with pytest.raises(ValueError, match="gaussian"):
        build_model("carlo_net", "lite", "motion")
    with pytest.raises(ValueError, match="lite"):
        build_model("atrous_net", "huge", "gaussian")


def test_mac_count_matches_hand_count_for_carlo_net():
    from deblur.models import macs_per_pixel

    # conv 3->32, five conv 32->32, five deconv 32->32, deconv 32->3; all 3x3 at full resolution
    expected = 9 * (3 * 32 + 5 * 32 * 32 + 5 * 32 * 32 + 32 * 3)
    assert macs_per_pixel(build_model("carlo_net", "lite", "gaussian")) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("arch,task,preset", [(a, t, p) for a, tasks in models.ARCH_TASKS.items()
                                              for t in tasks for p in models.PRESETS[a]])
def test_every_preset_has_arguments_for_every_blur_family_it_serves(arch, task, preset):
    """A per-family preset value (e.g. atrous_net's blocks) must cover every family in ARCH_TASKS."""
    args = models.preset_args(arch, preset, task)
    assert args["frames"] == models.TASK_FRAMES[task]
    assert not any(isinstance(v, dict) for v in args.values())


def test_one_record_per_architecture_checked_at_import():
    """An architecture is one record (class, families, presets, what it is told); the older tables
    are views of it, and a record that disagrees with its class or names no family fails at once."""
    from deblur.kernel_aware import KernelAwareNet
    from deblur.nets import CarloNet

    assert list(models.ARCHITECTURES) == list(models.ARCHS) == list(models.ARCH_TASKS) == list(models.PRESETS)
    for name, rec in models.ARCHS.items():
        assert models.ARCHITECTURES[name] is rec.cls and models.ARCH_TASKS[name] == rec.tasks
    assert models.takes_sigma("kernel_aware_atrous") and not models.takes_sigma("atrous_net")
    assert models.takes_prior("multiframe_atrous") and not models.takes_prior("res_unet")
    assert not models.takes_prior(None) and not models.takes_prior("no_such_arch")
    with pytest.raises(ValueError, match="disagree"):
        models.Architecture(KernelAwareNet, ("gaussian",), {"lite": {}})  # told="sigma" left out
    with pytest.raises(ValueError, match="blur families"):
        models.Architecture(CarloNet, ("sepia",), {"lite": {}})
    with pytest.raises(ValueError, match="no presets"):
        models.Architecture(CarloNet, ("gaussian",), {})
