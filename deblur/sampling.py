"""Training samplers: real photos and clips -> (blurred input, sharp target) pairs.

Split from the training loop (deblur/train.py) so that what a network learns from is in one
place. Every blur comes from deblur.blur / deblur.degrade -- the functions the evaluator and the
app use -- and every file is read through deblur.data / deblur.io.

- ``OnlineSampler`` is the one gaussian / motion sampler for the offline corpus (torch, CPU or
  GPU): with --online it renders every batch afresh on the training device; otherwise
  ``render_cache`` runs it once on the CPU to pre-render a cache (only flips and quarter turns
  are drawn again per batch). ``CifarMaker`` and ``PairMaker`` sample a user's CIFAR-10, REDS or
  GoPro (their own images and real pairs) into the same cache; ``augment`` / ``to_batch`` turn
  cached samples into batches.
- ``CameraSampler`` renders camera-family batches online on the CPU (``deblur.degrade.camera``
  costs ~7 ms per 128 px sample, a tenth of a training step), so no cache can go stale.
- A user's own folders (fine-tuning, ``own_samplers``): ``PairSampler`` cuts aligned crops of
  real blurred / sharp pairs (``pairs:DIR``); sharp photos (``photos:DIR``) are blurred online by
  the task's family: ``CameraSampler`` for camera, ``PhotoSampler`` for the others.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from . import blur
from .blur import defocus_kernel, linear_motion_kernel
from .data import BUILTIN_NAMES, Dataset, corpus_entries, open_dataset, read_cifar10, read_clip, read_gopro, read_reds
from .degrade import degrade, family
from .degrade import family as blur_family  # PhotoSampler's argument is called family
from .errors import DeblurError
from .io import read_image
from .models import takes_prior
from .multiframe import CameraPath, jitter_path, restore
from .psf import PSFEstimate, deconvolve
from .train_config import TrainConfig

# ------------------------------------------------------------------------------------------------
# Data: real photos and clips of the offline corpus


def corpus_sources(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(photos, videos) of the corpus's training split; refuses builtin evaluation images."""
    photos = [r["path"] for r in corpus_entries(root, kind="photo", split="train")]
    videos = [r["path"] for r in corpus_entries(root, kind="video", split="train")]
    leaked = [p.name for p in photos if p.stem in BUILTIN_NAMES]
    if leaked:
        raise DeblurError(f"corpus manifest puts builtin evaluation images in the train split: {', '.join(leaked)}")
    if not photos:
        raise DeblurError(f"corpus at {root} has no training photos")
    return sorted(photos), sorted(videos)


def _random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[-3:-1]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return img[..., y : y + size, x : x + size, :]


def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    """Lanczos rescale of a uint8 (H, W, 3) image by ``scale`` (Pillow)."""
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.Resampling.LANCZOS))


# ------------------------------------------------------------------------------------------------
# Data: a user's local copy of CIFAR-10, REDS or GoPro (train splits only)

# Which task each standard dataset trains: CIFAR-10 holds sharp stills, REDS and GoPro real blur.
STANDARD_DATA = {"cifar10": "gaussian", "reds": "motion", "gopro": "motion"}
REAL_BLUR_DATA = ("reds", "gopro")  # real blurred frames with their sharp targets; CIFAR-10 is blurred here
DATA_HELP = ("an offline corpus folder, or cifar10:DIR (gaussian), reds:DIR or gopro:DIR (motion), or your own "
             "pairs:DIR (DIR/blur/<name> + DIR/sharp/<name>) or photos:DIR (sharp photos, blurred here)")
CIFAR_VAL_HOLDOUT = 1000  # the last images of the train batches: validation only


def standard_data(spec: str) -> tuple[str, str] | None:
    """("cifar10" | "reds" | "gopro", DIR) for such a --data spec; None for a corpus folder."""
    kind, sep, location = spec.partition(":")
    kind = kind.strip().lower()
    return (kind, str(Path(location).expanduser())) if sep and location and kind in STANDARD_DATA else None


