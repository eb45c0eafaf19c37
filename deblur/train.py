"""Train a deblurring network: ``python -m deblur.train --model ARCH --preset lite --task gaussian``.

The paper's recipe is the default: L1 loss (averaged, not the code's sum), Adam at 1e-4,
gradient-norm clipping, He-normal init (in the models), and the learning rate lowered when the
validation loss plateaus (the authors did this by hand). Samples are synthesised from real
photos and video of the offline corpus (``python -m deblur.corpus build``), never from the
``builtin`` evaluation images:

- gaussian: 32x32 crops (CIFAR-like) of photos downscaled by a random factor, sigma ~ U[0, 3];
- motion: 3-frame 256x256 crops, blurred by averaging sub-frames along a camera path
  (``deblur.blur.synthesize_triplet``) over real video frames or still photos.

A user's local copy of a standard dataset trains the same way (``--data cifar10:DIR`` for
gaussian: the paper's own 32x32 images, blurred here; ``--data reds:DIR`` or ``gopro:DIR`` for
motion: their real blurred triples and sharp middle frames, aligned random crops). Only train
splits are read; a tail of it is held out for validation, since the evaluator scores the other
splits (CIFAR-10 test_batch, REDS val, GoPro test).

Fine-tuning on your own data: ``--data pairs:DIR`` (your blurred / sharp pairs, DIR/blur/<name> and
DIR/sharp/<name>, aligned random crops) or ``--data photos:DIR`` (your sharp photos, blurred here by
the task's family), with ``--init`` a shipped weight file, whose architecture, preset and task the
run takes unless --model / --preset / --task say otherwise. Every tenth pair or photo is held out
for validation; ``--budget +N`` trains N samples on top of the --init file's count, and the card
names the folder, its counts and the --init file.

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
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from . import metrics
from .card import ship
from .data import read_corpus
from .errors import DeblurError
from .kernel_aware import fit_sigma
from .train_config import LOSSES, PSNR_LOSS_FLOOR, TrainConfig  # noqa: F401  (deblur.train.TrainConfig)
from .models import ARCHITECTURES, TASK_FRAMES, build_model, model_config
from .models import takes_prior as arch_takes_prior
from .sampling import (DATA_HELP, CameraSampler, OnlineSampler, Prefetcher, cache_key, corpus_sources,  # noqa: F401
                       own_data, own_samplers, render_cache, standard_data, standard_makers, augment, to_batch,
                       CifarMaker, PairMaker, _is_main)
from .sigma_net import SigmaNet, load as load_sigma_net
from .weights import STORE_DTYPES, load_weights, read_metadata

# ------------------------------------------------------------------------------------------------
# Distributed helpers


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


def training_loss(out: torch.Tensor, target: torch.Tensor, kind: str = "l1", floor: float = PSNR_LOSS_FLOOR
                  ) -> torch.Tensor:
    """The training objective on a batch (N, C, H, W) in [0, 1].

    l1: the paper's mean absolute error over every pixel of the batch.
    psnr: -mean_i PSNR_i, the i-th sample's PSNR from its own MSE plus ``floor``.
    Evaluators rank by the mean of per-image PSNR; a pixel-mean loss lets strongly blurred samples
    (large errors) dominate, so the network learns little about slight blur. Each sample's PSNR
    weighs its squared error by 1 / (its MSE + floor): every sample counts by its relative
    improvement, up to the floor. With the default 1e-6 a near-exact sample (the kernel-aware
    model's Wiener output at sigma < 0.75: ~50 dB) outweighs a strongly blurred one ~100x and
    the network learns almost nothing else; 1e-4 caps that at ~10x (bench/ka_refine_probe.py).
    """
    if kind == "l1":
        return F.l1_loss(out, target)
    if kind == "psnr":
        mse = (out - target).pow(2).mean(dim=tuple(range(1, out.dim())))
        return (10 * torch.log10(mse + floor)).mean()
    raise DeblurError(f"unknown loss {kind!r}: use one of {', '.join(LOSSES)}")


def train_step(net: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
               rng: np.random.Generator, loss: str = "l1", clip: float = 1.0, bf16: bool = False,
               sigma: torch.Tensor | None = None, psnr_floor: float = PSNR_LOSS_FLOOR) -> torch.Tensor:
    """One optimiser step on a batch (what the trainer does, and bench/train_speed.py times):
    forward (under bf16 autocast if asked), ``training_loss``, backward, grad-norm clip, step.
    A kernel-aware model (deblur/kernel_aware.py) is told the blur's sigma (``sigma``, the
    batch's fitted true sigma when known, else fitted here) and adds its estimator's loss.
    ``net`` may be DistributedDataParallel-wrapped. Returns the image loss."""
    model = getattr(net, "module", net)
    kwargs, aux = {}, None
    if hasattr(model, "training_sigma"):
        kwargs["sigma"], aux = model.training_sigma(xb, yb, rng, true=sigma)
    with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = net(xb, **kwargs)
    value = training_loss(out.float(), yb, loss, psnr_floor)
    opt.zero_grad(set_to_none=True)
    (value if aux is None else value + aux).backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return value.detach()


def fit_cache_sigma(x: np.ndarray, y: np.ndarray, chunk: int = 64) -> np.ndarray:
    """The fitted Gaussian sigma (n,) of every cached pair, uint8 inputs (n, 1, S, S, 3) and targets
    (n, S, S, 3): ``deblur.kernel_aware.fit_sigma`` in chunks."""
    return np.concatenate([fit_sigma(*_cached_batch(x, y, i, chunk)).numpy() for i in range(0, len(x), chunk)]
                          ).astype(np.float32)


def _cached_batch(x: np.ndarray, y: np.ndarray, start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached uint8 samples [start, start + n) as a float (inputs, targets) batch in [0, 1]."""
    return to_batch(list(x[start : start + n].astype(np.float32) / 255.0),
                    list(y[start : start + n].astype(np.float32) / 255.0))


class MiddleFrame(nn.Module):
    """The blurred input as a 'restorer': returns the middle frame of a (N, 3F, H, W) stack, or
    of its first ``frames`` frames (a prior-refining model's inputs carry the prior after them),
    or with ``index`` that frame (-1: the prior itself)."""

    def __init__(self, frames: int | None = None, index: int | None = None) -> None:
        super().__init__()
        self.frames, self.index = frames, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.frames or x.shape[1] // 3
        k = f // 2 if self.index is None else self.index % (x.shape[1] // 3)
        return x[:, 3 * k : 3 * k + 3]


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device, batch: int,
             channels_last: bool) -> dict[str, float]:
    """Mean L1 loss and MSE / PSNR / SSIM (deblur.metrics conventions) on fixed samples."""
    model.eval()
    rows = {"val_loss": [], "val_mse": [], "val_psnr": [], "val_ssim": []}
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb, yb = (t.to(device) for t in _cached_batch(x, y, i, batch))
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


