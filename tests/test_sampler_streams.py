"""The blur families' records (deblur.degrade.FAMILIES) and the parameter streams of every sampler.

Issue 24 routed every sharp -> blurred path through one record per family. The generator states
pinned here were measured before that move (commit 0629e5a): each sampler, given a fixed seed,
consumes the same draws in the same order as it did, so every cached training set, validation
set and leaderboard input stays what it was. A change that alters a stream fails here: say so in
its commit and re-measure what depends on it.
"""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from deblur import degrade as D
from deblur import sampling as S
from deblur.errors import DeblurError
from deblur.sigma_train import sample, sample_thumbs
from deblur.train import TrainConfig
from eval.inputs import degrade as eval_degrade
from test_train import _tiny_corpus


def _state(rng: np.random.Generator) -> int:
    """Where the generator stands: the same number of draws made since the seed (PCG64)."""
    return int(rng.bit_generator.state["state"]["state"])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    corpus = _tiny_corpus(tmp_path_factory.mktemp("corpus"))
    paths, _ = S.corpus_sources(corpus)
    return paths, [np.asarray(Image.open(p)) for p in paths]


def test_corpus_sampler_streams(photos, tmp_path):
    paths, _ = photos
    clip = tmp_path / "clip"
    clip.mkdir()
    base = data.astronaut()[100:172, 100:196]
    for t in range(4):
        Image.fromarray(np.roll(base, 2 * t, axis=1)).save(clip / f"{t:05d}.png")
    for task, crop, want in (("gaussian", 32, 85986968354048329149828984643073526363),
                             ("motion", 48, 17054855931201423380548444809366882990)):
        sampler = S.OnlineSampler(TrainConfig(task=task, crop=crop, motion_length=(4.0, 6.0)), paths, [clip],
                                  torch.device("cpu"))
        rng = np.random.default_rng(3)
        x, y = sampler.batch(3, rng)
        assert _state(rng) == want, task
        assert x.shape == (3, 3 * D.FAMILIES[task].frames, crop, crop) and y.shape == (3, 3, crop, crop)


def test_per_sample_sampler_streams(photos):
    _, imgs = photos
    sharp = (np.random.default_rng(2).random((40, 40, 3)) * 255).astype(np.uint8)
    maker, rng = S.CifarMaker(sharp[None], 32, (0.5, 2.5)), np.random.default_rng(1)
    for _ in range(4):
        maker(rng)
    assert _state(rng) == 71741357986094982807612016709125102182
    for (sharp_fraction, psf), want in (((0.0, 0.0), 34649905950862621117257844462704828603),
                                        ((0.3, 0.0), 306980490686366806971244653843953137570),
                                        ((0.0, 0.5), 150029109700563934860428284964994800507)):
        rng = np.random.default_rng(5)
        S.CameraSampler(imgs, 48, sharp=sharp_fraction, psf=psf).batch(4, rng)
        assert _state(rng) == want, (sharp_fraction, psf)
    for family, want in (("gaussian", 109696281653365101098314045124650124685),
                         ("motion", 18822317785579671471203394510281114311)):
        rng = np.random.default_rng(6)
        S.PhotoSampler(imgs, 48, family, sigma=(0.5, 2.0), motion_length=(3.0, 9.0)).batch(3, rng)
        assert _state(rng) == want, family
    for fn in (sample, sample_thumbs):  # the sigma estimator's trainer
        rng = np.random.default_rng(4)
        fn(imgs, 5, rng)
        assert _state(rng) == 142365630884539378054871218173754889621, fn.__name__


def test_leaderboard_inputs_draw_as_before():
    item = SimpleNamespace(name="astronaut", sharp=np.ascontiguousarray(data.astronaut()[:96, :96]), blurred=None,
                           frames=None)
    g = eval_degrade(item, "gaussian", 42, motion_length=8.0)
    assert g.params["sigma"] == pytest.approx(1.0701873037585554, abs=1e-15) and g.params["kernel_size"] == 7
    m = eval_degrade(item, "motion", 42, motion_length=8.0)
    assert m.frames.shape[0] == 3 and m.params["motion_length"] == 8.0 and m.params["kernel_size"] == 11
    c = eval_degrade(item, "camera", 42, motion_length=8.0)
    assert (c.params["kernel_family"], c.params["jpeg_quality"]) == ("gaussian", 65)
    assert c.params["strength"] == pytest.approx(0.004140543146342754, abs=1e-15)


def test_every_family_is_one_complete_record():
    for name, fam in D.FAMILIES.items():
        assert fam.name == name and fam.frames in (1, 3) and fam.sweep and fam.description and fam.card_line()
        lo, hi, _step, default = fam.app_range
        assert lo <= default <= hi
    # a family missing a field fails when it is declared (at import), not later and silently
    fields = {f.name: getattr(D.FAMILIES["gaussian"], f.name) for f in dataclasses.fields(D.Family)}
    with pytest.raises(TypeError, match="card"):
        D.Family(**{k: v for k, v in fields.items() if k != "card"})
    with pytest.raises(DeblurError, match="frames"):
        D.Family(**{**fields, "frames": 2})


def test_an_unknown_family_is_an_error_listing_the_valid_ones(photos):
    paths, imgs = photos
    for call in (lambda: D.degrade("smudge", imgs[0], np.random.default_rng(0)),
                 lambda: TrainConfig(task="smudge").crop_size,
                 lambda: S.augment(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8),
                                   np.random.default_rng(0), "smudge"),
                 lambda: S.PhotoSampler(imgs, 24, "smudge")):
        with pytest.raises(DeblurError, match="unknown blur family 'smudge'; valid: gaussian, motion, camera"):
            call()
    # the corpus sampler renders only families with a batched render: never the camera family as motion
    with pytest.raises(DeblurError, match="camera is sampled per photo"):
        S.OnlineSampler(TrainConfig(task="camera", crop=32), paths, [], torch.device("cpu"))
