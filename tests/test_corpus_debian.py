"""Tests for the Debian sources of the corpus builder (deblur.corpus), offline.

Each test writes a tiny fake .deb (an ar archive holding data.tar.xz with small photos and a
copyright file) or a tiny Qt resource file holding WebP streams and a credits README, puts it
in the builder's cache, and checks what the reader takes, with which licence and credit, and
what it leaves out and why. No network: `apt-get` is never run (downloading is off, or faked).
"""

import csv
import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deblur import corpus, data

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020 Package Author <author@example.org>
License: GPL-2+

Files: photos/cc/*
Copyright:
  2019, Jane Doe
  2021, John Roe
License: CC-BY-4.0

Files: 16.04/renamed.jpg
Copyright: Ann Other, 2018
License: CC0-1.0

License: GPL-2+
 This program is free software.
"""


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A textured photo stand-in (smooth noise: JPEG keeps its detail, thumbprints differ)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))


def _encode(image: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tf:
        for path, payload in files.items():
            info = tarfile.TarInfo("./" + path)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _ar(members: dict[str, bytes]) -> bytes:
    out = [corpus.AR_MAGIC]
    for name, payload in members.items():
        header = (f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}").encode() + b"`\n"
        out += [header, payload, b"\n" if len(payload) % 2 else b""]
    return b"".join(out)


def _deb(folder: Path, package: str, files: dict[str, bytes]) -> Path:
    """PACKAGE_1.0-1_all.deb in `folder`: debian-binary, control.tar.xz, data.tar.xz."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{package}_1%3a1.0-1_all.deb"  # the epoch as apt-get download writes it
    path.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar_xz({}),
                          "data.tar.xz": _tar_xz(files)}))
    return path


def _rcc(files: dict[str, bytes], compressed: frozenset = frozenset()) -> bytes:
    """A format-3 Qt resource file holding `files` (path -> bytes); paths in `compressed`
    are stored zlib-compressed (qCompress: a u32 size, then the zlib stream)."""
    root: dict = {}
    for path in files:
        *folders, name = path.strip("/").split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = path
    # Nodes breadth first, as rcc lays them out: each folder's children take consecutive
    # indices, appended when the folder is reached.
    order: list = [("", root)]
    links = {}
    for index, (_, content) in enumerate(order):  # `order` grows while it is walked
        if isinstance(content, dict):
            links[index] = (len(content), len(order))
            order += sorted(content.items())
    names = blobs = tree = b""
    for index, (name, content) in enumerate(order):
        name_offset = len(names)
        if index:
            names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(content, dict):
            tree += struct.pack(">IHII", name_offset if index else 0, 2, *links[index])
        else:
            payload, flags = files[content], 0
            if content in compressed:
                payload, flags = struct.pack(">I", len(payload)) + zlib.compress(payload), 1
            tree += struct.pack(">IHHHI", name_offset, flags, 0, 0, len(blobs))
            blobs += struct.pack(">I", len(payload)) + payload
        tree += bytes(8)  # modification time (format 2 and up)
    names_offset = 24 + len(blobs)
    return (b"qres" + struct.pack(">IIIII", 3, names_offset + len(names), 24, names_offset, 0)
            + blobs + names + tree)


# ------------------------------------------------------------------------------ archives

def test_ar_members_reads_a_deb_and_rejects_other_files(tmp_path):
    deb = _deb(tmp_path, "fake", {"usr/share/a.txt": b"odd length"})
    members = corpus.ar_members(deb.read_bytes())
    assert list(members) == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    assert members["debian-binary"] == b"2.0\n"
    with pytest.raises(ValueError, match="not an ar archive"):
        corpus.ar_members(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="truncated"):
        corpus.ar_members(deb.read_bytes()[:-100])


def test_deb_files_matches_one_folder_level_per_star(tmp_path):
    deb = _deb(tmp_path, "fake", {"usr/share/fake/demo/a.jpg": b"A",
                                  "usr/share/fake/demo/thumbs/b.jpg": b"B",
                                  "usr/share/doc/fake/copyright": b"C"})
    got = corpus.deb_files(deb, ["usr/share/fake/demo/*.jpg", "usr/share/doc/fake/copyright"])
    assert got == {"usr/share/fake/demo/a.jpg": b"A", "usr/share/doc/fake/copyright": b"C"}


def test_rcc_files_reads_plain_and_zlib_resources():
    files = {"/app/resource/photo.webp": b"RIFF1234WEBPdata", "/app/resource/README": b"text",
             "/app/Main.qml": b"qml"}
    blob = _rcc(files, compressed=frozenset({"/app/resource/README"}))
    assert corpus.rcc_files(blob) == files
    with pytest.raises(ValueError, match="qres"):
        corpus.rcc_files(b"not a resource file")
    with pytest.raises(ValueError, match="corrupt"):
        corpus.rcc_files(blob[:40])


# ------------------------------------------------------------------------------ licences

def test_parse_credits_reads_dep5_and_gcompris_readmes():
    credits = corpus.parse_credits(DEP5)
    assert [c.licence for c in credits] == ["GPL-2+", "CC-BY-4.0", "CC0-1.0"]
    assert credits[1].holder == "2019, Jane Doe; 2021, John Roe"
    # installed paths differ from the source tree: tail match, and same name for plain paths
    assert corpus.credit_for(credits, "usr/share/fake/photos/cc/x.jpg") is credits[1]
    assert corpus.credit_for(credits, "usr/share/fake/photos/y.jpg") is credits[0]
    assert corpus.credit_for(credits, "usr/share/backgrounds/renamed.jpg") is credits[2]
    assert corpus.parse_credits("This package was debianized by someone.\n\nLicense:\n GPL\n") == []

    readme = ("Copyright: Photographer A\nSource: https://example.org/a.jpg\n"
              "License: CC-BY-SA 4.0\nComments: cropping, sharpening\nFiles: a.webp\n\n"
              "Copyright: Someone\nLicense: Public domain\nb_0.webp\nb_background.webp\n"
              "Comment: based on a photo by X, license CC-BY 3.0, source at https://e.org/b\n")
    a, b = corpus.parse_credits(readme)
    assert (a.files, a.licence, a.source, a.comment) == (("a.webp",), "CC-BY-SA 4.0",
                                                        "https://example.org/a.jpg",
                                                        "cropping, sharpening")
    assert b.files == ("b_0.webp", "b_background.webp") and "based on a photo" in b.comment


@pytest.mark.parametrize("text, expected", [
    ("CC-BY-SA 4.0", "CC-BY-SA-4.0"), ("CC-BY 2.0", "CC-BY-2.0"), ("cc-by-3", "CC-BY-3.0"),
    ("CC0", "CC0-1.0"), ("Public Domain", "public domain"), ("GPLv2+", "GPLv2+"),
    ("CC-BY-NC-SA 4.0", "CC-BY-NC-SA 4.0")])
def test_normalise_licence(text, expected):
    assert corpus.normalise_licence(text) == expected


# ------------------------------------------------------------------------------ splits

def test_debian_photos_hold_out_a_fixed_tenth_by_scene():
    names = [f"{corpus.DEBIAN_PREFIX}pkg_photo{i}" for i in range(2000)]
    held = [n for n in names if corpus.split_for(n, "photo") == "holdout"]
    assert 0.08 < len(held) / len(names) < 0.12
    assert held == [n for n in names if corpus.split_for(n, "photo") == "holdout"]  # fixed
    # numbered shots of one scene go together
    for n in names[:200]:
        assert corpus.split_for(n + "_2", "photo") == corpus.split_for(n, "photo")
    # the rule is for Debian photos only: the older corpus keeps its splits
    assert all(corpus.split_for(f"photo{i}", "photo") == "train" for i in range(200))
    for name in data.BUILTIN_NAMES:
        assert corpus.split_for(name, "photo") == "holdout"


# ------------------------------------------------------------------------------ gathering

def _fake_source(tmp_path: Path) -> corpus.DebSource:
    big = _photo(600, 900, seed=1)
    _deb(tmp_path / "cache" / "debian", "fakepkg", {
        "usr/share/doc/fakepkg/copyright": DEP5.encode(),
        "usr/share/fake/photos/sea.jpg": _encode(_photo(300, 400, seed=2)),
        "usr/share/fake/photos/cc/dog.jpg": _encode(big),
        "usr/share/fake/photos/cc/dog_small.jpg": _encode(big[::2, ::2]),  # same picture
        "usr/share/fake/photos/icon.jpg": _encode(_photo(100, 120, seed=3)),
        "usr/share/fake/photos/logo.jpg": _encode(_photo(300, 300, seed=4)),
        "usr/share/fake/photos/thumbs/sea.jpg": _encode(_photo(300, 400, seed=5)),
    })
    return corpus.DebSource("fakepkg", "fake", ("usr/share/fake/photos/*.jpg",
                                                "usr/share/fake/photos/cc/*.jpg"),
                            exclude=("*/logo.jpg",))


