"""Shipping a trained network: its weight file (with the stage history as metadata), manifest
entry, training log and model card. Called by deblur/train.py at the end of a --ship run."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .models import count_parameters, model_config
from .multiframe import JITTER_EXACT, JITTER_MAX
from .provenance import cpu_model, git_commit, now_utc
from .degrade import family
from .sampling import REAL_BLUR_DATA, own_data, standard_data
from .sigma_net import load as load_sigma_net
from .train_config import LOSSES as losses
from .train_config import TrainConfig
from .weights import read_metadata, save_weights, write_manifest_entry


def ship(cfg: TrainConfig, model: nn.Module, result: dict[str, Any], world: int, log_path: Path) -> None:
    """Write weights/<name>.safetensors, its manifest entry, training log and model card."""
    out = Path(cfg.out)
    name = cfg.run_name
    hardware = f"{os.cpu_count()} CPU cores ({cpu_model()})" if not torch.cuda.is_available() else torch.cuda.get_device_name()
    cmd = "python -m deblur.train " + " ".join(sys.argv[1:])
    stage = {"command": cmd, "commit": git_commit().get("commit"), "finished": now_utc(), "hardware": hardware,
             "seconds": round(result["stage_seconds"], 1), "samples_total": result["samples"]}
    stages = stage_history(cfg.init) + [stage] if cfg.init else [stage]
    data = result.get("data_meta") or {"dataset" if standard_data(cfg.data) else "corpus": cfg.data}
    meta = {"task": cfg.task, "preset": cfg.preset, "data": {**data, "crop": cfg.crop_size},
            "commit": stage["commit"], "samples_seen": result["samples"], "val": result["val"], "stages": stages}
    if cfg.init:
        meta["init"] = cfg.init
    model = model.cpu().to(memory_format=torch.contiguous_format)
    digest = save_weights(out / f"{name}.safetensors", model, meta, store=cfg.store)
    write_manifest_entry(name, f"{name}.safetensors", digest,
                         {"arch": cfg.model, "task": cfg.task, "preset": cfg.preset, "frames": model.frames,
                          "params": count_parameters(model), "log": f"{name}.log.csv"}, weights_dir=out)
    (out / f"{name}.log.csv").write_text(log_path.read_text())
    v = result["val"]
    base = result["val_input"]  # this run's validation set, scored on the blurred input itself
    wall, init_line = f"{result['seconds'] / 60:.1f} min on {hardware}", ""
    if cfg.init:  # earlier stages may have run on other hardware: give this stage's time apart
        wall = (f"{result['seconds'] / 60:.1f} min over all stages; this stage "
                f"{result['stage_seconds'] / 60:.1f} min on {hardware}")
        s0 = result["val_start"]
        init_line = (f"- Initialised from `{cfg.init}` and trained on; the log and the sample count include that run. "
                     f"On this stage's validation set the --init weights scored PSNR of the mean MSE "
                     f"{s0['val_psnr_mean_mse']:.2f} dB, SSIM {s0['val_ssim']:.4f}\n")
    if cfg.estimator:
        info = load_sigma_net(cfg.estimator)[1]
        own = (f"{info['samples']:,} crops of `{info.get('data', '?')}` on its own, validation MAE "
               f"{info.get('val_mae_px', float('nan')):.3f} px" if "samples" in info else "its own training not recorded")
        init_line += (f"- Sigma estimator (deblur.sigma_net) started from `{cfg.estimator}` ({own}); frozen "
                      "in this run (the image loss does not reach it either)\n")
    prior_line = ""
    if result.get("val_prior"):
        p = result["val_prior"]
        prior_line = (f"- The prior alone (the untrained network, which returns it) on the same samples: PSNR of the "
                      f"mean MSE {p['val_psnr_mean_mse']:.2f} dB, SSIM {p['val_ssim']:.4f}, mean per-image PSNR "
                      f"{p['val_psnr']:.2f} dB\n")
    own = own_data(cfg.data)
    if own:
        sampling = "every batch cut afresh from the images held in memory" + (
            "" if own[0] == "pairs" else " and blurred there")
    elif cfg.online or cfg.task == "camera":
        sampling = "every batch synthesised afresh on the training device"
    else:
        sampling = f"{cfg.cache_samples} pre-rendered samples with on-the-fly augmentation"
    standard = standard_data(cfg.data)
    if own and own[0] == "pairs":
        blur_line = "the pairs' own (real) blur, noise and compression"
    elif standard and standard[0] in REAL_BLUR_DATA:
        blur_line = "the dataset's own real blur"
    else:  # the family record's card line over the training range (deblur.degrade.FAMILIES)
        blur_line = family(cfg.task).card_line(cfg.level_range)
        if cfg.sharp and cfg.task == "camera":
            blur_line += (f"; {cfg.sharp:.0%} of the training samples (not the validation ones) drawn with no kernel "
                          "and no noise (deblur.sampling.CameraSampler sharp)")
    if getattr(model, "takes_prior", False):
        blur_line += (f"; a fourth input frame, the multi-frame Wiener prior (deblur.multiframe.restore) made from "
                      f"the synthesis' own camera path, exact {JITTER_EXACT:.0%} of the time, else off by a smooth "
                      f"error of RMS U(0, {JITTER_MAX:g}) px (jitter_path); no neighbour shift")
    if result.get("data_note"):
        data_line = f"{result['data_note']},\n  {sampling}"
    else:
        data_line = (f"offline corpus `{cfg.data}` (train split, builtin evaluation images excluded); "
                     f"{cfg.crop_size}x{cfg.crop_size} crops,\n  {sampling}")
    budget = result.get("budget", cfg.budget)
    span = f"{budget:,} samples" if budget else f"{cfg.minutes:g} min"
    decay = (f"cosine-decayed to {cfg.min_lr:g} over {span}" if cfg.schedule == "cosine"
             else f"halved on plateau (patience {cfg.plateau_patience})")
    card = f"""# {name}

