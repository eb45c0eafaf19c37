"""`python -m eval speed`: how fast each model runs on one frame, and how close to the machine's peak.

Per model, on the same HxW frame: seconds per frame (median of --repeats after a warm-up),
megapixels per second, peak memory (extra resident memory during the call), multiply-accumulates
per frame, achieved GMAC/s, and efficiency = achieved / attainable. Attainable is measured in the
same run as a large fp32 and a large bf16 matrix product (torch.matmul), and a model is compared
with the peak of the dtype it actually ran in: CPUs without AMX / avx512_bf16 run bf16 matmuls
several times slower than fp32, so comparing a fp32 model with a bf16 peak (or the reverse) would
mislead. Richardson-Lucy on the same frame is always timed, as the classical yardstick.

Three-frame models get three real exposures of that photo (an 8 px motion triplet, the motion
protocol's), not one frame repeated: a method that fits the camera path (multiframe_wiener, the
multiframe_atrous networks) finds no motion in a repeated still and would time as instant.

``--backend torch,onnxruntime`` times every network once per backend in the same run (the
``backend`` column; baselines run once, backend "-"): ONNX Runtime runs the exported graph of the
very same network (deblur.onnx_backend) inside the same inference object, so the ratio of two rows
is the backend's speed-up. Each backend gets the same warm-up (the export itself is not timed), and
the backends of one network take turns repeat by repeat (time_interleaved), so a machine whose load
changes during the run does not favour the one timed first.

MACs are counted by torch.utils.flop_counter.FlopCounterMode (convolutions, transposed
convolutions, matrix products; 1 MAC = 2 FLOPs) on a small input and scaled by area: the network's
own work at the nominal frame size, without the extra work of tile overlaps (which is why
achieved GMAC/s is the honest end-to-end rate). Element-wise work is not counted.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import itertools
import os
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deblur.errors import DeblurError, UnknownModelError

from eval import provenance
from eval.rowlog import write_json

SPEED_CSV = "speed.csv"
SPEED_JSON = "speed.json"
SPEED_COLUMNS = [
    "model", "kind", "weights", "dtype", "backend", "height", "width", "frames", "tile", "params",
    "seconds", "mp_per_s", "peak_mem_mb", "gmacs_per_frame", "gmacs_per_mp", "achieved_gmac_s",
    "peak_gmac_s", "efficiency", "x_richardson_lucy",
]
RL = "richardson_lucy"
# The frame's blur (sigma of the Gaussian PSF handed to the kernel baselines).
SPEED_SIGMA = 1.5
SPEED_MOTION = 8.0  # px per exposure of the three-frame input (the motion protocol's length)


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DeblurError(f"--size expects HxW, e.g. 720x1280, got {text!r}") from None
    if h < 16 or w < 16:
        raise DeblurError(f"--size must be at least 16x16, got {h}x{w}")
    return h, w


# ----------------------------------------------------------------------------- measurement


def _proc_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Extra resident memory (MB) at the peak of a block: VmHWM after - VmRSS before.

    The high-water mark is reset first through /proc/self/clear_refs (Linux), so one process can
    measure model after model. Where that is unavailable, the value is NaN rather than a guess.
    """

    def __enter__(self) -> "PeakMemory":
        # Return freed heap pages to the OS first, or memory a previous model freed (and the
        # allocator kept) would hide this one's use: the baseline would include it.
        gc.collect()
        _malloc_trim()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.ok = True
        except OSError:
            self.ok = False
        self.before = _proc_kb("VmRSS")
        self.mb = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _proc_kb("VmHWM")
        if self.ok and peak is not None and self.before is not None:
            self.mb = max(0, peak - self.before) / 1024.0


