"""Weight files that rebuild their own model, and the manifest of shipped weights.

A weight file is a safetensors file: the tensors plus string metadata holding the
architecture and its constructor arguments (``config``), the task, the training data, the
commit it was trained at and ``tensors_sha256``, a checksum of its own tensors. Loading never
unpickles code. ``weights/manifest.json`` records the SHA-256 of every shipped file, so a
corrupted or swapped file is refused with a clear message; the tensor checksum does the same
for a file given by path, which no manifest vouches for.

Every failure a user can cause -- a missing, unreadable or corrupted file, metadata that names
an unknown architecture or wrong constructor arguments, a malformed manifest -- is a
``WeightsError`` with one sentence, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import UnknownModelError, WeightsError
from .models import ARCHITECTURES, PRIOR_ARCHITECTURES, create, model_config

MANIFEST = "manifest.json"
WEIGHTS_ENV = "DEBLUR_WEIGHTS"  # a folder of weights and their manifest, overriding the shipped ones
PACKAGED_WEIGHTS = Path(__file__).resolve().parent / "_weights"  # an installed wheel's copy (pyproject.toml)
CHECKOUT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"  # the repository's folder


def default_weights_dir() -> Path:
    """Where the shipped weights are looked up: $DEBLUR_WEIGHTS when set, else the copy inside an
    installed package (pip install .: weights/ travels as deblur/_weights), else the repository's
    weights/ beside the source tree (a checkout or an editable install)."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV]).expanduser()
    if (PACKAGED_WEIGHTS / MANIFEST).is_file():
        return PACKAGED_WEIGHTS
    return CHECKOUT_WEIGHTS


WEIGHTS_DIR = default_weights_dir()
TENSORS_KEY = "tensors_sha256"  # metadata key of the tensor checksum (see tensors_sha256)

# The shipped networks and the task each one serves (names are part of the public interface).
SHIPPED = {
    "carlo_net-gaussian": "gaussian",
    "kaist_net-gaussian": "gaussian",
    "atrous_net-gaussian": "gaussian",
    "kaist_net-motion": "motion",
    "atrous_net-motion": "motion",
}

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in sorted name order.

    Unlike the file's SHA-256 it does not depend on the metadata or the file layout, so a file
    can carry it: ``save_weights`` writes it under TENSORS_KEY and ``load_weights`` checks it,
    which catches flipped tensor bytes in a file that no manifest entry vouches for. Each
    tensor is hashed as a one-line JSON header ``[name, dtype, shape]`` then its raw
    (little-endian) bytes; the header fixes the byte count, so the stream is unambiguous.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        dtype = str(t.dtype).removeprefix("torch.")
        h.update(json.dumps([name, dtype, list(t.shape)]).encode() + b"\n")
        # A byte view, not .numpy() of the values: works for every dtype (bfloat16 included).
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


