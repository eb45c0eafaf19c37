"""`python -m eval readme`: the leaderboard block of docs/leaderboards.md, rendered from the published CSVs.

Published numbers are never typed in: this reads eval/leaderboards/<run>/leaderboard.csv (and
speed.csv, sweep.csv) with their JSON, and prints markdown, or with --write replaces the text
between `<!-- leaderboard:start -->` and `<!-- leaderboard:end -->` in docs/leaderboards.md (or the
file given). The README keeps one compact table of a few of these numbers and links the page.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from deblur.errors import DeblurError

from eval.provenance import REPO_ROOT

START, END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
LEADERBOARDS = REPO_ROOT / "eval" / "leaderboards"
PAGE = REPO_ROOT / "docs" / "leaderboards.md"  # where --write writes when given no file
# Headline runs first, in this order; any other published run follows alphabetically.
ORDER = ("builtin-camera", "video-camera", "builtin-gaussian", "builtin-motion", "cifar-gaussian", "video-motion",
         "speed-720x1280")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _num(v: Any, fmt: str) -> str:
    return "" if v is None or pd.isna(v) else format(v, fmt)


def _params(v: Any) -> str:
    if v is None or pd.isna(v) or v == 0:
        return "-"
    return f"{v / 1e6:.2f}M" if v >= 1e5 else f"{int(v):,}"


def _command(meta: dict[str, Any]) -> str:
    """The command of each session that wrote the folder (in order, repeats once), as markdown."""
    cmds: list[str] = []
    for sess in meta.get("sessions") or [meta]:
        argv = sess.get("argv")
        cmd = None if argv is None else "python -m eval " + " ".join(shlex.quote(a) for a in argv)
        if cmd and cmd not in cmds:
            cmds.append(cmd)
    return ", then ".join(f"`{c}`" for c in cmds)


def _commits(meta: dict[str, Any]) -> str:
    """'commit abc1234' or 'commits abc1234, def5678' over the sessions that wrote the folder."""
    seen: list[str] = []
    for sess in meta.get("sessions") or [meta]:
        if sess.get("commit"):
            tag = f"{sess['commit'][:7]}{' (dirty)' if sess.get('dirty') else ''}"
            if tag not in seen:
                seen.append(tag)
    if not seen and meta.get("commit"):
        seen = [f"{meta['commit'][:7]}{' (dirty)' if meta.get('dirty') else ''}"]
    return f"commit{'s' if len(seen) > 1 else ''} {', '.join(seen)}" if seen else ""


def _describe(meta: dict[str, Any], n_images: int, n_unblurred: int) -> str:
    cfg = meta.get("config", {})
    what = "frames" if meta.get("dataset", {}).get("kind") in ("video", "reds", "gopro") else "images"
    count = f"{n_images} {what}"
    if n_unblurred:
        count += f", {n_unblurred} of them left out of the means because their blurred input equals the target"
    parts = [count, f"protocol {cfg.get('protocol')}", f"seed {cfg.get('seed')}"]
    if cfg.get("blur") == "gaussian" and not meta.get("dataset", {}).get("real_blur"):
        parts.append(f"sigma ~ U[0, {cfg.get('sigma_max'):g}]")
    if cfg.get("blur") == "camera":
        parts.append("camera family: kernel mixture in linear light, shot + read noise, JPEG (deblur.blur.camera_blur)")
    if cfg.get("motion_length") is not None:
        parts.append(f"motion: camera path {cfg['motion_length']:g} px per exposure")
    if cfg.get("single_frame"):
        parts.append("single-frame input")
    if _commits(meta):
        parts.append(_commits(meta))
    return ", ".join(parts)


def render_leaderboard(name: str, folder: Path) -> str:
    lb = pd.read_csv(folder / "leaderboard.csv")
    meta = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    cfg = meta.get("config", {})
    title = f"**{name}**: {cfg.get('dataset', lb['dataset'].iloc[0])}, {cfg.get('blur', lb['blur'].iloc[0])} blur"
    rows = [[f"`{r.model}`", _num(r.psnr, ".2f"), _num(r.ssim, ".4f"), _num(r.gain_db, "+.2f"),
             _params(r.params), _num(r.seconds_per_mp, ".3g")] for r in lb.itertuples()]
    body = _table(["model", "PSNR (dB)", "SSIM", "gain (dB)", "params", "s / MP"], rows)
    base = lb[lb["model"] == "blurred"]
    n_unblurred = int(base["n_unblurred"].iloc[0]) if len(base) else int(lb["n_unblurred"].max())
    notes = [f"{title} ({_describe(meta, int(lb['n'].max()), n_unblurred)})", "", body]
    cmd = _command(meta)
    if cmd:
        notes += ["", f"Reproduce: {cmd}"]
    return "\n".join(notes)


def render_speed(name: str, folder: Path) -> str:
    df = pd.read_csv(folder / "speed.csv")
    meta = json.loads((folder / "speed.json").read_text()) if (folder / "speed.json").exists() else {}
    machine = meta.get("machine", {})
    peak = meta.get("peak_gflop_s", {})
    h, w = int(df["height"].iloc[0]), int(df["width"].iloc[0])
    # A table timed on several backends (speed --backend torch,onnxruntime) names each row's backend.
    backend = df["backend"].astype(str) if "backend" in df.columns else pd.Series("-", index=df.index)
    several = backend[backend != "-"].nunique() > 1
    df = df.assign(label=[f"`{m}`" + (f" ({b})" if several and b != "-" else "") for m, b in zip(df["model"], backend)])
    rows = [[r.label + ("*" if str(r.weights).startswith("untrained") else ""), str(r.dtype),
             _num(r.seconds, ".3g"), _num(r.mp_per_s, ".3g"), _num(r.peak_mem_mb, ".0f"),
             _num(r.gmacs_per_frame, ".1f"), _num(r.achieved_gmac_s, ".1f"), _num(r.efficiency, ".0%"),
             _num(r.x_richardson_lucy, ".2g")] for r in df.itertuples()]
    body = _table(["model", "dtype", "s / frame", "MP/s", "peak MB", "GMAC / frame", "GMAC/s", "of peak",
                   "x RL time"], rows)
    three = (" (three-frame models: a motion triplet of it)" if "triplet" in str(meta.get("frame", ""))
             else "")
    head = (f"**{name}**: one {h}x{w} frame{three} on {machine.get('cpu_model', '?')} ({machine.get('cores', '?')} cores); "
            f"attainable matmul peak fp32 {peak.get('fp32', float('nan')):.0f} GFLOP/s, "
            f"bf16 {peak.get('bf16', float('nan')):.0f} GFLOP/s (efficiency is against the dtype the model ran in)")
    notes = [head, "", body]
    load, cores = meta.get("load_average_at_start"), machine.get("cores")
    if load is not None and cores and load > 0.5 * cores:
        notes += ["", f"Measured while other processes shared the CPU (load average {load:.1f} on {cores} cores): "
                      "absolute times are pessimistic; ratios within the table are more telling."]
    if df["weights"].astype(str).str.startswith("untrained").any():
        notes += ["", "\\* untrained weights: the timing is that of the trained network, the output is not."]
    cmd = _command(meta)
    if cmd:
        notes += ["", f"Reproduce: {cmd}"]
    return "\n".join(notes)


def render_sweep(name: str, folder: Path) -> str:
    df = pd.read_csv(folder / "sweep.csv")
    blur = df["blur"].iloc[0]
    pivot = df.pivot_table(index="level", columns="model", values="psnr", sort=False)
    level = {"gaussian": "sigma", "motion": "length (px)", "camera": "strength"}.get(blur, "level")
    header = [level] + [f"`{m}`" for m in pivot.columns]
    rows = [[f"{lvl:g}"] + [_num(v, ".2f") for v in row] for lvl, row in zip(pivot.index, pivot.to_numpy())]
    meta = json.loads((folder / "sweep.json").read_text()) if (folder / "sweep.json").exists() else {}
    notes = [f"**{name}**: PSNR (dB) against blur strength, {df['dataset'].iloc[0]}", "", _table(header, rows)]
    cmd = _command(meta)
    if cmd:
        notes += ["", f"Reproduce: {cmd}"]
    return "\n".join(notes)


def render(root: Path = LEADERBOARDS, sweeps: bool = False) -> str:
    """Markdown for every published run under `root` (headline runs first; sweeps if asked)."""
    if not root.is_dir():
        raise DeblurError(f"no leaderboards folder at {root}")
    folders = [p for p in root.iterdir() if p.is_dir()]
    folders.sort(key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    parts = []
    for folder in folders:
        if (folder / "leaderboard.csv").exists():
            parts.append(render_leaderboard(folder.name, folder))
        elif (folder / "speed.csv").exists():
            parts.append(render_speed(folder.name, folder))
        elif sweeps and (folder / "sweep.csv").exists():
            parts.append(render_sweep(folder.name, folder))
    if not parts:
        raise DeblurError(f"no published leaderboards under {root}")
    intro = ("Generated by `python -m eval readme --write` from the CSVs in `eval/leaderboards/`; "
             "do not edit by hand. PSNR / SSIM on RGB in [0, 1], full frame, no border crop; SSIM with an "
             "11x11 Gaussian window (sigma 1.5) per channel (Wang et al. 2004); gain = mean PSNR gain over "
             "the blurred input on the same images.")
    return "\n\n".join([intro] + parts) + "\n"


def replace_block(text: str, block: str) -> str:
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i:
        raise DeblurError(f"the file has no {START} ... {END} markers to write between")
    return text[: i + len(START)] + "\n" + block + text[j:]


def readme(args: argparse.Namespace) -> int:
    block = render(Path(args.dir) if args.dir else LEADERBOARDS, sweeps=args.sweeps)
    if args.write is None:
        print(block, end="")
        return 0
    path = Path(args.write)
    if not path.is_file():
        raise DeblurError(f"{path} does not exist")
    new = replace_block(path.read_text(), block)
    path.write_text(new)
    print(f"updated the leaderboard block in {path}")
    return 0
