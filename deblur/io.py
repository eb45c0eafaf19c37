"""Reading and writing images and video as the arrays the rest of the package expects.

Every image leaves this module as numpy uint8 (H, W, 3) RGB, whatever the file held: grey,
grey + alpha, palette, RGBA, 16-bit or float. Every failure a user can cause (missing, empty,
corrupt, zero-size or enormous file, undecodable video) becomes a `deblur.errors.ImageError`
with one line that names the path, so the CLI and the app can show it as is.

Pillow reads images, PyAV (FFmpeg) reads and writes video; there is no OpenCV or torchvision.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

try:  # video only: image use (and the GPU training image, which lacks it) works without PyAV
    import av
except ImportError:  # pragma: no cover - PyAV is in requirements.txt
    av = None
import numpy as np
from PIL import Image, ImageOps

from deblur.errors import ImageError

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"}
)
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP"}

# Pillow warns above Image.MAX_IMAGE_PIXELS and refuses above twice that. One explicit limit
# is clearer: 16384 x 16384 (268 MP, 805 MB as uint8 RGB) is larger than any camera sensor but
# stops a decompression bomb before it allocates gigabytes. read_image turns Pillow's warning
# and error into an ImageError naming the file; `max_pixels` lowers the limit per call.
MAX_PIXELS = 16384 * 16384
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Frame rate reported when a container does not declare one (some AVI/GIF-like streams).
FALLBACK_FPS = 25.0


def is_image_path(path: str | os.PathLike) -> bool:
    """True if the file name ends in a still-image suffix this module reads."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video_path(path: str | os.PathLike) -> bool:
    """True if the file name ends in a video suffix (decided by suffix only, not content)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _check_file(path: Path, what: str) -> None:
    """Raise ImageError for the failures that need no decoder: missing, directory, empty."""
    if not path.exists():
        raise ImageError(f"{what} file not found: {path}")
    if path.is_dir():
        raise ImageError(f"expected a {what} file but got a directory: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"{what} file is empty (0 bytes): {path}")


def _scale_to_u8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Map a single-channel high-bit-depth array ('I;16*', 'I', 'F') to uint8.

    16-bit data (and 32-bit integers whose values fit in 0..65535, which is how Pillow
    opens some 16-bit PNG/TIFF files) keeps its high byte, v >> 8: that is what Pillow
    itself does for 16-bit RGB PNGs, so grey and colour 16-bit files agree exactly.
    Float data in [0, 1] is scaled by 255. Anything else (signed or
    out-of-range values, e.g. scientific TIFFs) is stretched min..max -> 0..255, because
    there is no other defensible meaning for it in a photo pipeline.
    """
    if mode.startswith("I;16") or (mode == "I" and arr.size and arr.min() >= 0
                                   and arr.max() <= 65535):
        return (arr.astype(np.uint32) >> 8).astype(np.uint8)
    a = arr.astype(np.float64)
    if not np.isfinite(a).all():
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode == "F" and lo >= 0 and hi <= 1.0:
        out = a * 255.0
    elif hi > lo:
        out = (a - lo) * (255.0 / (hi - lo))
    else:
        out = np.zeros_like(a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_rgb_u8(im: Image.Image) -> np.ndarray:
    """Convert any Pillow image to uint8 (H, W, 3); transparency is composited on white."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _scale_to_u8(np.asarray(im), mode)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
    if has_alpha:
        # White, not black: a transparent logo or screenshot should look like it does in a
        # browser, and black fringes would read as (false) blur around every edge.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB.

    Grey, grey + alpha, palette and RGBA images are converted (alpha composited on white);
    16-bit and float images are scaled to 8 bits; EXIF orientation is applied. Multi-frame
    files (GIF, TIFF) give their first frame.

    Args:
        path: image file.
        max_pixels: refuse images with more than this many pixels (width * height). None
            means the module-wide MAX_PIXELS guard against decompression bombs.

    Raises:
        ImageError: missing path, a directory, an empty / corrupt / truncated file, a
            zero-size image or one larger than the pixel limit. The message names the path.
    """
    path = Path(path)
    _check_file(path, "image")
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    try:
        with warnings.catch_warnings():
            # Our own limit check below replaces Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image is too large to read safely ({_one_line(exc)}): {path}") from exc
    except Exception as exc:  # Pillow raises many types for bad data; all mean "not an image".
        raise ImageError(f"cannot read image {path}: {_one_line(exc)}") from exc
    with im:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise ImageError(f"image has zero size ({width}x{height}): {path}")
        if width * height > limit:
            raise ImageError(
                f"image has {width}x{height} = {width * height:,} pixels, more than the limit of "
                f"{limit:,}: {path}"
            )
        try:
            im.load()
        except Exception as exc:
            raise ImageError(f"cannot decode image {path}: {_one_line(exc)}") from exc
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception:
            # A damaged EXIF block must not make valid pixels unreadable; orientation is a
            # display hint, so fall back to the stored orientation.
            oriented = im
        try:
            return _to_rgb_u8(oriented if oriented is not None else im)
        except Exception as exc:
            raise ImageError(f"cannot convert image {path} (mode {im.mode}) to RGB: "
                             f"{_one_line(exc)}") from exc


MAX_KERNEL_SIDE = 255  # a PSF larger than this is not a blur kernel (and would cost minutes)


def read_kernel(path: str | os.PathLike) -> np.ndarray:
    """Read a blur kernel (PSF) file as float64 (kh, kw) that sums to 1.

    ``.npy``: a 2-D float array (never unpickled), x to the right, y down, in the pixel scale of
    the photo it blurred; an image file (``.png`` ...): its grey levels, scaled to sum 1.

    Raises:
        ImageError: missing / unreadable file, not 2-D, negative or non-finite values, a zero
            sum, or larger than MAX_KERNEL_SIDE. The message names the path.
    """
    path = Path(path)
    _check_file(path, "kernel")
    if path.suffix.lower() == ".npy":
        try:
            k = np.load(path, allow_pickle=False)
        except Exception as exc:  # a truncated or pickled file
            raise ImageError(f"cannot read kernel {path}: {_one_line(exc)}") from exc
    else:
        k = read_image(path).astype(np.float64).mean(axis=2)
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        raise ImageError(f"kernel {path} must be a 2-D array, got shape {k.shape}")
    if max(k.shape) > MAX_KERNEL_SIDE:
        raise ImageError(f"kernel {path} is {k.shape[1]}x{k.shape[0]} px; at most {MAX_KERNEL_SIDE} px a side")
    if not np.all(np.isfinite(k)) or (k < -1e-6 * max(1e-12, float(np.abs(k).max()))).any():
        raise ImageError(f"kernel {path} has negative or non-finite values")
    k = np.clip(k, 0.0, None)
    if k.sum() <= 0:
        raise ImageError(f"kernel {path} sums to zero")
    return k / k.sum()


def write_kernel(path: str | os.PathLike, kernel: np.ndarray) -> Path:
    """Write a blur kernel (PSF) as ``read_kernel`` reads it back; returns the path.

    ``.npy``: float64, normalised to sum 1, x to the right, y down; ``.png`` (or another image
    suffix of WRITE_FORMATS): a greyscale picture scaled to the kernel's maximum, for a look (it
    reads back as the same shape up to 8-bit rounding).

    Raises:
        ImageError: not a 2-D kernel with a positive sum, or an unsupported suffix.
    """
    path = Path(path)
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.size == 0 or not np.all(np.isfinite(k)) or k.sum() <= 0:
        raise ImageError(f"cannot write kernel {path}: not a 2-D kernel with a positive sum (shape {k.shape})")
    k = np.clip(k, 0.0, None)
    k = k / k.sum()
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, k, allow_pickle=False)
        return path
    if suffix not in WRITE_FORMATS:
        raise ImageError(f"cannot write kernel {path}: use .npy (the values) or an image suffix "
                         f"({', '.join(sorted(WRITE_FORMATS))}) for a picture")
    grey = np.rint(k / k.max() * 255.0).astype(np.uint8)
    Image.fromarray(grey).save(path)  # 2-D uint8: an 8-bit greyscale image
    return path