STORE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def save_weights(path: str | Path, model: nn.Module, meta: dict[str, Any] | None = None,
                 store: str = "float32") -> str:
    """Write ``model`` with its rebuild config and ``meta`` (task, data, commit, ...); return SHA-256.

    ``store="float16"`` halves the file (for the paper-size networks); ``load_weights`` casts
    the tensors back into the model's float32 parameters. The metadata also gets
    ``tensors_sha256`` of the tensors as stored (a stale one in ``meta`` is replaced).
    """
    if store not in STORE_DTYPES:
        raise ValueError(f"store must be one of {', '.join(STORE_DTYPES)}, not {store!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (meta or {}).items()}
    metadata["config"] = json.dumps(model_config(model))
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tensors = {k: v.to(STORE_DTYPES[store]) if v.is_floating_point() else v for k, v in tensors.items()}
    metadata[TENSORS_KEY] = tensors_sha256(tensors)
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


def read_metadata(path: str | Path) -> dict[str, Any]:
    """A weight file's metadata, JSON values decoded, without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return _decode(dict(f.metadata() or {}))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weight file {path}: {_one_line(e)}") from e


def load_weights(path: str | Path, sha256: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored in ``path``; refuse it if ``sha256`` is given and differs.

    The tensors are checked against the file's own ``tensors_sha256`` when it has one. Files
    written before that key existed have none and load unchecked, as they always did (a
    shipped file is still checked by the manifest's ``sha256``): refusing them would break
    every older weight file for no gain in the case the check exists for.

    Raises:
        WeightsError: the file is missing, unreadable, corrupted (file or tensor checksum),
            or its metadata cannot rebuild a model (no config, an unknown architecture,
            constructor arguments the architecture does not take, tensors that do not fit).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    if sha256 is not None and sha256_file(path) != sha256:
        raise WeightsError(f"weight file {path} does not match its recorded SHA-256: corrupted or replaced; "
                           "restore it from git (git checkout -- weights/)")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = dict(f.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weight file {path}: {_one_line(e)}") from e
    if TENSORS_KEY in raw and raw[TENSORS_KEY] != tensors_sha256(tensors):
        raise WeightsError(f"weight file {path} fails its own tensor checksum ({TENSORS_KEY}): "
                           "its tensors were corrupted after it was written; restore or re-download it")
    meta = _decode(raw)
    model = _rebuild(path, meta.get("config"))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise WeightsError(f"weights in {path} do not fit their own config: {_one_line(e)}") from e
    model.eval()
    return model, meta


def _rebuild(path: Path, cfg: Any) -> nn.Module:
    """The untrained model a weight file's ``config`` metadata describes, or WeightsError."""
    if not isinstance(cfg, dict) or "arch" not in cfg:
        raise WeightsError(f"weight file {path} has no model config in its metadata")
    arch, args = cfg["arch"], cfg.get("args", {})
    if not isinstance(arch, str) or (arch not in ARCHITECTURES and arch not in PRIOR_ARCHITECTURES):
        raise WeightsError(f"weight file {path} names an unknown architecture {arch!r} "
                           f"(known: {', '.join(ARCHITECTURES)}); it was written by another version "
                           "of this project or is not one of its weight files")
    if not isinstance(args, dict):
        raise WeightsError(f"weight file {path} has malformed constructor arguments for {arch}: {args!r}")
    try:
        return create(arch, args)
    except (TypeError, ValueError, RuntimeError) as e:  # unknown keyword, bad value, bad size
        raise WeightsError(f"weight file {path} has constructor arguments {arch} does not accept "
                           f"({_one_line(e)})") from e


# ------------------------------------------------------------------------------- manifest


class _Manifest(NamedTuple):
    """A parsed manifest: the usable entries, the reason the whole file is unusable (or None)
    and, per model name, why its entry is unusable."""

    entries: dict[str, dict[str, Any]]
    problem: str | None
    bad: dict[str, str]


def _weights_dir(weights_dir: str | Path | None) -> Path:
    # Resolved per call (not as a default argument) so tests can point WEIGHTS_DIR elsewhere.
    return Path(WEIGHTS_DIR if weights_dir is None else weights_dir)


def _parse_manifest(weights_dir: str | Path | None) -> _Manifest:
    path = _weights_dir(weights_dir) / MANIFEST
    if not path.is_file():
        return _Manifest({}, None, {})
    restore = "restore it from git (git checkout -- weights/manifest.json)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return _Manifest({}, f"weights manifest {path} is not valid JSON ({_one_line(e)}); {restore}", {})
    except (OSError, UnicodeDecodeError) as e:
        return _Manifest({}, f"cannot read weights manifest {path} ({_one_line(e)})", {})
    if not isinstance(data, dict):
        return _Manifest({}, f"weights manifest {path} holds a JSON {type(data).__name__}, "
                             f"not an object of model entries; {restore}", {})
    entries: dict[str, dict[str, Any]] = {}
    bad: dict[str, str] = {}
    for name, entry in data.items():
        why = _entry_problem(entry)
        if why is None:
            entries[name] = entry
        else:
            bad[name] = f"model {name!r} in weights manifest {path} {why}; {restore}"
    return _Manifest(entries, None, bad)


def _entry_problem(entry: Any) -> str | None:
    """Why one manifest entry is unusable, or None."""
    if not isinstance(entry, dict):
        return f"is not an object (got {entry!r})"
    file = entry.get("file")
    # A bare file name: an entry must not point outside the weights folder.
    if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
        return f"has no valid 'file' (a file name in the weights folder), got {file!r}"
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        return f"has no valid 'sha256' (64 lower-case hex digits), got {sha!r}"
    if "task" in entry and not isinstance(entry["task"], str):
        return f"has a 'task' that is not a string: {entry['task']!r}"
    return None


def read_manifest(weights_dir: str | Path | None = None, strict: bool = True) -> dict[str, dict[str, Any]]:
    """The manifest's entries by model name ({} when there is no manifest).

    Each entry has at least a bare ``file`` name and a ``sha256``. ``strict`` (the CLI, the
    evaluator, training) raises on any malformed part; ``strict=False`` (the app, which must
    start anyway) returns only the well-formed entries -- ``manifest_problems`` says what was
    left out and why.

    Raises:
        WeightsError: (strict only) the manifest is not valid JSON, not an object, or an entry
            lacks a valid ``file`` / ``sha256``. One sentence naming the file.
    """
    parsed = _parse_manifest(weights_dir)
    if strict:
        problems = [parsed.problem] if parsed.problem else list(parsed.bad.values())
        if problems:
            more = f" (and {len(problems) - 1} more malformed entries)" if len(problems) > 1 else ""
            raise WeightsError(problems[0] + more)
    return dict(parsed.entries)


def manifest_problems(weights_dir: str | Path | None = None) -> dict[str, str]:
    """Why shipped models cannot be offered: {model name: one-line reason}; {} when all is well.

    The key MANIFEST ("manifest.json") stands for the whole file (unreadable or not valid JSON:
    no model can be offered). Other keys are models whose entry is malformed or whose weight
    file is missing. Never raises: this is what a caller that must keep running (the app) shows its users,
    while ``shipped_models(strict=False)`` gives the models that remain.
    """
    parsed = _parse_manifest(weights_dir)
    if parsed.problem:
        return {MANIFEST: parsed.problem}
    out = dict(parsed.bad)
    folder = _weights_dir(weights_dir)
    for name, entry in parsed.entries.items():
        if not (folder / entry["file"]).is_file():
            out[name] = f"the weight file of model {name!r} is missing: {folder / entry['file']}"
    return out


def write_manifest_entry(name: str, file: str | Path, sha256: str, info: dict[str, Any],
                         weights_dir: str | Path | None = None) -> None:
    """Record (or replace) one shipped weight file in the manifest (refused if it is malformed)."""
    manifest = read_manifest(weights_dir)
    manifest[name] = {"file": Path(file).name, "sha256": sha256, **info}
    path = _weights_dir(weights_dir) / MANIFEST
    path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


def shipped_models(task: str | None = None, weights_dir: str | Path | None = None,
                   strict: bool = True) -> list[str]:
    """Names of shipped networks whose weight files are present (optionally for one task).

    Raises:
        WeightsError: (strict only, the default) the manifest is malformed; with
            ``strict=False`` its usable entries are listed instead (see ``manifest_problems``).
    """
    folder = _weights_dir(weights_dir)
    manifest = read_manifest(folder, strict=strict)
    return [n for n, e in manifest.items()
            if (task is None or e.get("task") == task) and (folder / e["file"]).is_file()]


def load_model(name: str, weights_dir: str | Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load a shipped network by name, checking its hash; unknown names list the valid ones.

    Only the named entry has to be well-formed, so one broken entry does not block the others.

    Raises:
        UnknownModelError: no such model in the manifest (the message lists the valid names).
        WeightsError: the manifest or this model's entry is malformed, or the file is missing,
            corrupted or cannot rebuild its model (see load_weights).
    """
    folder = _weights_dir(weights_dir)
    parsed = _parse_manifest(folder)
    if parsed.problem:
        raise WeightsError(parsed.problem)
    if name in parsed.bad:
        raise WeightsError(parsed.bad[name])
    if name not in parsed.entries:
        valid = ", ".join(sorted(parsed.entries)) or "none shipped yet"
        raise UnknownModelError(f"unknown model {name!r}; shipped models: {valid}")
    entry = parsed.entries[name]
    return load_weights(folder / entry["file"], sha256=entry["sha256"])
