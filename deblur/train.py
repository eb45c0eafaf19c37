"""Train a deblurring network: ``python -m deblur.train --model ARCH --preset lite --task gaussian``.

The paper's recipe is the default: L1 loss (averaged, not the code's sum), Adam at 1e-4,
gradient-norm clipping, He-normal init (in the models), and the learning rate lowered when the
validation loss plateaus (the authors did this by hand). Samples are synthesised from real
photos and video of the offline corpus (``python -m deblur.data build``), never from the
``builtin`` evaluation images:

- gaussian: 32x32 crops (CIFAR-like) of photos downscaled by a random factor, sigma ~ U[0, 3];
- motion: 3-frame 256x256 crops, blurred by averaging sub-frames along a camera path
  (``deblur.blur.synthesize_triplet``) over real video frames or still photos.

A user's local copy of a standard dataset trains the same way (``--data cifar10:DIR`` for
gaussian: the paper's own 32x32 images, blurred here; ``--data reds:DIR`` or ``gopro:DIR`` for
motion: their real blurred triples and sharp middle frames, aligned random crops). Only train
splits are read; a tail of it is held out for validation, since the evaluator scores the other
splits (CIFAR-10 test_batch, REDS val, GoPro test).

Synthesis is slower than a training step on 2 cores for motion, so samples are pre-rendered
once into a git-ignored cache (``cache/``) and augmented on the fly (flips, 90-degree rotations,
brightness, the +/-2 px neighbour shift). Checkpoints hold model, optimiser, scheduler, step
and RNG state, so ``--resume`` continues a run exactly; a per-epoch CSV log sits beside the
weights. Under ``torchrun --nproc_per_node=N`` the same command trains with
DistributedDataParallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from . import blur, metrics
from .data import BUILTIN_NAMES, Dataset, corpus_entries, read_cifar10, read_gopro, read_reds
from .errors import DeblurError
from .io import read_image, read_video, to_float
from .models import build_model, count_parameters, model_config
from .weights import STORE_DTYPES, WEIGHTS_DIR, load_weights, save_weights, write_manifest_entry

@dataclass(frozen=True)
class TrainConfig:
    model: str = "atrous_net"
    preset: str = "lite"
    task: str = "gaussian"
    data: str = "corpus"
    name: str = ""                 # output name; default "<model>-<task>"
    out: str = str(WEIGHTS_DIR)    # where final weights, card and log go
    run_dir: str = "runs"          # checkpoints (git-ignored)
    crop: int = 0                  # 0 = the paper's: 32 (gaussian) or 256 (motion)
    batch: int = 0                 # 0 = the paper's: 32 (gaussian) or 4 (motion)
    lr: float = 1e-4
    min_lr: float = 1e-6
    plateau_patience: int = 2
    clip: float = 1.0
    epochs: int = 20               # epochs of this run (an --init stage: more epochs on top of the log's)
    steps_per_epoch: int = 200
    cache_samples: int = 4000      # pre-rendered training samples
    val_samples: int = 256
    seed: int = 0
    minutes: float = 0.0           # stop cleanly after this many minutes (0 = no limit)
    threads: int = 0
    bf16: bool = False             # bf16 autocast: only pays on CPUs with AMX / avx512_bf16
    channels_last: bool = True
    motion_length: tuple[float, float] = (2.0, 14.0)
    sigma: tuple[float, float] = (0.0, 3.0)  # Gaussian sigma ~ U[lo, hi]: the paper's U[0, 3]
    online: bool = False           # synthesise every batch afresh on the training device (GPU)
    schedule: str = "plateau"      # plateau (the paper's, automated) or cosine over --minutes
    loss: str = "l1"               # l1 (the paper's) or psnr (mean over samples of each one's PSNR)
    init: str = ""                 # start from these weights (.safetensors, same architecture)
    resume: bool = False
    ship: bool = False             # write weights/<name>.safetensors + manifest + card at the end
    store: str = "float32"         # dtype of the shipped file: float32, or float16 (half the size)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.model}-{self.task}"

    @property
    def crop_size(self) -> int:
        return self.crop or (32 if self.task == "gaussian" else 256)

    @property
    def batch_size(self) -> int:
        return self.batch or (32 if self.task == "gaussian" else 4)


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
    from PIL import Image

    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.LANCZOS))


class SampleMaker:
    """Turns corpus photos / clips into (input uint8 (F,H,W,3), target uint8 (H,W,3)) pairs."""

    def __init__(self, cfg: TrainConfig, photos: list[Path], videos: list[Path]) -> None:
        self.cfg = cfg
        self.photos = [read_image(p) for p in photos]
        self.clips: list[np.ndarray] = []
        if cfg.task == "motion":
            for v in videos:
                clip = _load_clip(v)
                if clip is not None:
                    self.clips.append(clip)

    def gaussian(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.cfg.crop_size
        img = self.photos[int(rng.integers(len(self.photos)))]
        # Scale so that crops range from CIFAR-like whole objects to full-resolution detail.
        shortest = min(img.shape[:2])
        lo = min(1.0, size * 1.25 / shortest)
        scale = float(np.exp(rng.uniform(np.log(lo), 0.0)))
        small = _resize(img, scale) if scale < 0.999 else img
        sharp = to_float(_random_crop(small, size, rng))
        blurred, _ = blur.sample_gaussian(sharp, rng, sigma_min=self.cfg.sigma[0], sigma_max=self.cfg.sigma[1])
        return _u8(blurred[None]), _u8(sharp)

    def motion(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.cfg.crop_size
        use_clip = self.clips and rng.random() < 0.5
        if use_clip:
            clip = self.clips[int(rng.integers(len(self.clips)))]
            t = int(rng.integers(1, len(clip) - 1))
            frames = clip[t - 1 : t + 2]
            source = to_float(_random_crop(frames, min(size, *frames.shape[1:3]), rng))
        else:
            img = self.photos[int(rng.integers(len(self.photos)))]
            if min(img.shape[:2]) < size:
                img = _resize(img, size / min(img.shape[:2]) + 1e-3)
            source = to_float(_random_crop(img, size, rng))
        lo, hi = self.cfg.motion_length
        length = float(rng.uniform(lo, hi))
        blurred, sharp, _ = blur.synthesize_triplet(source, rng, length=length)
        if sharp.shape[0] < size or sharp.shape[1] < size:  # small clips: upscale is wrong; pad instead
            pad = ((0, size - sharp.shape[0]), (0, size - sharp.shape[1]), (0, 0))
            blurred = np.stack([np.pad(b, pad, mode="reflect") for b in blurred])
            sharp = np.pad(sharp, pad, mode="reflect")
        return _u8(blurred), _u8(sharp)

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.gaussian(rng) if self.cfg.task == "gaussian" else self.motion(rng)


# ------------------------------------------------------------------------------------------------
# Data: a user's local copy of CIFAR-10, REDS or GoPro (train splits only)

# Which task each standard dataset trains: CIFAR-10 holds sharp stills, REDS and GoPro real blur.
STANDARD_DATA = {"cifar10": "gaussian", "reds": "motion", "gopro": "motion"}
DATA_HELP = "an offline corpus folder, or cifar10:DIR (gaussian), reds:DIR or gopro:DIR (motion)"
CIFAR_VAL_HOLDOUT = 1000  # the last images of the train batches: validation only


def standard_data(spec: str) -> tuple[str, str] | None:
    """("cifar10" | "reds" | "gopro", DIR) for such a --data spec; None for a corpus folder."""
    kind, sep, location = spec.partition(":")
    kind = kind.strip().lower()
    return (kind, str(Path(location).expanduser())) if sep and location and kind in STANDARD_DATA else None


class CifarMaker:
    """Gaussian samples from CIFAR-10 images (the paper's training data), sigma ~ U[sigma]."""

    def __init__(self, images: np.ndarray, crop: int, sigma: tuple[float, float] = (0.0, 3.0)) -> None:
        if crop > images.shape[1]:
            raise DeblurError(f"CIFAR-10 images are {images.shape[1]}x{images.shape[2]}: use --crop "
                              f"{images.shape[1]} or less, not {crop}")
        self.images, self.crop, self.sigma = images, crop, sigma

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        img = self.images[int(rng.integers(len(self.images)))]
        sharp = to_float(_random_crop(img, self.crop, rng))
        blurred, _ = blur.sample_gaussian(sharp, rng, sigma_min=self.sigma[0], sigma_max=self.sigma[1])
        return _u8(blurred[None]), _u8(sharp)


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


def _load_clip(path: Path, max_frames: int = 300) -> np.ndarray | None:
    """A clip as uint8 (T, H, W, 3): a video file, or a folder of frame images (sorted by name)."""
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in {".png", ".jpg", ".jpeg"})[:max_frames]
        frames = [read_image(f) for f in files]
    else:
        frames, _ = read_video(path, max_frames=max_frames)
    return np.stack(frames) if len(frames) >= 3 else None


