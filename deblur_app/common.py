"""What every tab shares: where the app reads its inputs, errors for the visitor, output folders."""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from deblur.errors import DeblurError
from deblur.weights import WEIGHTS_DIR

ROOT = Path(__file__).resolve().parent.parent  # the checkout (or site-packages: eval/ sits beside us)
LEADERBOARDS_DIR = ROOT / "eval" / "leaderboards"
GALLERY_DIR = ROOT / "gallery" / "inputs"  # real blurry photos offered as one-click examples (PNG)
LOG = logging.getLogger("deep-deblur")
TILE = "auto"  # deblur.inference.Deblurrer's own choice, as the CLI makes it
DISPLAY_SIDE = 1600  # the before/after slider shows a copy this large at most; the PNG is full size
OUTPUT_DIR = Path(tempfile.gettempdir()) / "deep-deblur-app"
OUTPUT_MAX_AGE_S = 3600  # per-request output folders older than this are removed


@dataclass(frozen=True)
class AppConfig:
    """Where the app reads its inputs; tests point them at temporary folders."""

    weights_dir: Path = WEIGHTS_DIR
    leaderboards_dir: Path = LEADERBOARDS_DIR
    tile: int | str | None = TILE
    gallery_dir: Path = GALLERY_DIR


class VisitorLeft(Exception):
    """The visitor closed the page: their job stops at its next tile or frame (lanes.stop_check)."""


# Absolute POSIX paths: "/" not preceded by a word character or dot, then non-blank parts.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"`:,;()]+/)*([^\s'\"`:,;()]+)")


def public_message(text: str) -> str:
    """`text` without the server's absolute paths: the app's own files relative to its folder,
    anything else (uploads, temporary folders) by its name only."""
    text = str(text).replace(str(ROOT) + os.sep, "")
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)


def refuse(message: str) -> gr.Error:
    """A gr.Error for the visitor (no server paths), logged as one line instead of a traceback."""
    message = public_message(" ".join(str(message).split()))
    LOG.warning("refused a request: %s", message)
    return gr.Error(message, print_exception=False)


def user_errors(fn: Callable) -> Callable:
    """Turn the library's user-facing errors into one-line gr.Errors, never a traceback.

    DeblurError (bad file, unknown model, corrupt weights, too few frames...) carries one clear
    sentence already. Anything else is a bug: Gradio logs it and shows a generic error.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as exc:
            raise refuse(exc.message) from None
        except DeblurError as exc:
            raise refuse(str(exc)) from None
        except MemoryError:
            raise refuse("out of memory: try a smaller image or a shorter clip") from None
        except VisitorLeft as exc:
            LOG.info("%s", exc)
            raise gr.Error("stopped: the page was closed", print_exception=False) from None

    return wrapper


def safe_stem(text: str) -> str:
    """`text` as a file-name stem: letters, digits, '_', '.', '-' (at most 60)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "image"


def shown_path(path: Path) -> str:
    """A folder as the page names it: relative to the app's folder when inside it."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def fresh_output_dir(kind: str) -> Path:
    """A new folder for one request's files: no two requests ever share an output path.

    Gradio copies returned files into its own cache, so folders older than an hour are only
    leftovers and are removed here.
    """
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.iterdir():
        try:
            if old.is_dir() and now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # another request removed it first
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=OUTPUT_DIR))


def display_copy(img: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """A copy for the browser, longest side at most `side` (the download stays full size)."""
    h, w = img.shape[:2]
    if max(h, w) <= side:
        return img
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))
