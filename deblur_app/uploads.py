"""What a request may open: only the visitor's own uploads and the app's example photos.

A request names its files by server path, and a client can write any path there (raw HTTP, or a
FileData dict): so every file a request names is checked before it is opened, and everything that
is not the visitor's own upload or one of the app's example photos gets the one message
NOT_UPLOADED, whether the path exists, is a directory, a symlink out of the upload folder or a
system file. tests/test_app_security.py checks this over raw HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gradio as gr
from gradio_client.utils import is_file_obj, traverse

from deblur_app.common import AppConfig, refuse

NOT_UPLOADED = ("this file was not uploaded through the app: upload it on the page "
                "(or with gradio_client.handle_file)")


def upload_path(upload) -> Path | None:
    """The path a gr.File / gr.Video value names (a str, a FileData dict, or an object with .name),
    as the request says it: unchecked, see uploaded_file."""
    if upload is None or upload == "":
        return None
    if isinstance(upload, dict):  # gradio_client style FileData
        upload = upload.get("path") or upload.get("name")
    return Path(getattr(upload, "name", upload))


def upload_roots(cfg: AppConfig) -> tuple[Path, ...]:
    """The folders a request's files may come from: Gradio's upload folder (GRADIO_TEMP_DIR, else
    <tmp>/gradio; Gradio's cached copies of the gallery photos and the video previews are there
    too) and the app's example photos."""
    return Path(gr.utils.get_upload_folder()).resolve(), Path(cfg.gallery_dir).resolve()


def uploaded_file(upload, cfg: AppConfig) -> Path | None:
    """The real path of the file `upload` names (None: no file), once it is known to be the
    visitor's: it resolves (symlinks followed) to a regular file inside upload_roots(cfg).
    Anything else is refused with NOT_UPLOADED; nothing is opened before that.
    """
    path = upload_path(upload)
    if path is None:
        return None
    try:
        real = path.resolve()
        ok = any(real.is_relative_to(root) for root in upload_roots(cfg)) and real.is_file()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        ok = False
    if not ok:
        raise gr.Error(NOT_UPLOADED)
    return real


class CheckedBlocks(gr.Blocks):
    """gr.Blocks that checks the files every request names BEFORE Gradio handles them.

    Gradio 6.31 refuses a path outside its upload folder itself before copying it, but with an
    empty error and a traceback in the log, and a Gradio without that check (tests/
    test_app_security.py disables it) copies the file into its cache and hands it to the handler.
    This runs first, on the request's raw values, for every event and every file input (any
    {"path": ...} in a value, or a bare string for a file component), with uploaded_file's message.
    """

    file_check: Callable[[dict], object] | None = None  # set by app.build_demo: uploaded_file for its cfg

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        if self.file_check is not None:
            for block, value in zip(block_fn.inputs, inputs):
                if getattr(block, "stateful", False):  # gr.State lives on the server
                    continue
                try:
                    if isinstance(value, str) and value and getattr(block, "data_model", None) is not None:
                        raise gr.Error(NOT_UPLOADED)  # a bare path where a file component wants FileData
                    traverse(value, self.file_check, is_file_obj)  # every {"path": ...} in the value
                except gr.Error as exc:
                    raise refuse(exc.message) from None
        return await super().preprocess_data(block_fn, inputs, state, explicit_call)