def test_deb_source_records_licence_credit_and_leaves_out_small_and_duplicates(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setattr(corpus, "MAX_LONG_SIDE", 450)  # a small cap keeps the test fast
    src = _fake_source(tmp_path)
    builder = corpus.Builder(tmp_path / "out")
    taker = corpus.PhotoTaker(builder, tmp_path / "cache" / "extracted")
    corpus.gather_deb_source(builder, taker, src, tmp_path / "cache" / "debian", download=False)
    assert not builder.failures
    rows = {r["file"]: r for r in builder.rows}
    assert set(rows) == {"photos/deb_fake_sea.png", "photos/deb_fake_dog.png"}
    sea, dog = rows["photos/deb_fake_sea.png"], rows["photos/deb_fake_dog.png"]
    assert (sea["licence"], sea["credit"]) == ("GPL-2+", "2020 Package Author <author@example.org>")
    assert (dog["licence"], dog["credit"]) == ("CC-BY-4.0", "2019, Jane Doe; 2021, John Roe")
    assert sea["source"] == "fakepkg 1:1.0-1 (Debian package)"
    # downscaled to the cap, long side first, and the manifest says so
    assert (dog["width"], dog["height"]) == (450, 300)
    assert "downscaled from 900x600 to 450x300 (Lanczos)" in dog["source"]
    assert Image.open(tmp_path / "out" / "photos" / "deb_fake_dog.png").size == (450, 300)
    why = dict(builder.left_out)
    assert why["fakepkg/usr/share/fake/photos/icon.jpg"].startswith("smaller than 256 px")
    assert why["fakepkg/usr/share/fake/photos/cc/dog_small.jpg"] == "near-duplicate of deb_fake_dog"
    assert len(why) == 2  # logo excluded by the table, thumbs/ never matched
    for row in builder.rows:
        assert row["split"] == corpus.split_for(Path(row["file"]).stem, "photo")


def _webp(h, w, seed):
    return _encode(_photo(h, w, seed), "WEBP")


GCOMPRIS_README = """Copyright: Photographer A
Source: https://commons.wikimedia.org/wiki/File:A.jpg
License: CC-BY-SA 4.0
Comments: cropping, sharpening
Files: animal.webp

Copyright: Photographer B
License: CC0-1.0
Files:
nosource.webp

Copyright: Photographer C
Source: https://commons.wikimedia.org/wiki/File:C.jpg
License: GPLv2+
Files: gpl.webp

Copyright: 2000 Bruno Coudoin and others
License: Public domain
painting_background.webp
Comment: based on an original painting by Van Gogh, Public domain image.
"""


def test_gcompris_reads_webp_photos_and_their_credits_from_rcc(tmp_path, monkeypatch):
    resource = "/gcompris/src/activities/erase/resource/"
    rcc = _rcc({resource + "animal.webp": _webp(270, 480, 1),
                resource + "nosource.webp": _webp(270, 480, 2),
                resource + "gpl.webp": _webp(270, 480, 3),
                resource + "painting_background.webp": _webp(270, 480, 4),
                resource + "uncredited.webp": _webp(270, 480, 5),
                resource + "README": GCOMPRIS_README.encode(),
                "/gcompris/src/activities/erase/Erase.qml": b"import QtQuick 2.12"},
               compressed=frozenset({resource + "README"}))
    _deb(tmp_path / "debian", corpus.GCOMPRIS, {
        f"usr/share/doc/{corpus.GCOMPRIS}/copyright": DEP5.encode(),
        corpus.GCOMPRIS_RCC_DIR + "erase.rcc": rcc})
    monkeypatch.setattr(corpus, "GCOMPRIS_RCC", {"erase": ("erase", "*.webp")})
    builder = corpus.Builder(tmp_path / "out")
    taker = corpus.PhotoTaker(builder, tmp_path / "extracted")
    corpus.gather_gcompris(builder, taker, tmp_path / "debian", download=False)
    assert not builder.failures
    [row] = builder.rows
    assert row["file"] == "photos/deb_gcompris_erase_animal.png"
    assert (row["width"], row["height"], row["licence"]) == (480, 270, "CC-BY-SA-4.0")
    assert row["credit"] == ("Photographer A; https://commons.wikimedia.org/wiki/File:A.jpg; "
                             "GCompris edit: cropping, sharpening")
    assert row["source"] == "gcompris-qt-data 1:1.0-1 (Debian package), erase.rcc"
    why = {label.rsplit("/", 1)[1]: reason for label, reason in builder.left_out}
    assert why == {"gpl.webp": "licence GPLv2+",
                   "nosource.webp": "its credit names no source (origin unclear)",
                   "painting_background.webp": "a painting or drawing, not a photo",
                   "uncredited.webp": "no credit names it (origin unclear)"}


def test_build_writes_credit_column_and_old_manifests_still_read(tmp_path, monkeypatch):
    for name in ("SKIMAGE", "SKLEARN", "MATPLOTLIB"):
        monkeypatch.setattr(corpus, name, [])
    monkeypatch.setattr(corpus, "DOWNLOADS", {})
    src = _fake_source(tmp_path)
    monkeypatch.setattr(corpus, "DEBIAN_SOURCES", [src])
    builder = corpus.build(tmp_path / "corpus", cache=tmp_path / "cache", download=False)
    # gcompris-qt-data is not in the cache: reported, and the rest still built
    assert len(builder.failures) == 1 and "gcompris-qt-data" in builder.failures[0]
    assert "downloading is off" in builder.failures[0]
    with open(tmp_path / "corpus" / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(corpus.MANIFEST_FIELDS)
        assert reader.fieldnames[-1] == "credit"
        credits = {r["file"]: r["credit"] for r in reader}
    assert credits["photos/deb_fake_dog.png"] == "2019, Jane Doe; 2021, John Roe"
    text = corpus.summary(builder)
    assert "fakepkg" in text and "near-duplicate of deb_fake_dog: 1" in text
    # a manifest written before the credit column existed reads as before
    manifest = tmp_path / "corpus" / "manifest.csv"
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(corpus.MANIFEST_FIELDS[:-1]),
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    photos = data.corpus_entries(tmp_path / "corpus", kind="photo")
    assert {p["file"] for p in photos} == set(credits)
    assert not any("credit" in p for p in photos)


def test_build_without_debian_reads_no_package(tmp_path, monkeypatch):
    for name in ("SKIMAGE", "SKLEARN", "MATPLOTLIB"):
        monkeypatch.setattr(corpus, name, [])
    monkeypatch.setattr(corpus, "DOWNLOADS", {})
    builder = corpus.build(tmp_path / "corpus", cache=tmp_path / "cache", download=False,
                           debian=False)
    assert not builder.failures and not builder.rows


def test_fetch_deb_runs_apt_get_update_once_when_download_fails(tmp_path, monkeypatch):
    calls = []

    def fake_apt_get(args, cwd):
        calls.append(args[0])
        ok = args[0] == "update" or "update" in calls  # download works once lists exist
        if args[0] == "download" and ok:
            (cwd / f"{args[1]}_2.0-1_all.deb").write_bytes(b"!<arch>\n")
        return corpus.subprocess.CompletedProcess(args, 0 if ok else 100, "",
                                                  "E: Unable to locate package")

    monkeypatch.setattr(corpus, "_apt_get", fake_apt_get)
    monkeypatch.setattr(corpus.shutil, "which", lambda name: "/usr/bin/" + name)
    corpus._apt_get_update.cache_clear()
    try:
        got = corpus.fetch_deb("somepkg", tmp_path, download=True)
        assert got.name == "somepkg_2.0-1_all.deb" and calls == ["download", "update", "download"]
        assert corpus.fetch_deb("somepkg", tmp_path, download=True) == got  # cached: no apt-get
        assert calls == ["download", "update", "download"]
        with pytest.raises(OSError, match="downloading is off"):
            corpus.fetch_deb("otherpkg", tmp_path, download=False)
    finally:
        corpus._apt_get_update.cache_clear()
