"""Weight files that rebuild their own model, and the manifest of shipped weights.

A weight file is a safetensors file: the tensors plus string metadata holding the
architecture and its constructor arguments (``config``), the task, the training data and the
commit it was trained at. Loading never unpickles code. ``weights/manifest.json`` records the
SHA-256 of every shipped file, so a corrupted or swapped file is refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import UnknownModelError, WeightsError
from .models import create, model_config

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = "manifest.json"

# The shipped networks and the task each one serves (names are part of the public interface).
SHIPPED = {
    "carlo_net-gaussian": "gaussian",
    "kaist_net-gaussian": "gaussian",
    "atrous_net-gaussian": "gaussian",
    "kaist_net-motion": "motion",
    "atrous_net-motion": "motion",
}


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


STORE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def save_weights(path: str | Path, model: nn.Module, meta: dict[str, Any] | None = None,
                 store: str = "float32") -> str:
    """Write ``model`` with its rebuild config and ``meta`` (task, data, commit, ...); return SHA-256.

    ``store="float16"`` halves the file (for the paper-size networks); ``load_weights`` casts
    the tensors back into the model's float32 parameters.
    """
    if store not in STORE_DTYPES:
        raise ValueError(f"store must be one of {', '.join(STORE_DTYPES)}, not {store!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (meta or {}).items()}
    metadata["config"] = json.dumps(model_config(model))
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tensors = {k: v.to(STORE_DTYPES[store]) if v.is_floating_point() else v for k, v in tensors.items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)  # never leave a half-written file under the real name
    return sha256_file(path)


def _decode(meta: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except (json.JSONDecodeError, TypeError):
            out[k] = v
    return out


def load_weights(path: str | Path, sha256: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored in ``path``; refuse it if ``sha256`` is given and differs."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    if sha256 is not None and sha256_file(path) != sha256:
        raise WeightsError(f"weight file {path} does not match its recorded SHA-256: corrupted or replaced; "
                           "restore it from git (git checkout -- weights/)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = _decode(f.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weight file {path}: {e}") from e
    cfg = meta.get("config")
    if not isinstance(cfg, dict) or "arch" not in cfg:
        raise WeightsError(f"weight file {path} has no model config in its metadata")
    model = create(cfg["arch"], cfg["args"])
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise WeightsError(f"weights in {path} do not fit their own config: {e}") from e
    model.eval()
    return model, meta


def read_manifest(weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, dict[str, Any]]:
    path = Path(weights_dir) / MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def write_manifest_entry(name: str, file: str | Path, sha256: str, info: dict[str, Any],
                         weights_dir: str | Path = WEIGHTS_DIR) -> None:
    """Record (or replace) one shipped weight file in the manifest."""
    manifest = read_manifest(weights_dir)
    manifest[name] = {"file": Path(file).name, "sha256": sha256, **info}
    path = Path(weights_dir) / MANIFEST
    path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


def shipped_models(task: str | None = None, weights_dir: str | Path = WEIGHTS_DIR) -> list[str]:
    """Names of shipped networks whose weight files are present (optionally for one task)."""
    manifest = read_manifest(weights_dir)
    return [n for n, e in manifest.items()
            if (task is None or e.get("task") == task) and (Path(weights_dir) / e["file"]).is_file()]


def load_model(name: str, weights_dir: str | Path = WEIGHTS_DIR) -> tuple[nn.Module, dict[str, Any]]:
    """Load a shipped network by name, checking its hash; unknown names list the valid ones."""
    manifest = read_manifest(weights_dir)
    if name not in manifest:
        valid = ", ".join(sorted(manifest)) or "none shipped yet"
        raise UnknownModelError(f"unknown model {name!r}; shipped models: {valid}")
    entry = manifest[name]
    return load_weights(Path(weights_dir) / entry["file"], sha256=entry["sha256"])