def _checkpoint_state(model, opt, sched, step, epoch, rng, best, samples, stage_start, stage_seconds=0.0,
                      stage_samples=0) -> dict[str, Any]:
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "step": step, "epoch": epoch, "best": best, "samples": samples, "stage_start": stage_start,
            "stage_seconds": stage_seconds, "stage_samples": stage_samples,
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
    # a prior-refining model (deblur/multiframe.py): its samples carry the prior as one more frame
    # (OnlineSampler renders it), and it starts as that prior: the figure to beat
    takes_prior = task == "motion" and arch_takes_prior(cfg.model)
    if cfg.schedule == "cosine" and not (cfg.minutes or cfg.budget):
        raise DeblurError("--schedule cosine decays over --minutes or --budget: give one")
    standard = standard_data(cfg.data) is not None
    if standard and cfg.online:
        raise DeblurError("--online holds all its sources on the training device: it takes an offline corpus "
                          f"folder, not {cfg.data} (drop --online to pre-render a sample cache)")
    data_note = data_meta = None  # the card's data line (a standard dataset, your own), the file's data entry
    sampler = None
    if own_data(cfg.data):
        own = own_samplers(cfg, device)
        sampler, data_note, data_meta = Prefetcher(own.train), own.note, own.meta
        x_val, y_val = own.val.fixed(cfg.val_samples, 10_000 + cfg.seed)
    elif task == "camera":
        if standard:
            raise DeblurError("the camera task trains on an offline corpus folder (its photos are degraded "
                              f"here), not {cfg.data}")
        photos = [item.sharp for item in read_corpus(cfg.data, "train")]
        val_photos, train_photos = photos[::10], [p for i, p in enumerate(photos) if i % 10]
        sampler = Prefetcher(CameraSampler(train_photos, crop, device, sharp=cfg.sharp, psf=cfg.psf))
        x_val, y_val = CameraSampler(val_photos, crop).fixed(cfg.val_samples, 10_000 + cfg.seed)
    elif standard:
        maker, val_maker, data_note = standard_makers(cfg)
    else:
        photos, videos = corpus_sources(cfg.data)
        val_photos = photos[::10]  # every tenth photo is validation only
        train_photos = [p for p in photos if p not in val_photos]
        train_videos, val_videos = (videos[1:] if len(videos) > 1 else videos), videos[:1]
        if not cfg.online:
            # the one corpus sampler (torch), run on the CPU to pre-render the cache
            maker = OnlineSampler(cfg, train_photos, train_videos, torch.device("cpu"))
            val_maker = OnlineSampler(cfg, val_photos, val_videos, torch.device("cpu"))
    if sampler is None and cfg.online:
        sampler = OnlineSampler(cfg, train_photos, train_videos, device)
        x_val, y_val = OnlineSampler(cfg, val_photos, val_videos, device).fixed(cfg.val_samples, 10_000 + cfg.seed)
    elif sampler is None:
        cache = Path("cache")
        if not _is_main():
            dist.barrier()  # rank 0 renders the caches; the others then read them
        sources = [] if standard else [p for group in (train_photos, train_videos, val_photos, val_videos) for p in group]
        source = cache_key(cfg.data if standard else "corpus", sources)
        blur_range = cfg.level_range
        tag = f"{task}-d{source}-c{crop}-s{cfg.seed}-b{blur_range[0]:g}_{blur_range[1]:g}"
        if takes_prior:
            tag += "-prior"  # inputs carry a fourth frame, the physics prior
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
    if cfg.estimator:
        if not isinstance(getattr(model, "estimator", None), SigmaNet):
            raise DeblurError(f"--estimator {cfg.estimator}: {cfg.model} has no SigmaNet estimator "
                              "(a kernel-aware model built with sigma_net > 0 has)")
        est, _ = load_sigma_net(cfg.estimator)
        if est.config != model.estimator.config:
            raise DeblurError(f"--estimator {cfg.estimator} holds {est.config}, the model's is {model.estimator.config}")
        model.estimator.load_state_dict(est.state_dict())
        # frozen: trained on further with the restorer's multi-scale crops it drifted (the first
        # kernel_aware_atrous-gaussian run: blind 33.95 dB on builtin vs 34.57 with the file's)
        model.estimator.requires_grad_(False)
    # A kernel-aware model is told each training sample's true sigma: least-squares fitted once per
    # cached sample here (flips and quarter turns keep it), not per batch.
    fitted = fit_cache_sigma(x_train, y_train) if hasattr(model, "training_sigma") and sampler is None else None
    val_batch = {"gaussian": 16, "motion": 2, "camera": 8}[task]
    # This run's validation set scored on the blurred input itself, and on the --init weights: the
    # references for its final figures (an inherited log's rows may come from another validation set).
    val_input = evaluate(MiddleFrame(TASK_FRAMES[task]), x_val, y_val, device, val_batch, False)
    val_prior = evaluate(MiddleFrame(index=-1), x_val, y_val, device, val_batch, False) if takes_prior else None
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
    resumed_seconds = 0.0  # training seconds of this stage before this invocation (--resume)
    stage_samples = 0      # the sample count this stage started from (an --init stage inherits one)
    stage_start = 0  # the log's epoch this run's --epochs count from: an --init stage's inherited last
    if cfg.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, start_epoch, best = state["step"], state["epoch"], state["best"]
        stage_start = state.get("stage_start", 0)
        resumed_seconds = float(state.get("stage_seconds", 0.0))
        stage_samples = int(state.get("stage_samples", 0))
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
        stage_samples = samples
        prior_seconds = float(last["seconds"])
    budget = cfg.budget + stage_samples if cfg.budget_more and cfg.budget else cfg.budget
    if budget and budget <= stage_samples:
        raise DeblurError(f"--budget {cfg.budget} is spent before this stage starts: it counts every stage's samples, "
                          f"and {stage_samples:,} are behind it (the --init file's log); --budget +N trains N more")
    if _is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        if inherit:
            log_path.write_text(init_log.read_text())
        elif not cfg.resume or not log_path.is_file():
            log_path.write_text(LOG_HEADER)
            # Epoch 0: the blurred baseline (an untrained network returns its input), scored above.
            _log_row(log_path, 0, 0, 0, cfg.lr, float("nan"), val_input, 0.0)
    stopped_early = budget_spent = False
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
                    g["lr"] = cosine_lr(cfg, (samples - stage_samples) / max(1, budget - stage_samples)
                                        if budget else (resumed_seconds + time.time() - t0) / (60.0 * cfg.minutes))
            if sampler is not None:
                xb, yb = sampler.batch(cfg.batch_size, rng)
            else:
                idx = rng.integers(len(x_train), size=cfg.batch_size)
                # a cache the OnlineSampler rendered holds augmented samples already: only new
                # flips / quarter turns (which leave its distribution unchanged) are drawn here
                pairs = [augment(x_train[i], y_train[i], rng, task, full=standard) for i in idx]
                xb, yb = to_batch([p[0] for p in pairs], [p[1] for p in pairs])
                xb, yb = xb.to(device), yb.to(device)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            sig = None if fitted is None else torch.from_numpy(fitted[idx]).to(device)  # fitted: cache only
            loss = train_step(net, opt, xb, yb, rng, loss=cfg.loss, clip=cfg.clip, bf16=cfg.bf16, sigma=sig,
                              psnr_floor=cfg.psnr_floor)
            step += 1
            samples += cfg.batch_size * world
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{opt.param_groups[0]['lr']:.1e}")
            if budget and samples >= budget:
                budget_spent = True
                break
            if cfg.minutes and resumed_seconds + time.time() - t0 > cfg.minutes * 60:
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
            torch.save(_checkpoint_state(model, opt, sched, step, epoch + 1, rng, best, samples, stage_start,
                                         resumed_seconds + time.time() - t0, stage_samples), tmp)
            tmp.replace(ckpt_path)
        if stopped_early or budget_spent:
            break
    result = {"step": step, "samples": samples, "val": val, "val_input": val_input, "val_prior": val_prior, "val_start": val_start,
              "seconds": prior_seconds + time.time() - t0, "stage_seconds": time.time() - t0,
              "finished": not stopped_early, "data_note": data_note, "data_meta": data_meta, "budget": budget}
    if _is_main() and cfg.ship:
        ship(cfg, model, result, world, log_path)
    elif _is_main():
        print(f"no weight file written (checkpoint {ckpt_path}); --ship writes {Path(cfg.out) / cfg.run_name}"
              ".safetensors with its card", flush=True)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


