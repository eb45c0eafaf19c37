"""The one restorer registry: every runnable name, what it takes, and how to load it.

The CLI, the evaluator (run, sweep, speed), the app and the trainer ask this module, and only
this module, which models exist. A name is one of

- a shipped network: a row of ``weights/manifest.json`` (``atrous_net-gaussian``, ...);
- an architecture name without its blur (``atrous_net``) when a blur family is given: the
  shipped network of that architecture for that family;
- a path to a ``.safetensors`` weight file (its metadata says its architecture and task);
- a classical baseline of ``deblur.baselines.BASELINES`` (``wiener``, ``blind_wiener``, ...);
- any network name followed by ``+x8``: its 8-view self-ensemble;
- a kernel-aware network's name followed by ``+true_sigma`` (before any ``+x8``): the same network
  told the sigma of the true kernel instead of estimating it -- an oracle, like ``wiener``;
- a single-frame network's name followed by ``+psf`` (before any ``+x8``): the photo is first
  searched for a large defocus disc or straight motion (``deblur.psf``) and, where one is found,
  deconvolved before the network sees it;
- a blind single-frame network's name (``+psf`` and ``+x8`` included) followed by ``+guard`` (last):
  the photo's kernel is read first (``deblur.kernel_estimate``) and unless the verdict is
  "kernel" it is only denoised by the trained prior, the network does not run (``deblur.blind.Guarded``);
- a restorer of ``PRIOR_RESTORERS`` built around a trained prior of ``weights/priors/``
  (``deblur.pnp``): ``pnp`` / ``pnp_linear``, plug-and-play deconvolution handed the true kernel
  (like ``wiener``); ``multiframe_pnp``, blind, three frames.

Adding a model family is one record in ``deblur.models.ARCHS`` (plus a manifest row for
shipped weights); adding a baseline is one entry in ``BASELINES``. Every error is one sentence
that lists the valid names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deblur.baselines import BASELINES as CLASSICAL
from deblur.blind import BlindKernel, BlindPnP, Guarded, PriorDenoise
from deblur import weights as W  # W._weights_dir at call time: tests point it elsewhere
from deblur.errors import DeblurError, UnknownModelError, WeightsError
from deblur.inference import ENSEMBLE_SUFFIX, Deblurrer
from deblur import models
from deblur.models import ARCH_TASKS, ARCHITECTURES, PRIOR_ARCHITECTURES, TASK_FRAMES
from deblur.pnp import MultiFramePnP, PnPDeconvolution
from deblur.weights import MANIFEST, read_manifest

# The classical restorers: deblur.baselines' table plus those built above it (the blind kernel
# estimator and its do-no-harm verdict, deblur.blind).
BASELINES: dict[str, Any] = {**CLASSICAL, "blind_kernel": BlindKernel()}

PRIORS = "priors"  # subfolder of the weights folder: networks restorers use (own manifest.json)


@dataclass(frozen=True)
class PriorRestorer:
    """A restorer built around a trained prior of weights/priors/ (deblur.pnp): one record."""

    prior: str                                # the prior's name in weights/priors/manifest.json
    build: Callable[[Any, str], Any]          # (prior model, name) -> restorer(frames_u8, kernel)
    needs_kernel: bool                        # handed the true kernel (an oracle row)
    frames: int = 1
    blurs: tuple[str, ...] = tuple(TASK_FRAMES)


PRIOR_RESTORERS: dict[str, PriorRestorer] = {
    # handed the true kernel: data term on sRGB values (the synthetic boards' blur) / in linear light (a
    # camera's). lam: the best of 0.1 / 0.5 / 3 on corpus validation crops (bench/pnp_probe.py): 0.1 on
    # noise-free 8-bit blur, 3 on camera-like blur with sensor noise and JPEG (where it still trails RL)
    "pnp": PriorRestorer("denoiser_unet", lambda m, n: PnPDeconvolution(m, name=n, light="srgb", lam=0.1), True),
    "pnp_linear": PriorRestorer("denoiser_unet", lambda m, n: PnPDeconvolution(m, name=n, light="linear", lam=3.0,
                                                                              noise_from="denoiser"), True),
    # blind, one frame: the kernel estimated (deblur.kernel_estimate), deconvolved by pnp_linear only where
    # deblur.blind.deconvolve_verdict opens; elsewhere only denoised (deblur/blind.py)
    "blind_pnp": PriorRestorer("denoiser_unet", lambda m, n: BlindPnP(
        PnPDeconvolution(m, name=n, light="linear", lam=3.0, noise_from="denoiser"), name=n), False),
    # blind, one frame: only the prior's denoising at the photo's own noise level (deblur/blind.py)
    "prior_denoise": PriorRestorer("denoiser_unet", lambda m, n: PriorDenoise(PnPDeconvolution(m, name=n), name=n),
                                   False),
    # blind, three frames: the fitted camera path's kernels, one data step over the three views
    "multiframe_pnp": PriorRestorer("denoiser_unet", lambda m, n: MultiFramePnP(m, name=n), False, 3, ("motion",)),
}

ORACLE_SUFFIX = "+true_sigma"  # a kernel-aware network given the true kernel's sigma (deblur/kernel_aware.py)
PSF_SUFFIX = "+psf"  # a large disc / straight-motion blur found and deconvolved first (deblur/psf.py)
GUARD_SUFFIX = "+guard"  # no kernel read with confidence -> only denoised, the network does not run (deblur/blind.py)
GUARD_PRIOR = "prior_denoise"  # what a guarded network runs instead where no kernel is read
BLURS = tuple(TASK_FRAMES)
# The preferred restorer per blur family where one is preferred: the app's default for it, and (the
# camera family's) what `python -m deblur` runs without --model -- one place for both. Real photos: a
# large disc / straight blur found and deconvolved first, then the camera network -- behind the guard:
# a photo in which no kernel is read with confidence is only denoised (docs/real-photos.md has what it measured).
PREFERRED = {"camera": "res_unet-camera" + PSF_SUFFIX + GUARD_SUFFIX}


class IncompatibleModelError(DeblurError):
    """A model cannot take the requested blur family or dataset."""


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one runnable name (before loading anything heavy).

    kind: "network" or "baseline"; blurs: the blur families it is for (baselines: all of them);
    frames: frames it looks at (1 or 3); needs_kernel: it must be handed the true PSF (an
    oracle); ensemble: the +x8 self-ensemble of a network; path: the weight file (networks);
    sha256: the manifest's hash (shipped networks; None for a file given by path); psf: the
    photo's large disc / straight-motion blur is deconvolved before the network (``+psf``);
    guard: a photo with no kernel read in it with confidence is only denoised, the network does not
    run (``+guard``).
    """

    name: str
    kind: str
    blurs: tuple[str, ...]
    frames: int
    needs_kernel: bool = False
    ensemble: bool = False
    path: Path | None = None
    sha256: str | None = None
    arch: str | None = None
    params: int | None = None
    psf: bool = False
    guard: bool = False

    @property
    def label(self) -> str:
        """Short description for menus and leaderboards."""
        if self.kind == "network":
            label = "network, self-ensemble of 8 views" if self.ensemble else "network"
            label += ", large disc / straight blur deconvolved first" if self.psf else ""
            label += ", photos with no blur found only denoised" if self.guard else ""  # (or "unsure")
            if self.arch in PRIOR_ARCHITECTURES:
                return "learned prior, oracle: given the true kernel" if self.needs_kernel else "learned prior, blind"
            return label + ", oracle: given the true sigma" if self.needs_kernel else label
        return "oracle: given the true kernel" if self.needs_kernel else "classical baseline"

    @property
    def told(self) -> str:
        """What the restorer is handed besides the blurred input (the boards' ``told`` column):
        "sigma" (a kernel-aware network told the true kernel's sigma, ``+true_sigma``), "kernel"
        (the true PSF: wiener, pnp, ...) or "" (blind)."""
        if not self.needs_kernel:
            return ""
        return "sigma" if self.kind == "network" and _takes_sigma(self.arch) else "kernel"

    def takes(self, blur: str) -> bool:
        return blur in self.blurs