def matmul_peak(n: int, dtype: Any, repeats: int = 3) -> float:
    """Attainable GFLOP/s of a large (n x n) @ (n x n) torch matmul in `dtype` (best of repeats)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=gen).to(dtype)
    b = torch.rand(n, n, generator=gen).to(dtype)
    torch.matmul(a, b)  # warm-up (thread pool, packing buffers)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def count_macs(module: Any, frames: int, h: int, w: int, probe: int = 64) -> float:
    """Multiply-accumulates of one forward pass at h x w: deblur.models.macs_per_pixel (counted on
    a probe x probe input) times the area. ``frames`` is kept for callers; the module knows its own."""
    from deblur.models import macs_per_pixel

    return macs_per_pixel(module, probe) * h * w


# ----------------------------------------------------------------------------------- models


def resolve_speed_models(request: str) -> list[str]:
    from deblur import registry
    from deblur.baselines import BASELINES

    names: list[str] = []
    for token in (t.strip() for t in request.split(",")):
        # "all" = every shipped network (every blur family) and every baseline; may be combined
        # with more names, e.g. "all,atrous_net@lite" to time an untrained preset as well.
        for name in registry.names() if token == "all" else [token] if token else []:
            if name not in names:
                names.append(name)
    if RL in BASELINES and RL not in names:
        names.append(RL)
    return names


def parse_backends(text: str) -> list[str]:
    """--backend: a comma-separated list of deblur.inference.BACKENDS, each once, in the order given."""
    from deblur.inference import BACKENDS

    out: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if token not in BACKENDS:
            raise DeblurError(f"--backend takes {' / '.join(BACKENDS)} or a comma-separated list of them, "
                              f"not {token!r}")
        if token not in out:
            out.append(token)
    return out


def load_speed_model(name: str, tile: int | None, bf16: bool, backend: str = "torch") -> tuple[Any, str, str]:
    """(restorer, kind, weights) for a shipped network, a baseline or ARCH@PRESET[-TASK].

    ARCH@PRESET[-TASK] builds an untrained network (deblur.models.build_model) in the same
    inference object: its speed is that of the trained one, its output meaningless. ``backend``
    is the inference object's (baselines have none).
    """
    from deblur import registry
    from deblur.baselines import BASELINES
    from deblur.inference import Deblurrer
    from deblur.models import ARCH_TASKS, build_model

    from eval.inputs import network_options

    if name in BASELINES:
        return registry.load(name), "baseline", "-"
    if "@" in name:
        arch, _, rest = name.partition("@")
        preset, _, task = rest.partition("-")
        if arch not in ARCH_TASKS:
            raise UnknownModelError(f"unknown architecture {arch!r} in {name!r}; valid: {', '.join(ARCH_TASKS)}")
        task = task or ARCH_TASKS[arch][0]
        try:
            model = build_model(arch, preset, task)
        except ValueError as exc:
            raise DeblurError(f"cannot build {name!r}: {exc}") from None
        return (Deblurrer(model, name=name, backend=backend, **network_options(tile, bf16)), "network",
                "untrained (timing only)")
    return registry.load(name, backend=backend, **network_options(tile, bf16)), "network", "trained"


def speed_photo(h: int, w: int) -> np.ndarray:
    """The sharp photo every speed frame is made from: the first builtin image resized to h x w."""
    from PIL import Image

    from deblur.data import builtin

    first = next(iter(builtin()))
    return np.asarray(Image.fromarray(first.sharp).resize((w, h), Image.Resampling.LANCZOS))


def speed_frame(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The speed photo Gaussian-blurred, + its PSF."""
    from deblur import blur as B
    from deblur.io import to_float, to_uint8

    blurred = to_uint8(B.gaussian_blur(to_float(speed_photo(h, w)), SPEED_SIGMA))
    return blurred, B.gaussian_kernel(SPEED_SIGMA)


def speed_triplet(h: int, w: int) -> np.ndarray:
    """Three exposures (3, h, w, 3) uint8 of the speed photo along one SPEED_MOTION px camera path."""
    from deblur.degrade import motion

    return motion(speed_photo(h, w), np.random.default_rng(0), length=SPEED_MOTION).frames


