"""Put a standalone-trained deblur.sigma_net estimator into a kernel-aware weight file.

    python bench/swap_estimator.py KA.safetensors SIGMA_NET.safetensors OUT.safetensors

Why this is sound: in kernel_aware_atrous the image loss never reaches the estimator (the refinement
is trained on the true sigma, jittered; tests/test_models.py checks the estimator gets no image
gradient), so swapping the estimator changes only the blind sigma estimate, not what the
refinement learned. Used when the jointly trained copy drifted from the standalone one on the
trainer's multi-scale crops (see the card). Prints the new file's SHA-256.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur import sigma_net  # noqa: E402
from deblur.weights import load_weights, save_weights  # noqa: E402

src, est_path, out = sys.argv[1:4]
model, meta = load_weights(src)
est, info = sigma_net.load(est_path)
if est.config != model.estimator.config:
    raise SystemExit(f"{est_path} holds {est.config}, the model's estimator is {model.estimator.config}")
model.estimator.load_state_dict(est.state_dict())
meta = {k: v for k, v in meta.items() if k != "config"}
meta["estimator"] = {"file": est_path, "samples": info.get("samples"), "val_mae_px": info.get("val_mae_px")}
print(save_weights(out, model, meta))
