"""Where a number came from: commit, library versions, machine (deblur.provenance), weight hashes.

Every run directory gets a JSON file built from these, so a leaderboard row can be traced to the
code, the weights and the hardware that produced it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from deblur.provenance import (REPO_ROOT, cpu_flags, cpu_model, git_commit, library_versions,  # noqa: F401
                               machine, now_utc)


def weight_hashes(names: list[str]) -> dict[str, str | None]:
    """sha256 recorded in weights/manifest.json (deblur.weights.read_manifest) for shipped names
    (a self-ensemble, NAME+x8, and an oracle, NAME+true_sigma, run NAME's weights)."""
    from deblur.registry import ENSEMBLE_SUFFIX, ORACLE_SUFFIX
    from deblur.weights import read_manifest

    manifest = read_manifest()
    base = {n: n.removesuffix(ENSEMBLE_SUFFIX).removesuffix(ORACLE_SUFFIX) for n in names}
    return {n: (manifest.get(b) or {}).get("sha256") for n, b in base.items() if b in manifest}


def session(argv: list[str] | None) -> dict[str, Any]:
    """One invocation's record: when, which code, what command line."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not available
        load = None
    # The load average tells a reader whether other processes shared the CPU during timing.
    return {"started": now_utc(), **git_commit(), "argv": list(argv if argv is not None else sys.argv[1:]),
            "load_average": load}
