"""Fine-tuning a shipped network on a user's own folders (issue 28): --data pairs:DIR and photos:DIR.

The folders are written in tmp_path: smooth random images (sharp) and Gaussian-blurred copies.
The runs are tiny (a few dozen samples of 32-48 px crops); what they check is the plumbing: the
--init file's architecture, preset and task, the held-out split, the card, and that the written
weight file loads in ``python -m deblur IMG -o OUT -m FILE``.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from deblur.cli import main as cli_main
from deblur.errors import DeblurError
from deblur.io import read_image
from deblur.sampling import PairSampler, PhotoSampler, own_data, own_samplers
from deblur.train import main, parse_args
from deblur.weights import load_weights, read_metadata

REPO = Path(__file__).resolve().parent.parent
RES_UNET = REPO / "weights" / "res_unet-camera.safetensors"
ATROUS = REPO / "weights" / "atrous_net-camera.safetensors"


def _smooth(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random smooth RGB image in [0, 1], (size, size, 3)."""
    img = gaussian_filter(rng.random((size, size, 3)), (3, 3, 0))
    return (img - img.min()) / (np.ptp(img) + 1e-9)


def _pairs(root: Path, n: int = 6, size: int = 96) -> Path:
    """ROOT/sharp/pK.png and ROOT/blur/pK.png (the sharp image Gaussian-blurred, sigma 1.5)."""
    rng = np.random.default_rng(1)
    for sub in ("blur", "sharp"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        sharp = _smooth(rng, size)
        Image.fromarray((sharp * 255).round().astype(np.uint8)).save(root / "sharp" / f"p{i}.png")
        blurred = gaussian_filter(sharp, (1.5, 1.5, 0))
        Image.fromarray((blurred * 255).round().astype(np.uint8)).save(root / "blur" / f"p{i}.png")
    return root


def _photos(root: Path, n: int = 4, size: int = 96) -> Path:
    rng = np.random.default_rng(2)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray((_smooth(rng, size) * 255).round().astype(np.uint8)).save(root / f"photo{i}.png")
    return root


def _tiny(tmp_path: Path, *extra: str) -> list[str]:
    return ["--budget", "+16", "--crop", "32", "--batch", "4", "--steps-per-epoch", "2", "--val-samples", "4",
            "--threads", "2", "--run-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--ship", *extra]


def _deblur_with(tmp_path: Path, weights: Path, image: Path) -> np.ndarray:
    out = tmp_path / "deblurred.png"
    assert cli_main([str(image), "-o", str(out), "-m", str(weights)]) == 0
    return read_image(out)


@pytest.mark.parametrize("init", [RES_UNET, ATROUS], ids=["res_unet", "atrous_net"])
def test_pairs_fine_tune_a_shipped_camera_network_into_a_file_the_cli_loads(tmp_path, init):
    pairs = _pairs(tmp_path / "my pairs")
    assert main(["--data", f"pairs:{pairs}", "--init", str(init), "--name", "mine", *_tiny(tmp_path)]) == 0
    weights = tmp_path / "out" / "mine.safetensors"
    model, meta = load_weights(weights)
    shipped = read_metadata(init)
    # the architecture, preset and task came from the --init file, not the trainer's defaults
    assert meta["config"] == shipped["config"] and meta["task"] == "camera" and meta["preset"] == shipped["preset"]
    assert meta["data"] == {"pairs": str(pairs), "count": 6, "train": 5, "validation": 1, "crop": 32}
    assert meta["init"] == str(init)
    # --budget +16 counts on from the shipped network's log: 16 samples of the pairs, not 16 in all
    assert meta["samples_seen"] == shipped["samples_seen"] + 16
    card = (tmp_path / "out" / "mine.md").read_text()
    assert f"your pairs at `{pairs}` (6 blurred / sharp pairs" in card
    assert "every tenth (1: p0) held out for validation" in card
    assert f"Initialised from `{init}`" in card and "the pairs' own (real) blur" in card
    restored = _deblur_with(tmp_path, weights, pairs / "blur" / "p1.png")
    assert restored.shape == (96, 96, 3) and restored.dtype == np.uint8


def test_photos_fine_tune_blurs_them_with_the_init_files_family(tmp_path):
    photos = _photos(tmp_path / "photos")
    assert main(["--data", f"photos:{photos}", "--init", str(ATROUS), *_tiny(tmp_path)]) == 0
    weights = tmp_path / "out" / "atrous_net-camera.safetensors"
    meta = read_metadata(weights)
    assert meta["data"]["photos"] == str(photos) and meta["data"]["count"] == 4 and meta["init"] == str(ATROUS)
    card = (tmp_path / "out" / "atrous_net-camera.md").read_text()
    assert f"your photos at `{photos}` (4 sharp photos: 3 trained on" in card
    assert "blurred here by the camera family" in card and f"Initialised from `{ATROUS}`" in card
    assert re.search(r"Commands, in order.*\n(  \d\. .*\n)+", card)  # the shipped stages, then this one
    restored = _deblur_with(tmp_path, weights, photos / "photo0.png")
    assert restored.shape == (96, 96, 3)


def test_init_gives_the_architecture_preset_and_task_unless_told_otherwise():
    cfg = parse_args(["--init", str(RES_UNET)])
    assert (cfg.model, cfg.preset, cfg.task) == ("res_unet", "lite", "camera")
    assert parse_args(["--init", str(RES_UNET), "--task", "gaussian"]).task == "gaussian"
    assert (parse_args([]).model, parse_args([]).task) == ("atrous_net", "gaussian")  # no --init: the defaults
    plus, total = parse_args(["--budget", "+2,000"]), parse_args(["--budget", "500"])
    assert (plus.budget, plus.budget_more, total.budget, total.budget_more) == (2000, True, 500, False)
    with pytest.raises(SystemExit):
        parse_args(["--budget", "lots"])


def test_a_budget_spent_before_the_stage_starts_is_refused(tmp_path, capsys):
    pairs = _pairs(tmp_path / "pairs", n=3)
    args = ["--data", f"pairs:{pairs}", "--init", str(ATROUS), *_tiny(tmp_path)]
    args[args.index("+16")] = "16"  # 16 in all: the shipped network's log holds far more
    assert main(args) == 2
    assert "--budget +N trains N more" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_own_data_refusals(tmp_path, capsys):
    pairs = _pairs(tmp_path / "pairs", n=3)
    # pairs are single frames: a three-frame motion network cannot learn from them
    assert main(["--data", f"pairs:{pairs}", "--task", "motion", *_tiny(tmp_path)]) == 2
    assert "single blurred frames" in capsys.readouterr().err
    one = _pairs(tmp_path / "one", n=1)
    assert main(["--data", f"pairs:{one}", "--init", str(ATROUS), *_tiny(tmp_path)]) == 2
    assert "at least 2" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--data", f"pairs:{tmp_path / 'empty'}", "--init", str(ATROUS), *_tiny(tmp_path)]) == 2
    assert "no blur/ and sharp/ folders" in capsys.readouterr().err
    assert own_data("pairs:~/x") == ("pairs", str(Path.home() / "x")) and own_data("corpus") is None


def test_every_tenth_item_is_held_out(tmp_path):
    pairs = _pairs(tmp_path / "pairs", n=12, size=40)
    cfg = parse_args(["--data", f"pairs:{pairs}", "--task", "camera", "--crop", "32"])
    own = own_samplers(cfg)
    assert own.meta == {"pairs": str(pairs), "count": 12, "train": 10, "validation": 2}
    assert "every tenth (2: p0, p10)" in own.note
    assert len(own.train.pairs) == 10 and len(own.val.pairs) == 2


def test_pair_sampler_cuts_aligned_crops_and_mirrors_small_pairs():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 200, (20, 30, 3), dtype=np.uint8)
    sampler = PairSampler([(sharp + 10, sharp)], 16)  # blurred = sharp + 10: aligned crops keep it
    for _ in range(8):
        x, y = sampler.sample(rng)
        assert x.shape == (1, 16, 16, 3) and y.shape == (16, 16, 3)
        np.testing.assert_array_equal(x[0].astype(int) - y, 10)
    xb, yb = sampler.batch(3, rng)
    assert xb.shape == yb.shape == (3, 3, 16, 16) and float(xb.max()) <= 1.0
    big = PairSampler([(sharp + 10, sharp)], 24)  # taller than the 20 px pair: mirrored out
    x, y = big.sample(rng)
    assert x.shape == (1, 24, 24, 3)
    np.testing.assert_array_equal(x[0].astype(int) - y, 10)
    a, b = sampler.fixed(4, 7), sampler.fixed(4, 7)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("family,frames", [("gaussian", 1), ("motion", 3)])
