"""`python -m eval`: score every model and baseline on a dataset into per_image.csv + leaderboard.csv.

Loop: for each image, blur it once (deterministically from seed and name), give the same input to
every restorer, score each output against the sharp target and append one row per (model, image).
At the end the leaderboard is recomputed from the whole per_image.csv (a pandas group-by), so it
always agrees with the rows, whichever invocations wrote them.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deblur import distributed

from eval import provenance, spread
from eval.config import CALIBRATION, RunConfig
from eval.inputs import (Items, Restorer, Sample, dataset_kind, degrade, load_restorers, open_items,
                         resolve_models)
from eval.rowlog import RowLog, open_run_dir, write_json

PER_IMAGE = "per_image.csv"
LEADERBOARD = "leaderboard.csv"
RUN_JSON = "run.json"

# Short tag written in every row; the full definition is in the JSON (deblur.metrics.SSIM_VARIANT).
SSIM_TAG = "wang2004-gauss11-s1.5-rgbmean"

ID_COLUMNS = ["model", "dataset", "protocol", "blur", "blur_source", "image"]
SAMPLE_COLUMNS = [
    "height", "width", "frames_in", "sigma", "kernel_size", "motion_length", "input_is_target",
    "psnr", "ssim", "mse", "psnr_capped", "ssim_variant", "seconds",
]
# told: what the row's restorer was handed besides the blurred input -- "kernel" (the true PSF: an
# oracle such as wiener or pnp), "sigma" (a kernel-aware network told the true sigma) or "" (blind);
# from the registry (deblur.registry.ModelInfo.told), beside the model name as on the leaderboard
PER_IMAGE_COLUMNS = ID_COLUMNS[:1] + ["told"] + ID_COLUMNS[1:] + SAMPLE_COLUMNS
TIMING_COLUMNS = ("seconds",)  # the only columns that differ between identical runs
LEADERBOARD_COLUMNS = [
    "model", "kind", "told", "dataset", "protocol", "blur", "n", "n_unblurred", "psnr", "ssim", "mse", "gain_db",
    "worst_gain_db", "worst_image", "psnr_all", "n_capped", "params", "seconds_per_mp", "ssim_variant",
]


def conventions() -> dict[str, Any]:
    from deblur import metrics

    return {
        "psnr": getattr(metrics, "PSNR_VARIANT", None),
        "psnr_cap_db": getattr(metrics, "PSNR_CAP_DB", None),
        "psnr_cap_note": "identical output and target score psnr_cap_db (not +inf); rows at the cap "
                         "have psnr_capped = 1. Images whose blurred input already equals the target "
                         "(input_is_target = 1, e.g. sigma < ~0.08: 1x1 kernel) are left out of the "
                         "leaderboard's psnr / ssim / mse / gain_db and counted in n_unblurred; "
                         "psnr_all is the mean over all images with the cap",
        "ssim": getattr(metrics, "SSIM_VARIANT", None),
        "ssim_variant": SSIM_TAG,
        "images": "uint8 RGB output vs uint8 RGB target, full frame, no border crop",
        "gain_db": "mean over images (input_is_target = 0) of (model PSNR - blurred PSNR) on the same image",
        "blur_rng": "numpy.random.default_rng([seed, zlib.crc32(image name)]) per image",
    }


def restore_and_score(restorer: Restorer, sample: Sample) -> tuple[np.ndarray, dict[str, Any]]:
    """Run one restorer on one sample: (uint8 output, {psnr, ssim, mse, psnr_capped, seconds})."""
    from deblur.metrics import PSNR_CAP_DB, mse, psnr, ssim

    kernel = sample.kernel if restorer.needs_kernel else None
    t0 = time.perf_counter()
    out = restorer.fn(sample.frames, kernel=kernel)
    seconds = time.perf_counter() - t0
    out = np.asarray(out)
    if out.shape != sample.target.shape or out.dtype != np.uint8:
        raise RuntimeError(f"{restorer.name} returned {out.dtype} {out.shape}, "
                           f"expected uint8 {sample.target.shape}")  # a bug in the restorer
    p = psnr(out, sample.target)
    return out, {"psnr": p, "ssim": ssim(out, sample.target), "mse": mse(out, sample.target),
                 "psnr_capped": p >= PSNR_CAP_DB, "seconds": seconds}


def frames_seen(restorer: Restorer, sample: Sample) -> int:
    """How many distinct input frames the restorer used (1 in --single-frame mode)."""
    if restorer.frames == 1 or sample.frames.shape[0] == 1:
        return 1
    return 1 if np.array_equal(sample.frames[0], sample.frames[2]) and np.array_equal(
        sample.frames[0], sample.frames[1]) else 3


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._@-" else "_" for c in name)


def save_image(out: Path, sub: str, name: str, img: np.ndarray) -> None:
    from deblur.io import write_image

    path = out / "images" / sub / f"{safe_name(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, img)


def models_meta(restorers: list[Restorer]) -> dict[str, dict[str, Any]]:
    return {r.name: {"kind": r.kind, "params": r.params, "sha256": r.sha256,
                     "needs_kernel": r.needs_kernel, "frames": r.frames} for r in restorers}


def run_json(cfg: RunConfig, restorers: list[Restorer], old: dict | None, argv: list[str] | None,
             real_blur: bool) -> dict:
    """The run directory's JSON: identity first, then provenance; earlier sessions are kept."""
    sess = provenance.session(argv)
    sess.update(limit=cfg.limit, models=[r.name for r in restorers])
    models = dict((old or {}).get("models") or {})
    models.update(models_meta(restorers))
    return {
        "config": cfg.identity(),
        "dataset": {"spec": cfg.dataset, "kind": dataset_kind(cfg.dataset),
                    "real_blur": real_blur},
        "commit": sess["commit"],
        "dirty": sess["dirty"],
        "models": models,
        "weights_sha256": {k: v.get("sha256") for k, v in models.items() if v.get("kind") == "network"},
        "conventions": conventions(),
        "motion_calibration": {"length_px_to_blurred_psnr_db": CALIBRATION} if cfg.blur == "motion" else None,
        "versions": provenance.library_versions(),
        "machine": provenance.machine(),
        "sessions": list((old or {}).get("sessions") or []) + [sess],
    }


