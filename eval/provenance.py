"""Where a number came from: commit, library versions, machine (deblur.provenance), weight hashes.

Every run directory gets a JSON file built from these, so a leaderboard row can be traced to the
code, the weights and the hardware that produced it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from deblur import registry
from deblur.registry import ModelInfo
from deblur.weights import sha256_file
from deblur.provenance import (REPO_ROOT, cpu_flags, cpu_model, git_commit, library_versions,  # noqa: F401
                               machine, now_utc)


def weight_hash(info: ModelInfo) -> str | None:
    """The SHA-256 of the weights a restorer runs, from the registry (deblur.registry.lookup, the
    one parser of model names: NAME+x8, NAME+psf and NAME+true_sigma are wrappers it builds around
    NAME's weights, pnp runs its prior's): the manifest's hash, or a weight file's own when the
    name is a path. None only for a restorer without weights (a classical baseline)."""
    if info.sha256:
        return info.sha256
    return sha256_file(info.path) if info.path is not None else None


def weight_hashes(names: list[str], blur: str | None = None) -> dict[str, str | None]:
    """``weight_hash`` of every name (networks and restorers built on a trained prior)."""
    return {n: weight_hash(registry.lookup(n, blur)) for n in names}


def session(argv: list[str] | None) -> dict[str, Any]:
    """One invocation's record: when, which code, what command line."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not available
        load = None
    # The load average tells a reader whether other processes shared the CPU during timing.
    return {"started": now_utc(), **git_commit(), "argv": list(argv if argv is not None else sys.argv[1:]),
            "load_average": load}
