"""What the evaluator feeds the models: datasets, the seeded blur per image, and the model list.

Everything here delegates to deblur/: datasets come from `deblur.data.open_dataset`, blur from
`deblur.degrade`, restorers from `deblur.registry`. The evaluator's own rules are:

- The blur of an image depends only on (seed, image name): its generator is
  `np.random.default_rng([seed, crc32(name)])`. So `--limit`, resuming and adding models later
  all reproduce exactly the rows a single full run would have written, and every model scores
  on the very same blurred input.
- The model list is validated completely (names, blur type, kernels available) before anything
  is written, and every problem is a `DeblurError` with one clear sentence.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from deblur.degrade import degrade as degrade_family
from deblur.degrade import family
from deblur.errors import DatasetError, UnknownModelError
from deblur.registry import IncompatibleModelError  # re-exported: eval's callers import it from here

from eval.config import CIFAR_SIDES, CIFAR_SIZE, REAL_BLUR_KINDS


# ---------------------------------------------------------------------------------- datasets


def dataset_kind(spec: str) -> str:
    """'builtin', 'photos', 'pairs', 'cifar10', 'reds', 'gopro' or 'video' (the part before ':')."""
    return spec.split(":", 1)[0] if ":" in spec else spec


def has_real_blur(spec: str) -> bool:
    return dataset_kind(spec) in REAL_BLUR_KINDS


@dataclass
class Items:
    """The items of one evaluation, in a fixed order, with their count when known."""

    spec: str
    items: Iterable[Any]
    length: int | None
    real_blur: bool
    kernels: bool = False  # every item carries the PSF that blurred it (pairs:DIR with kernel/)

    @property
    def kernel_unknown(self) -> bool:
        """Real blur without its PSF: the rows handed the true kernel cannot run."""
        return self.real_blur and not self.kernels

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)


def open_items(spec: str, protocol: str, blur: str, limit: int | None = None,
               shard: tuple[int, int] = (0, 1)) -> Items:
    """Open a dataset spec (deblur.data.open_dataset) for a protocol; DatasetError if unusable.

    `limit` keeps N items evenly spaced over the set (deblur.data.Dataset.limit), so a limited
    video or REDS run still covers every clip. `shard` = (rank, world size) keeps the rank's
    share of those, every world-size-th from the rank-th (item i of the share is item
    rank + i * size of the whole; eval.spread). The first item is read here, so an empty dataset
    or an unreadable first image fails before the caller writes anything; a share is empty when
    there are more ranks than items.
    """
    from deblur.data import Dataset, open_dataset

    kind = dataset_kind(spec)
    if protocol == "cifar":
        if kind not in ("builtin", "photos", "cifar10"):
            raise DatasetError(
                f"--protocol cifar needs builtin, photos:DIR or cifar10:DIR, not {kind!r}"
            )
        if blur != "gaussian":
            raise DatasetError("--protocol cifar is the paper's Gaussian experiment; use --blur gaussian")
    ds = open_dataset(spec)
    if protocol == "cifar" and kind != "cifar10":
        # A few hundred 32x32 crops: held in memory, wrapped so that limit() works the same way.
        crops = list(cifar_crops(ds))
        ds = Dataset(f"{ds.name} (cifar-like crops)", ds.kind, crops, lambda item: item,
                     has_real_blur=False, is_sequence=False)
    ds = ds.limit(limit)
    rank, size = shard
    if size > 1 and len(ds):
        ds = ds[rank::size]  # a lazy subset (Dataset slicing): nothing of the other shares is decoded
        if not len(ds):
            return Items(spec, [], 0, bool(ds.has_real_blur), bool(getattr(ds, "has_kernels", False)))
    length = len(ds)
    it = iter(ds)
    first = next(it, None)
    if first is None:
        raise DatasetError(f"dataset {spec!r} has no images")
    return Items(spec, _Prepend(first, it), length, bool(ds.has_real_blur), bool(getattr(ds, "has_kernels", False)))


class _Prepend:
    """An iterable that yields an already-read first item, then the rest (iterable once)."""

    def __init__(self, first: Any, rest: Iterator[Any]) -> None:
        self.first, self.rest = first, rest

    def __iter__(self) -> Iterator[Any]:
        yield self.first
        yield from self.rest


# ---- ADAPTER (evaluator-side; deblur.data has no CIFAR-like crop function in its contract) ----
def cifar_crops(items: Iterable[Any]) -> Iterator[Any]:
    """CIFAR-like 32x32 samples from photos, for `--protocol cifar` without CIFAR-10 on disk.

    Each photo is downscaled (Pillow LANCZOS) so its shorter side is each of CIFAR_SIDES -- so
    whole objects fit in 32x32, as in CIFAR -- and cut into deterministic 32x32 crops (start,
    centre and end positions on each axis), each also flipped left-right. About 40 samples per
    photo; names say where each comes from, e.g. ``astronaut@36px_y2x2_flip``.
    """
    from PIL import Image

    for item in items:
        img = Image.fromarray(item.sharp)
        w, h = img.size
        for side in CIFAR_SIDES:
            scale = side / min(w, h)
            sw, sh = max(side, round(w * scale)), max(side, round(h * scale))
            small = np.asarray(img.resize((sw, sh), Image.Resampling.LANCZOS))
            ys = sorted({0, (sh - CIFAR_SIZE) // 2, sh - CIFAR_SIZE})
            xs = sorted({0, (sw - CIFAR_SIZE) // 2, sw - CIFAR_SIZE})
            for y in ys:
                for x in xs:
                    crop = small[y : y + CIFAR_SIZE, x : x + CIFAR_SIZE]
                    for flip in (False, True):
                        sharp = np.ascontiguousarray(crop[:, ::-1] if flip else crop)
                        name = f"{item.name}@{side}px_y{y}x{x}{'_flip' if flip else ''}"
                        yield dataclasses.replace(item, name=name, sharp=sharp, blurred=None, frames=None)
# ---- end ADAPTER ----


# ------------------------------------------------------------------------------------ blur


@dataclass(frozen=True)
class Sample:
    """One scored input: what every model receives and what it is compared with."""

    name: str
    frames: np.ndarray  # uint8 (F, H, W, 3), the blurred input, F = 1 or 3, middle = F // 2
    target: np.ndarray  # uint8 (H, W, 3), the sharp target
    kernel: np.ndarray | None  # the true PSF (synthetic blur) for the oracle baselines, else None
    params: dict  # sigma / kernel_size / motion_length / blur_source / input_is_target for the CSV


def image_rng(seed: int, name: str, *extra: int) -> np.random.Generator:
    """The generator for one image: a function of (seed, image name[, extra]) only."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8")), *map(int, extra)])


