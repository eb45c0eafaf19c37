"""Tiny smoke runs of the trainer on a corpus written in tmp_path (no builtin images)."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deblur.errors import DeblurError
from deblur import metrics
from deblur.train import augment, corpus_sources, main, parse_args, training_loss
from deblur.weights import load_model

REPO = Path(__file__).resolve().parent.parent


def _tiny_corpus(root: Path) -> Path:
    """Three real grey photographs (not builtin ones), tinted to RGB, plus a manifest."""
    (root / "photos").mkdir(parents=True)
    rows = []
    for name, tint in (("camera", (1.0, 0.9, 0.8)), ("brick", (0.8, 1.0, 0.9)), ("gravel", (0.9, 0.8, 1.0))):
        grey = getattr(data, name)()[:160, :160].astype(np.float32)
        rgb = np.clip(np.stack([grey * t for t in tint], -1), 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(root / "photos" / f"{name}.png")
        rows.append({"file": f"photos/{name}.png", "kind": "photo", "split": "train"})
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["file", "kind", "split"])
        w.writeheader()
        w.writerows(rows)
    return root


def _args(tmp_path, corpus, *extra):
    return ["--model", "atrous_net", "--task", "gaussian", "--data", str(corpus), "--run-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "weights"), "--epochs", "2", "--steps-per-epoch", "3", "--batch", "4",
            "--cache-samples", "16", "--val-samples", "8", *extra]


def test_train_resume_and_ship(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the sample cache goes to ./cache
    corpus = _tiny_corpus(tmp_path / "corpus")
    assert main(_args(tmp_path, corpus, "--epochs", "1")) == 0
    log = tmp_path / "runs" / "atrous_net-gaussian" / "log.csv"
    assert len(log.read_text().strip().splitlines()) == 3  # header, epoch 0 (the input), epoch 1
    # resume continues from the checkpoint: one more epoch, steps keep counting
    assert main(_args(tmp_path, corpus, "--resume", "--ship")) == 0
    rows = list(csv.DictReader(open(log)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] and [r["step"] for r in rows] == ["0", "3", "6"]
    assert all(np.isfinite(float(r["val_psnr"])) for r in rows)
    model, meta = load_model("atrous_net-gaussian", weights_dir=tmp_path / "weights")
    assert meta["task"] == "gaussian" and meta["samples_seen"] == 24
    card = (tmp_path / "weights" / "atrous_net-gaussian.md").read_text()
    assert "Command:" in card and "Final validation" in card and "sigma ~ U[0, 3]" in card


def test_corpus_refuses_builtin_images_and_missing_corpus(tmp_path):
    with pytest.raises(DeblurError, match="deblur.corpus build"):
        corpus_sources(tmp_path / "nope")
    corpus = _tiny_corpus(tmp_path / "c")
    with open(corpus / "manifest.csv", "a") as f:
        f.write("photos/astronaut.png,photo,train\n")
    with pytest.raises(DeblurError, match="builtin"):
        corpus_sources(corpus)


def test_augment_keeps_input_and_target_aligned():
    rng = np.random.default_rng(0)
    img = (np.random.default_rng(1).random((12, 12, 3)) * 255).astype(np.uint8)
    for _ in range(10):
        x, y = augment(np.stack([img] * 3), img, rng, "gaussian")
        np.testing.assert_allclose(x[1], y, atol=1e-6)  # no neighbour shift for the gaussian task
        x, y = augment(np.stack([img] * 3), img, rng, "motion")
        np.testing.assert_allclose(x[1], y, atol=1e-6)  # the middle frame is never shifted


def test_defaults_follow_the_paper():
    cfg = parse_args(["--task", "motion"])
    assert cfg.crop_size == 256 and cfg.batch_size == 4 and cfg.lr == 1e-4
    assert parse_args([]).crop_size == 32 and parse_args([]).batch_size == 32


def test_psnr_loss_is_minus_the_mean_per_sample_psnr():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    target = rng.random((3, 3, 16, 16)).astype(np.float32)
    # Errors of very different sizes: slight (0.01), medium (0.03) and strong (0.2) noise.
    out = np.clip(target + rng.normal(size=target.shape).astype(np.float32) * np.array([0.01, 0.03, 0.2],
                  dtype=np.float32)[:, None, None, None], 0, 1)
    want = -np.mean([metrics.psnr(o.transpose(1, 2, 0), t.transpose(1, 2, 0)) for o, t in zip(out, target)])
    got = training_loss(torch.from_numpy(out), torch.from_numpy(target), "psnr").item()
    assert got == pytest.approx(want, abs=0.03)  # the 1e-6 MSE floor moves the 40 dB sample by 0.04 dB
    # Unlike L1, every sample pulls with about the same weight on its own relative error: the slight-error
    # sample's gradient per pixel is far larger than under L1, where the strong-error sample dominates.
    grads = {}
    for kind in ("l1", "psnr"):
        x = torch.from_numpy(out).requires_grad_()
        training_loss(x, torch.from_numpy(target), kind).backward()
        g = x.grad.abs().mean(dim=(1, 2, 3))
        grads[kind] = (g[0] / g[2]).item()
    assert grads["l1"] < 2 and grads["psnr"] > 10
    with pytest.raises(DeblurError, match="unknown loss"):
        training_loss(torch.from_numpy(out), torch.from_numpy(target), "l2")
    with pytest.raises(SystemExit):
        parse_args(["--loss", "l2"])


def test_torchrun_two_cpu_processes(tmp_path):
    corpus = _tiny_corpus(tmp_path / "corpus")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # --standalone: torchrun binds a free port itself (a port found free here and bound later by
    # torchrun could be taken in between by another process: the old race)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "deblur.train", *_args(tmp_path, corpus, "--epochs", "1", "--ship")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model, meta = load_model("atrous_net-gaussian", weights_dir=tmp_path / "weights")
    assert meta["samples_seen"] == 3 * 4 * 2  # steps x batch x processes


def test_online_sampler_gaussian_and_motion_batches(tmp_path):
    import torch

    from deblur.train import OnlineSampler, TrainConfig

    corpus = _tiny_corpus(tmp_path / "corpus")
    photos, _ = corpus_sources(corpus)
    clip = tmp_path / "clip"  # a clip given as a folder of frames, as `deblur.corpus pack` writes it
    clip.mkdir()
    base = data.astronaut()[100:172, 100:196]  # 72x96: smaller than the crop, mirrored out to it
    for t in range(4):
        Image.fromarray(np.roll(base, 2 * t, axis=1)).save(clip / f"{t:05d}.jpg", quality=95)
    for task, crop, frames in (("gaussian", 32, 1), ("motion", 80, 3)):
        cfg = TrainConfig(task=task, crop=crop, motion_length=(4.0, 6.0))
        sampler = OnlineSampler(cfg, photos, [clip], torch.device("cpu"))
        assert len(sampler.clips) == (1 if task == "motion" else 0)
        x, y = sampler.batch(6, np.random.default_rng(0))
        assert x.shape == (6, 3 * frames, crop, crop) and y.shape == (6, 3, crop, crop)
        assert 0 <= float(x.min()) and float(x.max()) <= 1
        middle = x[:, 3 * (frames // 2) : 3 * (frames // 2) + 3]
        np.testing.assert_allclose((middle * 255).numpy(), np.rint((middle * 255).numpy()), atol=1e-3)  # 8-bit
        # blurred inputs differ from the targets (sigma ~ U[0, 3] leaves few untouched)
        assert float((middle - y).abs().mean()) > 0.002
        xv, yv = sampler.fixed(5, seed=3, chunk=2)
        xv2, _ = sampler.fixed(5, seed=3, chunk=2)
        assert xv.dtype == np.uint8 and xv.shape == (5, frames, crop, crop, 3) and yv.shape == (5, crop, crop, 3)
        np.testing.assert_array_equal(xv, xv2)  # a fixed validation set


def test_init_continues_a_shipped_network_and_its_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = _tiny_corpus(tmp_path / "corpus")
    common = ["--online", "--crop", "32", "--epochs", "1", "--ship"]
    assert main(_args(tmp_path, corpus, *common)) == 0
    shipped = tmp_path / "weights" / "atrous_net-gaussian.safetensors"
    first = list(csv.DictReader(open(tmp_path / "weights" / "atrous_net-gaussian.log.csv")))
    stage2 = _args(tmp_path, corpus, *common, "--run-dir", str(tmp_path / "runs2"), "--init", str(shipped))
    assert main(stage2) == 0
    rows = list(csv.DictReader(open(tmp_path / "weights" / "atrous_net-gaussian.log.csv")))
    assert rows[: len(first)] == first and [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert [r["samples"] for r in rows] == ["0", "12", "24"]
    card = (tmp_path / "weights" / "atrous_net-gaussian.md").read_text()
    assert "Commands, in order" in card and card.count("python -m deblur.train") == 2
    # The card's references come from this stage's own validation set, which differs from stage 1's
    # here (--val-samples): the blurred input's figures, and the --init weights' at the stage's start.
    assert main([*stage2[:-2], "--val-samples", "4", "--run-dir", str(tmp_path / "runs3"), "--init", str(shipped)]) == 0
    card = (tmp_path / "weights" / "atrous_net-gaussian.md").read_text()
    rows = list(csv.DictReader(open(tmp_path / "weights" / "atrous_net-gaussian.log.csv")))
    start = re.search(r"--init weights scored PSNR of the mean MSE ([\d.]+) dB", card)
    blurred = float(re.search(r"the blurred input: ([\d.]+) dB", card).group(1))
    assert start and float(start.group(1)) > 0 and abs(blurred - float(rows[0]["val_psnr_mean_mse"])) > 0.01
    assert "min over all stages; this stage" in card
    # weights of another architecture are refused with a clear message
    other = _args(tmp_path, corpus, *common, "--model", "carlo_net", "--init", str(shipped))
    assert main(other) == 2


# ------------------------------------------------------------------ a user's CIFAR-10 / REDS / GoPro

def _write_cifar(root: Path, per_batch: int = 6) -> np.ndarray:
    """The python-version layout with random 32x32 images; returns the train images in order."""
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    train = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        imgs = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        rows = imgs.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        (folder / name).write_bytes(pickle.dumps({b"data": rows, b"labels": [0] * per_batch}))
        if name != "test_batch":
            train.append(imgs)
    return np.concatenate(train)


def _write_sequences(root: Path, clips: int = 2, frames: int = 6, size: int = 24) -> None:
    """REDS train layout: blurred frame k = sharp frame k + 10 (clipped): crops can be checked."""
    rng = np.random.default_rng(6)
    for c in range(clips):
        for t in range(frames):
            sharp = rng.integers(0, 200, (size, size + 4, 3), dtype=np.uint8)
            for sub, img in (("train_sharp", sharp), ("train_blur", sharp + 10)):
                (root / sub / f"{c:03d}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / sub / f"{c:03d}" / f"{t:08d}.png")


def test_cifar10_makers_hold_out_the_tail_of_the_train_batches(tmp_path):
    from deblur.train import TrainConfig, standard_makers

    train_images = _write_cifar(tmp_path)  # 30 train images: the last 3 (a tenth) are validation
    cfg = TrainConfig(task="gaussian", data=f"cifar10:{tmp_path}")
    maker, val_maker, note = standard_makers(cfg)
    assert "CIFAR-10" in note and "27 images" in note and "test_batch never read" in note
    rng = np.random.default_rng(0)
    seen = {tuple(maker(rng)[1].ravel()[:40]) for _ in range(200)}
    val_seen = {tuple(val_maker(rng)[1].ravel()[:40]) for _ in range(50)}
    heads = [tuple(img.ravel()[:40]) for img in train_images]
    assert seen <= set(heads[:27]) and len(seen) > 20
    assert val_seen <= set(heads[27:]) and len(val_seen) == 3
    x, y = maker(rng)
    assert x.shape == (1, 32, 32, 3) and y.shape == (32, 32, 3) and x.dtype == np.uint8
    with pytest.raises(DeblurError, match="--crop 32 or less"):
        standard_makers(TrainConfig(task="gaussian", crop=64, data=f"cifar10:{tmp_path}"))
    with pytest.raises(DeblurError, match="--task gaussian"):
        standard_makers(TrainConfig(task="motion", data=f"cifar10:{tmp_path}"))


def test_reds_makers_crop_real_pairs_aligned_and_hold_out_the_last_clip(tmp_path):
    from deblur.train import TrainConfig, standard_makers

    _write_sequences(tmp_path / "REDS")
    cfg = TrainConfig(task="motion", crop=16, data=f"reds:{tmp_path / 'REDS'}")
    maker, val_maker, note = standard_makers(cfg)
    assert "REDS" in note and "2 real blurred triples" in note and "last 2 held out" in note
    rng = np.random.default_rng(0)
    for m in (maker, val_maker):
        for _ in range(10):
            x, y = m(rng)
            assert x.shape == (3, 16, 16, 3) and y.shape == (16, 16, 3)
            np.testing.assert_array_equal(x[1], y + 10)  # the same window of blurred and sharp
    big = TrainConfig(task="motion", crop=40, data=f"reds:{tmp_path / 'REDS'}")  # frames are 24x28
    x, y = standard_makers(big)[0](rng)
    assert x.shape == (3, 40, 40, 3) and y.shape == (40, 40, 3)
    np.testing.assert_array_equal(x[1], y + 10)
    with pytest.raises(DeblurError, match="--task motion"):
        standard_makers(TrainConfig(task="gaussian", data=f"reds:{tmp_path / 'REDS'}"))
    with pytest.raises(DeblurError, match="train_blur"):
        standard_makers(TrainConfig(task="motion", data=f"reds:{tmp_path}"))


def test_train_and_ship_from_cifar10_and_gopro(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_cifar(tmp_path / "cifar")
    assert main(_args(tmp_path, f"cifar10:{tmp_path / 'cifar'}", "--crop", "32", "--epochs", "1", "--ship")) == 0
    _, meta = load_model("atrous_net-gaussian", weights_dir=tmp_path / "weights")
    assert meta["data"]["dataset"] == f"cifar10:{tmp_path / 'cifar'}"
    card = (tmp_path / "weights" / "atrous_net-gaussian.md").read_text()
    assert "CIFAR-10 at" in card and "12 samples seen" in card
    # GoPro's train split: GOPRO_Large/train/<sequence>/{blur,sharp}
    seqs = tmp_path / "gopro" / "GOPRO_Large" / "train"
    _write_sequences(tmp_path / "tmp_reds")
    for c in range(2):
        for src, dst in (("train_blur", "blur"), ("train_sharp", "sharp")):
            (seqs / f"GOPR000{c}").mkdir(parents=True, exist_ok=True)
            (tmp_path / "tmp_reds" / src / f"{c:03d}").rename(seqs / f"GOPR000{c}" / dst)
    motion = ["--task", "motion", "--crop", "16", "--batch", "2", "--epochs", "1", "--ship", "--name", "m"]
    assert main(_args(tmp_path, f"gopro:{tmp_path / 'gopro'}", *motion)) == 0
    assert "GoPro at" in (tmp_path / "weights" / "m.md").read_text()
    # refused with one clear line (exit 2): the online sampler, a missing folder
    assert main(_args(tmp_path, f"gopro:{tmp_path / 'gopro'}", *motion, "--online")) == 2
    assert main(_args(tmp_path, f"reds:{tmp_path / 'nope'}", *motion)) == 2


def test_sigma_range_reaches_every_gaussian_sampler(tmp_path):
    import torch

    from deblur.train import CifarMaker, OnlineSampler, TrainConfig

    corpus = _tiny_corpus(tmp_path / "corpus")
    photos, _ = corpus_sources(corpus)
    assert parse_args(["--sigma", "0.4", "0.6"]).sigma == (0.4, 0.6)
    assert parse_args([]).sigma == (0.0, 3.0)
    with pytest.raises(SystemExit):
        parse_args(["--sigma", "2", "1"])
    sharp = (np.random.default_rng(2).random((32, 32, 3)) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)

    def mean_error(make, n=8):
        return [np.abs(x[0].astype(float) - y).mean() for x, y in (make(rng) for _ in range(n))]

    for sigma_range in ((0.0, 0.0), (2.9, 3.0)):
        cfg = TrainConfig(crop=32, sigma=sigma_range)
        for make in (CifarMaker(sharp[None], 32, cfg.sigma),):
            errors = mean_error(make)
            assert max(errors) == 0 if sigma_range[1] == 0 else np.mean(errors) > 5.0  # gray levels
        x, y = OnlineSampler(cfg, photos, [], torch.device("cpu")).batch(4, rng)
        error = float((x - y).abs().mean()) * 255  # sigma 0: only the 8-bit rounding of the input
        assert error < 0.5 if sigma_range[1] == 0 else error > 1.0


def test_an_init_stage_runs_its_own_epochs_and_resumes_to_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = _tiny_corpus(tmp_path / "corpus")
    common = ["--online", "--crop", "32", "--ship"]
    assert main(_args(tmp_path, corpus, *common, "--epochs", "3")) == 0
    shipped = tmp_path / "weights" / "atrous_net-gaussian.safetensors"
    stage = _args(tmp_path, corpus, *common, "--epochs", "2", "--init", str(shipped), "--run-dir", str(tmp_path / "r2"))
    log = tmp_path / "r2" / "atrous_net-gaussian" / "log.csv"
    # --epochs counts this stage's epochs, on top of the 3 it inherits; a time limit stops it in its first
    assert main([*stage, "--minutes", "1e-6"]) == 0
    assert [r["epoch"] for r in csv.DictReader(open(log))] == ["0", "1", "2", "3", "4"]
    # --resume finishes the stage's 2 epochs (not --epochs counted from the log's start)
    assert main([*stage, "--resume"]) == 0
    assert [r["epoch"] for r in csv.DictReader(open(log))] == ["0", "1", "2", "3", "4", "5"]


def test_cosine_schedule_spans_a_sample_budget_and_keeps_checkpoints_loadable():
    """The learning rate is a Python float (a numpy scalar in the optimiser state made a cosine
    run's checkpoint refuse torch.load(weights_only=True), so --resume failed), and with --budget
    the decay runs over samples: half the budget spent = half-way down."""
    import io

    import torch

    from deblur.train import TrainConfig, cosine_lr

    cfg = TrainConfig(schedule="cosine", budget=1000, lr=1e-3, min_lr=0.0)
    assert type(cosine_lr(cfg, 0.3)) is float
    assert cosine_lr(cfg, 0.0) == pytest.approx(1e-3) and cosine_lr(cfg, 1.0) == pytest.approx(0.0)
    assert cosine_lr(cfg, 0.5) == pytest.approx(0.5e-3)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    opt.param_groups[0]["lr"] = cosine_lr(cfg, 0.3)
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict()}, buf)
    buf.seek(0)
    torch.load(buf, weights_only=True)


def test_the_corpus_cache_is_prerendered_by_the_one_online_sampler(tmp_path, monkeypatch):
    """One sampler for corpus data: the cache holds exactly what OnlineSampler.fixed renders, and
    the cache's name changes when the sampling code or a source file changes."""
    from deblur import sampling

    monkeypatch.chdir(tmp_path)
    corpus = _tiny_corpus(tmp_path / "corpus")
    calls = []
    original = sampling.OnlineSampler.fixed

    def spy(self, n, seed, chunk=16):
        calls.append((n, seed))
        return original(self, n, seed, chunk)

    monkeypatch.setattr(sampling.OnlineSampler, "fixed", spy)
    assert main(_args(tmp_path, corpus, "--epochs", "1")) == 0
    assert calls == [(16, 0), (8, 10_000)]  # train cache, then validation, from their seeds
    cached = sorted((tmp_path / "cache").glob("train-*.npz"))
    assert len(cached) == 1
    photos = sorted((corpus / "photos").glob("*.png"))
    key = sampling.cache_key("corpus", photos)
    assert key in cached[0].name
    Image.fromarray(np.zeros((160, 160, 3), np.uint8)).save(photos[0])  # a rebuilt corpus
    assert sampling.cache_key("corpus", photos) != key