def _baseline_info(name: str) -> ModelInfo:
    fn = BASELINES[name]
    return ModelInfo(name, "baseline", tuple(getattr(fn, "blurs", BLURS)), int(getattr(fn, "frames", 1)),
                     bool(getattr(fn, "needs_kernel", False)))


def shipped(weights_dir: str | Path | None = None, strict: bool = True) -> dict[str, ModelInfo]:
    """Shipped networks whose weight files are present, by name (manifest order).

    weights_dir None = the repository's ``weights/`` (looked up at call time). ``strict`` False
    skips a malformed manifest or entry instead of raising (the app must still start; it shows
    ``deblur.weights.manifest_problems``)."""
    folder = W._weights_dir(weights_dir)
    out = {}
    for name, entry in read_manifest(weights_dir, strict=strict).items():
        path = folder / str(entry.get("file", ""))
        task = entry.get("task")
        if not path.is_file() or task not in TASK_FRAMES:
            continue
        out[name] = ModelInfo(name, "network", (task,), int(entry.get("frames", TASK_FRAMES[task])),
                              path=path, sha256=entry.get("sha256"), arch=entry.get("arch"),
                              params=entry.get("params"))
    return out


def names(blur: str | None = None, weights_dir: str | Path | None = None, kernel: bool = True,
          strict: bool = True) -> list[str]:
    """Runnable names: shipped networks (for ``blur`` if given), the ``+psf+guard`` and ``+psf``
    variants of the camera ones, the ``+true_sigma`` oracles of the kernel-aware ones, then the baselines (without any
    true-kernel oracle when ``kernel`` is False)."""
    infos = {n: i for n, i in shipped(weights_dir, strict).items() if blur is None or i.takes(blur)}
    psf = [n + PSF_SUFFIX for n, i in infos.items() if i.takes("camera") and i.frames == 1]
    guarded = [n + GUARD_SUFFIX for n in psf] if _prior_info(GUARD_PRIOR, weights_dir) is not None else []
    oracles = [n + ORACLE_SUFFIX for n, i in infos.items() if kernel and _takes_sigma(i.arch)]
    bases = [n for n in BASELINES if (kernel or not _baseline_info(n).needs_kernel)
             and (blur is None or _baseline_info(n).takes(blur))]
    learned = [n for n, r in PRIOR_RESTORERS.items() if (kernel or not r.needs_kernel)
               and (blur is None or blur in r.blurs) and _prior_info(n, weights_dir) is not None]
    return list(infos) + guarded + psf + oracles + learned + bases


