"""Train the noise-level-conditioned denoiser (deblur.denoiser) on the corpus's clean photos.

    python -m deblur.denoise_train --data corpus --minutes 90 --budget 500000 --ship

A denoiser needs only clean photos: every sample is a random crop of a train-split corpus photo
(most of them shrunk by a random factor first, which also washes out the photo's own noise and
JPEG blocks, so the target is cleaner than the file), flipped / rotated, and corrupted by
``deblur.noise.random_corruption`` (Gaussian, Poisson-Gaussian in linear light, JPEG, or both;
0 to 50/255). The network is told the corruption's level and learns the clean crop (L1 loss).
Every tenth photo is validation only (fixed samples: Gaussian noise at 5, 15, 25, 50 / 255 and
a mixed set). Resumable: a checkpoint every few minutes in RUN_DIR/NAME/ (``--resume``); the
learning rate follows a cosine over ``--budget`` samples, so a run cut short and resumed in the
next session follows the same schedule. ``--ship`` writes the weights (safetensors, the model's
config in the metadata), a card and the log into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deblur.data import read_corpus
from deblur.denoiser import DenoiserUNet
from deblur.errors import DeblurError
from deblur.metrics import psnr
from deblur.models import count_parameters, create
from deblur.noise import MAX_LEVEL, gaussian, random_corruption
from deblur.weights import load_weights, save_weights, write_manifest_entry

VAL_LEVELS = (5, 15, 25, 50)  # Gaussian noise std / 255 of the validation sets
MAX_SIDE = 1600               # photos are kept in memory at most this large
SHRINK_PROB = 0.8             # share of crops taken from a shrunk photo ...
SHRINK_RANGE = (0.3, 1.0)     # ... by a factor drawn log-uniformly here
LOG_FIELDS = ("samples", "seconds", "lr", "train_l1", *(f"val_g{s}" for s in VAL_LEVELS), "val_mixed")


@dataclass(frozen=True)
class DenoiseConfig:
    data: str = "corpus"
    name: str = "denoiser_unet"
    width: int = 16
    blocks: tuple[int, ...] = (1, 1, 2)
    middle: int = 2
    crop: int = 96
    batch: int = 16
    lr: float = 5e-4
    min_lr: float = 1e-5
    budget: int = 400_000      # training samples in all (the cosine runs over them)
    minutes: float = 0.0       # stop (and checkpoint) after this many minutes of this run
    val_samples: int = 48      # per validation set
    val_every: int = 20_000    # samples between validations
    ckpt_minutes: float = 3.0
    seed: int = 0
    threads: int = 0
    run_dir: str = "runs"
    out: str = "weights/priors"
    resume: bool = False
    init: str = ""
    ship: bool = False


def load_photos(data: str, split: str = "train") -> list[np.ndarray]:
    """The corpus photos of ``split`` as uint8 arrays, shrunk to MAX_SIDE at most."""
    photos = []
    for item in read_corpus(data, split):
        img = item.sharp
        if max(img.shape[:2]) > MAX_SIDE:
            s = MAX_SIDE / max(img.shape[:2])
            img = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * s), round(img.shape[0] * s)),
                                                         Image.Resampling.LANCZOS))
        photos.append(img)
    return photos


def clean_crop(photo: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """A random (crop, crop, 3) float32 crop of ``photo``, often from a shrunk copy; flipped / rotated."""
    h, w = photo.shape[:2]
    scale = 1.0
    if rng.random() < SHRINK_PROB:
        scale = float(np.exp(rng.uniform(*np.log(SHRINK_RANGE))))
    side = min(h, w, max(crop, int(round(crop / scale))))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    region = photo[y:y + side, x:x + side]
    if side != crop:
        region = np.asarray(Image.fromarray(region).resize((crop, crop), Image.Resampling.BOX if side > crop
                                                           else Image.Resampling.BICUBIC))
    out = np.rot90(region, int(rng.integers(4)))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out).astype(np.float32) / 255.0


def sample_batch(photos: list[np.ndarray], n: int, crop: int, rng: np.random.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy, level, clean) tensors of n training samples."""
    xs, ls, ys = [], [], []
    for _ in range(n):
        clean = clean_crop(photos[int(rng.integers(len(photos)))], crop, rng)
        noisy, level, _ = random_corruption(clean, rng)
        xs.append(noisy), ls.append(level), ys.append(clean)
    t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return t(xs), torch.tensor(ls, dtype=torch.float32), t(ys)


