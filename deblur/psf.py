"""Blind identification of a parametric blur PSF from one photo's power spectrum.

Why: the camera networks barely touch real photos with a large blur (a misfocused page, a
straight shake of 30 px and more); deconvolution with the right PSF does, and for the two
commonest large blurs the PSF has a known shape with one or two numbers: a defocus disc
(radius) and a straight motion (length, angle). Their transfer functions have zeros -- rings for
a disc, parallel stripes for a line -- that a photo's power spectrum shows plainly, while the
spectrum of a natural scene is smooth, close to a power law A |f|^b.

``identify_psf`` reads the central crop (grey, tapered as for deconvolution), averages its power
spectrum in polar cells (BINS_RADIUS radii up to BAND cycles/px x BINS_ANGLE angles; averaging
tames the speckle of a single spectrum), and for every candidate PSF of the CANDIDATES grid
fits

    log P(cell) = a + b log|f| + log(|K(cell)|^2 + n)

with a, b by weighted least squares (weights: the cell's number of frequencies / |f|^0.5) and n (a floor
that stands for noise and for the scene's own departures from the power law) from NSR_GRID. The
candidate with the smallest weighted residual wins. Above BAND the spectra of real photos are
JPEG and sensor noise; below it is where a large blur's zeros lie.

What it cannot tell apart (measured by ``bench/psf_identify.py``): a scene that is itself
strongly oriented (the rocket's vertical gantries) looks like a straight motion across it, and a
photo's own softness looks like a small Gaussian. So a motion or disc estimate must beat the best
smooth, isotropic explanation (no blur or a Gaussian) by a margin (MOTION_MARGIN /
DEFOCUS_MARGIN) before it is believed, and blurs below MIN_SIZE are reported as "none":
this module is for the large blurs that networks leave alone; small ones are the networks' job.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from deblur.classical import _to_float, _to_uint8, _wiener_deconvolve, adaptive_balance, pad_for_deconvolution
from deblur.blur import defocus_kernel, gaussian_kernel, linear_motion_kernel

BAND = 0.25              # cycles/px: the frequencies the fit looks at (above: noise and JPEG)
BINS_RADIUS = 40         # polar cells: radii up to BAND ...
BINS_ANGLE = 36          # ... x angles over 180 degrees (5 degrees each)
CROP = 384               # the central crop (grey) that is analysed, at most this size
KERNEL_GRID = 512        # FFT size on which the candidates' transfer functions are sampled
NSR_GRID = (1e-4, 1e-3, 1e-2)
# Cell weights: its number of frequencies / |f|^WEIGHT_POWER. With 0 the many high-frequency
# cells (noise and JPEG in a real photo) outvote the few low ones where a large blur's first zeros
# lie; 0.5 was the best of 0 / 0.5 / 1 / 2 on the tuning photos (bench/psf_identify.py).
WEIGHT_POWER = 0.5

GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
DEFOCUS_RADII = (1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 23, 26)
MOTION_LENGTHS = (3, 4, 5, 6, 7, 9, 11, 13, 15, 17, 19, 21, 23, 26, 29, 32, 36, 40, 45, 50, 56, 62)
MOTION_ANGLES = tuple(range(0, 180, 5))
REFINE_ANGLES = (-2.0, -1.0, 0.0, 1.0, 2.0)  # degrees around the grid's best line ...
REFINE_LENGTHS = (0.85, 0.92, 1.0, 1.08, 1.16)                  # ... x its length

# Decision rule (set on bench/psf_identify.py's tuning photos, see docs/real-photos.md): a structured estimate
# (disc / line) must leave at most this fraction of the best smooth explanation's residual ...
MOTION_MARGIN = 0.6
DEFOCUS_MARGIN = 0.9
# ... and blurs smaller than these are "none" (a photo's own softness; the networks' domain).
MIN_SIZE = {"gaussian": 2.0, "defocus": 2.5, "motion": 7.0}
# Before a network (``NAME+psf``): only blurs this large are deconvolved first; smaller ones (and
# every Gaussian) the camera networks restore better on their own (bench/psf_identify.py --network).
LARGE_SIZE = {"defocus": 8.0, "motion": 20.0}
PSF_BALANCE = 3e-2       # Wiener balance floor (psf_balance)
CHECK_MIN = 128          # identify_psf(check=True): halves smaller than this are not checked


@dataclass(frozen=True)
class PSFEstimate:
    """What ``identify_psf`` found: family ("none", "gaussian", "defocus" or "motion"), size (sigma,
    radius or length in px; 0 for none), angle (degrees, motion only: 0 = horizontal, 90 = vertical),
    the PSF itself, the fitted floor ``nsr`` and ``evidence``: the winning residual over the best
    smooth (no blur / Gaussian) one -- below 1 means the structure fits better."""

    family: str
    size: float
    angle: float | None
    kernel: np.ndarray = field(repr=False)
    nsr: float
    evidence: float

    def describe(self) -> str:
        if self.family == "none":
            return "no large blur found"
        if self.family == "motion":
            return f"straight motion, {self.size:g} px at {self.angle:g} degrees"
        if self.family == "defocus":
            return f"defocus disc, radius {self.size:g} px"
        return f"Gaussian blur, sigma {self.size:g} px"


def _make_kernel(family: str, size: float, angle: float | None) -> np.ndarray:
    if family == "none":
        return np.ones((1, 1))
    if family == "gaussian":
        return gaussian_kernel(float(size))
    if family == "defocus":
        return defocus_kernel(float(size))
    return linear_motion_kernel(float(size), float(angle))


def candidates() -> list[tuple[str, float, float | None]]:
    """The grid of PSFs that are tried: (family, size, angle)."""
    out: list[tuple[str, float, float | None]] = [("none", 0.0, None)]
    out += [("gaussian", float(s), None) for s in GAUSSIAN_SIGMAS]
    out += [("defocus", float(r), None) for r in DEFOCUS_RADII]
    out += [("motion", float(n), float(a)) for n in MOTION_LENGTHS for a in MOTION_ANGLES]
    return out


def _polar_index(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an rfft2 grid of a real (H, W) signal: cell index of every frequency inside the band
    (flat), the mask of those frequencies, and |f|."""
    fy = sfft.fftfreq(shape[0])[:, None]
    fx = sfft.rfftfreq(shape[1])[None, :]
    rad = np.hypot(fy, fx)
    ang = np.mod(np.degrees(np.arctan2(fy, fx)), 180.0)
    inside = (rad > 1.5 / min(shape)) & (rad <= BAND)
    ri = np.minimum((rad / BAND * BINS_RADIUS).astype(int), BINS_RADIUS - 1)
    ai = np.minimum((ang / 180.0 * BINS_ANGLE).astype(int), BINS_ANGLE - 1)
    return (ri * BINS_ANGLE + ai)[inside], inside, rad


