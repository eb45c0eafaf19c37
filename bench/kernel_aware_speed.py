"""Training samples per second: kernel_aware_atrous against plain atrous_net (lite, gaussian).

    python bench/kernel_aware_speed.py                    # crops 32 and 64, batch 32, 3 timed steps each
    python bench/kernel_aware_speed.py --crops 64 --steps 10 --threads 2

One training step as deblur/train.py takes it -- for the kernel-aware network including
``training_sigma`` (the least-squares sigma fit, its jitter, and the estimator's auxiliary loss
with batched GCV) -- then forward, L1 loss, backward, gradient clipping and an Adam step, on a
fixed pool of blurred / sharp pairs (sigma ~ U[0, 3], photos from scikit-image). The sample cache
and augmentation the trainer adds cost the same for both networks and are left out. One warm-up
step, then ``--steps`` timed ones; the ratio column is kernel-aware / plain. Other processes on
the CPU slow both alike, but say so next to the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur.blur import gaussian_blur_batch  # noqa: E402
from deblur.models import build_model  # noqa: E402
from deblur.train import training_loss  # noqa: E402


def pool(crop: int, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n (blurred, sharp) pairs (n, 3, crop, crop) in [0, 1], sigma ~ U[0, 3], 8-bit."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    sharp = []
    for _ in range(n):
        img = photos[int(rng.integers(len(photos)))]
        y, x = int(rng.integers(img.shape[0] - crop)), int(rng.integers(img.shape[1] - crop))
        sharp.append(torch.from_numpy(np.ascontiguousarray(img[y : y + crop, x : x + crop, :3])).permute(2, 0, 1))
    s = torch.stack(sharp).float() / 255.0
    return gaussian_blur_batch(s, rng.uniform(0.0, 3.0, n)), s


def samples_per_second(arch: str, crop: int, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(arch, "lite", "gaussian").to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xs, ys = pool(crop, 4 * batch, rng)
    seconds = 0.0
    for step in range(steps + 1):  # step 0 warms up oneDNN
        idx = torch.from_numpy(rng.integers(len(xs), size=batch))
        xb, yb = xs[idx].contiguous(memory_format=torch.channels_last), ys[idx]
        t0 = time.perf_counter()
        kwargs, aux = {}, None
        if hasattr(model, "training_sigma"):
            kwargs["sigma"], aux = model.training_sigma(xb, yb, rng)
        loss = training_loss(model(xb, **kwargs), yb)
        opt.zero_grad(set_to_none=True)
        (loss if aux is None else loss + aux).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step:
            seconds += time.perf_counter() - t0
    return steps * batch / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crops", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {load} (other processes share the CPU)")
    print("| crop | batch | atrous_net samples/s | kernel_aware_atrous samples/s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for crop in args.crops:
        plain = samples_per_second("atrous_net", crop, args.batch, args.steps)
        aware = samples_per_second("kernel_aware_atrous", crop, args.batch, args.steps)
        print(f"| {crop} | {args.batch} | {plain:.1f} | {aware:.1f} | {aware / plain:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