def _prior_info(name: str, weights_dir: str | Path | None) -> ModelInfo | None:
    """The ModelInfo of a PRIOR_RESTORERS name whose prior is shipped (else None)."""
    rec = PRIOR_RESTORERS[name]
    folder = W._weights_dir(weights_dir) / PRIORS
    entry = read_manifest(folder, strict=False).get(rec.prior)
    if entry is None or not (folder / entry["file"]).is_file():
        return None
    return ModelInfo(name, "network", rec.blurs, rec.frames, needs_kernel=rec.needs_kernel, path=folder / entry["file"],
                     sha256=entry["sha256"], arch=entry.get("arch"), params=entry.get("params"))


def _takes_sigma(arch: str | None) -> bool:
    """Whether an architecture can be told the blur's sigma (a kernel-aware network)."""
    return models.takes_sigma(arch)


def takes_prior(info: ModelInfo) -> bool:
    """Whether a network refines a physics prior fitted per frame (deblur.multiframe, 15-40 s a
    frame): right for a photo, too slow for a clip."""
    return models.takes_prior(info.arch)


def _file_info(path: Path) -> ModelInfo:
    """ModelInfo of a weight file given by path, from its metadata (tensors are not read)."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"weight file not found: {path.name}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weight file {path.name}: {e}") from e
    try:
        cfg = json.loads(meta.get("config", "{}"))
    except json.JSONDecodeError:
        cfg = {}
    task = meta.get("task")
    frames = int((cfg.get("args") or {}).get("frames", TASK_FRAMES.get(task, 1)))
    blurs = (task,) if task in TASK_FRAMES else tuple(b for b in BLURS if TASK_FRAMES[b] == frames)
    return ModelInfo(meta.get("name") or path.stem, "network", blurs, frames, path=path, arch=cfg.get("arch"))


def lookup(name: str, blur: str | None = None, weights_dir: str | Path | None = None) -> ModelInfo:
    """The ModelInfo of ``name`` (see the module docstring for the forms a name takes).

    Raises:
        UnknownModelError: no such model; the message lists the valid names (for ``blur``).
        IncompatibleModelError: the model exists but is not for ``blur`` (or +x8 on a baseline).
        WeightsError: a weight file given by path is missing or unreadable.
    """
    name = (name or "").strip()
    if name.endswith(GUARD_SUFFIX):
        return _guarded(lookup(name[: -len(GUARD_SUFFIX)], blur, weights_dir), weights_dir)
    ensemble = name.endswith(ENSEMBLE_SUFFIX)
    base = name[: -len(ENSEMBLE_SUFFIX)] if ensemble else name
    if base.endswith(GUARD_SUFFIX):  # NAME+guard+x8, as the app writes it: the same as NAME+x8+guard
        inner = base[: -len(GUARD_SUFFIX)] + (ENSEMBLE_SUFFIX if ensemble else "")
        return _guarded(lookup(inner, blur, weights_dir), weights_dir)
    if base.endswith(ORACLE_SUFFIX):
        return _oracle(lookup(base[: -len(ORACLE_SUFFIX)], blur, weights_dir), ensemble)
    if base.endswith(PSF_SUFFIX):
        return _psf_first(lookup(base[: -len(PSF_SUFFIX)], blur, weights_dir), ensemble)
    if base in PRIOR_RESTORERS:
        info = _prior_info(base, weights_dir)
        if info is None:
            raise WeightsError(f"{base} needs its prior {PRIOR_RESTORERS[base].prior} in "
                               f"{Path(weights_dir or 'weights') / PRIORS}, which is not there")
        if ensemble:
            raise UnknownModelError(f"there is no {name}: {ENSEMBLE_SUFFIX} is for the networks that see the photo "
                                    f"in one pass, not for {base}")
        if blur is not None and not info.takes(blur):
            raise IncompatibleModelError(f"{base} is for {' / '.join(info.blurs)} blur only, not {blur}")
        return info
    if base in BASELINES:
        if ensemble:
            raise UnknownModelError(f"there is no {name}: the {ENSEMBLE_SUFFIX} self-ensemble is for networks, "
                                    f"{base} is a classical baseline")
        info = _baseline_info(base)
        if blur is not None and not info.takes(blur):
            raise IncompatibleModelError(f"{base} is for {' / '.join(info.blurs)} blur only, not {blur}")
        return info
    if base.endswith(".safetensors"):
        info = _file_info(Path(base).expanduser())
        if blur is not None and not info.takes(blur):
            raise IncompatibleModelError(f"{info.name} was trained for {' / '.join(info.blurs)} blur and cannot "
                                         f"take {blur}")
        return _ensembled(info) if ensemble else info
    nets = shipped(weights_dir)
    if base in ARCH_TASKS and blur is not None:  # an architecture name: its network for this blur
        if blur not in ARCH_TASKS[base]:
            raise IncompatibleModelError(f"{base} takes {' / '.join(ARCH_TASKS[base])} blur only, not {blur}")
        if f"{base}-{blur}" not in nets:
            _raise_if_missing(f"{base}-{blur}", weights_dir)
            have = [n for n, i in nets.items() if i.takes(blur)]
            raise UnknownModelError(f"no {blur} weights for {base} are shipped; shipped {blur} networks: "
                                    f"{', '.join(have) or 'none yet'}")
        base = f"{base}-{blur}"
    if base in nets:
        info = nets[base]
    else:
        arch, _, task = base.rpartition("-")
        if blur is not None and arch in ARCH_TASKS and task in BLURS and task not in ARCH_TASKS[arch]:
            raise IncompatibleModelError(f"{arch} takes {' / '.join(ARCH_TASKS[arch])} blur only; there is no {base}")
        _raise_if_missing(base, weights_dir)
        valid = names(blur, weights_dir)
        scope = f" for {blur} blur" if blur else ""
        raise UnknownModelError(f"unknown model {name!r}; valid names{scope}: {', '.join(valid)} (a network name + "
                                f"'{ENSEMBLE_SUFFIX}' = its 8-view self-ensemble; or a path to a .safetensors file)")
    if blur is not None and not info.takes(blur):
        have = [n for n, i in nets.items() if i.takes(blur)]
        raise IncompatibleModelError(f"{info.name} was trained for {' / '.join(info.blurs)} blur and cannot take "
                                     f"{blur} (networks for {blur}: {', '.join(have) or 'none shipped'})")
    return _ensembled(info) if ensemble else info


def _raise_if_missing(name: str, weights_dir: str | Path | None) -> None:
    """WeightsError when ``name`` is a shipped network whose weights are not where they are looked
    for: its manifest row names a file that is not there, or the weights folder has no manifest at
    all and ``name`` has a network's form (ARCH-BLUR). Saying "unknown model" there would send the
    user looking for a typo instead of for the missing file."""
    folder = W._weights_dir(weights_dir)
    entry = read_manifest(weights_dir).get(name)
    if entry is not None:
        raise WeightsError(f"the weights of {name} are missing: {folder / entry['file']} is not there "
                           "(restore it from git: git checkout -- weights/)")
    arch, _, blur = name.rpartition("-")
    if arch in ARCHITECTURES and blur in BLURS and not (folder / MANIFEST).is_file():
        raise WeightsError(f"no weights for {name}: shipped networks are looked up in {folder}, which "
                           f"{'has no ' + MANIFEST if folder.is_dir() else 'does not exist'}")


def weights_notes(weights_dir: str | Path | None = None) -> list[str]:
    """One line per reason a shipped network is not among ``names()``: the weights folder has no
    manifest, or manifest rows whose weight file is missing (one line for all of them); [] when
    every listed network is present. For ``--list-models``, which would otherwise show only the
    baselines without a word."""
    folder = W._weights_dir(weights_dir)
    if not (folder / MANIFEST).is_file():
        why = f"has no {MANIFEST}" if folder.is_dir() else "does not exist"
        return [f"no shipped networks: the weights folder {folder} {why} (shipped weights are looked up there)"]
    entries = read_manifest(weights_dir)
    missing = [n for n in entries if not (folder / str(entries[n].get("file", ""))).is_file()]
    if not missing:
        return []
    return [f"{len(missing)} shipped network(s) not listed, their weight files are missing from {folder}: "
            f"{', '.join(missing)} (restore them from git: git checkout -- weights/)"]


def _ensembled(info: ModelInfo) -> ModelInfo:
    return ModelInfo(info.name + ENSEMBLE_SUFFIX, info.kind, info.blurs, info.frames, info.needs_kernel, ensemble=True,
                     path=info.path, sha256=info.sha256, arch=info.arch, params=info.params, psf=info.psf)


def _psf_first(info: ModelInfo, ensemble: bool) -> ModelInfo:
    """``info``'s network run on the photo with its large disc / line blur deconvolved first."""
    if info.kind != "network" or info.frames != 1 or info.needs_kernel or info.psf or info.ensemble:
        raise IncompatibleModelError(f"{PSF_SUFFIX} (deconvolve a large blur first) is for blind single-frame "
                                     f"networks, written NAME{PSF_SUFFIX}[{ENSEMBLE_SUFFIX}]; {info.name} is not one")
    name = info.name + PSF_SUFFIX + (ENSEMBLE_SUFFIX if ensemble else "")
    return ModelInfo(name, "network", info.blurs, 1, ensemble=ensemble, path=info.path, sha256=info.sha256,
                     arch=info.arch, params=info.params, psf=True)


