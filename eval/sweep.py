"""`python -m eval sweep`: PSNR and SSIM as functions of blur strength, for the app's curve charts.

Gaussian: every image is blurred with each sigma of the grid (0..3, step 0.5). Motion: each image
gets the same camera-path *shape* (from its seed and name) scaled to each length of the grid, so
a curve shows the effect of strength alone. Camera: each image keeps the kernel family, noise and
JPEG quality its seed draws, and the kernel's size is set by the strength (0..1 of the family's
range). Same row log / resume machinery as the leaderboard run:
sweep_per_image.csv (one row per model, image, level) and sweep.csv (means per model and level).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from deblur.degrade import family
from deblur.errors import DeblurError

from eval.config import SIGMA_MAX, RunConfig
from eval.inputs import degrade, load_restorers, open_items, resolve_models
from eval.rowlog import RowLog, key_of, open_run_dir, write_json
from eval.run import ID_COLUMNS, SAMPLE_COLUMNS, SSIM_TAG, frames_seen, models_meta, restore_and_score, run_json

SWEEP_PER_IMAGE = "sweep_per_image.csv"
SWEEP_CSV = "sweep.csv"
SWEEP_JSON = "sweep.json"
SWEEP_COLUMNS = ID_COLUMNS[:1] + ["told"] + ID_COLUMNS[1:] + ["level"] + SAMPLE_COLUMNS  # told: as per_image.csv
# eval.inputs.degrade's keyword for each family level keyword (the motion length is a run option)
SWEEP_KEYWORD = {"sigma": "sigma", "length": "motion_length", "strength": "strength"}
SWEEP_SUMMARY_COLUMNS = ["model", "told", "dataset", "protocol", "blur", "level", "n", "psnr", "ssim", "mse"]


def parse_levels(text: str | None, blur: str) -> tuple[float, ...]:
    if text is None:
        return family(blur).sweep
    try:
        levels = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise DeblurError(f"--levels expects comma-separated numbers, got {text!r}") from None
    if not levels or min(levels) < 0:
        raise DeblurError(f"--levels needs at least one non-negative number, got {text!r}")
    return levels


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(told=df["told"].fillna("")) if "told" in df else df.assign(told="")
    g = df.groupby(["model", "told", "dataset", "protocol", "blur", "level"], sort=False)
    out = g.agg(n=("image", "size"), psnr=("psnr", "mean"), ssim=("ssim", "mean"), mse=("mse", "mean"))
    out = out.reset_index().sort_values(["model", "level"], kind="mergesort")
    return out[SWEEP_SUMMARY_COLUMNS].reset_index(drop=True)


def sweep(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from tqdm.auto import tqdm

    fam = family(args.blur)
    levels = parse_levels(args.levels, args.blur)
    cfg = RunConfig(dataset=args.dataset, blur=args.blur, models=tuple(args.models.split(",")),
                    out=Path(args.out), seed=args.seed, limit=args.limit, protocol=args.protocol,
                    motion_length=args.motion_length, sigma_max=SIGMA_MAX, tile=args.tile, bf16=args.bf16,
                    progress=not args.no_progress)
    identity = {**cfg.identity(), "levels": list(levels), "sweep": True}
    identity.pop("motion_length", None)  # the grid replaces it
    ds = open_items(cfg.dataset, cfg.protocol, cfg.blur, cfg.limit)
    if ds.real_blur:
        raise DeblurError(f"a sweep synthesises its blur; {args.dataset} has real blur (use builtin, "
                          "photos:DIR, cifar10:DIR or video:FILE)")
    names, notes = resolve_models(args.models, args.blur, False)
    restorers = load_restorers(names, args.blur, tile=cfg.tile, bf16=cfg.bf16)
    out = cfg.out
    old = open_run_dir(out, SWEEP_JSON, SWEEP_PER_IMAGE, identity, models_meta(restorers))
    log = RowLog(out / SWEEP_PER_IMAGE, SWEEP_COLUMNS, key=("model", "image", "level"))
    log.check()

    out.mkdir(parents=True, exist_ok=True)
    meta = run_json(cfg, restorers, old, argv, False)
    meta["config"] = identity
    write_json(out / SWEEP_JSON, meta)
    for line in notes:
        print(line)
    log.repair()
    done = log.done()
    per_item = len(levels) * len(restorers)
    total = ds.length * per_item if ds.length is not None else None
    with log, tqdm(total=total, unit="run", desc="sweep", disable=None if cfg.progress else True) as bar:
        for item in ds:
            for level in levels:
                lkey = {"level": float(level)}
                todo = [r for r in restorers if key_of({"model": r.name, "image": item.name, **lkey},
                                                       log.key) not in done]
                bar.update(len(restorers) - len(todo))
                if not todo:
                    continue
                if fam.sweep_max is not None and level > fam.sweep_max:
                    raise DeblurError(f"{args.blur} sweep levels are {fam.sweep_label} in [0, {fam.sweep_max:g}], "
                                      f"got {level:g}")
                # the level goes to the family's own keyword (sigma / length / strength)
                sample = degrade(item, args.blur, cfg.seed, **{"motion_length": 0.0, SWEEP_KEYWORD[fam.level]: level})
                h, w = sample.target.shape[:2]
                for r in todo:
                    _, scores = restore_and_score(r, sample)
                    log.write({"model": r.name, "told": r.told, "dataset": cfg.dataset, "protocol": cfg.protocol,
                               "blur": cfg.blur, "image": sample.name, **lkey, "height": h, "width": w,
                               "frames_in": frames_seen(r, sample), "ssim_variant": SSIM_TAG,
                               **sample.params, **scores})
                    bar.update(1)
    table = summarise(pd.read_csv(out / SWEEP_PER_IMAGE))
    table.to_csv(out / SWEEP_CSV, index=False, float_format="%.8g")
    pivot = table.pivot_table(index="level", columns="model", values="psnr", sort=False)
    print("PSNR (dB) by", fam.sweep_label)
    print(pivot.to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {out / SWEEP_PER_IMAGE}, {out / SWEEP_CSV}, {out / SWEEP_JSON}")
    return 0
