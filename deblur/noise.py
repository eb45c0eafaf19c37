"""Noise synthesis for the denoiser prior: pure functions, randomness only through a generator.

Three kinds of corruption a photo carries, each drawn at a level from 0 to 50/255 (std on the
[0, 1] scale, sRGB):

* ``gaussian``: white Gaussian noise of a given std (what a plug-and-play solver's intermediate
  image is modelled as; also the level of the denoising board);
* ``poisson_gaussian``: a sensor's shot + read noise in linear light (variance a * x + b^2),
  then the sRGB curve, so dark regions get more visible noise than bright ones;
* ``jpeg``: a JPEG round trip (Pillow, 4:2:0) at a quality, alone or after sensor noise.

``random_corruption`` draws one of them per sample and returns the noisy image with the level
the denoiser is told: the drawn std for Gaussian noise, else the root-mean-square of the actual
corruption (noisy - clean), clipped to MAX_LEVEL, the number a noise estimator could measure.
"""

from __future__ import annotations

import numpy as np

from deblur.blur import jpeg_roundtrip, linear_to_srgb, srgb_to_linear

MAX_LEVEL = 50.0 / 255.0
# Share of training samples of each kind (the rest, CLEAN, stays clean and is told level 0).
KIND_PROBS = {"gaussian": 0.35, "poisson_gaussian": 0.2, "jpeg": 0.15, "sensor_jpeg": 0.2, "clean": 0.1}
SHOT_RANGE = (1e-4, 3e-2)   # shot-noise gain a (variance a * x in linear light), log-uniform
READ_RANGE = (5e-4, 2e-2)   # read-noise std b in linear light, log-uniform
JPEG_QUALITY = (15, 95)


def gaussian(clean: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` (H, W, 3) float in [0, 1] plus white Gaussian noise of ``std`` (not clipped)."""
    return (clean + std * rng.standard_normal(clean.shape)).astype(np.float32)


def poisson_gaussian(clean: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    """Shot (variance ``shot`` * x) and read (std ``read``) noise added in linear light; back to
    sRGB, clipped to [0, 1] as a camera's output is."""
    lin = srgb_to_linear(clean)
    std = np.sqrt(shot * lin + read**2)
    return linear_to_srgb(lin + std * rng.standard_normal(lin.shape).astype(np.float32))


def measured_level(noisy: np.ndarray, clean: np.ndarray) -> float:
    """Root-mean-square of the corruption, clipped to MAX_LEVEL: the level a denoiser is told."""
    return float(min(np.sqrt(np.mean((noisy.astype(np.float64) - clean) ** 2)), MAX_LEVEL))


def random_corruption(clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float, str]:
    """One corrupted copy of ``clean`` (float32 (H, W, 3) in [0, 1]): (noisy, level, kind).

    The generator is consumed in a fixed order for a given kind, so a seed repeats a sample.
    """
    kinds = list(KIND_PROBS)
    kind = kinds[int(rng.choice(len(kinds), p=list(KIND_PROBS.values())))]
    if kind == "clean":
        return clean.astype(np.float32), 0.0, kind
    if kind == "gaussian":
        std = float(rng.uniform(0.0, MAX_LEVEL))
        return gaussian(clean, std, rng), std, kind
    noisy = clean.astype(np.float32)
    if kind in ("poisson_gaussian", "sensor_jpeg"):
        shot = float(np.exp(rng.uniform(*np.log(SHOT_RANGE))))
        read = float(np.exp(rng.uniform(*np.log(READ_RANGE))))
        noisy = poisson_gaussian(noisy, shot, read, rng)
    if kind in ("jpeg", "sensor_jpeg"):
        noisy = jpeg_roundtrip(np.clip(noisy, 0.0, 1.0), int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    return noisy, measured_level(noisy, clean), kind