def _guarded(info: ModelInfo, weights_dir: str | Path | None) -> ModelInfo:
    """``info``'s network behind the do-no-harm guard (name + GUARD_SUFFIX): needs the prior."""
    guarded = _guard_record(info)
    if _prior_info(GUARD_PRIOR, weights_dir) is None:
        raise WeightsError(f"{guarded.name} needs the prior {PRIOR_RESTORERS[GUARD_PRIOR].prior} in "
                           f"{Path(weights_dir or 'weights') / PRIORS}, which is not there")
    return guarded


def _guard_record(info: ModelInfo) -> ModelInfo:
    """The ModelInfo of ``info`` + GUARD_SUFFIX (the prior's presence checked by the caller)."""
    if info.kind != "network" or info.frames != 1 or info.needs_kernel or info.guard or info.name in PRIOR_RESTORERS:
        raise IncompatibleModelError(f"{GUARD_SUFFIX} (only denoise a photo in which no blur is found) is for blind "
                                     f"single-frame networks, written NAME[{PSF_SUFFIX}][{ENSEMBLE_SUFFIX}]"
                                     f"{GUARD_SUFFIX}; {info.name} is not one")
    return ModelInfo(info.name + GUARD_SUFFIX, "network", info.blurs, 1, ensemble=info.ensemble, path=info.path,
                     sha256=info.sha256, arch=info.arch, params=info.params, psf=info.psf, guard=True)


