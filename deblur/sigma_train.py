"""Train the blind Gaussian sigma estimator (deblur.sigma_net.SigmaNet) on an offline corpus.

``python -m deblur.sigma_train --data corpus --out runs/sigma_net/sigma_net-gaussian.safetensors``
(also ``python -m deblur.sigma_net``). Why and how it is trained is in deblur/sigma_net.py's
docstring; this is the training half, split from the network so that the network module
imports nothing of data or training. Its blur is the gaussian family's own level draw and
batched render (``deblur.degrade.FAMILIES["gaussian"]``), with sigma ~ U[0, SIGMA_TRAIN_MAX].
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deblur.data import read_corpus
from deblur.degrade import family
from deblur.errors import DeblurError
from deblur.sampling import random_patch
from deblur.sigma_net import (MARGIN, SCALE_RANGE, SIGMA_TRAIN_MAX, THUMB, THUMB_SIDES, TRAIN_CROP, SigmaNet, load,
                              relative_error, save)

GAUSSIAN = family("gaussian")


def _blur(sharp: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurred (n, 3, S, S) on the 8-bit grid, sigma (n,)): the gaussian family's draw
    (sigma ~ U[0, SIGMA_TRAIN_MAX]) and batched render, the evaluator's taps and borders."""
    sigma = GAUSSIAN.draw_level(rng, (0.0, SIGMA_TRAIN_MAX), len(sharp))
    blurred, _ = GAUSSIAN.batch_fn(sharp[:, None], sigma, rng)
    return blurred[:, 0], torch.from_numpy(sigma).float()


def _photos(data: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training photos, validation photos) of an offline corpus: its train split, every tenth held out."""
    photos = [np.ascontiguousarray(item.sharp) for item in read_corpus(data, "train")]
    if len(photos) < 2:
        raise DeblurError(f"{data}: the sigma estimator needs at least two training photos")
    return [p for i, p in enumerate(photos) if i % 10], photos[::10]


def sample(photos: list[np.ndarray], n: int, rng: np.random.Generator, size: int = TRAIN_CROP
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurred crops (n, 3, size, size) on the 8-bit grid, their sigma (n,)): see the module docstring."""
    need = size + 2 * MARGIN
    crops = [random_patch(photos[int(rng.integers(len(photos)))], need, rng, SCALE_RANGE) for _ in range(n)]
    sharp = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    blurred, sigma = _blur(sharp, rng)
    return blurred[..., MARGIN:-MARGIN, MARGIN:-MARGIN].contiguous(), sigma


def sample_thumbs(photos: list[np.ndarray], n: int, rng: np.random.Generator, size: int = THUMB
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Thumbnail crops, as the cifar protocol makes them: a photo reduced so its short side is
    log-uniform in THUMB_SIDES px, a ``size`` px window, blurred in place (reflect-101 borders,
    8-bit), sigma ~ U[0, SIGMA_TRAIN_MAX]. (blurred (n, 3, size, size), sigma (n,))."""
    crops = []
    for _ in range(n):
        img = photos[int(rng.integers(len(photos)))]
        side = float(np.exp(rng.uniform(*np.log(THUMB_SIDES))))
        scale = side / min(img.shape[:2])
        crops.append(random_patch(img, size, rng, (scale, scale)))
    sharp = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    blurred, sigma = _blur(sharp, rng)
    return blurred.contiguous(), sigma


def train(data: str, out: str | Path, samples: int = 150_000, batch: int = 32, lr: float = 1e-3,
          seed: int = 0, val_samples: int = 512, threads: int = 0, log_every: int = 50, thumbs: float = 0.0,
          init: str | Path | None = None) -> dict[str, Any]:
    """Train a SigmaNet on ``data`` (an offline corpus) for ``samples`` crops (Adam, cosine lr);
    write it to ``out`` with its validation error and a CSV log beside it. ``thumbs``: the fraction
    of batches made of thumbnail crops (``sample_thumbs``); ``init``: start from this file."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train_photos, val_photos = _photos(data)
    x_val, s_val = sample(val_photos, val_samples, np.random.default_rng(10_000 + seed))
    t_val, ts_val = sample_thumbs(val_photos, val_samples, np.random.default_rng(20_000 + seed))
    rng = np.random.default_rng(seed)
    net, prior = (SigmaNet(), None) if init is None else load(init)
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = max(1, samples // batch)
    log = Path(out).with_suffix(".log.csv")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("step,samples,lr,loss,val_mae,val_mae_thumbs,seconds\n")
    t0, run = time.time(), []

    def val_mae(x_val: torch.Tensor = x_val, s_val: torch.Tensor = s_val) -> float:
        net.eval()
        with torch.inference_mode():
            e = torch.cat([net(x_val[i : i + 64]) for i in range(0, len(x_val), 64)])
        net.train()
        return float((e - s_val).abs().mean())

    net.train()
    for step in range(1, steps + 1):
        for g in opt.param_groups:
            g["lr"] = 1e-5 + 0.5 * (lr - 1e-5) * (1 + math.cos(math.pi * (step - 1) / steps))
        x, s = (sample_thumbs if thumbs and rng.random() < thumbs else sample)(train_photos, batch, rng)
        loss = relative_error(net(x.contiguous(memory_format=torch.channels_last)), s)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.append(loss.item())
        if step % log_every == 0 or step == steps:
            full = step % (log_every * 10) == 0 or step == steps
            mae, mae_t = (val_mae(), val_mae(t_val, ts_val)) if full else (float("nan"), float("nan"))
            with log.open("a") as f:
                f.write(f"{step},{step * batch},{opt.param_groups[0]['lr']:.3g},{np.mean(run):.4f},{mae:.4f},"
                        f"{mae_t:.4f},{time.time() - t0:.1f}\n")
            print(f"step {step}/{steps} loss {np.mean(run):.4f} val MAE {mae:.4f} px (thumbnails {mae_t:.4f})  "
                  f"{time.time() - t0:.0f} s", flush=True)
            run = []
    info = {"data": data, "samples": steps * batch, "batch": batch, "lr": lr, "seed": seed,
            "val_mae_px": val_mae(), "val_mae_thumbs_px": val_mae(t_val, ts_val), "val_samples": val_samples,
            "thumbs": thumbs, "minutes": round((time.time() - t0) / 60, 1)}
    if prior is not None:
        info["init"] = {"file": str(init), "samples": prior.get("samples"), "data": prior.get("data")}
        info["samples"] = steps * batch + int(prior.get("samples") or 0)
    save(net, out, info)
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deblur.sigma_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="corpus", help="an offline corpus folder (python -m deblur.corpus build)")
    p.add_argument("--out", default="runs/sigma_net/sigma_net-gaussian.safetensors")
    p.add_argument("--samples", type=int, default=150_000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--thumbs", type=float, default=0.0,
                   help="fraction of batches of 32 px thumbnail crops (the cifar protocol's kind of image)")
    p.add_argument("--init", default=None, help="start from this sigma estimator file")
    a = p.parse_args(argv)
    info = train(a.data, a.out, a.samples, a.batch, a.lr, a.seed, threads=a.threads, thumbs=a.thumbs, init=a.init)
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