def leaderboard(per_image: pd.DataFrame, models: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """Group-by of per_image rows per (model, dataset, protocol, blur).

    n: images scored; n_unblurred: images whose input already equals the target (e.g. sigma
    below ~0.08 gives a 1x1 kernel), left out of psnr / ssim / mse / gain_db, which are means
    over the other images; gain_db: mean over those images of (PSNR - PSNR of `blurred` on the
    same image); psnr_all: mean PSNR over all images, identical images counting PSNR_CAP_DB;
    n_capped: images at the cap; seconds_per_mp: total seconds / total megapixels; told: what the
    rows were handed (their ``told`` column); worst_gain_db / worst_image: the image the row served
    worst (lowest gain over the blurred input): a mean can hide one ruined photo.
    """
    models = models or {}
    df = per_image.copy()
    groups = ["dataset", "protocol", "blur"]
    base = df[df["model"] == "blurred"].set_index(groups + ["image"])["psnr"]
    idx = pd.MultiIndex.from_frame(df[groups + ["image"]])
    df["_gain"] = df["psnr"].to_numpy() - base.reindex(idx).to_numpy()
    df["_mp"] = df["height"] * df["width"] / 1e6
    blurred = df["input_is_target"].astype(bool)
    for col in ("psnr", "ssim", "mse", "_gain"):
        df["_" + col] = df[col].where(~blurred)
    df["_unblurred"] = blurred.astype(int)
    g = df.groupby(["model"] + groups, sort=False)
    lb = g.agg(n=("image", "size"), n_unblurred=("_unblurred", "sum"), psnr=("_psnr", "mean"),
               ssim=("_ssim", "mean"), mse=("_mse", "mean"), gain_db=("__gain", "mean"),
               psnr_all=("psnr", "mean"), n_capped=("psnr_capped", "sum"), _sec=("seconds", "sum"),
               _mp=("_mp", "sum"), ssim_variant=("ssim_variant", "first"),
               told=("told", "first")).reset_index()
    lb["seconds_per_mp"] = lb["_sec"] / lb["_mp"]
    scored = df[~blurred & df["_gain"].notna()]
    worst = scored.loc[scored.groupby(["model"] + groups, sort=False)["_gain"].idxmin(),
                       ["model", *groups, "image", "_gain"]]
    worst = worst.rename(columns={"image": "worst_image", "_gain": "worst_gain_db"})
    lb = lb.merge(worst, on=["model"] + groups, how="left")
    lb["kind"] = [models.get(m, {}).get("kind", "network") for m in lb["model"]]
    lb["params"] = [models.get(m, {}).get("params") for m in lb["model"]]
    lb = lb.sort_values(["dataset", "protocol", "blur", "psnr", "model"],
                        ascending=[True, True, True, False, True], kind="mergesort", na_position="last")
    return lb[LEADERBOARD_COLUMNS].reset_index(drop=True)


def write_leaderboard(out: Path, models: dict[str, dict[str, Any]]) -> pd.DataFrame:
    df = pd.read_csv(out / PER_IMAGE)
    lb = leaderboard(df, models)
    lb.to_csv(out / LEADERBOARD, index=False, float_format="%.8g")
    return lb


def print_table(lb: pd.DataFrame) -> None:
    show = lb[["model", "n", "n_unblurred", "psnr", "ssim", "gain_db", "params", "seconds_per_mp"]].copy()
    print(show.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


# Folder datasets of independent photos: one unreadable file there is skipped with a note, as the
# CLI skips it in a folder, instead of ending a long run. Other kinds (sequences, video, CIFAR
# batches) and the cifar protocol, which crops every photo up front, still stop at the first.
SKIPPING_KINDS = ("photos", "pairs")


def _unreadable(exc: Exception) -> bool:
    """True if `exc` says a file could not be read (deblur.data wraps ImageError in DatasetError)."""
    from deblur.errors import ImageError

    return isinstance(exc, ImageError) or isinstance(exc.__cause__, ImageError)


def open_skipping_unreadable(cfg: RunConfig, skipped: list[str], shard: tuple[int, int] = (0, 1)) -> Items:
    """Like eval.inputs.open_items for a photos:DIR or pairs:DIR dataset, but an unreadable file
    is noted on stderr, appended to `skipped` and left out; the run goes on with the others.
    `shard` = (rank, world size): the rank's share of the items, as open_items takes it.

    Yields None in place of a skipped item, so the caller can keep its progress count. The
    first readable item is read here, so a folder with none fails (DatasetError) before anything
    is written, as open_items does.
    """
    from deblur.data import open_dataset
    from deblur.errors import DatasetError, DeblurError
    from tqdm.auto import tqdm

    ds = open_dataset(cfg.dataset).limit(cfg.limit)
    rank, size = shard
    if size > 1:
        if len(ds) and not len(ds[rank::size]):  # more ranks than images: nothing for this one
            return Items(cfg.dataset, [], 0, bool(ds.has_real_blur), bool(getattr(ds, "has_kernels", False)))
        ds = ds[rank::size]

    def items() -> Iterator[Any]:
        for i in range(len(ds)):
            try:
                yield ds[i]
            except DeblurError as exc:
                if not _unreadable(exc):
                    raise
                skipped.append(str(exc))
                tqdm.write("skipped: " + " ".join(str(exc).split()), file=sys.stderr)
                yield None

    it = items()
    lead: list[None] = []
    for first in it:
        if first is not None:
            break
        lead.append(None)
    else:
        if size > 1:  # this share is unreadable; the others may not be (rank 0's merge sees them all)
            return Items(cfg.dataset, lead, len(ds), bool(ds.has_real_blur), bool(getattr(ds, "has_kernels", False)))
        raise DatasetError(f"dataset {cfg.dataset!r} has no readable images ({len(skipped)} skipped)")
    return Items(cfg.dataset, itertools.chain(lead, [first], it), len(ds), bool(ds.has_real_blur),
                 bool(getattr(ds, "has_kernels", False)))


def run(cfg: RunConfig, argv: list[str] | None = None) -> int:
    """The leaderboard run; DeblurError for any bad input, raised before anything is written.

    Started by torchrun (WORLD_SIZE > 1), every rank scores its share of the images into its own
    part file and rank 0 merges them into per_image.csv and writes the leaderboard (eval.spread):
    the same files one process writes, only the timings differ.
    """
    with distributed.process_group():
        return _run(cfg, argv, *distributed.world())


def _run(cfg: RunConfig, argv: list[str] | None, rank: int, world: int) -> int:
    from tqdm.auto import tqdm

    from deblur.errors import DatasetError, DeblurError

    # 1. Validate everything first: models (names, blur type, weights), dataset, output dir.
    skipped: list[str] = []
    if dataset_kind(cfg.dataset) in SKIPPING_KINDS and cfg.protocol == "full":
        ds = open_skipping_unreadable(cfg, skipped, (rank, world))
    else:
        ds = open_items(cfg.dataset, cfg.protocol, cfg.blur, cfg.limit, shard=(rank, world))
    names, notes = resolve_models(",".join(cfg.models), cfg.blur, ds.kernel_unknown)
    restorers = load_restorers(names, cfg.blur, tile=cfg.tile, bf16=cfg.bf16)
    out = Path(cfg.out)
    log = RowLog(out / PER_IMAGE, PER_IMAGE_COLUMNS, key=("model", "image"))
    # Rank 0 alone checks the output folder; every rank learns the outcome, so a refused folder
    # stops them all with the same sentence (without torchrun: rank 0 of 1, nothing to tell).
    problem: DeblurError | None = None
    if rank == 0:
        try:
            old = open_run_dir(out, RUN_JSON, PER_IMAGE, cfg.identity(), models_meta(restorers))
            log.check()
        except DeblurError as exc:
            problem = exc
    why = distributed.broadcast(None if problem is None else str(problem))
    if problem is not None:
        raise problem
    if why is not None:
        raise DeblurError(why)

    # 2. Identity and provenance go to disk before the first row.
    done: set[tuple[str, ...]] = set()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        meta = run_json(cfg, restorers, old, argv, ds.real_blur)
        if world > 1:
            meta["sessions"][-1]["world_size"] = world
        write_json(out / RUN_JSON, meta)
        for line in notes:
            print(line)
        if log.repair():
            print(f"cut a torn last line from {log.path}")
        done = log.done()
        if done:
            print(f"resuming: {len(done)} rows already in {log.path}")
    writer = log
    if world > 1:  # this rank's rows go to its part file; rank 0 merges them at the end
        writer = spread.part_log(out, rank, world, PER_IMAGE_COLUMNS, log.key)
        done = distributed.broadcast(done) | writer.done()

    # 3. Score. One blurred sample per image, shared by every restorer.
    total = ds.length * len(restorers) if ds.length is not None else None
    seen: set[str] = set()
    show = cfg.progress and rank == 0
    with writer, tqdm(total=total, unit="run", desc="eval", disable=None if show else True) as bar:
        for i, item in enumerate(ds):
            if item is None:  # an unreadable file, already noted
                bar.update(len(restorers))
                continue
            if item.name in seen:
                raise DatasetError(f"image name {item.name!r} occurs twice in {cfg.dataset}; names must be unique")
            seen.add(item.name)
            todo = [r for r in restorers if (r.name, item.name) not in done]
            if not todo:
                bar.update(len(restorers))
                continue
            bar.update(len(restorers) - len(todo))
            sample = degrade(item, cfg.blur, cfg.seed, motion_length=cfg.motion_length,
                             sigma_max=cfg.sigma_max, single_frame=cfg.single_frame)
            if cfg.save_images:
                save_image(out, "_sharp", sample.name, sample.target)
            h, w = sample.target.shape[:2]
            for r in todo:
                bar.set_postfix_str(f"{r.name} on {item.name}", refresh=False)
                restored, scores = restore_and_score(r, sample)
                row = {"model": r.name, "told": r.told, "dataset": cfg.dataset, "protocol": cfg.protocol,
                       "blur": cfg.blur, "image": sample.name, "height": h, "width": w,
                       "frames_in": frames_seen(r, sample), "ssim_variant": SSIM_TAG, **sample.params, **scores,
                       spread.INDEX: rank + i * world}  # the item's place in the whole dataset (parts only)
                writer.write(row)
                if cfg.save_images:
                    save_image(out, r.name, sample.name, restored)
                bar.update(1)

    if world > 1:
        gathered = distributed.gather((spread.read_rows(writer.path), skipped))
        if rank == 0:
            spread.merge(log, [rows for rows, _ in gathered])
            skipped = [why for _, part in gathered for why in part]
        distributed.barrier()  # merged: every rank may drop its part
        writer.path.unlink(missing_ok=True)
        if rank > 0:
            return 0

    # 4. Leaderboard = group-by of everything in per_image.csv.
    lb = write_leaderboard(out, meta["models"])
    print_table(lb)
    print(f"wrote {out / PER_IMAGE}, {out / LEADERBOARD}, {out / RUN_JSON}")
    if skipped:
        # Exit 0: the leaderboard is complete for the readable images (its n says how many), and
        # rerunning the same command scores a file once it has been fixed.
        print(f"note: skipped {len(skipped)} unreadable file(s) (see above); "
              "the same command scores them once they are fixed", file=sys.stderr)
    return 0