def validation_sets(photos: list[np.ndarray], cfg: DenoiseConfig) -> dict[str, tuple]:
    """Fixed validation samples: Gaussian at each VAL_LEVELS std, and one mixed set."""
    sets = {}
    for i, s in enumerate(VAL_LEVELS):
        rng = np.random.default_rng(10_000 + i)
        ys = [clean_crop(photos[j % len(photos)], cfg.crop, rng) for j in range(cfg.val_samples)]
        xs = [gaussian(y, s / 255.0, rng) for y in ys]
        t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        sets[f"val_g{s}"] = (t(xs), torch.full((len(xs),), s / 255.0), t(ys))
    sets["val_mixed"] = sample_batch(photos, cfg.val_samples, cfg.crop, np.random.default_rng(20_000))
    return sets


@torch.no_grad()
def evaluate(model: DenoiserUNet, sets: dict[str, tuple]) -> dict[str, float]:
    model.eval()
    out = {}
    for key, (x, s, y) in sets.items():
        pred = torch.cat([model(x[i:i + 16], s[i:i + 16]) for i in range(0, len(x), 16)]).clamp(0, 1)
        out[key] = float(np.mean([psnr(p.permute(1, 2, 0).numpy(), t.permute(1, 2, 0).numpy())
                                  for p, t in zip(pred, y)]))
    model.train()
    return out