def degrade(
    item: Any,
    blur: str,
    seed: int,
    *,
    motion_length: float,
    sigma_max: float = 3.0,
    single_frame: bool = False,
    sigma: float | None = None,
    strength: float | None = None,
    extra: tuple[int, ...] = (),
) -> Sample:
    """Blur one dataset item deterministically (or take its real blur) into a Sample.

    The blur itself is ``deblur.degrade.degrade(blur, ...)`` -- the function the app's "Blur it
    first" and training call -- fed the generator ``image_rng(seed, item.name, *extra)``.
    gaussian: sigma ~ U[0, sigma_max], or exactly `sigma` (sweeps); motion: a camera path of
    `motion_length` px (a still becomes 3 frames, real frames keep their content); camera: the
    camera family with its strength drawn, or exactly `strength` in [0, 1] (sweeps). Items that
    carry real blur are used as they are. single_frame: the middle frame is repeated three times.
    """
    params: dict[str, Any] = {"sigma": None, "kernel_size": None, "motion_length": None}
    if getattr(item, "blurred", None) is not None:
        frames = np.asarray(item.blurred)
        frames = frames[None] if frames.ndim == 3 else frames
        target, kernel = np.asarray(item.sharp), getattr(item, "kernel", None)
        params["blur_source"] = "real"
        if kernel is not None:
            params["kernel_size"] = int(max(kernel.shape))
    else:
        fam = family(blur)  # an unknown blur lists the valid ones
        rng = image_rng(seed, item.name, *extra)
        # The level a run sets: --motion-length, a sweep's sigma or strength; else the family's
        # own draw, over [0, sigma_max] for the Gaussian protocol (its record's range otherwise).
        level = {"sigma": sigma, "length": motion_length, "strength": strength}.get(fam.level)
        if level is None:
            level = fam.draw_level(rng, fam.pick_range(sigma=(0.0, sigma_max)))
        real = getattr(item, "frames", None)
        multi = fam.frames > 1 and real is not None and len(real) >= fam.frames
        source = np.asarray(real) if multi else item.sharp  # real frames keep their own content
        d = degrade_family(blur, source, rng, **({} if level is None else {fam.level: level}))
        frames, target, kernel = d.frames, d.target, d.kernel
        params.update({k: v for k, v in d.params.items() if isinstance(v, (int, float, str)) or v is None},
                      blur_source="synthetic")
    if single_frame and frames.shape[0] == 3:
        frames = np.repeat(frames[1:2], 3, axis=0)
    # A blur too weak to survive 8-bit quantisation (sigma below ~0.08 gives a 1x1 kernel; at 32x32
    # even sigma ~0.3 can vanish) leaves nothing to deblur: the leaderboard keeps such images out
    # of its means (the input would score 100 dB and every restorer could only lose).
    params["input_is_target"] = bool(np.array_equal(frames[frames.shape[0] // 2], target))
    return Sample(item.name, np.ascontiguousarray(frames), np.ascontiguousarray(target), kernel, params)


# ---------------------------------------------------------------------------------- models


@dataclass
class Restorer:
    """A validated, loaded model: the callable plus what the CSVs and the JSON say about it."""

    name: str
    fn: Callable[..., np.ndarray]
    kind: str  # "network" or "baseline"
    params: int  # learnable parameters (0 for classical baselines)
    needs_kernel: bool
    frames: int  # frames the restorer looks at (1 or 3)
    sha256: str | None = None
    told: str = ""  # what it is handed besides the input: "kernel", "sigma" or "" (ModelInfo.told)


def baseline_needs_kernel(name: str) -> bool:
    from deblur import registry

    return registry.lookup(name).needs_kernel


def resolve_models(request: str, blur: str, real_blur: bool) -> tuple[list[str], list[str]]:
    """Turn `--models` into restorer names for a blur family; returns (names, notes to print).

    Every name is checked by the one registry (deblur.registry.lookup). `all` = every shipped
    network for the blur family plus every baseline (the true-kernel oracles are left out on
    datasets with real blur, which has none). `blurred` (the input itself) is always scored,
    because every gain is measured against it. Arch names without a blur (``atrous_net``) resolve
    to the shipped network for this blur; ``NAME+x8`` is a network's 8-view self-ensemble.

    Raises:
        UnknownModelError: a name that is neither shipped nor a baseline (lists valid names).
        IncompatibleModelError: a network trained for another blur family, or a kernel-based
            baseline on a dataset without a known kernel.
    """
    from deblur import registry

    notes: list[str] = []
    if request.strip() == "all":
        shipped = [n for n, i in registry.shipped().items() if i.takes(blur)]
        if not shipped:
            notes.append(f"no trained {blur} networks are shipped yet (weights/manifest.json): "
                         "'all' = the classical baselines only")
        names = registry.names(blur, kernel=not real_blur)
        oracles = [n for n in registry.names(blur) if registry.lookup(n).needs_kernel]
        if real_blur and oracles:
            notes.append("this dataset has real blur and no true kernel: " + ", ".join(oracles) + " left out")
    else:
        names = []
        for raw in request.split(","):
            if not raw.strip():
                continue
            info = registry.lookup(raw, blur)
            if real_blur and info.needs_kernel:
                raise IncompatibleModelError(
                    f"{info.name} needs the true blur kernel, which a dataset with real blur does not have")
            name = raw.strip() if info.path is not None and not (info.sha256 or "") else info.name
            if name not in names:
                names.append(name)
    if "blurred" not in names:
        names.insert(0, "blurred")
        if request.strip() != "all":
            notes.append("'blurred' (the input itself) is always scored: gains are measured against it")
    if not names:
        raise UnknownModelError("no models given to --models")
    return names, notes


def network_options(tile: int | None, bf16: bool) -> dict[str, Any]:
    """Keyword options for the inference object: tile None = its default, 0 = untiled."""
    opts: dict[str, Any] = {"bf16": bf16}
    if tile is not None:
        opts["tile"] = tile or None
    return opts


def load_restorers(names: list[str], blur: str, *, tile: int | None = None, bf16: bool = False) -> list[Restorer]:
    """Load every restorer through deblur.registry; fails before any work."""
    from deblur import registry
    from deblur.models import TASK_FRAMES

    from eval.provenance import weight_hash

    out = []
    for name in names:
        info = registry.lookup(name, blur)
        if info.kind == "baseline":
            fn = registry.load(name)
            out.append(Restorer(name, fn, "baseline", 0, info.needs_kernel, int(getattr(fn, "frames", 1)),
                                told=info.told))
            continue
        fn = registry.load(name, **network_options(tile, bf16))
        model = getattr(fn, "model", None)
        frames = int(getattr(fn, "frames", getattr(model, "frames", 1)))
        # a single-frame restorer handed the true kernel deblurs the middle frame with it, as the
        # richardson_lucy / wiener oracles do on the three-frame boards
        if frames != TASK_FRAMES[blur] and not (info.needs_kernel and frames == 1):
            raise IncompatibleModelError(
                f"{name} takes {frames}-frame input and cannot take --blur {blur} ({TASK_FRAMES[blur]}-frame)")
        # the registry knows every network's size, also for restorers wrapped around a prior (blind_pnp)
        params = info.params if info.params is not None else (
            sum(p.numel() for p in model.parameters()) if model is not None else 0)
        out.append(Restorer(getattr(fn, "name", name), fn, "network", int(params), info.needs_kernel, frames,
                            weight_hash(info), info.told))
    return out