- Architecture: {cfg.model}, preset `{cfg.preset}`, task `{cfg.task}` ({model.frames}-frame input)
- Config: `{json.dumps(model_config(model)['args'])}`
- Parameters: {count_parameters(model):,}{"" if cfg.store == "float32" else f" (stored as {cfg.store}, loaded as float32)"}
- Data: {data_line}; {result['samples']:,} samples seen
- Blur: {blur_line}
- Training: {losses[cfg.loss].format(floor=cfg.psnr_floor)}, Adam lr {cfg.lr:g} {decay}, grad-norm clip {cfg.clip}, batch {cfg.batch_size} x {world} process(es)
- Wall time: {wall}
- Final validation ({cfg.val_samples} held-out samples): PSNR of the mean MSE {v['val_psnr_mean_mse']:.2f} dB
  (the blurred input: {base['val_psnr_mean_mse']:.2f} dB), SSIM {v['val_ssim']:.4f} (input {base['val_ssim']:.4f}),
  MSE {v['val_mse']:.3g} (input {base['val_mse']:.3g}); mean per-image PSNR {v['val_psnr']:.2f} dB, which counts
  unblurred samples at the 100 dB cap (input {base['val_psnr']:.2f} dB)
{prior_line}{init_line}- Training log: `{name}.log.csv` (epoch 0 = the blurred input{", not the untrained network (it returns the prior)" if prior_line else ", which the untrained network returns"})
- SHA-256: `{digest}`
{_commands_block([st["command"] for st in stages])}
"""
    (out / f"{name}.md").write_text(card)
    print(f"shipped {out / (name + '.safetensors')}")


def stage_history(init: str) -> list[dict[str, Any]]:
    """The training stages recorded in the metadata of ``init`` weights (oldest first).

    Weight files shipped before stages were recorded carry none: for them the commands are
    recovered once from their card (the only place they were written), so the history of the
    networks shipped then is not lost.
    """
    if not init:
        return []
    stages = read_metadata(init).get("stages")
    if isinstance(stages, list):
        return [s for s in stages if isinstance(s, dict) and "command" in s]
    card = Path(init).with_name(Path(init).name.split(".")[0] + ".md")
    if not card.is_file():
        return []
    return [{"command": c} for c in re.findall(r"`(python -m deblur\.train [^`]*)`", card.read_text())]


def _commands_block(commands: list[str]) -> str:
    if len(commands) == 1:
        return f"- Command: `{commands[0]}`"
    steps = "\n".join(f"  {i}. `{c}`" for i, c in enumerate(commands, 1))
    return f"- Commands, in order (each stage starts from the weights the one before it shipped):\n{steps}"
