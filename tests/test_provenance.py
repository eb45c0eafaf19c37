"""Every published board says what its rows ran and were handed (issue 24, deliverable 5)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from deblur import registry
from eval.provenance import weight_hash, weight_hashes

BOARDS = Path(__file__).resolve().parent.parent / "eval" / "leaderboards"


def test_hashes_come_from_the_registry_for_every_wrapper():
    base = registry.lookup("res_unet-camera").sha256
    assert base
    got = weight_hashes(["res_unet-camera+psf", "res_unet-camera+x8", "res_unet-camera+psf+x8", "wiener"])
    assert got == {"res_unet-camera+psf": base, "res_unet-camera+x8": base, "res_unet-camera+psf+x8": base,
                   "wiener": None}
    oracle = "kernel_aware_atrous-gaussian+true_sigma"
    assert weight_hash(registry.lookup(oracle)) == registry.lookup("kernel_aware_atrous-gaussian").sha256
    assert weight_hash(registry.lookup("pnp"))  # a restorer on a trained prior runs the prior's weights


@pytest.mark.parametrize("path", sorted(BOARDS.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_published_network_has_a_null_hash(path):
    meta = json.loads(path.read_text())
    for name, m in (meta.get("models") or {}).items():
        if m.get("kind") == "network":
            assert m.get("sha256"), f"{name} in {path} has no sha256"
    assert all((meta.get("weights_sha256") or {}).values())


@pytest.mark.parametrize("path", sorted(BOARDS.glob("*/leaderboard.csv")), ids=lambda p: p.parent.name)
def test_every_leaderboard_says_what_a_row_was_handed(path):
    lb = pd.read_csv(path, keep_default_na=False)
    assert "told" in lb.columns and set(lb["told"]) <= {"kernel", "sigma", ""}
    for _, row in lb.iterrows():
        if "+true_sigma" in row["model"]:
            assert row["told"] == "sigma"
        elif row["model"] in ("wiener", "richardson_lucy", "pnp", "pnp_linear"):
            assert row["told"] == "kernel"
