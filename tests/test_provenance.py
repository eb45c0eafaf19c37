"""Every published board says what its rows ran and were handed (issue 24, deliverable 5)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image

from deblur import registry
from eval.cli import main
from eval.provenance import weight_hash, weight_hashes
from eval.run import PER_IMAGE_COLUMNS
from eval.sweep import SWEEP_COLUMNS, SWEEP_SUMMARY_COLUMNS, summarise

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


def _rows_told_as_the_registry_says(path: Path, columns: list[str]) -> pd.DataFrame:
    """The published rows of ``path``, checked: its columns are ``columns`` and every row's told is
    the registry's for its model and blur."""
    rows = pd.read_csv(path, keep_default_na=False)
    assert list(rows.columns) == columns
    told = {(m, b): registry.lookup(m, b).told for m, b in set(zip(rows["model"], rows["blur"]))}
    assert [told[m, b] for m, b in zip(rows["model"], rows["blur"])] == list(rows["told"])
    assert set(told.values()) <= {"kernel", "sigma", ""}
    return rows


@pytest.mark.parametrize("path", sorted(BOARDS.glob("*/per_image.csv")), ids=lambda p: p.parent.name)
def test_every_per_image_row_says_what_it_was_handed(path):
    rows = _rows_told_as_the_registry_says(path, PER_IMAGE_COLUMNS)
    # the leaderboard beside it says the same per model (it is the group-by of these rows)
    lb = pd.read_csv(path.parent / "leaderboard.csv", keep_default_na=False)
    assert dict(zip(lb["model"], lb["told"])) == dict(zip(rows["model"], rows["told"]))


@pytest.mark.parametrize("path", sorted(BOARDS.glob("*/sweep_per_image.csv")), ids=lambda p: p.parent.name)
def test_every_sweep_row_says_what_it_was_handed(path):
    _rows_told_as_the_registry_says(path, SWEEP_COLUMNS)
    table = pd.read_csv(path.parent / "sweep.csv", keep_default_na=False)
    assert list(table.columns) == SWEEP_SUMMARY_COLUMNS
    # the sweep table is the group-by of these rows, told included
    again = summarise(pd.read_csv(path))
    assert list(again["told"].fillna("")) == list(table["told"]) and np.allclose(again["psnr"], table["psnr"])


def test_the_evaluator_writes_told_in_every_row(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.ascontiguousarray(skimage.data.astronaut()[60:108, 180:236])).save(photos / "astronaut.png")
    oracle = "kernel_aware_atrous-gaussian+true_sigma"
    models = ["blurred", "wiener", "kernel_aware_atrous-gaussian", oracle]
    out = tmp_path / "run"
    assert main(["--dataset", f"photos:{photos}", "--blur", "gaussian", "--models", ",".join(models),
                 "--out", str(out), "--no-progress"]) == 0
    rows = pd.read_csv(out / "per_image.csv", keep_default_na=False)
    assert list(rows.columns) == PER_IMAGE_COLUMNS
    assert dict(zip(rows["model"], rows["told"])) == {"blurred": "", "wiener": "kernel",
                                                      "kernel_aware_atrous-gaussian": "", oracle: "sigma"}
    lb = pd.read_csv(out / "leaderboard.csv", keep_default_na=False)
    assert dict(zip(lb["model"], lb["told"])) == dict(zip(rows["model"], rows["told"]))