def _cell_means(values: np.ndarray, cells: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(cells, minlength=BINS_RADIUS * BINS_ANGLE).astype(np.float64)
    sums = np.bincount(cells, values[inside], minlength=BINS_RADIUS * BINS_ANGLE)
    return sums / np.maximum(counts, 1.0), counts


@functools.lru_cache(maxsize=1)
def _kernel_cells() -> tuple[np.ndarray, np.ndarray]:
    return _polar_index((KERNEL_GRID, KERNEL_GRID))[:2]


@functools.lru_cache(maxsize=4096)
def _kernel_power(family: str, size: float, angle: float | None) -> np.ndarray:
    """A candidate PSF's |K|^2 averaged over the polar cells (|K| does not depend on where the
    kernel is centred); cached, as the refined lines around a grid line recur from call to call."""
    cells, inside = _kernel_cells()
    k = _make_kernel(family, size, angle)
    return _cell_means(np.abs(sfft.rfft2(k, s=(KERNEL_GRID, KERNEL_GRID))) ** 2, cells, inside)[0]


@functools.lru_cache(maxsize=1)
def _candidate_table() -> tuple[list[tuple[str, float, float | None]], np.ndarray]:
    """Every candidate's cell-averaged |K|^2 (C, cells), computed once per process."""
    cands = candidates()
    return cands, np.stack([_kernel_power(*c) for c in cands])


def _spectrum(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell means of the tapered central crop's power and |f|, and the cells' weights. Only the
    crop is converted to float (grey), so a 4K photo costs no full-size copy; the image's scale
    (uint8 or [0, 1]) does not matter: it only shifts log P, which the fit's offset absorbs."""
    h, w = img.shape[:2]
    ch, cw = min(h, CROP), min(w, CROP)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = np.asarray(img[top : top + ch, left : left + cw], dtype=np.float64)
    crop = crop.mean(axis=-1) if crop.ndim == 3 else crop
    padded = pad_for_deconvolution(crop[:, :, None] - crop.mean(), (33, 33))[0][:, :, 0]
    power = np.abs(sfft.rfft2(padded)) ** 2
    cells, inside, rad = _polar_index(padded.shape)
    p, counts = _cell_means(power, cells, inside)
    f, _ = _cell_means(rad, cells, inside)
    return p, f, counts


class _Fit:
    """The log power spectrum of one image, ready to score candidate PSFs against."""

    def __init__(self, img: np.ndarray) -> None:
        img = np.asarray(img)
        if img.ndim not in (2, 3) or min(img.shape[:2]) < 32:
            raise ValueError(f"identify_psf needs an (H, W[, C]) image of at least 32x32 px, got shape {img.shape}")
        p, f, counts = _spectrum(img)
        self.use = (counts > 0) & (p > 0)
        w = counts[self.use] / f[self.use] ** WEIGHT_POWER
        self.sw = np.sqrt(w / w.sum())
        design = np.stack([np.ones(self.use.sum()), np.log(f[self.use])], axis=1) * self.sw[:, None]
        self.q = np.linalg.qr(design)[0]  # weighted least squares for (a, b) = projection on q
        self.logp = np.log(p[self.use])

    def __call__(self, h2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weighted residual, best floor n) of each row of cell-averaged |K|^2 (C, cells)."""
        best = np.full(len(h2), np.inf)
        best_n = np.zeros(len(h2))
        for n in NSR_GRID:
            y = (self.logp[None, :] - np.log(h2[:, self.use] + n)) * self.sw[None, :]
            resid = (y * y).sum(axis=1) - ((y @ self.q) ** 2).sum(axis=1)
            better = resid < best
            best = np.where(better, resid, best)
            best_n = np.where(better, n, best_n)
        return best, best_n


def fit_residuals(img: np.ndarray) -> tuple[list[tuple[str, float, float | None]], np.ndarray, np.ndarray]:
    """For an (H, W, 3) or (H, W) float image in [0, 1]: (candidates, residual per candidate,
    best floor n per candidate). Residual: weighted mean squared log-spectrum misfit. The best
    straight motion of the grid is refined on a finer one around it (REFINE_ANGLES, REFINE_LENGTHS)
    and appended: a long line's zeros move with a few degrees of its direction."""
    fit = _Fit(img)
    cands, h2 = _candidate_table()
    resid, nsr = fit(h2)
    motion = [i for i, c in enumerate(cands) if c[0] == "motion"]
    _, length, angle = cands[min(motion, key=lambda i: resid[i])]
    fine = [("motion", round(length * s, 1), (angle + d) % 180.0) for s in REFINE_LENGTHS for d in REFINE_ANGLES]
    fr, fn = fit(np.stack([_kernel_power(*c) for c in fine]))
    return cands + fine, np.concatenate([resid, fr]), np.concatenate([nsr, fn])


def identify_psf(img: np.ndarray, check: bool = True) -> PSFEstimate:
    """Identify a large parametric blur (defocus disc, straight motion, Gaussian) in one photo.

    ``img``: (H, W, 3) or (H, W), float in [0, 1] or uint8 (at least 32 px a side). Returns a PSFEstimate;
    family "none" (kernel [[1.]]) when no large blur is found or the evidence is too weak.
    ``check``: a disc or line found in the whole photo must be found again, of the same family,
    in each half of it (cut across its longer side; skipped when a half is under CHECK_MIN px).
    A camera's shake or misfocus covers the whole frame; a passing car's motion blur, or a scene's
    own oriented structure, rarely does -- deconvolving the whole frame for them rings everywhere
    (a frame of bikes.mp4 did). Where a half disagrees, the best smooth explanation is returned.
    """
    return _checked(np.ascontiguousarray(img), check)


def _checked(img: np.ndarray, check: bool) -> PSFEstimate:
    est, smooth = _identify(img)
    if not check or est.family not in ("defocus", "motion"):
        return est
    h, w = img.shape[:2]
    halves = (img[:, : w // 2], img[:, w // 2 :]) if w >= h else (img[: h // 2], img[h // 2 :])
    if min(halves[0].shape[:2]) < CHECK_MIN:
        return est
    if all(_identify(part)[0].family == est.family for part in halves):
        return est
    return smooth


def _identify(img: np.ndarray) -> tuple[PSFEstimate, PSFEstimate]:
    """(the estimate, the best smooth one: no blur or a Gaussian) of one image, unchecked."""
    cands, resid, nsr = fit_residuals(img)
    fams = np.array([c[0] for c in cands])
    smooth = np.flatnonzero((fams == "none") | (fams == "gaussian"))
    ref = float(resid[smooth].min())
    smooth_best = choice = int(smooth[np.argmin(resid[smooth])])
    for fam, margin in (("defocus", DEFOCUS_MARGIN), ("motion", MOTION_MARGIN)):
        idx = np.flatnonzero(fams == fam)
        i = int(idx[np.argmin(resid[idx])])
        if resid[i] <= margin * ref and resid[i] < resid[choice]:
            choice = i

    def estimate(i: int) -> PSFEstimate:
        fam, size, angle = cands[i]
        if fam != "none" and size < MIN_SIZE[fam]:
            fam, size, angle = "none", 0.0, None
        evidence = float(resid[i] / ref) if ref > 0 else 1.0
        return PSFEstimate(fam, size, angle, _make_kernel(fam, size, angle), float(nsr[i]), evidence)

    return estimate(choice), estimate(smooth_best)


def psf_balance(img: np.ndarray) -> float:
    """Wiener balance for a PSF found blind: ``adaptive_balance`` (from the noise estimate), never
    below PSF_BALANCE -- the PSF read off the spectrum is never exact, and real photos carry JPEG
    and noise that the noise estimate misses (the floor was the best of 3e-3 ... 6e-2 on the
    tuning photos of bench/psf_identify.py)."""
    return max(PSF_BALANCE, adaptive_balance(img))


def deconvolve(img_u8: np.ndarray, est: PSFEstimate) -> np.ndarray:
    """Wiener-deconvolve a uint8 (H, W, 3) photo with an estimated PSF (a copy when it is none)."""
    if est.kernel.shape == (1, 1):
        return np.array(img_u8, copy=True)
    img = _to_float(img_u8)
    return _to_uint8(_wiener_deconvolve(img, est.kernel, psf_balance(img)))


def is_large(est: PSFEstimate) -> bool:
    """Whether a network should be handed the deconvolved photo instead (LARGE_SIZE)."""
    return est.family in LARGE_SIZE and est.size >= LARGE_SIZE[est.family]


def deconvolve_large(img_u8: np.ndarray) -> tuple[np.ndarray, PSFEstimate]:
    """(the photo deconvolved when it carries a large disc / straight-motion blur, else itself; the
    estimate). What a network named ``NAME+psf`` runs first."""
    if min(img_u8.shape[:2]) < 32:
        return img_u8, PSFEstimate("none", 0.0, None, np.ones((1, 1)), 0.0, 1.0)
    est = identify_psf(img_u8)
    return (deconvolve(img_u8, est) if is_large(est) else img_u8), est
