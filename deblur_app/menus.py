"""The models the app offers, labels them with and checks a request against: all from deblur.registry.

offered(cfg) reads the weights manifest once (registry.catalog); a request's handler calls it once
and hands the result on, so a request reads the manifest once. The dropdowns accept any value, and
each request's model is checked here against what is shipped NOW (a network shipped while the
server runs is offered at once).
"""

from __future__ import annotations

import functools

import gradio as gr

from deblur import registry
from deblur.registry import ENSEMBLE_SUFFIX, ORACLE_SUFFIX, PRIOR_RESTORERS, ModelInfo
from deblur_app.common import AppConfig

# The network each blur type starts with when it is shipped (else its first network, else a baseline).
PREFERRED_NETWORK = registry.PREFERRED  # the CLI's default without --model is the same record
# The learned-prior restorers the photo menus offer, with the one blur type each is offered for and its
# tag: blind_pnp reads the photo's kernel and deconvolves it with the learned prior -- the restorer
# that makes a shaken page or licence plate readable (docs/real-photos.md, the gallery), slower than a
# network (about 16 s a megapixel here) and not for non-uniform blur (a passing car rings).
PRIOR_IN_MENUS = {"blind_pnp": ("camera", "kernel read, deconvolved")}
# Names the registry runs that the app's menus leave out: the +true_sigma oracles, the other plug-and-
# play restorers (oracles told the kernel, or rows for the boards) and blind_kernel (Wiener after the
# kernel read: blind_pnp does it better). One place to change when they join the menus.
NOT_IN_MENUS = frozenset({*(set(PRIOR_RESTORERS) - set(PRIOR_IN_MENUS)), "blind_kernel"})
# Model labels stay short enough for the dropdown on a phone (about 40 characters show); the
# dropdown's info line says what the tags mean.
BASELINE_NOTES = {
    "blurred": "the input unchanged",
    "wiener": "classical, true kernel",
    "richardson_lucy": "classical, true kernel",
    "blind_wiener": "classical, Gaussian",
    "blind_psf": "classical, large blur",
    "multiframe_wiener": "classical, path fit",
}
MODEL_INFO = ("'recommended' / 'guarded': a photo in which no blur is found is only denoised, the network does "
              "not run. 'kernel read, deconvolved': for a shaken photo, slower. 'large blur first': a large defocus or straight shake found in the photo is removed before the "
              "network. 'true kernel': needs 'Blur it first'. 'path fit': fits the camera's path to three frames, "
              "15-40 s a frame.")
# Networks run in ONNX Runtime when it is installed (pip install onnxruntime onnx: ~1.5x faster on a
# CPU, outputs within 1-2 grey levels of torch) and in torch otherwise, or when a network is torch-only.
BACKEND = "auto"

Menu = dict[str, ModelInfo]  # offered(): name -> what the registry knows of it, in menu order


def offered(cfg: AppConfig) -> Menu:
    """Every model the app offers, for any blur type: shipped networks, the NAME+psf of the camera
    ones, the classical baselines. A malformed manifest leaves out what it cannot describe
    (strict=False) instead of stopping the app; server_status says what was left out."""
    return {name: info for name, info in registry.catalog(None, cfg.weights_dir, strict=False).items()
            if name not in NOT_IN_MENUS and not name.endswith(ORACLE_SUFFIX)}


def networks(menu: Menu, task: str | None = None) -> list[str]:
    """The shipped networks of `menu` (for one blur type if given), without the NAME+psf(+guard) variants
    and the learned-prior restorers."""
    return [n for n, i in menu.items() if i.kind == "network" and not i.psf and n not in PRIOR_RESTORERS
            and (task is None or i.takes(task))]


def priors(menu: Menu, task: str) -> list[str]:
    """The learned-prior restorers of `menu` offered for blur type `task` (PRIOR_IN_MENUS)."""
    return [n for n in menu if n in PRIOR_IN_MENUS and PRIOR_IN_MENUS[n][0] == task]


def one_pass(info: ModelInfo) -> bool:
    """A restorer without the 8-view self-ensemble: baselines and the learned-prior restorers."""
    return info.kind == "baseline" or info.name in PRIOR_RESTORERS


def baselines(menu: Menu) -> list[str]:
    return [n for n, i in menu.items() if i.kind == "baseline"]


def baseline_label(name: str) -> str:
    return f"{name} ({BASELINE_NOTES.get(name, 'classical baseline')})"


def model_choices(cfg: AppConfig, task: str, menu: Menu | None = None) -> list[tuple[str, str]]:
    """(label, name) pairs for the photo model dropdown: networks for `task` (the camera ones also
    as NAME+psf+guard and NAME+psf, first; the preferred one at the top, then the learned-prior
    restorers offered for `task`), then the baselines for it."""
    menu = offered(cfg) if menu is None else menu
    mine = {n: i for n, i in menu.items() if i.takes(task)}
    best = PREFERRED_NETWORK.get(task)
    guarded = sorted((n for n, i in mine.items() if i.guard), key=lambda n: n != best)
    psf = [(f"{n} ({'recommended' if n == best else 'guarded'})", n) for n in guarded]
    psf[1:1] = [(f"{n} ({PRIOR_IN_MENUS[n][1]})", n) for n in priors(menu, task)]  # second: for a shake
    psf += [(f"{n} (large blur first)", n) for n, i in mine.items() if i.psf and not i.guard]
    nets = [(f"{n} (path fit)" if registry.takes_prior(mine[n]) else f"{n} (network)", n) for n in networks(mine)]
    return psf + nets + [(baseline_label(n), n) for n in baselines(mine)]