def time_one(fn: Any, frames: np.ndarray, kernel: np.ndarray, repeats: int) -> tuple[float, float]:
    """(median seconds, peak extra memory MB) of fn(frames, kernel=kernel)."""
    return time_interleaved([fn], [frames], kernel, repeats)[0]


def time_interleaved(fns: list[Any], frames: list[np.ndarray], kernel: np.ndarray,
                     repeats: int) -> list[tuple[float, float]]:
    """time_one for several callables (one network on several backends), taking turns: repeat r
    of every one before repeat r + 1 of any, so a load that changes during the run (other
    processes on a shared machine) weighs on each alike and their ratio stays fair."""
    times: list[list[float]] = [[] for _ in fns]
    peaks = [0.0 for _ in fns]
    for _ in range(repeats):
        for i, (fn, x) in enumerate(zip(fns, frames)):
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                fn(x, kernel=kernel)
                times[i].append(time.perf_counter() - t0)
            peaks[i] = max(peaks[i], mem.mb) if not np.isnan(mem.mb) else float("nan")
    return [(statistics.median(t), p) for t, p in zip(times, peaks)]


def backend_ratios(df: pd.DataFrame) -> list[str]:
    """One line per network timed on torch and on another backend: how many times faster that one ran."""
    lines = []
    for name, rows in df[df["backend"] != "-"].groupby("model", sort=False):
        times = dict(zip(rows["backend"], rows["seconds"]))
        for other, sec in times.items():
            if other != "torch" and "torch" in times:
                lines.append(f"{name}: {other} {times['torch'] / sec:.2f}x as fast as torch "
                             f"({sec:.3g} s against {times['torch']:.3g} s per frame)")
    return lines