def _oracle(info: ModelInfo, ensemble: bool) -> ModelInfo:
    """``info``'s network told the true kernel's sigma (name + ORACLE_SUFFIX [+ ENSEMBLE_SUFFIX])."""
    if info.kind != "network" or info.needs_kernel or not _takes_sigma(info.arch):
        raise IncompatibleModelError(f"only kernel-aware networks can be given the true sigma ({ORACLE_SUFFIX}); "
                                     f"{info.name} is not one")
    ensemble = ensemble or info.ensemble
    name = info.name.removesuffix(ENSEMBLE_SUFFIX) + ORACLE_SUFFIX + (ENSEMBLE_SUFFIX if ensemble else "")
    return ModelInfo(name, "network", info.blurs, info.frames, needs_kernel=True, ensemble=ensemble, path=info.path,
                     sha256=info.sha256, arch=info.arch, params=info.params)


def load(name: str, blur: str | None = None, weights_dir: str | Path | None = None, **opts: Any):
    """A restorer by name: callable(frames_u8, kernel=None) -> uint8 (H, W, 3).

    Networks come wrapped in ``deblur.inference.Deblurrer`` built with ``opts`` (tile, overlap,
    bf16, channels_last, threads); a shipped network's SHA-256 is checked. Baselines ignore
    ``opts``. A ``+guard`` name is a ``deblur.blind.Guarded`` around the network (built with
    ``opts``) and the prior's denoiser. The result has ``.name``, ``.frames`` and ``.needs_kernel``.
    """
    return _build(lookup(name, blur, weights_dir), weights_dir, **opts)


