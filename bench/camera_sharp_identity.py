"""PSNR of each camera network's output on sharp, clean photos (no blur, no noise) against the photo itself:
what it damages. Five corpus validation photos (corpus/photos, never trained on) and builtin rocket.
    python bench/camera_sharp_identity.py [WEIGHTS.safetensors ...]   (default: the shipped res_unet-camera)
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image
import skimage.data as sd
from deblur.inference import Deblurrer
from deblur.weights import load_weights
from deblur.metrics import psnr

photos = {n: np.asarray(Image.open(f"corpus/photos/{n}.png").convert("RGB")) for n in ("aero1", "castle", "graf1", "messi5", "stuff")}
photos["rocket"] = sd.rocket()
nets = {p: p for p in (sys.argv[1:] or ["weights/res_unet-camera.safetensors"])}
for label, path in nets.items():
    m, _ = load_weights(path)
    d = Deblurrer(m)
    vals = []
    for n, img in photos.items():
        out = d(img)
        vals.append(psnr(out, img))
    print(label, " ".join(f"{n} {v:.2f}" for n, v in zip(photos, vals)), f"mean {np.mean(vals):.2f}", flush=True)