def speed(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    import torch

    from deblur.baselines import BASELINES

    h, w = parse_size(args.size)
    out = Path(args.out or Path("runs") / f"speed-{h}x{w}")
    if out.exists() and not out.is_dir():
        raise DeblurError(f"--out {out} is a file, not a directory")
    names = resolve_speed_models(args.models)
    backends = parse_backends(getattr(args, "backend", "torch"))
    loaded = []  # (name, backend, restorer, kind, weights); all errors come before any timing
    for n in names:
        for i, b in enumerate([backends[0]] if n in BASELINES else backends):
            try:
                fn, kind, weights = load_speed_model(n, args.tile, args.bf16, b)
            except DeblurError as exc:
                if i == 0:
                    raise
                # A network that runs in torch only (kernel-aware) is timed there and skipped here.
                print(f"note: {n} is not timed on {b}: {' '.join(str(exc).split())}", flush=True)
                continue
            loaded.append((n, b if kind == "network" else "-", fn, kind, weights))
    frame, kernel = speed_frame(h, w)

    load = os.getloadavg()[0]
    cores = provenance.machine()["cores"]
    if load > 0.5 * cores:
        print(f"warning: load average {load:.1f} on {cores} cores: other processes are running, "
              "timings will be slow and noisy", flush=True)
    print(f"attainable peak: {args.peak_size}x{args.peak_size} matmul ...", flush=True)
    peak_gflops = {"fp32": matmul_peak(args.peak_size, torch.float32),
                   "bf16": matmul_peak(args.peak_size, torch.bfloat16)}
    rows = []
    triplet = speed_triplet(h, w) if any(int(getattr(fn, "frames", 1)) == 3 for _, _, fn, _, _ in loaded) else None
    def inputs(fn: Any) -> np.ndarray:
        n = int(getattr(fn, "frames", 1))
        return triplet if n == 3 else np.repeat(frame[None], n, axis=0)

    timed = []  # (seconds, peak MB) per entry of `loaded`
    for name, group in itertools.groupby(loaded, key=lambda entry: entry[0]):
        group = list(group)  # one model on each backend asked for: timed taking turns
        for _, _, fn, _, _ in group:
            if getattr(fn, "model", None) is not None:  # warm-up on one tile: kernels are built on first use
                tile = getattr(fn, "tile", None)
                th, tw = min(h, tile or h), min(w, tile or w)
                fn(inputs(fn)[:, :th, :tw], kernel=kernel)
        on = ", ".join(b for _, b, _, _, _ in group if b != "-")
        print(f"timing {name}" + (f" ({on})" if on else "") + " ...", flush=True)
        timed += time_interleaved([e[2] for e in group], [inputs(e[2]) for e in group], kernel, args.repeats)
    for (name, backend, fn, kind, weights), (seconds, mem) in zip(loaded, timed):
        module = getattr(fn, "model", None)
        frames_n = int(getattr(fn, "frames", 1))
        dtype = "bf16" if getattr(fn, "bf16", False) else "fp32"
        macs = count_macs(module, frames_n, h, w) if module is not None else float("nan")
        macs *= int(getattr(fn, "iterations", 1))  # a plug-and-play restorer runs its prior once per iteration
        params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        achieved = macs / seconds / 1e9
        peak = peak_gflops[dtype] / 2.0
        rows.append({
            "model": name, "kind": kind, "weights": weights, "dtype": dtype if module is not None else "float64/numpy",
            "backend": backend,
            "height": h, "width": w, "frames": frames_n, "tile": (fn.tile if fn.tiles(h, w) else "none") if hasattr(fn, "tiles") else None,
            "params": params, "seconds": seconds, "mp_per_s": h * w / 1e6 / seconds, "peak_mem_mb": mem,
            "gmacs_per_frame": macs / 1e9, "gmacs_per_mp": macs / 1e9 / (h * w / 1e6),
            "achieved_gmac_s": achieved, "peak_gmac_s": peak if module is not None else float("nan"),
            "efficiency": achieved / peak if module is not None else float("nan"),
        })
    df = pd.DataFrame(rows)
    rl = df.loc[df["model"] == RL, "seconds"]
    df["x_richardson_lucy"] = df["seconds"] / float(rl.iloc[0]) if len(rl) else float("nan")
    df = df[SPEED_COLUMNS]
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / SPEED_CSV, index=False, float_format="%.6g")
    meta = {
        "load_average_at_start": round(load, 2), "size": [h, w], "repeats": args.repeats, "tile": args.tile, "bf16": args.bf16,
        "backends": backends,
        "frame": f"first builtin image resized to {h}x{w} (Pillow LANCZOS), Gaussian sigma {SPEED_SIGMA}; "
                 f"three-frame models: a {SPEED_MOTION:g} px motion triplet of it (deblur.degrade.motion, seed 0)",
        "peak_gflop_s": peak_gflops, "peak_matmul_size": args.peak_size,
        "peak_gmac_s": {k: v / 2.0 for k, v in peak_gflops.items()},
        "macs": "torch.utils.flop_counter.FlopCounterMode on a 64x64 input scaled by area; 1 MAC = 2 FLOPs",
        "peak_mem": "VmHWM after - VmRSS before the call, high-water mark reset via /proc/self/clear_refs",
        **provenance.session(argv), "versions": provenance.library_versions(), "machine": provenance.machine(),
    }
    write_json(out / SPEED_JSON, meta)
    print(f"attainable: fp32 {peak_gflops['fp32']:.1f} GFLOP/s, bf16 {peak_gflops['bf16']:.1f} GFLOP/s "
          f"({json.dumps(provenance.cpu_model())}, {provenance.machine()['cores']} cores)")
    show = df[["model", "backend", "dtype", "seconds", "mp_per_s", "peak_mem_mb", "gmacs_per_frame",
               "achieved_gmac_s", "efficiency", "x_richardson_lucy"]]
    print(show.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for line in backend_ratios(df):
        print(line)
    print(f"wrote {out / SPEED_CSV}, {out / SPEED_JSON}")
    return 0