def test_photo_sampler_blurs_with_any_family(family, frames):
    rng = np.random.default_rng(3)
    photos = [(_smooth(rng, 80) * 255).astype(np.uint8)]
    sampler = PhotoSampler(photos, 24, family, sigma=(2.0, 2.0))
    x, y = sampler.fixed(3, 5)
    assert x.shape == (3, frames, 24, 24, 3) and y.shape == (3, 24, 24, 3)
    assert not np.array_equal(x[:, frames // 2], y)  # blurred
    np.testing.assert_array_equal(x, sampler.fixed(3, 5)[0])
    xb, yb = sampler.batch(2, rng)
    assert xb.shape == (2, 3 * frames, 24, 24) and yb.shape == (2, 3, 24, 24)
    with pytest.raises(ValueError, match="unknown blur family"):
        PhotoSampler(photos, 24, "smudge")


def test_photos_of_a_gaussian_network(tmp_path):
    photos = _photos(tmp_path / "photos", n=3)
    init = REPO / "weights" / "atrous_net-gaussian.safetensors"
    assert main(["--data", f"photos:{photos}", "--init", str(init), *_tiny(tmp_path)]) == 0
    card = (tmp_path / "out" / "atrous_net-gaussian.md").read_text()
    assert "blurred here by the gaussian family" in card and "sigma ~ U[0, 3]" in card


def test_own_data_errors_are_deblur_errors(tmp_path):
    cfg = parse_args(["--data", f"photos:{tmp_path / 'missing'}"])
    with pytest.raises(DeblurError, match="does not exist"):
        own_samplers(cfg)