def cosine_lr(cfg: DenoiseConfig, samples: int) -> float:
    p = min(1.0, samples / max(1, cfg.budget))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * p))


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def train(cfg: DenoiseConfig) -> Path | None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = Path(cfg.run_dir) / cfg.name
    run.mkdir(parents=True, exist_ok=True)
    ckpt, log_path = run / "checkpoint.pt", run / "log.csv"
    photos = load_photos(cfg.data, "train")
    if len(photos) < 2:
        raise DeblurError(f"{cfg.data} has {len(photos)} train photos; the denoiser needs at least 2")
    val_photos, train_photos = photos[::10], [p for i, p in enumerate(photos) if i % 10]
    sets = validation_sets(val_photos, cfg)
    model = create("denoiser_unet", {"width": cfg.width, "blocks": cfg.blocks, "middle": cfg.middle})
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    samples, seconds, rng = 0, 0.0, np.random.default_rng(cfg.seed)
    if cfg.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        samples, seconds = int(state["samples"]), float(state["seconds"])
        rng = np.random.default_rng(cfg.seed + samples)  # a fresh stream per resumed stretch
        print(f"resumed at {samples:,} samples ({seconds / 60:.1f} min)", flush=True)
    elif cfg.init:
        init, _ = load_weights(cfg.init)
        model.load_state_dict(init.state_dict())
    elif log_path.exists():
        log_path.unlink()
    if not log_path.exists():
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_FIELDS)
    print(f"{cfg.name}: {count_parameters(model) / 1e6:.2f} M parameters, {len(train_photos)} train photos, "
          f"{len(val_photos)} validation photos, budget {cfg.budget:,} samples", flush=True)

    def save_checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "samples": samples,
                    "seconds": seconds, "config": str(asdict(cfg))}, tmp)
        tmp.replace(ckpt)

    start, last_ckpt, losses, next_val = time.time(), time.time(), [], (samples // cfg.val_every + 1) * cfg.val_every
    stretch0 = seconds
    model.train()
    while samples < cfg.budget:
        if cfg.minutes and time.time() - start > cfg.minutes * 60:
            break
        lr = cosine_lr(cfg, samples)
        for g in opt.param_groups:
            g["lr"] = lr
        x, s, y = sample_batch(train_photos, cfg.batch, cfg.crop, rng)
        x = x.contiguous(memory_format=torch.channels_last)
        loss = (model(x, s) - y).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        samples += cfg.batch
        seconds = stretch0 + time.time() - start
        if samples >= next_val or samples >= cfg.budget:
            next_val += cfg.val_every
            scores = evaluate(model, sets)
            row = {"samples": samples, "seconds": round(seconds, 1), "lr": f"{lr:.3g}",
                   "train_l1": f"{np.mean(losses):.5f}", **{k: f"{v:.3f}" for k, v in scores.items()}}
            losses = []
            with open(log_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        if time.time() - last_ckpt > cfg.ckpt_minutes * 60:
            save_checkpoint()
            last_ckpt = time.time()
    save_checkpoint()
    if not cfg.ship:
        return None
    return ship(cfg, model, samples, seconds, len(train_photos), log_path)


def ship(cfg: DenoiseConfig, model: DenoiserUNet, samples: int, seconds: float, n_photos: int, log_path: Path
         ) -> Path:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{cfg.name}.safetensors"
    meta = {"name": cfg.name, "task": "denoise", "data": cfg.data, "train_photos": str(n_photos),
            "samples": str(samples), "minutes": f"{seconds / 60:.1f}", "commit": _commit(),
            "noise": "gaussian / poisson-gaussian (linear light) / jpeg / both, 0-50/255"}
    sha = save_weights(path, model.float(), meta)
    log_rows = list(csv.DictReader(open(log_path)))
    (out / f"{cfg.name}.log.csv").write_text(log_path.read_text())
    last = log_rows[-1] if log_rows else {}
    card = [f"# {cfg.name}", "",
            "Noise-level-conditioned denoiser (deblur.denoiser.DenoiserUNet): the learned prior of the "
            "plug-and-play deconvolution (deblur.pnp).", "",
            f"- architecture: width {cfg.width}, blocks {list(cfg.blocks)}, middle {cfg.middle}; "
            f"{count_parameters(model) / 1e6:.2f} M parameters",
            f"- data: {cfg.data} (train split, {n_photos} photos; every tenth photo validation only); "
            f"{cfg.crop} px crops, batch {cfg.batch}, {SHRINK_PROB:.0%} from photos shrunk by 0.3-1.0",
            "- noise: Gaussian 0-50/255, Poisson-Gaussian in linear light, JPEG q15-95, sensor + JPEG, 10 % clean "
            "(deblur.noise.random_corruption); told the corruption's level",
            f"- training: {samples:,} samples, {seconds / 60:.0f} min on 2 CPU cores (fp32), Adam, lr {cfg.lr:g} "
            f"cosine to {cfg.min_lr:g}, L1 loss, seed {cfg.seed}",
            "- final validation PSNR (dB, Gaussian noise at 5 / 15 / 25 / 50): "
            + " / ".join(last.get(f"val_g{s}", "?") for s in VAL_LEVELS) + f"; mixed {last.get('val_mixed', '?')}",
            f"- commit: {_commit()}", f"- SHA-256: {sha}", ""]
    (out / f"{cfg.name}.md").write_text("\n".join(card))
    # the priors folder's own manifest: deblur.registry offers the restorers built on it (pnp ...)
    write_manifest_entry(cfg.name, path.name, sha, {"arch": "denoiser_unet", "task": "denoise",
                                                    "params": count_parameters(model), "log": f"{cfg.name}.log.csv"},
                         out)
    print(f"shipped {path} ({sha[:12]})", flush=True)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m deblur.denoise_train", description=__doc__.split("\n")[0])
    d = DenoiseConfig()
    p.add_argument("--data", default=d.data, help="an offline corpus folder (python -m deblur.corpus build)")
    p.add_argument("--name", default=d.name)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--blocks", default=",".join(map(str, d.blocks)), help="blocks per level, e.g. 1,1,2")
    p.add_argument("--middle", type=int, default=d.middle)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--budget", type=int, default=d.budget, help="training samples in all")
    p.add_argument("--minutes", type=float, default=d.minutes, help="stop this run after so many minutes")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--run-dir", default=d.run_dir)
    p.add_argument("--out", default=d.out)
    p.add_argument("--init", default=d.init, help="start from these weights (same architecture)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--ship", action="store_true")
    a = p.parse_args(argv)
    cfg = DenoiseConfig(data=a.data, name=a.name, width=a.width, blocks=tuple(int(b) for b in a.blocks.split(",")),
                        middle=a.middle, crop=a.crop, batch=a.batch, lr=a.lr, budget=a.budget, minutes=a.minutes,
                        val_every=a.val_every, seed=a.seed, threads=a.threads, run_dir=a.run_dir, out=a.out,
                        init=a.init, resume=a.resume, ship=a.ship)
    train(cfg)


if __name__ == "__main__":
    main()