class OnlineSampler:
    """Synthesises every batch afresh, on the training device, from sources held there.

    The GPU path: with the blur as batched tensor operations (``blur.gaussian_blur_batch``,
    ``blur.warp_exposures``) a GPU renders a batch in milliseconds, so no cache is needed and no
    sample is ever seen twice. Same distributions as ``SampleMaker`` + ``augment``: multi-scale
    photo crops (a pyramid of half-octave Lanczos levels stands in for the random rescale),
    sigma ~ U[0, 3]; for motion, real 3-frame windows or stills, a camera path per sample, the
    +/-2 px neighbour shift; flips, 90-degree rotations and a 0.9-1.1 brightness gain on all.
    """

    def __init__(self, cfg: TrainConfig, photos: list[Path], videos: list[Path], device: torch.device) -> None:
        self.cfg, self.device, self.size = cfg, device, cfg.crop_size
        size = self.size
        self.levels: list[list[torch.Tensor]] = []   # per photo: its pyramid, full resolution first
        for p in photos:
            img = read_image(p)
            if min(img.shape[:2]) < size:
                img = _resize(img, size / min(img.shape[:2]) + 1e-3)
            pyramid, scale = [img], 1.0
            lo = size * 1.25 / min(img.shape[:2]) if cfg.task == "gaussian" else 1.0
            while scale * 0.7071 >= lo:
                scale *= 0.7071
                pyramid.append(_resize(img, scale))
            self.levels.append([torch.from_numpy(np.array(a)).to(device) for a in pyramid])
        self.clips: list[torch.Tensor] = []
        if cfg.task == "motion":
            for v in videos:
                clip = _load_clip(v)
                if clip is not None:
                    self.clips.append(torch.from_numpy(clip).to(device))

    def _crop(self, t: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
        h, w = t.shape[-3:-1]
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        return t[..., y : y + size, x : x + size, :]

    def _source(self, rng: np.random.Generator) -> torch.Tensor:
        """One augmented sharp source, float (F, 3, S, S): F = 1 (gaussian) or 3 frames."""
        size = self.size
        if self.cfg.task == "motion" and self.clips and rng.random() < 0.5:
            clip = self.clips[int(rng.integers(len(self.clips)))]
            t = int(rng.integers(1, len(clip) - 1))
            frames = self._crop(clip[t - 1 : t + 2], min(size, *clip.shape[1:3]), rng)
        else:
            pyramid = self.levels[int(rng.integers(len(self.levels)))]
            frames = self._crop(pyramid[int(rng.integers(len(pyramid)))], size, rng)[None]
            if self.cfg.task == "motion":
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
        if self.cfg.task == "gaussian":
            blurred = blur.gaussian_blur_batch(sharp[:, 0], rng.uniform(*self.cfg.sigma, n))
            return blurred, sharp[:, 0]
        lo, hi = self.cfg.motion_length
        lengths = rng.uniform(lo, hi, n)
        sub = blur.default_subframes(float(lengths.max()))
        paths, rots = zip(*(blur.camera_path(rng, float(length), sub)[:2] for length in lengths))
        out = blur.warp_exposures(sharp, torch.from_numpy(np.stack(paths)), torch.from_numpy(np.stack(rots)))
        out = torch.round(out.clamp(0.0, 1.0) * 255.0) / 255.0
        for i in range(n):  # the paper's neighbour shift: t-1 and t+1 moved opposite ways
            dx, dy = (int(v) for v in rng.integers(-2, 3, size=2))
            out[i, 0] = _shift_t(out[i, 0], dx, dy)
            out[i, 2] = _shift_t(out[i, 2], -dx, -dy)
        return out.flatten(1, 2), sharp[:, 1]

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


def render_cache(maker: SampleMaker, n: int, seed: int, path: Path, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """Pre-render ``n`` samples once (deterministic in ``seed``) into an .npz cache."""
    if path.is_file():
        with np.load(path) as z:
            if len(z["x"]) == n:
                return z["x"], z["y"]
    rng = np.random.default_rng(seed)
    xs, ys = zip(*(maker(rng) for _ in tqdm(range(n), desc=desc, leave=False, disable=not _is_main())))
    x, y = np.stack(xs), np.stack(ys)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=x, y=y)
    tmp.replace(path)
    return x, y


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Flips, 90-degree rotations, brightness, and for motion the +/-2 px neighbour shift."""
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[::-1]
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(0, 1))
    gain = float(rng.uniform(0.9, 1.1))
    xf = np.clip(x.astype(np.float32) / 255.0 * gain, 0, 1)
    yf = np.clip(y.astype(np.float32) / 255.0 * gain, 0, 1)
    if task == "motion":
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
# Distributed helpers


def _is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def _setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


# ------------------------------------------------------------------------------------------------
# Training


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


LOSSES = {
    "l1": "L1 loss (mean)",
    "psnr": "PSNR loss (minus the mean over samples of each sample's PSNR, MSE floored at 1e-6)",
}
PSNR_LOSS_FLOOR = 1e-6  # 60 dB: a sample restored better than this stops pulling on the weights


def training_loss(out: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """The training objective on a batch (N, C, H, W) in [0, 1].

    l1: the paper's mean absolute error over every pixel of the batch.
    psnr: -mean_i PSNR_i, the i-th sample's PSNR from its own MSE (floored at PSNR_LOSS_FLOOR).
    Evaluators rank by the mean of per-image PSNR; a pixel-mean loss lets strongly blurred samples
    (large errors) dominate, so the network learns little about slight blur. Each sample's PSNR
    weighs its squared error by 1 / its MSE: every sample counts by its relative improvement.
    """
    if kind == "l1":
        return F.l1_loss(out, target)
    if kind == "psnr":
        mse = (out - target).pow(2).mean(dim=tuple(range(1, out.dim())))
        return (10 * torch.log10(mse + PSNR_LOSS_FLOOR)).mean()
    raise DeblurError(f"unknown loss {kind!r}: use one of {', '.join(LOSSES)}")


class MiddleFrame(nn.Module):
    """The blurred input as a 'restorer': returns the middle frame of a (N, 3F, H, W) stack."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.shape[1] // 3
        return x[:, 3 * (f // 2) : 3 * (f // 2) + 3]


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device, batch: int,
             channels_last: bool) -> dict[str, float]:
    """Mean L1 loss and MSE / PSNR / SSIM (deblur.metrics conventions) on fixed samples."""
    model.eval()
    rows = {"val_loss": [], "val_mse": [], "val_psnr": [], "val_ssim": []}
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb, yb = to_batch(list(x[i : i + batch].astype(np.float32) / 255.0), list(y[i : i + batch].astype(np.float32) / 255.0))
            xb, yb = xb.to(device), yb.to(device)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out = model(xb).clamp(0, 1)
            rows["val_loss"].append(F.l1_loss(out, yb, reduction="none").mean(dim=(1, 2, 3)).cpu().numpy())
            out_u8 = (out * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            for o, t in zip(out_u8, y[i : i + batch]):
                rows["val_mse"].append(np.array([metrics.mse(o, t)]))
                rows["val_psnr"].append(np.array([metrics.psnr(o, t)]))
                rows["val_ssim"].append(np.array([metrics.ssim(o, t)]))
    model.train()
    out = {k: float(np.concatenate(v).mean()) for k, v in rows.items()}
    # Samples with sigma ~ 0 equal their target, so the blurred input scores the 100 dB cap on
    # them and a mean of per-image PSNR rewards doing nothing; the PSNR of the mean MSE does not.
    out["val_psnr_mean_mse"] = float(10 * np.log10(1.0 / max(out["val_mse"], 1e-10)))
    return out


def _checkpoint_state(model, opt, sched, step, epoch, rng, best, samples, stage_start) -> dict[str, Any]:
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "step": step, "epoch": epoch, "best": best, "samples": samples, "stage_start": stage_start,
            "rng_numpy": json.dumps(rng.bit_generator.state), "rng_torch": torch.get_rng_state()}


def train(cfg: TrainConfig) -> dict[str, Any]:
    rank, world, device = _setup_distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels
    torch.manual_seed(cfg.seed)
    run_dir = Path(cfg.run_dir) / cfg.run_name
    ckpt_path = run_dir / "checkpoint.pt"
    log_path = run_dir / "log.csv"

    crop, task = cfg.crop_size, cfg.task
    if cfg.schedule == "cosine" and not cfg.minutes:
        raise DeblurError("--schedule cosine decays over --minutes: give --minutes")
    standard = standard_data(cfg.data) is not None
    if standard and cfg.online:
        raise DeblurError("--online holds all its sources on the training device: it takes an offline corpus "
                          f"folder, not {cfg.data} (drop --online to pre-render a sample cache)")
    data_note = None  # the card's data line, for a standard dataset
    if standard:
        maker, val_maker, data_note = standard_makers(cfg)
    else:
        photos, videos = corpus_sources(cfg.data)
        val_photos = photos[::10]  # every tenth photo is validation only
        train_photos = [p for p in photos if p not in val_photos]
        train_videos, val_videos = (videos[1:] if len(videos) > 1 else videos), videos[:1]
        if not cfg.online:
            maker = SampleMaker(cfg, train_photos, train_videos)
            val_maker = SampleMaker(cfg, val_photos, val_videos)
    sampler = None
    if cfg.online:
        sampler = OnlineSampler(cfg, train_photos, train_videos, device)
        x_val, y_val = OnlineSampler(cfg, val_photos, val_videos, device).fixed(cfg.val_samples, 10_000 + cfg.seed)
    else:
        cache = Path("cache")
        if not _is_main():
            dist.barrier()  # rank 0 renders the caches; the others then read them
        source = hashlib.sha1(str(Path(cfg.data).resolve() if not standard else cfg.data).encode()).hexdigest()[:8]
        blur_range = cfg.motion_length if task == "motion" else cfg.sigma
        tag = f"{task}-d{source}-c{crop}-s{cfg.seed}-b{blur_range[0]:g}_{blur_range[1]:g}"
        x_train, y_train = render_cache(maker, cfg.cache_samples, cfg.seed,
                                        cache / f"train-{tag}-n{cfg.cache_samples}.npz", "render train")
        x_val, y_val = render_cache(val_maker, cfg.val_samples, 10_000 + cfg.seed,
                                    cache / f"val-{tag}-n{cfg.val_samples}.npz", "render val")
        if _is_main() and dist.is_initialized():
            dist.barrier()

    model = build_model(cfg.model, cfg.preset, task).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.init:
        init_model, _ = load_weights(cfg.init)
        if model_config(init_model) != model_config(model):
            raise DeblurError(f"--init {cfg.init} holds {model_config(init_model)}, not {model_config(model)}")
        model.load_state_dict(init_model.state_dict())
    val_batch = 16 if task == "gaussian" else 2
    # This run's validation set scored on the blurred input itself, and on the --init weights: the
    # references for its final figures (an inherited log's rows may come from another validation set).
    val_input = evaluate(MiddleFrame(), x_val, y_val, device, val_batch, False)
    val_start = evaluate(model, x_val, y_val, device, val_batch, cfg.channels_last) if cfg.init else None
    if _is_main() and val_start is not None:
        print(f"--init {cfg.init} on this run's validation set: PSNR of the mean MSE "
              f"{val_start['val_psnr_mean_mse']:.2f} dB, SSIM {val_start['val_ssim']:.4f} (blurred input "
              f"{val_input['val_psnr_mean_mse']:.2f} dB, {val_input['val_ssim']:.4f})", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=cfg.plateau_patience,
                                                       min_lr=cfg.min_lr)
    rng = np.random.default_rng([cfg.seed, rank])
    step, start_epoch, best, samples = 0, 0, float("inf"), 0
    stage_start = 0  # the log's epoch this run's --epochs count from: an --init stage's inherited last
    if cfg.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, start_epoch, best = state["step"], state["epoch"], state["best"]
        stage_start = state.get("stage_start", 0)
        samples = state.get("samples", step * cfg.batch_size * world)
        rng.bit_generator.state = json.loads(state["rng_numpy"])
        torch.set_rng_state(state["rng_torch"])
        if _is_main():
            print(f"resumed {ckpt_path} at epoch {start_epoch}, step {step}")
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model

    t0 = time.time()
    prior_seconds = _logged_seconds(log_path) if cfg.resume else 0.0
    init_log = Path(cfg.init).with_name(Path(cfg.init).name.split(".")[0] + ".log.csv") if cfg.init else None
    inherit = init_log is not None and init_log.is_file() and not (cfg.resume and log_path.is_file())
    if inherit:
        # Continuing a shipped network: its log goes on, so the curves show the whole history.
        last = list(csv.DictReader(open(init_log)))[-1]
        start_epoch, step, samples = int(last["epoch"]), int(last["step"]), int(last["samples"])
        stage_start = start_epoch
        prior_seconds = float(last["seconds"])
    if _is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        if inherit:
            log_path.write_text(init_log.read_text())
        elif not cfg.resume or not log_path.is_file():
            log_path.write_text(LOG_HEADER)
            # Epoch 0: the blurred baseline (an untrained network returns its input), scored above.
            _log_row(log_path, 0, 0, 0, cfg.lr, float("nan"), val_input, 0.0)
    stopped_early = False
    end_epoch = stage_start + cfg.epochs
    val = evaluate(model, x_val, y_val, device, val_batch, cfg.channels_last) if start_epoch >= end_epoch else {}
    for epoch in range(start_epoch, end_epoch):
        net.train()
        losses = []
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {epoch + 1}/{end_epoch}", disable=not _is_main(),
                   leave=False)
        for _ in bar:
            if cfg.schedule == "cosine":
                for g in opt.param_groups:
                    g["lr"] = cosine_lr(cfg, time.time() - t0)
            if sampler is not None:
                xb, yb = sampler.batch(cfg.batch_size, rng)
            else:
                idx = rng.integers(len(x_train), size=cfg.batch_size)
                pairs = [augment(x_train[i], y_train[i], rng, task) for i in idx]
                xb, yb = to_batch([p[0] for p in pairs], [p[1] for p in pairs])
                xb, yb = xb.to(device), yb.to(device)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                out = net(xb)
            loss = training_loss(out.float(), yb, cfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            step += 1
            samples += cfg.batch_size * world
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{opt.param_groups[0]['lr']:.1e}")
            if cfg.minutes and time.time() - t0 > cfg.minutes * 60:
                stopped_early = True
                break
        val = evaluate(model, x_val, y_val, device, val_batch, cfg.channels_last)
        if cfg.schedule == "plateau":
            sched.step(val["val_loss"])
        best = min(best, val["val_loss"])
        if _is_main():
            seconds = prior_seconds + time.time() - t0
            _log_row(log_path, epoch + 1, step, samples, opt.param_groups[0]["lr"],
                     float(np.mean(losses)), val, seconds)
            print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f} val_psnr {val['val_psnr']:.2f} "
                  f"val_ssim {val['val_ssim']:.4f} lr {opt.param_groups[0]['lr']:.1e} ({seconds / 60:.1f} min)", flush=True)
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save(_checkpoint_state(model, opt, sched, step, epoch + 1, rng, best, samples, stage_start), tmp)
            tmp.replace(ckpt_path)
        if stopped_early:
            break
    result = {"step": step, "samples": samples, "val": val, "val_input": val_input, "val_start": val_start,
              "seconds": prior_seconds + time.time() - t0, "stage_seconds": time.time() - t0,
              "finished": not stopped_early, "data_note": data_note}
    if _is_main() and cfg.ship:
        ship(cfg, model, result, world, log_path)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