def cosine_lr(cfg: TrainConfig, progress: float) -> float:
    """Cosine decay from --lr to --min-lr; ``progress`` in [0, 1] is the share of the stage's
    --budget samples (or, without a budget, of its --minutes) spent so far. A --resume continues
    the schedule where the checkpoint left it, so a run may span sessions."""
    t = min(1.0, max(0.0, progress))
    # a Python float: a numpy scalar in the optimiser state would make the checkpoint unloadable
    # with torch.load(weights_only=True)
    return float(cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + np.cos(np.pi * t)))


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


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m deblur.train", description=__doc__.split("\n\n")[0])
    defaults = TrainConfig()
    # --model / --preset / --task default to what an --init file was trained as, else to TrainConfig's
    p.add_argument("--model", default=None, choices=list(ARCHITECTURES),
                   help=f"architecture (default: the --init file's, else {defaults.model})")
    p.add_argument("--preset", default=None, choices=["lite", "paper"],
                   help=f"(default: the --init file's, else {defaults.preset})")
    p.add_argument("--task", "--blur", dest="task", default=None, choices=list(TASK_FRAMES),
                   help=f"(default: the --init file's, else {defaults.task})")
    p.add_argument("--data", default=defaults.data, help=DATA_HELP + " (a corpus: python -m deblur.corpus build)")
    p.add_argument("--budget", default="0", metavar="N|+N",
                   help="stop after N training samples in all stages (0: no limit), or +N: N more than the "
                        "--init file's log holds")
    for f in dataclasses.fields(TrainConfig):
        if f.name in {"model", "preset", "task", "data", "motion_length", "sigma", "budget", "budget_more"}:
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
    budget = a.budget.strip()
    a.budget_more = budget.startswith("+")
    try:
        a.budget = int(budget.removeprefix("+").replace(",", "").replace("_", ""))
    except ValueError:
        p.error(f"--budget takes N or +N samples, not {a.budget!r}")
    if a.budget < 0:
        p.error(f"--budget must be 0 or more, not {a.budget}")
    trained_as = _trained_as(a.init) if a.init else {}
    for name in ("model", "preset", "task"):
        if getattr(a, name) is None:
            setattr(a, name, trained_as.get(name) or getattr(defaults, name))
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


def _trained_as(init: str) -> dict[str, str]:
    """The architecture, preset and task an --init weight file records (what it is missing is left out);
    an unreadable file is left to train() to report."""
    try:
        meta = read_metadata(init)
    except DeblurError:
        return {}
    config = meta.get("config")
    found = {"model": config.get("arch") if isinstance(config, dict) else None, "preset": meta.get("preset"),
             "task": meta.get("task")}
    known = {"model": ARCHITECTURES, "preset": ("lite", "paper"), "task": TASK_FRAMES}
    return {k: v for k, v in found.items() if isinstance(v, str) and v in known[k]}


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
