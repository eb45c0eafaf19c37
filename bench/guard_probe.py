"""Per photo: what the do-no-harm guard (NAME+guard) decided, and what it cost or saved.

    python bench/guard_probe.py runs/camera-pairs-9301 runs/sharp-jpeg-9303 [--model res_unet-camera+psf+guard]

For each pair of each ``pairs:DIR`` set (``bench/make_camera_pairs.py``): the kernel verdict the
guard read (``deblur.blind.read_kernel``), and the PSNR gain over the blurred input of the guarded
restorer and of the network it guards run on every photo, so the photos where the guard stepped in
(and whether that helped) are listed. Ends with mean / worst gain per set and per restorer. The
evaluator's boards (`python -m eval --dataset pairs:DIR`) give the same means; this adds the verdicts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deblur import registry  # noqa: E402
from deblur.data import read_pairs  # noqa: E402
from deblur.metrics import psnr  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sets", nargs="+", type=Path, help="pairs:DIR folders (blur/, sharp/)")
    p.add_argument("--model", default=registry.PREFERRED["camera"], help="a NAME+guard restorer")
    a = p.parse_args(argv)
    if not a.model.endswith(registry.GUARD_SUFFIX):
        p.error(f"--model must be a guarded restorer (NAME{registry.GUARD_SUFFIX}), not {a.model}")
    guarded = registry.load(a.model, "camera")
    inner = guarded.inner
    print("| set | photo | verdict | read | guarded | network alone |")
    print("|---|---|---|---|---:|---:|")
    for folder in a.sets:
        gains: dict[str, list[float]] = {"guarded": [], "network": []}
        for item in read_pairs(folder):
            blurred, sharp = item.blurred[0], item.sharp
            base = psnr(sharp, blurred)
            out, found = guarded.report(blurred)
            g = found["guard"]
            alone = out if g["ran"] == inner.name else inner(blurred)
            gains["guarded"].append(psnr(sharp, out) - base)
            gains["network"].append(psnr(sharp, alone) - base)
            print(f"| {folder.name} | {item.name} | {g['verdict']} | {g['description']} | "
                  f"{gains['guarded'][-1]:+.2f} | {gains['network'][-1]:+.2f} |")
        for who, v in gains.items():
            print(f"| {folder.name} | **mean / worst** | | {who} | {np.mean(v):+.2f} | {min(v):+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
