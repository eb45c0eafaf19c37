"""Bar: a 3840x2160 photo deblurs with peak memory under 2 GiB.

    python bench/memory.py                                  # atrous_net lite, tile 512
    python bench/memory.py --arch kaist_net --tile 512 1024
    python bench/memory.py --model atrous_net-gaussian      # a shipped network instead

Each configuration runs in a fresh subprocess (`--child`), so the number is that run's own peak
resident set size (getrusage ru_maxrss: the high-water mark of the whole process -- Python,
torch, the input image, the float accumulator, the weights and every tile's activations), not a
sum of allocations that might miss the allocator's overhead. Columns: baseline = the high-water
mark after importing everything and building the model; ready = after the input image is made;
peak = after deblurring it.

The image is the skimage "astronaut" photo resized to 3840x2160 (Lanczos), Gaussian-blurred.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GiB = 1024**3


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    from deblur.blur import gaussian_kernel
    from deblur.inference import Deblurrer
    from deblur.registry import load as load_restorer
    from deblur.models import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    tile = args.tile[0] or None
    if args.model:
        runner = load_restorer(args.model, tile=tile, bf16=args.bf16)
    else:
        torch.manual_seed(0)
        runner = Deblurrer(build_model(args.arch, args.preset, args.task), tile=tile, bf16=args.bf16)
    baseline = _peak_bytes()

    w, h = args.size
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((w, h), Image.LANCZOS))
    # Blur in uint8 via scipy one channel at a time: keeps the set-up itself far below the bar.
    from scipy import ndimage

    k1 = gaussian_kernel(2.0).sum(axis=0)
    image = np.empty_like(photo)
    for c in range(3):
        ch = ndimage.convolve1d(photo[..., c].astype(np.float32), k1, axis=0, mode="mirror")
        ch = ndimage.convolve1d(ch, k1, axis=1, mode="mirror")
        image[..., c] = np.clip(np.rint(ch), 0, 255).astype(np.uint8)
    del photo, ch
    before = _peak_bytes()

    tiles = []
    t0 = time.perf_counter()
    out = runner(image, progress=lambda done, total: tiles.append(total))
    seconds = time.perf_counter() - t0
    assert out.shape == image.shape and out.dtype == np.uint8
    print(json.dumps({"baseline": baseline, "before": before, "peak": _peak_bytes(),
                      "seconds": seconds, "tiles": tiles[-1] if tiles else 1,
                      "tile_used": getattr(runner, "tile", None),
                      "threads": torch.get_num_threads()}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="atrous_net")
    ap.add_argument("--preset", default="lite")
    ap.add_argument("--task", default="gaussian")
    ap.add_argument("--model", default=None, help="a shipped model / .safetensors instead of --arch")
    ap.add_argument("--tile", type=int, nargs="+", default=[512], help="0 = whole image")
    ap.add_argument("--size", type=int, nargs=2, default=[3840, 2160], metavar=("W", "H"))
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=float, default=2.0, help="bar in GiB")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0

    name = args.model or f"{args.arch}-{args.task} ({args.preset})"
    print(f"{args.size[0]}x{args.size[1]} image, {name}, {'bf16' if args.bf16 else 'fp32'}; "
          f"peak RSS per fresh process (limit {args.limit} GiB)")
    print(f"{'tile':>5} {'used':>5} {'tiles':>5} {'baseline MiB':>12} {'ready MiB':>10} "
          f"{'peak MiB':>9} {'seconds':>8}  verdict")
    ok = True
    for tile in args.tile:
        cmd = [sys.executable, __file__, "--child", "--tile", str(tile), "--arch", args.arch,
               "--preset", args.preset, "--task", args.task, "--size", *map(str, args.size)]
        cmd += ["--model", args.model] if args.model else []
        cmd += ["--bf16"] if args.bf16 else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            # Killed for memory or failed: say so rather than print a number.
            print(f"{tile:5d} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
            ok = False
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        passed = r["peak"] < args.limit * GiB
        ok &= passed
        mib = 1024**2
        print(f"{tile:5d} {str(r['tile_used']):>5} {r['tiles']:5d} {r['baseline'] / mib:12.0f} "
              f"{r['before'] / mib:10.0f} {r['peak'] / mib:9.0f} {r['seconds']:8.1f}  "
              f"{'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
