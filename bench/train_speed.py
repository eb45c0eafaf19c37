"""Training samples per second of candidate designs on this machine (the figure to choose sizes by).

    python bench/train_speed.py --task camera --crop 128 --batch 8 naf_unet atrous_net \
        naf_unet:width=24 naf_unet:width=16,middle=8

Each candidate is ``arch`` or ``arch:key=value,...`` (overrides of its lite preset). For each one
and each precision (fp32 channels_last; bf16 autocast) it times the trainer's own step
(deblur.train.train_step: forward, loss, backward, clip, Adam) on random batches after a warm-up,
and it times the task's sampler (for camera: the numpy degradation of one batch), which the CPU
trainer pays on top. Report ratios from one run: machines differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deblur.models import build_model, count_parameters  # noqa: E402
from deblur.train import train_step  # noqa: E402


def _parse(spec: str) -> tuple[str, dict]:
    arch, _, rest = spec.partition(":")
    over = {}
    for kv in filter(None, rest.split(",")):
        k, v = kv.split("=")
        over[k] = tuple(int(x) for x in v.split("/")) if "/" in v else int(v)
    return arch, over


def step_rate(model: torch.nn.Module, frames: int, crop: int, batch: int, bf16: bool, seconds: float) -> float:
    model.train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.rand(batch, 3 * frames, crop, crop).contiguous(memory_format=torch.channels_last)
    y = torch.rand(batch, 3, crop, crop)

    rng = np.random.default_rng(0)

    def one() -> None:
        train_step(model, opt, x, y, rng, loss="psnr", bf16=bf16)

    for _ in range(2):
        one()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        one()
        n += 1
    return n * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+")
    ap.add_argument("--task", default="camera")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.task == "camera":
        from deblur.data import read_corpus
        from deblur.sampling import CameraSampler

        photos = [item.sharp for item in read_corpus("corpus", "train")][:8]
        sampler, rng = CameraSampler(photos, args.crop), np.random.default_rng(0)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < args.seconds:
            sampler.batch(args.batch, rng)
            n += args.batch
        print(f"camera sampler: {n / (time.perf_counter() - t0):.1f} samples/s")
    print("| candidate | parameters | fp32 samples/s | bf16 samples/s |")
    print("|---|---:|---:|---:|")
    for spec in args.candidates:
        arch, over = _parse(spec)
        rates = []
        for bf16 in (False, True):
            torch.manual_seed(0)
            model = build_model(arch, "lite", args.task, **over)
            rates.append(step_rate(model, model.frames, args.crop, args.batch, bf16, args.seconds))
        print(f"| {spec} | {count_parameters(model):,} | {rates[0]:.1f} | {rates[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