def image_frames(path: str | os.PathLike) -> int:
    """How many frames (animation frames, pages) an image file holds; read_image gives the first.

    1 for a single image, and for anything Pillow cannot open: read_image reports that itself.
    Counting may scan the file (GIF) but decodes no pixels beyond what Pillow needs to find frames.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return max(1, int(getattr(im, "n_frames", 1)))
    except Exception:  # noqa: BLE001 - a bad file is read_image's to report, with its path
        return 1


def _as_hwc_u8(arr: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ImageError(f"{what} expects uint8 pixels, got {arr.dtype}; use to_uint8() first")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{what} expects an (H, W, 3) or (H, W) array, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write uint8 (H, W, 3) (or grey (H, W)) to PNG / JPEG / BMP / TIFF / WebP by suffix.

    Parent folders are created. `quality` applies to JPEG and WebP. Returns the path.
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"cannot write image {path}: unsupported suffix {path.suffix!r} "
                         f"(use one of {', '.join(sorted(WRITE_FORMATS))})")
    arr = _as_hwc_u8(image, "write_image")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(arr, mode="RGB").save(path, format=fmt, **options)
    return path


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 in [0, 255] -> float32 in [0, 1] (any shape)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8, got {image.dtype}")
    return image.astype(np.float32) / np.float32(255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 by round-to-nearest and clipping (any shape).

    NaN becomes 0. A uint8 input is returned unchanged (as a copy), so callers need not
    track which representation they hold.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.copy()
    scaled = np.nan_to_num(image.astype(np.float32), nan=0.0) * np.float32(255.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------

def _require_av() -> None:
    if av is None:
        raise ImageError("reading or writing video needs PyAV: pip install av")


def _open_video(path: Path):
    """Open a container with its first video stream, or raise ImageError."""
    _check_file(path, "video")
    _require_av()
    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # av.FFmpegError subclasses, OSError, ...
        raise ImageError(f"cannot open video {path}: {_one_line(exc)}") from exc
    if not container.streams.video:
        container.close()
        raise ImageError(f"file has no video stream: {path}")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threading: several times faster decoding
    return container, stream


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if fps > 0 else FALLBACK_FPS


def _frame_to_rgb(frame) -> np.ndarray:
    arr = frame.to_ndarray(format="rgb24")
    # Phone videos store portrait orientation as a display-matrix rotation, not as pixels.
    rotation = getattr(frame, "rotation", 0) or 0
    quarter_turns = int(round(rotation / 90.0)) % 4
    if quarter_turns:
        arr = np.rot90(arr, k=quarter_turns)  # counter-clockwise, as the matrix states
    return np.ascontiguousarray(arr)


def video_fps(path: str | os.PathLike) -> float:
    """Frames per second declared by the video (FALLBACK_FPS if it declares none)."""
    path = Path(path)
    container, stream = _open_video(path)
    with container:
        return _stream_fps(stream)


def iter_video(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video one at a time as uint8 (H, W, 3) RGB.

    Only one decoded frame is alive at a time (apart from FFmpeg's own buffers), so long
    videos stream in constant memory. Opening errors are raised on the first next().

    Raises:
        ImageError: missing / empty / undecodable file, no video stream, or a decoding
            error part-way through (the message says after how many frames).
    """
    path = Path(path)
    if max_frames is not None and max_frames <= 0:
        return
    container, stream = _open_video(path)
    count = 0
    with container:
        try:
            for frame in container.decode(stream):
                yield _frame_to_rgb(frame)
                count += 1
                if max_frames is not None and count >= max_frames:
                    return
        except av.FFmpegError as exc:
            raise ImageError(f"cannot decode video {path} after {count} frames: "
                             f"{_one_line(exc)}") from exc
    if count == 0:
        raise ImageError(f"video has no decodable frames: {path}")