def cosine_lr(cfg: TrainConfig, elapsed: float) -> float:
    """Cosine decay from --lr to --min-lr over this invocation's --minutes (a resume restarts it)."""
    t = min(1.0, elapsed / (cfg.minutes * 60.0))
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + np.cos(np.pi * t))


LOG_HEADER = "epoch,step,samples,lr,loss,val_loss,val_mse,val_psnr,val_psnr_mean_mse,val_ssim,seconds\n"


def _log_row(path: Path, epoch: int, step: int, samples: int, lr: float, loss: float, val: dict[str, float],
             seconds: float) -> None:
    with open(path, "a") as f:
        f.write(f"{epoch},{step},{samples},{lr:.3g},{loss:.6f},{val['val_loss']:.6f},{val['val_mse']:.6g},"
                f"{val['val_psnr']:.4f},{val['val_psnr_mean_mse']:.4f},{val['val_ssim']:.5f},{seconds:.1f}\n")


def _logged_seconds(log_path: Path) -> float:
    if not log_path.is_file():
        return 0.0
    rows = list(csv.DictReader(open(log_path)))
    return float(rows[-1]["seconds"]) if rows else 0.0


def ship(cfg: TrainConfig, model: nn.Module, result: dict[str, Any], world: int, log_path: Path) -> None:
    """Write weights/<name>.safetensors, its manifest entry, training log and model card."""
    out = Path(cfg.out)
    name = cfg.run_name
    hardware = f"{os.cpu_count()} CPU cores ({_cpu_model()})" if not torch.cuda.is_available() else torch.cuda.get_device_name()
    meta = {"task": cfg.task, "preset": cfg.preset, "data": {"dataset" if standard_data(cfg.data) else "corpus": cfg.data, "crop": cfg.crop_size},
            "commit": _git_commit(), "samples_seen": result["samples"], "val": result["val"]}
    model = model.cpu().to(memory_format=torch.contiguous_format)
    digest = save_weights(out / f"{name}.safetensors", model, meta, store=cfg.store)
    write_manifest_entry(name, f"{name}.safetensors", digest,
                         {"arch": cfg.model, "task": cfg.task, "preset": cfg.preset, "frames": model.frames,
                          "params": count_parameters(model), "log": f"{name}.log.csv"}, weights_dir=out)
    (out / f"{name}.log.csv").write_text(log_path.read_text())
    v = result["val"]
    base = result["val_input"]  # this run's validation set, scored on the blurred input itself
    cmd = "python -m deblur.train " + " ".join(sys.argv[1:])
    wall, init_line = f"{result['seconds'] / 60:.1f} min on {hardware}", ""
    if cfg.init:  # earlier stages may have run on other hardware: give this stage's time apart
        wall = (f"{result['seconds'] / 60:.1f} min over all stages; this stage "
                f"{result['stage_seconds'] / 60:.1f} min on {hardware}")
        s0 = result["val_start"]
        init_line = (f"- Initialised from `{cfg.init}` and trained on; the log and the sample count include that run. "
                     f"On this stage's validation set the --init weights scored PSNR of the mean MSE "
                     f"{s0['val_psnr_mean_mse']:.2f} dB, SSIM {s0['val_ssim']:.4f}\n")
    sampling = ("every batch synthesised afresh on the training device" if cfg.online
                else f"{cfg.cache_samples} pre-rendered samples with on-the-fly augmentation")
    if cfg.task == "gaussian":
        blur_line = f"Gaussian, sigma ~ U[{cfg.sigma[0]:g}, {cfg.sigma[1]:g}], 8-bit quantised"
    elif standard_data(cfg.data):
        blur_line = "the dataset's own real blur"
    else:
        blur_line = (f"3 exposures along one camera path, {cfg.motion_length[0]:g}-{cfg.motion_length[1]:g} px "
                     "per exposure, 8-bit quantised")
    if result.get("data_note"):
        data_line = f"{result['data_note']},\n  {sampling}"
    else:
        data_line = (f"offline corpus `{cfg.data}` (train split, builtin evaluation images excluded); "
                     f"{cfg.crop_size}x{cfg.crop_size} crops,\n  {sampling}")
    decay = (f"cosine-decayed to {cfg.min_lr:g} over {cfg.minutes:g} min" if cfg.schedule == "cosine"
             else f"halved on plateau (patience {cfg.plateau_patience})")
    card = f"""# {name}

- Architecture: {cfg.model}, preset `{cfg.preset}`, task `{cfg.task}` ({model.frames}-frame input)
- Config: `{json.dumps(model_config(model)['args'])}`
- Parameters: {count_parameters(model):,}{"" if cfg.store == "float32" else f" (stored as {cfg.store}, loaded as float32)"}
- Data: {data_line}; {result['samples']:,} samples seen
- Blur: {blur_line}
- Training: {LOSSES[cfg.loss]}, Adam lr {cfg.lr:g} {decay}, grad-norm clip {cfg.clip}, batch {cfg.batch_size} x {world} process(es)
- Wall time: {wall}
- Final validation ({cfg.val_samples} held-out samples): PSNR of the mean MSE {v['val_psnr_mean_mse']:.2f} dB
  (the blurred input: {base['val_psnr_mean_mse']:.2f} dB), SSIM {v['val_ssim']:.4f} (input {base['val_ssim']:.4f}),
  MSE {v['val_mse']:.3g} (input {base['val_mse']:.3g}); mean per-image PSNR {v['val_psnr']:.2f} dB, which counts
  unblurred samples at the 100 dB cap (input {base['val_psnr']:.2f} dB)
{init_line}- Training log: `{name}.log.csv` (epoch 0 = the untrained network, which returns its input)
- SHA-256: `{digest}`
{_commands_block(_card_commands(cfg.init) + [cmd])}
"""
    (out / f"{name}.md").write_text(card)
    print(f"shipped {out / (name + '.safetensors')}")