def default_model(cfg: AppConfig, task: str, menu: Menu | None = None) -> str:
    """The blur type's preferred network (without its guard where the guard's prior is not
    shipped), else its first one, else the blind classical method."""
    menu = offered(cfg) if menu is None else menu
    nets = [n for n, i in menu.items() if i.psf and i.takes(task)] + networks(menu, task)
    best = PREFERRED_NETWORK.get(task)
    for name in (best, (best or "").removesuffix(registry.GUARD_SUFFIX)):
        if name in nets:
            return name
    if nets:
        return nets[0]
    return "blind_wiener" if "blind_wiener" in menu else "blurred"


def video_networks(menu: Menu, task: str) -> list[str]:
    """``networks`` without those that fit a camera path per frame (15-40 s each: photos only)."""
    return [n for n in networks(menu, task) if not registry.takes_prior(menu[n])]


def video_model_choices(cfg: AppConfig, menu: Menu | None = None) -> list[tuple[str, str]]:
    """Motion networks first (they see 3 frames), then single-frame ones, then blind baselines."""
    menu = offered(cfg) if menu is None else menu
    nets = [(f"{n} (network, 3 frames)", n) for n in video_networks(menu, "motion")]
    nets += [(f"{n} (network, 1 frame)", n) for t in ("gaussian", "camera") for n in video_networks(menu, t)]
    # Three-frame classical methods fit a camera path per frame (15-40 s): too slow for a clip.
    return nets + [(baseline_label(n), n) for n in baselines(menu)
                   if not menu[n].needs_kernel and menu[n].frames == 1]


def default_video_model(cfg: AppConfig, menu: Menu | None = None) -> str:
    menu = offered(cfg) if menu is None else menu
    nets = video_networks(menu, "motion") or video_networks(menu, "gaussian")
    return nets[0] if nets else "blurred"


def check_model(name: str, cfg: AppConfig, task: str | None, have_kernel: bool,
                menu: Menu | None = None) -> ModelInfo:
    """The ModelInfo of a request's model; gr.Error when it is not offered, is for another blur
    type, or needs a kernel the request lacks."""
    menu = offered(cfg) if menu is None else menu
    if not name:
        raise gr.Error("choose a model")
    info = menu.get(name)
    if info is None:
        raise gr.Error(f"unknown model {name!r}; choose one of: {', '.join(menu)}")
    if name in PRIOR_IN_MENUS and task != PRIOR_IN_MENUS[name][0]:
        where = "videos" if task is None else f"{task} blur"
        raise gr.Error(f"{name} is offered for {PRIOR_IN_MENUS[name][0]} photos, not {where}: pick another model")
    if info.kind == "baseline":
        if info.needs_kernel and not have_kernel:
            where = ("tick 'Blur it first' so the app knows the blur it applied"
                     if task is not None else "a real video has no known kernel")
            raise gr.Error(
                f"{name} deconvolves with the true blur kernel, which exists only when the app "
                f"blurs the photo itself: {where}, or pick a network or blind_wiener"
            )
        if task is not None and not info.takes(task):
            raise gr.Error(f"{name} is for {' / '.join(info.blurs)} blur only; pick another model for {task} blur")
    elif task is not None and not info.takes(task):
        raise gr.Error(f"{name} was trained for {' / '.join(info.blurs)} blur, not {task}: pick a {task} "
                       "model or switch the blur type")
    return info


def slow_restorer(info: ModelInfo) -> bool:
    """A three-frame restorer that fits a camera path per frame (multiframe_wiener and the
    networks that refine it)."""
    return info.frames == 3 if info.kind == "baseline" else registry.takes_prior(info)


@functools.lru_cache(maxsize=8)
def _cached_restorer(name: str, weights_dir: str, sha256: str | None, tile: int | str | None,
                     ensemble: bool = False):
    """Build a restorer once per process (a network's hash is checked when it is first built).

    The manifest's SHA-256 is part of the key, so a retrained network replaces the cached one.
    """
    if name in registry.BASELINES or name in PRIOR_RESTORERS:
        return registry.load(name, weights_dir=weights_dir)
    return registry.load(name + (ENSEMBLE_SUFFIX if ensemble else ""), weights_dir=weights_dir, tile=tile,
                         backend=BACKEND)


def get_restorer(info: ModelInfo, cfg: AppConfig, ensemble: bool = False):
    """The restorer `info` names (cached): callable(frames_u8, kernel=None) -> uint8 (H, W, 3).

    ensemble: a network averages its outputs on the 8 flips / rotations (8x the time); baselines
    have no such option and ignore it.
    """
    if one_pass(info):
        return _cached_restorer(info.name, str(cfg.weights_dir), info.sha256, cfg.tile)
    return _cached_restorer(info.name, str(cfg.weights_dir), info.sha256, cfg.tile, bool(ensemble))
