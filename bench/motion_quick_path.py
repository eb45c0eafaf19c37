"""Experiment: a closed-form camera path (phase correlation of the neighbours, quadratic path) vs the fit."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import time
import numpy as np, torch, skimage.data as sd
from deblur import multiframe as M
from deblur.degrade import motion
from deblur.weights import load_weights

def psnr(a, b):
    return 10 * np.log10(255.0**2 / ((a.astype(float) - b.astype(float)) ** 2).mean())

def quick_path(frames, s=M.SUBFRAMES):
    grey = frames.astype(np.float64).mean(-1) / 255.0
    h, w = grey.shape[1:]
    side = min(h, w, 256)
    y0, x0 = (h - side) // 2, (w - side) // 2
    c = grey[:, y0:y0 + side, x0:x0 + side]
    win = np.hanning(side)[:, None] * np.hanning(side)[None]
    c = [(g - g.mean()) * win for g in c]
    d2 = M._xcorr_shift(c[1], c[2]); d0 = M._xcorr_shift(c[1], c[0])
    b = (d2 + d0) / 2; a = (d2 - d0) / 2
    vel = torch.tensor(np.stack([a - 3 * b, a + 3 * b]), dtype=torch.float64)
    shift, angle = M._path(vel, torch.zeros(2, dtype=torch.float64), s)
    return M.CameraPath(shift.numpy(), angle.numpy(), ((w - 1) / 2.0, (h - 1) / 2.0))

net, _ = load_weights("weights/multiframe_atrous-motion.safetensors"); net.eval()
def refine(frames, prior):
    x = np.concatenate([frames, prior[None]], 0).astype(np.float32) / 255.0
    x = torch.from_numpy(x).permute(0, 3, 1, 2).reshape(1, 12, *x.shape[1:3])
    with torch.no_grad():
        y = net(x)[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(y * 255), 0, 255).astype(np.uint8)

names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"]
for i, n in enumerate(names):
    img = getattr(sd, n)()
    h, w = img.shape[:2]; S = 320
    img = img[(h - S) // 2:(h - S) // 2 + S, (w - S) // 2:(w - S) // 2 + S]
    d = motion(img, np.random.default_rng(100 + i), length=8.0)
    f, t = d.frames, d.target
    t0 = time.time(); pq = quick_path(f); tq = time.time() - t0
    t0 = time.time(); pf = M.estimate_path(f); tf = time.time() - t0
    rq, rf = M.restore(f, path=pq), M.restore(f, path=pf)
    print(f"{n:22s} blurred {psnr(f[1], t):.2f} | fit {psnr(rf, t):.2f} ->net {psnr(refine(f, rf), t):.2f} ({tf:.1f}s)"
          f" | quick {psnr(rq, t):.2f} ->net {psnr(refine(f, rq), t):.2f} ({tq*1000:.0f}ms)"
          f" | path diff rms {np.sqrt(((pq.shift - pf.shift)**2).sum(1).mean()):.2f}px", flush=True)