class CifarMaker:
    """Gaussian samples from CIFAR-10 images (the paper's training data), sigma ~ U[sigma]: the
    family's own draw and render (deblur.degrade), the evaluator's."""

    def __init__(self, images: np.ndarray, crop: int, sigma: tuple[float, float] = (0.0, 3.0)) -> None:
        if crop > images.shape[1]:
            raise DeblurError(f"CIFAR-10 images are {images.shape[1]}x{images.shape[2]}: use --crop "
                              f"{images.shape[1]} or less, not {crop}")
        self.images, self.crop, self.sigma = images, crop, sigma

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        img = self.images[int(rng.integers(len(self.images)))]
        d = degrade(STANDARD_DATA["cifar10"], _random_crop(img, self.crop, rng), rng, sigma_range=self.sigma)
        return d.frames, d.target


class PairMaker:
    """Real blurred triples and their sharp middle frame (REDS, GoPro): one aligned random crop.

    Frames smaller than the crop are mirrored out to it, as the corpus's small clips are.
    """

    def __init__(self, dataset: Dataset, crop: int) -> None:
        self.dataset, self.crop = dataset, crop

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        item = self.dataset[int(rng.integers(len(self.dataset)))]
        both = np.concatenate([item.blurred, item.sharp[None]])  # (4, H, W, 3): one crop for all
        both = _random_crop(both, min(self.crop, *both.shape[1:3]), rng)
        h, w = both.shape[1:3]
        if h < self.crop or w < self.crop:
            both = np.pad(both, ((0, 0), (0, self.crop - h), (0, self.crop - w), (0, 0)), mode="symmetric")
        return np.ascontiguousarray(both[:3]), np.ascontiguousarray(both[3])