def _card_commands(init: str) -> list[str]:
    """The training commands recorded in the card beside ``init`` weights (earlier stages)."""
    if not init:
        return []
    card = Path(init).with_name(Path(init).name.split(".")[0] + ".md")
    if not card.is_file():
        return []
    return re.findall(r"`(python -m deblur\.train [^`]*)`", card.read_text())


def _commands_block(commands: list[str]) -> str:
    if len(commands) == 1:
        return f"- Command: `{commands[0]}`"
    steps = "\n".join(f"  {i}. `{c}`" for i, c in enumerate(commands, 1))
    return f"- Commands, in order (each stage starts from the weights the one before it shipped):\n{steps}"


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m deblur.train", description=__doc__.split("\n\n")[0])
    defaults = TrainConfig()
    p.add_argument("--model", default=defaults.model, choices=["carlo_net", "kaist_net", "atrous_net"])
    p.add_argument("--preset", default=defaults.preset, choices=["lite", "paper"])
    p.add_argument("--task", default=defaults.task, choices=["gaussian", "motion"])
    p.add_argument("--data", default=defaults.data, help=DATA_HELP + " (a corpus: python -m deblur.data build)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in {"model", "preset", "task", "data", "motion_length", "sigma"}:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, action="store_true", default=f.default)
        else:
            typ = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            p.add_argument(flag, type=typ, default=f.default)
    p.add_argument("--motion-length", type=float, nargs=2, default=defaults.motion_length,
                   help="range of blur lengths (px) for the motion task")
    p.add_argument("--sigma", type=float, nargs=2, default=defaults.sigma, metavar=("LO", "HI"),
                   help="Gaussian sigma ~ U[LO, HI] (the paper's: 0 3)")
    a = p.parse_args(argv)
    if a.schedule not in ("plateau", "cosine"):
        p.error(f"--schedule must be plateau or cosine, not {a.schedule!r}")
    if a.store not in STORE_DTYPES:
        p.error(f"--store must be one of {', '.join(STORE_DTYPES)}, not {a.store!r}")
    if a.loss not in LOSSES:
        p.error(f"--loss must be one of {', '.join(LOSSES)}, not {a.loss!r}")
    kwargs = {f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig)}
    kwargs["motion_length"] = tuple(kwargs["motion_length"])
    kwargs["sigma"] = tuple(kwargs["sigma"])
    if not 0 <= kwargs["sigma"][0] <= kwargs["sigma"][1]:
        p.error(f"--sigma needs 0 <= LO <= HI, got {kwargs['sigma'][0]:g} {kwargs['sigma'][1]:g}")
    return TrainConfig(**kwargs)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        train(cfg)
    except DeblurError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
