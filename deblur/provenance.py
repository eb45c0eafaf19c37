"""Where a number or a weight file came from: commit, library versions, machine.

Shared by the trainer (weight-file metadata and model cards) and the evaluator (every run
directory's JSON), so a leaderboard row and a shipped network are traced the same way.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from deblur import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent

# Distributions whose versions can move a score or a timing.
_LIBRARIES = ("torch", "numpy", "scipy", "scikit-image", "pillow", "pandas", "safetensors", "av", "tqdm")


def git_commit(root: Path = REPO_ROOT) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None}; None when git or the repository is absent."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        # Dirty = the code that produces numbers (deblur/, eval/) differs from the commit,
        # new files included; other people's work elsewhere in the checkout does not count.
        status = subprocess.run(["git", "status", "--porcelain", "--", "deblur", "eval",
                                 ":(exclude)eval/leaderboards"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha or None, "dirty": bool(status.strip())}


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["deblur"] = __version__
    return out


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The matrix-relevant ISA flags (AVX-512 family, AMX, bf16) this CPU reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "fma")) or "bf16" in f)
    except OSError:
        pass
    return []


def machine() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": usable,
        "logical_cpus": os.cpu_count(),
        "isa": cpu_flags(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
