"""How well deblur.psf.identify_psf finds large defocus / straight-motion blur, and what it costs
on photos with no large blur.

Every photo of a dataset spec is blurred by each case's PSF through the camera pipeline
(deblur.blur.camera_blur with the kernel given: linear light, sensor noise, 8 bits, JPEG; the
noise and JPEG quality drawn per photo and case from the seed), then identified. Printed per
case: how often the family is right, the median size error (%) and angle error (degrees), and
the PSNR of the blurred input, of `blind_psf` (identify + Wiener), and of Wiener given the true
PSF at the same balance. Case "none" (no kernel) measures false alarms. With --network NAME, also
the network alone and NAME+psf (the photo deconvolved first when the PSF found is large).

    python bench/psf_identify.py --make-tune runs/psf_tune                  # links the tuning photos
    python bench/psf_identify.py --data photos:runs/psf_tune --seed 1      # tuning photos
    python bench/psf_identify.py --data builtin --seed 2                   # held out
    python bench/psf_identify.py --data builtin --seed 2 --network res_unet-camera
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from deblur import blur, psf
from deblur.baselines import BASELINES, _to_uint8, _wiener_deconvolve
from deblur.metrics import psnr
from eval.inputs import image_rng, open_items

CASES = [("none", 0, None), ("gaussian", 2.5, None), ("defocus", 3, None), ("defocus", 6, None),
         ("defocus", 10, None), ("defocus", 15, None), ("motion", 9, "rand"), ("motion", 16, "rand"),
         ("motion", 32, "rand"), ("motion", 48, "rand")]


def kernel_for(fam, size, angle):
    if fam == "none":
        return np.ones((1, 1))
    if fam == "gaussian":
        return blur.gaussian_kernel(size)
    if fam == "defocus":
        return blur.defocus_kernel(size)
    return blur.linear_motion_kernel(size, angle)


def angle_error(a, b):
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def make_tune(folder: Path, corpus: str = "corpus") -> None:
    """Link the tuning photos into ``folder``: every third photo of the camera networks' training
    photos (the corpus train split less every tenth photo, their validation photos)."""
    from deblur.sampling import corpus_sources

    photos = corpus_sources(corpus)[0]
    train = [p for i, p in enumerate(photos) if i % 10]
    folder.mkdir(parents=True, exist_ok=True)
    for p in train[::3]:
        link = folder / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    print(f"{len(train[::3])} tuning photos linked in {folder}: {', '.join(p.stem for p in train[::3])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="builtin")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--noise", choices=["camera", "none"], default="camera",
                    help="camera: shot / read noise and JPEG drawn as in the camera family; none: neither")
    ap.add_argument("--balance", type=float, default=None, help="Wiener balance floor (default: PSF_BALANCE)")
    ap.add_argument("--network", default=None, help="also score this network alone and as NAME+psf")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--make-tune", type=Path, default=None, metavar="DIR", help="link the tuning photos into DIR, exit")
    args = ap.parse_args()
    if args.make_tune is not None:
        return make_tune(args.make_tune)
    if args.balance is not None:
        psf.PSF_BALANCE = args.balance
    restorer = BASELINES["blind_psf"]
    nets = {}
    if args.network:
        from deblur import registry

        nets = {n: registry.load(n, "camera") for n in (args.network, args.network + "+psf")}
    rows = []
    for item in open_items(args.data, "full", "camera"):
        sharp = item.sharp.astype(np.float32) / 255.0
        for ci, (fam, size, angle) in enumerate(CASES):
            rng = image_rng(args.seed, item.name, ci)
            ang = float(rng.uniform(0, 180)) if angle == "rand" else angle
            k = kernel_for(fam, size, ang)
            noisy = args.noise == "camera"
            x, p = blur.camera_blur(sharp, rng, kernel=k, noise=noisy, jpeg=noisy)
            x_u8 = _to_uint8(x)
            est = psf.identify_psf(x)
            out = restorer(x_u8)
            true = x_u8 if fam == "none" else _to_uint8(_wiener_deconvolve(x.astype(np.float64), k, psf.psf_balance(x)))
            target = item.sharp
            row = dict(photo=item.name, case=f"{fam} {size:g}", fam=fam, est=est.family, size=size,
                       est_size=est.size, angle=ang, est_angle=est.angle, evidence=est.evidence,
                       blurred=psnr(x_u8, target), blind=psnr(out, target), oracle=psnr(true, target))
            row.update({n: psnr(fn(x_u8), target) for n, fn in nets.items()})
            rows.append(row)
            if args.verbose:
                print(f"{item.name:22s} {row['case']:12s} angle {ang if ang is not None else '-'!s:>6.6s} -> "
                      f"{est.describe():45s} ev {est.evidence:.2f}  {row['blurred']:.2f} -> {row['blind']:.2f} "
                      f"(true PSF {row['oracle']:.2f})", flush=True)
    print(f"\n{args.data}, seed {args.seed}, noise {args.noise}: {len({r['photo'] for r in rows})} photos")
    print(f"{'case':12s} {'family ok':>9s} {'size err %':>10s} {'angle err':>9s} {'blurred':>8s} {'blind_psf':>9s} "
          f"{'true PSF':>8s}" + "".join(f" {n:>{max(9, len(n))}s}" for n in nets))
    for case in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == case]
        ok = np.mean([r["est"] == r["fam"] for r in rs])
        hits = [r for r in rs if r["est"] == r["fam"] and r["fam"] != "none"]
        serr = np.median([100 * (r["est_size"] - r["size"]) / r["size"] for r in hits]) if hits else float("nan")
        aerr = (np.median([angle_error(r["est_angle"], r["angle"]) for r in hits])
                if hits and rs[0]["fam"] == "motion" else float("nan"))
        print(f"{case:12s} {ok:9.0%} {serr:10.0f} {aerr:9.1f} {np.mean([r['blurred'] for r in rs]):8.2f} "
              f"{np.mean([r['blind'] for r in rs]):9.2f} {np.mean([r['oracle'] for r in rs]):8.2f}"
              + "".join(f" {np.mean([r[n] for r in rs]):{max(9, len(n))}.2f}" for n in nets))


if __name__ == "__main__":
    main()