def _hold_out_tail(dataset: Dataset) -> tuple[Dataset, Dataset]:
    """(train, validation) of a REDS / GoPro train split: its last clip, or its last tenth of
    triples when it has one clip. Items are listed clip by clip, so both parts are slices."""
    clips = [key[0].split("/")[0] for key in dataset.keys()]
    n_val = clips.count(clips[-1]) if len(set(clips)) > 1 else max(1, len(clips) // 10)
    if n_val >= len(clips):
        raise DeblurError(f"{dataset.name} has {len(clips)} triple(s): too few to hold one out for validation")
    return dataset[: len(clips) - n_val], dataset[len(clips) - n_val :]


def standard_makers(cfg: TrainConfig) -> tuple[Any, Any, str]:
    """(train sampler, validation sampler, the card's data line) for a cifar10/reds/gopro --data."""
    kind, location = standard_data(cfg.data)
    if STANDARD_DATA[kind] != cfg.task:
        raise DeblurError(f"{kind} trains the {STANDARD_DATA[kind]} task, not {cfg.task}: "
                          f"use --task {STANDARD_DATA[kind]} (or a corpus folder for {cfg.task})")
    if kind == "cifar10":
        images = np.stack([item.sharp for item in read_cifar10(location, "train")])
        n_val = min(CIFAR_VAL_HOLDOUT, max(1, len(images) // 10))
        if n_val >= len(images):
            raise DeblurError(f"CIFAR-10 at {location} has {len(images)} training image(s): too few to hold one out")
        note = (f"CIFAR-10 at `{location}` (train batches, {len(images) - n_val:,} images; the last {n_val:,} "
                f"held out for validation; test_batch never read); {cfg.crop_size}x{cfg.crop_size} crops, "
                f"sigma ~ U[{cfg.sigma[0]:g}, {cfg.sigma[1]:g}]")
        return (CifarMaker(images[:-n_val], cfg.crop_size, cfg.sigma), CifarMaker(images[-n_val:], cfg.crop_size, cfg.sigma),
                note)
    dataset = read_reds(location, "train") if kind == "reds" else read_gopro(location, "train")
    train_part, val_part = _hold_out_tail(dataset)
    name = "REDS" if kind == "reds" else "GoPro"
    note = (f"{name} at `{location}` (train split: {len(train_part):,} real blurred triples with their sharp "
            f"middle frames; the last {len(val_part):,} held out for validation; the evaluation split never "
            f"read); {cfg.crop_size}x{cfg.crop_size} aligned crops")
    return PairMaker(train_part, cfg.crop_size), PairMaker(val_part, cfg.crop_size), note


def _load_clip(path: Path, max_frames: int = 300) -> tuple[np.ndarray, list[int]] | None:
    """(frames uint8 (T, H, W, 3), usable window centres) of a clip via deblur.data.read_clip
    (scene cuts excluded); None when the clip has no usable window."""
    clip, centres = read_clip(path, max_frames=max_frames)
    return (clip, centres) if centres else None


class OnlineSampler:
    """Synthesises every batch afresh, on the training device, from sources held there.

    The GPU path: with the blur as batched tensor operations (``blur.gaussian_blur_batch``,
    ``blur.warp_exposures``) a GPU renders a batch in milliseconds, so no cache is needed and no
    sample is ever seen twice. On the CPU it pre-renders the training cache. Multi-scale
    photo crops (a pyramid of half-octave Lanczos levels stands in for the random rescale),
    sigma ~ U[0, 3]; for motion, real 3-frame windows or stills, a camera path per sample, the
    +/-2 px neighbour shift; flips, 90-degree rotations and a 0.9-1.1 brightness gain on all.
    """

    def __init__(self, cfg: TrainConfig, photos: list[Path], videos: list[Path], device: torch.device) -> None:
        self.cfg, self.device, self.size = cfg, device, cfg.crop_size
        self.family = family(cfg.task)
        if self.family.batch_fn is None:
            batched = [f for f in ("gaussian", "motion") if family(f).batch_fn is not None]
            raise DeblurError(f"the corpus sampler renders batches of the {', '.join(batched)} families; "
                              f"{cfg.task} is sampled per photo (CameraSampler, photos:DIR)")
        self.frames = self.family.frames
        size = self.size
        self.levels: list[list[torch.Tensor]] = []   # per photo: its pyramid, full resolution first
        for p in photos:
            img = read_image(p)
            if min(img.shape[:2]) < size:
                img = _resize(img, size / min(img.shape[:2]) + 1e-3)
            pyramid, scale = [img], 1.0
            lo = size * 1.25 / min(img.shape[:2]) if self.family.downscale else 1.0
            while scale * 0.7071 >= lo:
                scale *= 0.7071
                pyramid.append(_resize(img, scale))
            self.levels.append([torch.from_numpy(np.array(a)).to(device) for a in pyramid])
        # A model that refines a physics prior (deblur.multiframe.MultiFrameRefiner) gets it as a
        # fourth frame, made from the synthesis' own path with the fit's kind of error.
        self.prior = self.frames == 3 and takes_prior(cfg.model)
        self.clips: list[tuple[torch.Tensor, list[int]]] = []  # (frames, usable window centres)
        if self.frames == 3:
            for v in videos:
                loaded = _load_clip(v)
                if loaded is not None:
                    self.clips.append((torch.from_numpy(loaded[0]).to(device), loaded[1]))

    def _crop(self, t: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
        h, w = t.shape[-3:-1]
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        return t[..., y : y + size, x : x + size, :]

    def _source(self, rng: np.random.Generator) -> torch.Tensor:
        """One augmented sharp source, float (F, 3, S, S): F = the family's frames (1 or 3)."""
        size = self.size
        if self.frames == 3 and self.clips and rng.random() < 0.5:
            clip, centres = self.clips[int(rng.integers(len(self.clips)))]
            t = centres[int(rng.integers(len(centres)))]
            frames = self._crop(clip[t - 1 : t + 2], min(size, *clip.shape[1:3]), rng)
        else:
            pyramid = self.levels[int(rng.integers(len(self.levels)))]
            frames = self._crop(pyramid[int(rng.integers(len(pyramid)))], size, rng)[None]
            if self.frames == 3:
                frames = frames.expand(3, -1, -1, -1)
        x = frames.permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-1] < size or x.shape[-2] < size:  # small clips: mirror out to the crop size
            x = F.pad(x, (0, size - x.shape[-1], 0, size - x.shape[-2]), mode="reflect")
        if rng.random() < 0.5:
            x = x.flip(-1)
        if rng.random() < 0.5:
            x = x.flip(-2)
        x = torch.rot90(x, int(rng.integers(4)), dims=(-2, -1))
        return (x * float(rng.uniform(0.9, 1.1))).clamp(0.0, 1.0)

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(input (n, 3F, S, S), target (n, 3, S, S)) float tensors on the device."""
        sharp = torch.stack([self._source(rng) for _ in range(n)])  # (n, F, 3, S, S)
        # the family's own level draw (sigma / motion length) and its batched render (deblur.degrade)
        levels = self.family.draw_level(rng, self.cfg.level_range, n)
        out, drawn = self.family.batch_fn(sharp, levels, rng)
        target = sharp[:, self.frames // 2]
        if self.prior:
            return torch.cat([out, self._priors(out, drawn["paths"], drawn["rots"], rng)], 1).flatten(1, 2), target
        if self.frames == 3:
            for i in range(n):  # the paper's neighbour shift: t-1 and t+1 moved opposite ways
                dx, dy = (int(v) for v in rng.integers(-2, 3, size=2))
                out[i, 0] = _shift_t(out[i, 0], dx, dy)
                out[i, 2] = _shift_t(out[i, 2], -dx, -dy)
        return out.flatten(1, 2), target

    def _priors(self, blurred: torch.Tensor, paths, rots, rng: np.random.Generator) -> torch.Tensor:
        """(n, 1, 3, S, S) multi-frame Wiener priors of blurred triplets (n, 3, 3, S, S), each from
        its true camera path plus the fit's kind of error (deblur.multiframe.jitter_path). No
        neighbour shift here: it would break the path the prior is made from (the motion
        protocol has none; real clips bring their own scene motion)."""
        size = blurred.shape[-1]
        centre = ((size - 1) / 2.0, (blurred.shape[-2] - 1) / 2.0)
        u8 = torch.round(blurred * 255.0).to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        out = [restore(frames, path=jitter_path(CameraPath(np.asarray(p), np.asarray(r), centre), rng))
               for frames, p, r in zip(u8, paths, rots)]
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)[:, None].float().div(255.0).to(blurred.device)

    def fixed(self, n: int, seed: int, chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples from ``seed`` as uint8 arrays in the cache layout (validation)."""
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        for i in range(0, n, chunk):
            x, y = self.batch(min(chunk, n - i), rng)
            f = x.shape[1] // 3
            xs.append(_u8(x.reshape(len(x), f, 3, *x.shape[-2:]).permute(0, 1, 3, 4, 2).cpu().numpy()))
            ys.append(_u8(y.permute(0, 2, 3, 1).cpu().numpy()))
        return np.concatenate(xs), np.concatenate(ys)


def _shift_t(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``blur.shift_neighbours``'s shift for a (3, H, W) tensor, edge-replicated borders."""
    if dx == 0 and dy == 0:
        return img
    p = max(abs(dx), abs(dy))
    h, w = img.shape[-2:]
    padded = F.pad(img[None], (p, p, p, p), mode="replicate")[0]
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w].clone()


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def cache_key(spec: str, files: Sequence[Path] = ()) -> str:
    """A short hash of what made a sample cache: the data (the bytes of every source file, or the
    spec of a standard dataset) and the code (blur.py, degrade.py and this file). A rebuilt corpus
    or a changed blur gives a new key, so a stale cache is never reused."""
    h = hashlib.sha256(spec.encode())
    for path in sorted(Path(p) for p in files):
        h.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    here = Path(__file__).resolve().parent
    for module in ("blur.py", "degrade.py", "sampling.py"):
        h.update((here / module).read_bytes())
    return h.hexdigest()[:12]


def render_cache(maker: Any, n: int, seed: int, path: Path, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """Pre-render ``n`` samples once (deterministic in ``seed``) into an .npz cache.

    ``maker`` is the OnlineSampler (its ``fixed(n, seed)``) or a per-sample maker called with a
    generator (CifarMaker, PairMaker). Inputs come out uint8 (n, F, S, S, 3), targets (n, S, S, 3).
    """
    if path.is_file():
        with np.load(path) as z:
            if len(z["x"]) == n:
                return z["x"], z["y"]
    if hasattr(maker, "fixed"):
        x, y = maker.fixed(n, seed)
    else:
        rng = np.random.default_rng(seed)
        xs, ys = zip(*(maker(rng) for _ in tqdm(range(n), desc=desc, leave=False, disable=not _is_main())))
        x, y = np.stack(xs), np.stack(ys)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=x, y=y)
    tmp.replace(path)
    return x, y


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, task: str, full: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    """Flips and 90-degree rotations; with ``full`` also brightness and, for motion, the +/-2 px
    neighbour shift (samples the OnlineSampler rendered carry those already)."""
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[::-1]
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(0, 1))
    if not full:
        return x.astype(np.float32) / 255.0, y.astype(np.float32) / 255.0
    gain = float(rng.uniform(0.9, 1.1))
    xf = np.clip(x.astype(np.float32) / 255.0 * gain, 0, 1)
    yf = np.clip(y.astype(np.float32) / 255.0 * gain, 0, 1)
    if family(task).frames == 3:
        xf = blur.shift_neighbours(xf, rng, max_shift=2)
    return xf, yf


def to_batch(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(F,H,W,3) inputs -> (N, 3F, H, W); (H,W,3) targets -> (N, 3, H, W)."""
    x = torch.from_numpy(np.stack([np.ascontiguousarray(a) for a in xs]))
    n, f, h, w, c = x.shape
    x = x.permute(0, 1, 4, 2, 3).reshape(n, f * c, h, w)
    y = torch.from_numpy(np.stack([np.ascontiguousarray(b) for b in ys])).permute(0, 3, 1, 2)
    return x.float().contiguous(), y.float().contiguous()


# ------------------------------------------------------------------------------------------------
# Camera family: online on the CPU

MARGIN = 24  # > half the largest camera kernel (a 30 px shake path spans ~33 px)
SCALE_RANGE = (0.35, 1.0)
# CameraSampler(psf=...): the large blurs NAME+psf deconvolves (deblur.psf.LARGE_SIZE and up) and
# the identification error they come with; a wider margin, for 48 px lines and Wiener's reach.
LARGE_DISC = (8.0, 16.0)     # disc radius, px
LARGE_LINE = (20.0, 48.0)    # line length, px
PSF_ERROR = 0.08             # size off by up to 8 % ...
PSF_ANGLE = 3.0              # ... and a line's angle by up to 3 degrees
LARGE_MARGIN = 48


def _fit_photos(photos: Sequence[np.ndarray], need: int) -> list[np.ndarray]:
    """The photos, each upscaled just enough to cut a ``need`` px patch when smaller."""
    out = []
    for img in photos:
        short = min(img.shape[:2])
        if short < need:
            img = _resize(img, need / short + 1e-3)
        out.append(np.ascontiguousarray(img))
    return out


def random_patch(img: np.ndarray, need: int, rng: np.random.Generator,
                 scale_range: tuple[float, float] = SCALE_RANGE) -> np.ndarray:
    """A ``need`` x ``need`` patch of a uint8 photo (H, W, 3): the photo rescaled by a factor
    log-uniform in ``scale_range`` (never below what leaves ``need`` px), a random window, a
    random quarter turn and mirror. The window is cut first (cheap), then rescaled: the same as
    rescaling the photo and cutting. A photo smaller than ``need`` is upscaled just enough."""
    h, w = img.shape[:2]
    short = min(h, w)
    lo = max(scale_range[0], need / short)
    scale = float(np.exp(rng.uniform(np.log(lo), np.log(scale_range[1])))) if lo < scale_range[1] else 1.0
    win = min(int(np.ceil(need / scale)) + 2, h, w)
    y, x = int(rng.integers(0, h - win + 1)), int(rng.integers(0, w - win + 1))
    patch = img[y : y + win, x : x + win]
    if win != need:
        patch = _resize(patch, need / win)[:need, :need]
    if min(patch.shape[:2]) < need:  # a photo smaller than need, or a rounding short of it
        patch = _resize(patch, need / min(patch.shape[:2]) + 1e-3)[:need, :need]
    patch = np.rot90(patch, int(rng.integers(4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return np.ascontiguousarray(patch)


class CameraSampler:
    """Online sampler: ``batch(n, rng)`` -> (input (n, 3, S, S), target (n, 3, S, S)) float in [0, 1].

    ``sharp`` (training only, 0 by default): the fraction of samples drawn with no kernel and no
    sensor noise (JPEG still drawn) on top of the family's own ~0.6 %: sharp, clean photos that a
    network must hand back unchanged (the shipped camera networks over-sharpened them; issue 11).

    ``psf`` (training only, 0 by default): the fraction of samples that show a network what
    ``NAME+psf`` hands it (deblur.psf): a large disc (radius LARGE_DISC) or straight line
    (LARGE_LINE px) blurred through the camera pipeline, then Wiener-deconvolved as deblur.psf does
    with the PSF a little off (size x U[1 - PSF_ERROR, 1 + PSF_ERROR], a line's angle +/- PSF_ANGLE
    degrees: the identification errors bench/psf_identify.py measured), so that it learns to clean
    the deconvolution's streaks and noise instead of treating them as detail.
    """

    def __init__(self, photos: Sequence[np.ndarray], size: int, device: torch.device | str = "cpu",
                 sharp: float = 0.0, psf: float = 0.0) -> None:
        if not photos:
            raise ValueError("CameraSampler needs at least one photo")
        for label, v in (("sharp", sharp), ("psf", psf)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{label} is a fraction of samples in [0, 1], not {v}")
        self.size, self.device, self.sharp, self.psf = int(size), torch.device(device), float(sharp), float(psf)
        self.family = "camera"  # the family's own sampler: its fn draws every parameter (deblur.degrade.camera)
        self.photos = _fit_photos(photos, self.size + 2 * MARGIN)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (degraded uint8 (S, S, 3), sharp uint8 (S, S, 3)) pair."""
        img = self.photos[int(rng.integers(len(self.photos)))]
        # generator draws only when asked for, so sharp=0 and psf=0 keep the family's own stream
        if self.psf > 0 and rng.random() < self.psf:
            return self._deconvolved(img, rng)
        patch = random_patch(img, self.size + 2 * MARGIN, rng, SCALE_RANGE)
        clean = self.sharp > 0 and rng.random() < self.sharp
        d = degrade(self.family, patch, rng, **({"family": "none", "noise": False} if clean else {}))
        m = MARGIN
        return d.frames[0, m:-m, m:-m], d.target[m:-m, m:-m]

    def _deconvolved(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A large disc / line blur through the camera pipeline, deconvolved with a slightly wrong PSF."""
        m = LARGE_MARGIN
        patch = random_patch(img, self.size + 2 * m, rng, SCALE_RANGE)
        err = rng.uniform(1 - PSF_ERROR, 1 + PSF_ERROR)
        if rng.random() < 0.5:
            r = rng.uniform(*LARGE_DISC)
            kernel, est = defocus_kernel(r), PSFEstimate("defocus", r * err, None, defocus_kernel(r * err), 0.0, 1.0)
        else:
            n, a = rng.uniform(*LARGE_LINE), rng.uniform(0.0, 180.0)
            b = a + rng.uniform(-PSF_ANGLE, PSF_ANGLE)
            kernel = linear_motion_kernel(n, a)
            est = PSFEstimate("motion", n * err, b, linear_motion_kernel(n * err, b), 0.0, 1.0)
        x = deconvolve(degrade(self.family, patch, rng, kernel=kernel).frames[0], est)
        return x[m:-m, m:-m], np.ascontiguousarray(patch[m:-m, m:-m])

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = zip(*(self.sample(rng) for _ in range(n)))
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float().div_(255.0)
        y = torch.from_numpy(np.stack(ys)).permute(0, 3, 1, 2).float().div_(255.0)
        return x.to(self.device), y.to(self.device)

    def fixed(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples from ``seed`` as uint8 arrays (n, 1, S, S, 3), (n, S, S, 3): validation."""
        rng = np.random.default_rng(seed)
        xs, ys = zip(*(self.sample(rng) for _ in range(n)))
        return np.stack(xs)[:, None], np.stack(ys)


# ------------------------------------------------------------------------------------------------
# A user's own folders (fine-tuning): real pairs, or sharp photos blurred here

OWN_DATA = ("pairs", "photos")  # --data pairs:DIR (deblur.data.read_pairs), photos:DIR (read_photos)


def own_data(spec: str) -> tuple[str, str] | None:
    """("pairs" | "photos", DIR) for such a --data spec; None for any other."""
    kind, sep, location = spec.partition(":")
    kind = kind.strip().lower()
    return (kind, str(Path(location).expanduser())) if sep and location and kind in OWN_DATA else None


def _aligned_crop(frames: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One random ``size`` crop of (K, H, W, 3) stacked images, mirrored out when smaller."""
    out = _random_crop(frames, min(size, *frames.shape[1:3]), rng)
    h, w = out.shape[1:3]
    if h < size or w < size:
        out = np.pad(out, ((0, 0), (0, size - h), (0, size - w), (0, 0)), mode="symmetric")
    return out


class _HeldSampler:
    """Batches and fixed sets of a sampler whose ``sample(rng)`` gives one (input uint8 (F, S, S, 3),
    target uint8 (S, S, 3)) pair from images held in memory."""

    device: torch.device

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(input (n, 3F, S, S), target (n, 3, S, S)) float in [0, 1] on the sampler's device."""
        x, y = to_batch(*zip(*(self.sample(rng) for _ in range(n))))
        return x.div_(255.0).to(self.device), y.div_(255.0).to(self.device)

    def fixed(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples from ``seed`` as uint8 arrays (n, F, S, S, 3), (n, S, S, 3): validation."""
        rng = np.random.default_rng(seed)
        xs, ys = zip(*(self.sample(rng) for _ in range(n)))
        return np.stack(xs), np.stack(ys)


class PairSampler(_HeldSampler):
    """A user's real (blurred, sharp) pairs held in memory, for ``batch`` / ``fixed``.

    Each sample is one aligned random crop of a pair with the same flip and quarter turn on both;
    no rescale and no brightness change, which would alter the pair's own blur and noise. Pairs
    smaller than the crop are mirrored out to it.
    """

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], size: int,
                 device: torch.device | str = "cpu") -> None:
        if not pairs:
            raise ValueError("PairSampler needs at least one pair")
        self.size, self.device = int(size), torch.device(device)
        self.pairs = [np.stack([b, s]) for b, s in pairs]  # (2, H, W, 3): one crop cuts both

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (blurred uint8 (1, S, S, 3), sharp uint8 (S, S, 3)) pair."""
        both = _aligned_crop(self.pairs[int(rng.integers(len(self.pairs)))], self.size, rng)
        if rng.random() < 0.5:
            both = both[:, :, ::-1]
        both = np.rot90(both, int(rng.integers(4)), axes=(1, 2))
        return np.ascontiguousarray(both[:1]), np.ascontiguousarray(both[1])


class PhotoSampler(_HeldSampler):
    """Sharp photos held in memory, blurred online by one ``deblur.degrade`` family (the evaluator's
    own functions), for ``batch`` / ``fixed``.

    As CameraSampler: a ``random_patch`` (rescaled, turned, mirrored) with a MARGIN that the
    kernel's borders fall into, cut off after blurring. gaussian: sigma ~ U[sigma]; motion: three
    exposures of a still along one camera path of U[motion_length] px each. The camera family has
    its own CameraSampler (with ``sharp`` and ``psf``), which ``own_samplers`` uses for it.
    """

    def __init__(self, photos: Sequence[np.ndarray], size: int, family: str, device: torch.device | str = "cpu",
                 sigma: tuple[float, float] = (0.0, 3.0), motion_length: tuple[float, float] = (2.0, 14.0)) -> None:
        if not photos:
            raise ValueError("PhotoSampler needs at least one photo")
        self.record = blur_family(family)  # an unknown name lists the valid ones
        self.size, self.family, self.device = int(size), family, torch.device(device)
        self.sigma, self.motion_length = sigma, motion_length
        # the training ranges of the levels the trainer's flags set (--sigma, --motion-length);
        # any other family draws over its record's own range
        self.level_range = self.record.pick_range(sigma=sigma, length=motion_length)
        self.photos = _fit_photos(photos, self.size + 2 * MARGIN)

    def _options(self, rng: np.random.Generator) -> dict[str, Any]:
        """The family's own level draw (deblur.degrade.Family.draw_level), or none when its
        function draws its own parameters (camera)."""
        level = self.record.draw_level(rng, self.level_range)
        return {} if level is None else {self.record.level: level}

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (degraded uint8 (F, S, S, 3), sharp uint8 (S, S, 3)) pair."""
        img = self.photos[int(rng.integers(len(self.photos)))]
        patch = random_patch(img, self.size + 2 * MARGIN, rng, SCALE_RANGE)
        d = degrade(self.family, patch, rng, **self._options(rng))
        m = MARGIN
        return np.ascontiguousarray(d.frames[:, m:-m, m:-m]), np.ascontiguousarray(d.target[m:-m, m:-m])


@dataclass(frozen=True)
class OwnData:
    """What ``own_samplers`` hands the trainer: a training sampler (``batch(n, rng)``), a
    validation one (``fixed(n, seed)``), the card's data line and the weight file's data entry."""

    train: Any
    val: Any
    note: str
    meta: dict[str, Any]


def own_samplers(cfg: TrainConfig, device: torch.device | str = "cpu") -> OwnData:
    """The samplers of a ``pairs:DIR`` or ``photos:DIR`` --data: every tenth pair / photo (the
    first, the eleventh, ...) held out for validation, the rest trained on. Images are decoded
    once and held in memory (uint8), so no batch waits on a file."""
    kind, location = own_data(cfg.data)
    frames = family(cfg.task).frames
    if kind == "pairs" and frames != 1:
        raise DeblurError(f"pairs:DIR holds single blurred frames; the {cfg.task} task takes {frames}: "
                          "fine-tune a single-frame network (gaussian or camera)")
    if kind == "photos" and takes_prior(cfg.model):
        raise DeblurError(f"{cfg.model} refines a prior made from the synthesis' camera path: train it on a "
                          "corpus folder, not photos:DIR")
    dataset = open_dataset(f"{kind}:{location}")
    what = "pair" if kind == "pairs" else "photo"
    if len(dataset) < 2:
        raise DeblurError(f"{kind}:{location} holds {len(dataset)} {what}(s): at least 2 are needed, one of "
                          "every ten is held out for validation")
    items = list(dataset)
    train_items = [it for i, it in enumerate(items) if i % 10]
    val_items = items[::10]
    crop = cfg.crop_size
    held = ", ".join(it.name for it in val_items[:3]) + (", ..." if len(val_items) > 3 else "")
    split = f"{len(train_items):,} trained on, every tenth ({len(val_items):,}: {held}) held out for validation"
    if kind == "pairs":
        note = (f"your pairs at `{location}` ({len(items):,} blurred / sharp pairs matched by name: {split}); "
                f"{crop}x{crop} aligned random crops, flips and quarter turns")
    else:
        note = (f"your photos at `{location}` ({len(items):,} sharp photos: {split}), blurred here by the "
                f"{cfg.task} family (deblur.degrade); {crop}x{crop} crops of each photo rescaled by "
                f"{SCALE_RANGE[0]:g}-{SCALE_RANGE[1]:g}x")

    def make(part: list, dev: torch.device | str, training: bool) -> _HeldSampler | CameraSampler:
        if kind == "pairs":
            return PairSampler([(it.blurred[0], it.sharp) for it in part], crop, dev)
        photos = [it.sharp for it in part]
        if cfg.task == "camera":  # the family's own sampler: --sharp and --psf reach training samples
            return CameraSampler(photos, crop, dev, sharp=cfg.sharp if training else 0.0,
                                 psf=cfg.psf if training else 0.0)
        return PhotoSampler(photos, crop, cfg.task, dev, sigma=cfg.sigma, motion_length=cfg.motion_length)

    meta = {kind: location, "count": len(items), "train": len(train_items), "validation": len(val_items)}
    return OwnData(make(train_items, device, True), make(val_items, "cpu", False), note, meta)


class Prefetcher:
    """Renders the next batches of a sampler in a background thread while the caller trains.

    The camera degradation (numpy / Pillow, which release the GIL) then overlaps the network's
    step instead of adding to it. ``batch(n, rng)`` has the sampler's signature; the thread draws
    from its own generator, seeded once from the caller's ``rng`` on the first call, so a run is
    reproducible from its seed (a resumed run starts a new stream, like any resumed sampler).
    """

    def __init__(self, sampler: Any, depth: int = 2) -> None:
        self.sampler, self.depth = sampler, depth
        self.queue: queue.Queue | None = None
        self.n = 0

    def _work(self, rng: np.random.Generator) -> None:
        while True:
            self.queue.put(self.sampler.batch(self.n, rng))

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if self.queue is None:
            self.n, self.queue = n, queue.Queue(maxsize=self.depth)
            own = np.random.default_rng(int(rng.integers(2**63)))
            threading.Thread(target=self._work, args=(own,), daemon=True).start()
        if n != self.n:
            raise ValueError(f"this Prefetcher renders batches of {self.n}, not {n}")
        return self.queue.get()