def _build(info: ModelInfo, weights_dir: str | Path | None, **opts: Any):
    """The restorer ``info`` describes (see ``load``)."""
    if info.guard:  # the network from the same record (its path, not its name: a file given by path)
        inner = replace(info, name=info.name.removesuffix(GUARD_SUFFIX), guard=False)
        return Guarded(_build(inner, weights_dir, **opts), load(GUARD_PRIOR, None, weights_dir), name=info.name)
    if info.kind == "baseline":
        return BASELINES[info.name]
    model, _meta = W.load_weights(info.path, sha256=info.sha256)
    if info.name in PRIOR_RESTORERS:
        return PRIOR_RESTORERS[info.name].build(model, info.name)
    return Deblurrer(model, name=info.name, ensemble=info.ensemble or bool(opts.pop("ensemble", False)),
                     use_kernel=info.needs_kernel, psf=info.psf or bool(opts.pop("psf", False)), **opts)


def catalog(blur: str | None = None, weights_dir: str | Path | None = None, kernel: bool = True,
            strict: bool = True) -> dict[str, ModelInfo]:
    """``names()`` with each name's ModelInfo, in the same order, from one reading of the weights
    manifest: for a menu that labels and checks many names at once (the app), where ``lookup`` per
    name would read the manifest once a name. Same arguments as ``names()``."""
    nets = {n: i for n, i in shipped(weights_dir, strict).items() if blur is None or i.takes(blur)}
    out = dict(nets)
    psf = {n + PSF_SUFFIX: _psf_first(i, False) for n, i in nets.items() if i.takes("camera") and i.frames == 1}
    if _prior_info(GUARD_PRIOR, weights_dir) is not None:
        out.update({n + GUARD_SUFFIX: _guard_record(i) for n, i in psf.items()})
    out.update(psf)
    out.update({n + ORACLE_SUFFIX: _oracle(i, False) for n, i in nets.items() if kernel and _takes_sigma(i.arch)})
    for n, rec in PRIOR_RESTORERS.items():
        info = _prior_info(n, weights_dir) if (kernel or not rec.needs_kernel) and (blur is None or blur in rec.blurs) \
            else None
        if info is not None:
            out[n] = info
    bases = {n: _baseline_info(n) for n in BASELINES}
    out.update({n: i for n, i in bases.items() if (kernel or not i.needs_kernel) and (blur is None or i.takes(blur))})
    return out