def read_video(path: str | os.PathLike, max_frames: int | None = None
               ) -> tuple[list[np.ndarray], float]:
    """Decode a whole video (or its first `max_frames` frames) into memory.

    Returns (frames, fps): a list of uint8 (H, W, 3) arrays and the declared frame rate.
    Use iter_video for long clips: 800 frames of 768x576 already take 1 GB.
    """
    fps = video_fps(path)
    return list(iter_video(path, max_frames=max_frames)), fps


def _pick_encoder() -> str:
    """libx264 when this FFmpeg build has it, else the always-present MPEG-4 Part 2."""
    _require_av()
    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise ImageError("this FFmpeg build has neither the libx264 nor the mpeg4 encoder")


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float,
                crf: int = 18, codec: str | None = None) -> Path:
    """Encode uint8 (H, W, 3) frames as H.264 yuv420p (MP4 for .mp4) and return the path.

    Frames may be any iterable (a generator streams in constant memory); all must have the
    same shape. yuv420p needs even sizes, so odd heights/widths are padded by repeating the
    last row/column (players then show one extra pixel, never a crop of real content).
    Falls back to the mpeg4 encoder when libx264 is unavailable. `crf` is H.264 quality
    (18 is visually lossless; lower = bigger file). `codec` forces an encoder ("libx264" or
    "mpeg4"); None picks the best available. Parent folders are created.
    """
    path = Path(path)
    if not fps or fps <= 0:
        raise ImageError(f"cannot write video {path}: fps must be positive, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or _pick_encoder()
    rate = Fraction(float(fps)).limit_denominator(1001)
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ImageError(f"cannot write video {path}: no frames given")
    first = _as_hwc_u8(first, "write_video")
    try:
        container = av.open(str(path), mode="w")
    except Exception as exc:
        raise ImageError(f"cannot create video {path}: {_one_line(exc)}") from exc
    try:
        _encode(container, codec, rate, first, iterator, crf, path)
    except BaseException:
        path.unlink(missing_ok=True)  # never leave a truncated file that looks finished
        raise
    return path


def _encode(container, codec: str, rate: Fraction, first: np.ndarray,
            rest: Iterator[np.ndarray], crf: int, path: Path) -> None:
    height, width = first.shape[:2]
    pad_h, pad_w = height % 2, width % 2
    with container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = width + pad_w, height + pad_h
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(int(crf)), "preset": "medium"}
        else:
            # MPEG-4 Part 2 has no CRF; about 0.5 bit per pixel keeps it near-transparent.
            stream.bit_rate = max(1_000_000, int(0.5 * stream.width * stream.height * rate))
        index = 0
        for arr in _chain(first, rest):
            arr = _as_hwc_u8(arr, "write_video")
            if arr.shape != first.shape:
                raise ImageError(f"cannot write video {path}: frame {index} has shape "
                                 f"{arr.shape}, frame 0 had {first.shape}")
            if pad_h or pad_w:
                arr = np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            index += 1
        for packet in stream.encode():  # flush delayed frames
            container.mux(packet)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest
