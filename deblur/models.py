"""The table of deblurring networks: one record per architecture (its class, the blur families it
serves, its presets) and the functions that build a network from it or describe one.

The networks themselves are plain ``nn.Module``s in the modules below this one: deblur.nets (the
paper's CARLO_NET, KAIST_NET, ATROUS_NET and the project's NAF_UNET and RES_UNET),
deblur.kernel_aware, deblur.multiframe and deblur.denoiser. This table sits above what it lists
and imports each of them; none of them imports it. The network classes are imported here by name
too, so ``from deblur.models import AtrousNet`` keeps working.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from deblur.degrade import FAMILIES
from deblur.denoiser import DenoiserUNet
from deblur.kernel_aware import KernelAwareNet
from deblur.multiframe import MultiFrameRefiner
from deblur.nets import (LEAKY_SLOPE, AtrousBlock, AtrousNet, CarloNet, KaistNet, LayerNorm2d, NAFBlock,  # noqa: F401
                         NAFUNet, ResUNet, _he_init, _middle)

TASK_FRAMES = {name: fam.frames for name, fam in FAMILIES.items()}  # input frames per blur family

# Which tasks each architecture was used for in the paper (the records below hold them).
_TASKS = {"carlo_net": ("gaussian",), "kaist_net": ("gaussian", "motion"), "atrous_net": ("gaussian", "motion", "camera"),
          "naf_unet": ("camera",), "res_unet": ("camera", "motion")}

# "paper": the sizes of the paper and its code. "lite": sized to train and run on a 2-core CPU.
# A value may be a {task: value} dict where the paper used different sizes per task.
_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "carlo_net": {
        "paper": {"layers": 10, "channels": 128},
        "lite": {"layers": 6, "channels": 32},
    },
    "kaist_net": {
        "paper": {"channels": 32, "repeats": (9, 9, 4, 4, 9)},
        "lite": {"channels": 16, "repeats": (2, 2, 1, 1, 2)},
    },
    "atrous_net": {
        "paper": {"blocks": {"gaussian": 5, "motion": 10, "camera": 5}, "stem": 128, "channels": 256, "branch": 128,
                  "head": 64},
        # motion is narrower so a 720p frame takes <= ~1.5 s on 2 cores (eval speed)
        "lite": {"blocks": {"gaussian": 4, "motion": 3, "camera": 4}, "stem": {"gaussian": 32, "motion": 16, "camera": 32},
                 "channels": {"gaussian": 64, "motion": 48, "camera": 64},
                 "branch": {"gaussian": 32, "motion": 24, "camera": 32},
                 "head": {"gaussian": 32, "motion": 16, "camera": 32}},
    },
    # the project's own design; "lite" measured 17 training samples/s (128 px crops, batch 8) on
    # 2 cores against ATROUS_NET lite's 14, and 1.5 s per 720p frame against its 1.9 s
    "naf_unet": {
        "lite": {"width": 16, "enc": (1, 1, 2), "middle": 6, "dec": (1, 1, 1), "dw_low": 7, "sca": 7},
    },
    # bench/train_speed.py on 2 cores, bf16: 60 training samples/s (128 px crops, batch 8; 77 at batch 16)
    "res_unet": {
        "lite": {"width": 16, "enc": (1, 1, 1, 2), "middle": 4, "dec": (1, 1, 1, 2)},
    },
}


# Kernel-aware Gaussian restorer (issue 12; the class and its reasons are in deblur/kernel_aware.py):
# estimate sigma, Wiener-deconvolve, refine with ATROUS_NET at its lite gaussian sizes.
_PRESETS["kernel_aware_atrous"] = {
    "lite": {"blocks": 4, "stem": 32, "channels": 64, "branch": 32, "head": 32, "estimator": 0, "sigma_net": 32,
             "gate": 16},
}


# Three-frame motion restorer (issue 13; deblur/multiframe.py): the blind multi-frame Wiener
# prior, refined by ATROUS_NET at its lite gaussian sizes (the motion ones are for video speed,
# which this pipeline does not have: its prior costs 15-40 s per frame).

_PRESETS["multiframe_atrous"] = {"lite": {"blocks": 4, "stem": 32, "channels": 64, "branch": 32, "head": 32}}


@dataclass(frozen=True)
class Architecture:
    """One deblurring architecture, one record: its class, the blur families it serves, its presets
    and what a network of it is handed besides the blurred frames. The layers above read these
    fields instead of probing the classes (the class computes its per-image input itself, through
    its ``per_image`` hook, which the inference object calls)."""

    cls: type[nn.Module]
    tasks: tuple[str, ...]
    presets: dict[str, dict[str, Any]]
    told: str = ""        # "sigma": it can be told the true blur's sigma (the registry's +true_sigma oracle)
    prior: bool = False   # it refines a physics prior handed to it as one more frame (three-frame motion)

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TASK_FRAMES]
        if not self.tasks or unknown:
            raise ValueError(f"{self.cls.__name__}: tasks must be blur families ({', '.join(TASK_FRAMES)}), "
                             f"got {self.tasks}")
        if not self.presets:
            raise ValueError(f"{self.cls.__name__}: no presets")
        if self.told not in ("", "sigma"):
            raise ValueError(f"{self.cls.__name__}: told must be '' or 'sigma', got {self.told!r}")
        # the record and the class it names must agree on what the network takes
        if (self.told == "sigma") != bool(getattr(self.cls, "takes_sigma", False)) or \
                self.prior != bool(getattr(self.cls, "takes_prior", False)):
            raise ValueError(f"{self.cls.__name__}: the record's told / prior disagree with the class")


ARCHS: dict[str, Architecture] = {
    "carlo_net": Architecture(CarloNet, _TASKS["carlo_net"], _PRESETS["carlo_net"]),
    "kaist_net": Architecture(KaistNet, _TASKS["kaist_net"], _PRESETS["kaist_net"]),
    "atrous_net": Architecture(AtrousNet, _TASKS["atrous_net"], _PRESETS["atrous_net"]),
    "naf_unet": Architecture(NAFUNet, _TASKS["naf_unet"], _PRESETS["naf_unet"]),
    "res_unet": Architecture(ResUNet, _TASKS["res_unet"], _PRESETS["res_unet"]),
    "kernel_aware_atrous": Architecture(KernelAwareNet, ("gaussian",), _PRESETS["kernel_aware_atrous"], told="sigma"),
    "multiframe_atrous": Architecture(MultiFrameRefiner, ("motion",), _PRESETS["multiframe_atrous"], prior=True),
}
# Views of the records by field, for the callers that want one field of every architecture.
ARCHITECTURES: dict[str, type[nn.Module]] = {name: a.cls for name, a in ARCHS.items()}
ARCH_TASKS: dict[str, tuple[str, ...]] = {name: a.tasks for name, a in ARCHS.items()}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {name: a.presets for name, a in ARCHS.items()}


def takes_prior(arch: str | None) -> bool:
    """Whether architecture ``arch`` refines a physics prior handed to it as one more frame."""
    return arch in ARCHS and ARCHS[arch].prior


def takes_sigma(arch: str | None) -> bool:
    """Whether architecture ``arch`` can be told the true blur's sigma."""
    return arch in ARCHS and ARCHS[arch].told == "sigma"

# Priors: networks that are not deblurring networks themselves (no blur family, not in
# ARCHITECTURES) but that a restorer uses, rebuilt from their weight files like any network.
# DENOISER_UNET (issue 25; deblur/denoiser.py) is the prior of the plug-and-play deconvolution.
PRIOR_ARCHITECTURES: dict[str, type[nn.Module]] = {"denoiser_unet": DenoiserUNet}


def preset_args(arch: str, preset: str, task: str) -> dict[str, Any]:
    """Constructor arguments of a named preset for one task (``frames`` included)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join(ARCHITECTURES)}")
    if task not in TASK_FRAMES:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASK_FRAMES)}")
    if task not in ARCH_TASKS[arch]:
        raise ValueError(f"{arch} is used for {', '.join(ARCH_TASKS[arch])} only, not {task}")
    if preset not in PRESETS[arch]:
        raise ValueError(f"unknown preset {preset!r} for {arch}; valid: {', '.join(PRESETS[arch])}")
    args = {k: (v[task] if isinstance(v, dict) else copy.copy(v)) for k, v in PRESETS[arch][preset].items()}
    args["frames"] = TASK_FRAMES[task]
    return args


def build_model(arch: str, preset: str = "lite", task: str = "gaussian", **overrides: Any) -> nn.Module:
    """Build an architecture at a named preset for a task; keyword overrides change any argument."""
    args = preset_args(arch, preset, task)
    args.update(overrides)
    return create(arch, args)


def create(arch: str, args: dict[str, Any]) -> nn.Module:
    """Build ``arch`` from explicit constructor arguments (what a weight file stores)."""
    table = ARCHITECTURES if arch in ARCHITECTURES else PRIOR_ARCHITECTURES
    if arch not in table:
        raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join([*ARCHITECTURES, *PRIOR_ARCHITECTURES])}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    model = table[arch](**args)
    model.arch = arch
    model.args = dict(args)
    return model


def model_config(model: nn.Module) -> dict[str, Any]:
    """JSON-able description that rebuilds ``model`` with ``create(cfg["arch"], cfg["args"])``."""
    return {"arch": model.arch, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in model.args.items()}}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs_per_pixel(model: nn.Module, probe: int = 64) -> float:
    """Multiply-accumulates per input pixel (convolutions are linear in area: count on a probe).

    A kernel-aware network is handed a sigma: its estimator runs once per image on a crop of at
    most ``deblur.sigma_net.CROP`` px (8 views), a fixed cost that does not grow with the image,
    so it is not a per-pixel one."""
    from torch.utils.flop_counter import FlopCounterMode

    m = max(1, int(getattr(model, "multiple", 1)))
    side = max(probe, m) // m * m
    p = next(model.parameters(), None)
    x = torch.zeros(1, 3 * getattr(model, "input_frames", model.frames), side, side,
                    device=p.device if p is not None else "cpu")
    # a kernel-aware network is told a sigma, a denoiser prior its noise level
    told = getattr(model, "takes_sigma", False) or getattr(model, "takes_noise_level", False)
    kwargs = {"sigma": torch.ones(1, device=x.device)} if told else {}
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, **kwargs)
    model.train(was_training)
    return counter.get_total_flops() / 2.0 / (side * side)


def preset_table() -> str:
    """Markdown table of every preset: parameters and GMAC per megapixel (for docs/models.md)."""
    lines = ["| network | task | preset | parameters | GMAC / megapixel |", "|---|---|---|---:|---:|"]
    for arch, tasks in ARCH_TASKS.items():
        for task in tasks:
            for preset in PRESETS[arch]:
                m = build_model(arch, preset, task)
                lines.append(f"| {arch} | {task} | {preset} | {count_parameters(m) / 1e6:.2f} M "
                             f"| {macs_per_pixel(m) * 1e6 / 1e9:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(preset_table())
