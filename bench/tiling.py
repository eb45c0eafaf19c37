"""Bar: tiled and untiled outputs of every network agree within 1/255 on a 512x512 image.

    python bench/tiling.py                      # every architecture / task at the lite preset
    python bench/tiling.py --preset paper --tiles 256
    python bench/tiling.py --shipped            # the shipped (trained) weights, where present

For each network it prints its halo (the context a tile gets, from the model) next to the
receptive-field radius measured here (RF: the farthest input pixel with a non-zero gradient on
the centre output pixel, weights made positive so no path cancels) and the largest residual
|output - input| of the untiled run (resid, 1/255 units: how much the network changes the image).
Then, per tile size: the tile size actually used, overlap, discarded margin, number of tiles, the
max absolute uint8 difference between tiled and untiled output (the bar, 1/255 units), the share
of differing pixels, and the max float difference before rounding (fmax, 1/255 units).

Weights are random by default with a full-strength He init (`--init stress`): the models' own
init starts near the identity, whose residual is below one grey level, so rounding would hide
tiling errors. The image is the 512x512 skimage "astronaut" photo, Gaussian-blurred (sigma 2)
for 1-frame networks, three copies shifted by -2, 0, +2 px for 3-frame networks.

A network whose halo needs tiles larger than the image (KAIST_NET: halo 160 px at lite) runs in
one tile at the default overlap, which proves nothing; for those an extra row uses an explicit
overlap of measured radius + 16 so that 2 x 2 tiles fit.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur.blur import gaussian_blur  # noqa: E402
from deblur.inference import Deblurrer  # noqa: E402
from deblur.io import to_float, to_uint8  # noqa: E402
from deblur.models import ARCH_TASKS, ARCHITECTURES, build_model  # noqa: E402
from deblur.weights import load_model, shipped_models  # noqa: E402


def receptive_radius(model: torch.nn.Module, size: int = 512) -> int:
    """Farthest input pixel (Chebyshev distance) that reaches the centre output pixel."""
    probe = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in probe.parameters():
            p.abs_().add_(1e-3)  # positive weights: no two paths can cancel to an exact zero
    x = torch.rand(1, 3 * probe.frames, size, size, dtype=torch.float64, requires_grad=True)
    probe(x)[0, :, size // 2, size // 2].sum().backward()
    hit = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero() - size // 2
    return int(hit.abs().max())


def test_input(frames: int, size: int) -> np.ndarray:
    from skimage import data

    photo = data.astronaut()[:size, :size]
    blurred = to_uint8(gaussian_blur(to_float(photo), 2.0))
    if frames == 1:
        return blurred
    return np.stack([np.roll(blurred, -2, axis=1), blurred, np.roll(blurred, 2, axis=1)])


def stress_init(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Full-strength He init of every conv, biases included.

    The models start near the identity (output layers scaled by 0.1), so an untrained network's
    residual is a fraction of a grey level and rounding to uint8 hides any tiling error. This
    init gives residuals of tens of grey levels: a tiling error then shows.
    """
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(m.weight, a=0.3, mode="fan_in", nonlinearity="leaky_relu")
            if m.bias is not None:
                torch.nn.init.normal_(m.bias, std=0.01)
    return model


def compare(model, image: np.ndarray, tile: int, overlap: int | None,
            whole: np.ndarray, whole_f: np.ndarray) -> dict:
    counts = []
    runner = Deblurrer(model, tile=tile, overlap=overlap)
    t0 = time.perf_counter()
    out_f = runner.restore_float(image, progress=lambda done, total: counts.append(total))
    seconds = time.perf_counter() - t0
    out = to_uint8(out_f)
    diff = np.abs(out.astype(np.int16) - whole.astype(np.int16))
    return {"tile": runner.tile, "overlap": runner.overlap, "discard": runner.discard,
            "tiles": counts[-1], "max": int(diff.max()), "differ": float((diff > 0).mean()),
            "fmax": float(np.abs(out_f - whole_f).max() * 255), "seconds": seconds}


def networks(args) -> list[tuple[str, torch.nn.Module]]:
    if args.shipped:
        return [(name, load_model(name)[0]) for name in shipped_models()]
    nets = []
    for arch in args.arch or ARCHITECTURES:
        for task in ARCH_TASKS[arch]:
            torch.manual_seed(args.seed)
            model = build_model(arch, args.preset, task)
            if args.init == "stress":
                stress_init(model, args.seed)
            nets.append((f"{arch}-{task} ({args.preset}, {args.init} init)", model))
    return nets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tiles", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--arch", nargs="+", choices=tuple(ARCHITECTURES), default=None)
    ap.add_argument("--preset", default="lite", choices=("lite", "paper"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default="stress", choices=("stress", "model"),
                    help="random weights: full-strength He (default) or the models' own "
                    "near-identity init")
    ap.add_argument("--shipped", action="store_true", help="use the shipped trained weights")
    ap.add_argument("--overlap", type=int, default=None,
                    help="force this overlap (e.g. a too-small one, to see the check fail)")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    nets = networks(args)
    if not nets:
        print("no shipped weights present", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, image "
          f"{args.size}x{args.size}, fp32 channels_last; differences in 1/255 units")
    head = (f"{'network':40} {'halo':>4} {'RF':>4} {'resid':>6} {'ask':>4} {'tile':>4} {'ovl':>4} "
            f"{'disc':>4} {'tiles':>5} {'max':>4} {'differ%':>7} {'fmax':>8} {'s':>6}")
    print(head)
    print("-" * len(head))
    worst = 0
    for label, model in nets:
        rf = receptive_radius(model)
        image = test_input(model.frames, args.size)
        whole_f = Deblurrer(model, tile=None).restore_float(image)
        whole = to_uint8(whole_f)
        middle = image if image.ndim == 3 else image[image.shape[0] // 2]
        resid = float(np.abs(whole_f - to_float(middle)).max() * 255)
        runs = [(t, args.overlap) for t in args.tiles]
        if Deblurrer(model, tile=max(args.tiles), overlap=args.overlap).tile >= args.size:
            runs.append((args.size // 2, rf + 16))  # default overlap leaves one tile: force 2 x 2
        for ask, overlap in runs:
            r = compare(model, image, ask, overlap, whole, whole_f)
            worst = max(worst, r["max"])
            print(f"{label:40} {model.halo:4d} {rf:4d} {resid:6.1f} {ask:4d} {r['tile']:4d} "
                  f"{r['overlap']:4d} {r['discard']:4d} {r['tiles']:5d} {r['max']:4d} "
                  f"{100 * r['differ']:7.3f} {r['fmax']:8.1e} {r['seconds']:6.2f}")
    verdict = "PASS" if worst <= 1 else "FAIL"
    print(f"\nworst max difference: {worst}/255 -> {verdict} (bar: <= 1/255)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
