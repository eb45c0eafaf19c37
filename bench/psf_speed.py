"""What ``NAME+psf`` costs on top of NAME per frame: PSF identification (with its halves check)
and, when a large blur is found, the Wiener deconvolution.

    python bench/psf_speed.py [--size 720x1280] [--network res_unet-camera] [--reference atrous_net-gaussian]

Two frames of the size asked: the gallery's real misfocused page (a disc of ~10 px is found:
the worst case, every step runs) and the builtin astronaut (nothing large is found: identification
only), each brought to the size by mirror padding (or a central crop), which keeps its blur as
it is. Prints the median wall time of each step and of the models; measure on an idle machine.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from deblur import psf, registry  # noqa: E402
from deblur.data import builtin_image  # noqa: E402
from deblur.io import read_image  # noqa: E402
from deblur.psf import deconvolve, identify_psf  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``fn`` and its result; deblur.psf's last-photo memo is emptied before
    each call, so every run identifies the blur afresh (as a new photo would)."""
    times, out = [], None
    for _ in range(repeats):
        psf._LAST.clear()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def fit(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``img`` mirror-padded (repeatedly if need be) or centrally cropped to h x w."""
    while img.shape[0] < h or img.shape[1] < w:
        ph, pw = max(0, min(h - img.shape[0], img.shape[0] - 1)), max(0, min(w - img.shape[1], img.shape[1] - 1))
        img = np.pad(img, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[top : top + h, left : left + w])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="720x1280")
    ap.add_argument("--network", default="res_unet-camera")
    ap.add_argument("--reference", default="atrous_net-gaussian", help="also timed, for a ratio in the same run")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.split("x"))
    plain = registry.load(a.network, "camera")
    first = registry.load(a.network + "+psf", "camera")
    reference = registry.load(a.reference)
    identify_psf(np.zeros((64, 64)) + 0.5)  # builds the candidate table once (~2 s), not timed
    frames = {"misfocused page": read_image(ROOT / "gallery" / "inputs" / "text_defocus.png"),
              "astronaut": builtin_image("astronaut")}
    for label, img in frames.items():
        img = fit(img, h, w)
        t_id, est = timed(lambda: identify_psf(img), a.repeats)
        t_wiener, _ = timed(lambda: deconvolve(img, est), a.repeats)
        t_plain, _ = timed(lambda: plain(img), a.repeats)
        t_first, _ = timed(lambda: first(img), a.repeats)
        t_ref, _ = timed(lambda: reference(img), a.repeats)
        print(f"{label} {w}x{h}: found {est.describe()}; identify {t_id:.2f} s, Wiener {t_wiener:.2f} s, "
              f"{a.network} {t_plain:.2f} s, {a.network}+psf {t_first:.2f} s ({t_first / t_plain:.2f}x), "
              f"{a.reference} {t_ref:.2f} s (+psf at {t_first / t_ref:.2f}x its time)", flush=True)


if __name__ == "__main__":
    main()
