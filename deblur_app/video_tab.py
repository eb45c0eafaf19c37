"""The Video tab: a short clip deblurred as a stream (a motion network sees t-1, t, t+1)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from itertools import islice

import gradio as gr
import numpy as np

from deblur.errors import DeblurError
from deblur.inference import deblur_video
from deblur.io import iter_video, video_fps, write_video
from deblur_app.common import AppConfig, display_copy, fresh_output_dir, public_message, safe_stem, user_errors
from deblur_app.lanes import COMPUTE_WORKERS, compute_lane, is_long, stop_check, time_left
from deblur_app.menus import check_model, default_video_model, get_restorer, offered, video_model_choices
from deblur_app.uploads import upload_path, uploaded_file

# Frames past MAX_VIDEO_FRAMES are left out (and the report says so); bigger frames are refused.
MAX_VIDEO_FRAMES = 48
MAX_VIDEO_PIXELS = 1280 * 720
PREVIEW_SIDE = 1280  # the uploaded clip's preview (H.264 MP4) is at most this wide or high


def preview_clip(video, cfg: AppConfig = AppConfig()) -> tuple[str | None, dict | None]:
    """A playable preview of an uploaded clip, whatever its container: (H.264 MP4 path, state).

    Browsers play few containers (an AVI shows "Video not playable"), so the frames the app will
    process -- the first MAX_VIDEO_FRAMES, at most PREVIEW_SIDE px -- are re-encoded by
    deblur.io.write_video. The state remembers the original, which is what gets deblurred.
    """
    path = uploaded_file(video, cfg)
    if path is None:
        return None, None
    try:
        fps = video_fps(path)
        out = fresh_output_dir("preview") / f"{safe_stem(path.stem)}-preview.mp4"
        frames = islice(iter_video(path), MAX_VIDEO_FRAMES)
        write_video(out, (display_copy(f, PREVIEW_SIDE) for f in frames), fps, crf=23)
    except DeblurError as exc:
        raise gr.Error(public_message(str(exc))) from exc
    return str(out), {"preview": out.name, "original": str(path)}


def original_clip(video, state: dict | None):
    """The visitor's own upload when `video` is the preview made of it, else `video` itself."""
    path = upload_path(video)
    if path is not None and state and path.name == state.get("preview"):
        return state.get("original")
    return video


@user_errors
def deblur_clip(video, model: str, progress: gr.Progress = gr.Progress(), request: gr.Request | None = None,
                *, cfg: AppConfig = AppConfig()):
    """Deblur a short clip as a stream (a motion network sees t-1, t, t+1).

    Frames are decoded, restored and encoded one at a time (three held at once), so memory does
    not grow with the clip, and the job stops between frames once the visitor leaves.
    Returns ((before, after) middle frame, restored MP4 path for the player, the same file for
    download, Markdown report).
    """
    stop = stop_check(request)
    menu = offered(cfg)
    info = check_model(model, cfg, None, have_kernel=False, menu=menu)
    if model not in {name for _, name in video_model_choices(cfg, menu)}:
        raise gr.Error(f"{model} fits a camera path for every frame (15-40 s each): it is for photos and "
                       "frame triplets on the Deblur tab; pick a network from the list for a clip")
    path = uploaded_file(video, cfg)
    if path is None:
        raise gr.Error("upload a short video clip")
    progress(0, desc="Reading the clip")
    count, shape = 0, None
    try:
        fps = video_fps(path)
        for frame in iter_video(path, max_frames=MAX_VIDEO_FRAMES + 1):  # a counting pass, nothing kept
            shape = shape or frame.shape
            count += 1
            if shape[0] * shape[1] > MAX_VIDEO_PIXELS:
                break
    except DeblurError as exc:
        raise gr.Error(public_message(str(exc))) from exc
    if shape is not None and shape[0] * shape[1] > MAX_VIDEO_PIXELS:
        raise gr.Error(f"video frames are {shape[1]} x {shape[0]}; the app takes frames of up to 1280 x 720 "
                       f"({MAX_VIDEO_PIXELS / 1e6:.2f} MP): use `python -m deblur` for bigger clips")
    truncated = count > MAX_VIDEO_FRAMES
    n = min(count, MAX_VIDEO_FRAMES)
    if n < 3:
        raise gr.Error(f"a video needs at least 3 frames (the motion model looks at t-1, t, t+1); "
                       f"{path.name} has {n}")
    h, w = shape[:2]
    with compute_lane(is_long(n * h * w), stop, progress):  # a long clip waits for the long job before it
        restorer = get_restorer(info, cfg)
        mid = n // 2
        kept: dict[str, np.ndarray] = {}

        def decoded() -> Iterator[np.ndarray]:
            for i, frame in enumerate(iter_video(path, max_frames=n)):
                stop()
                if i == mid:
                    kept["before"] = frame
                yield frame

        def on_frame(done: int, total: int | None) -> None:
            stop()
            progress((done, n), desc=f"Deblurring with {model}{time_left(t0, done, n)}", unit="frames")

        def restored() -> Iterator[np.ndarray]:
            for i, frame in enumerate(deblur_video(restorer, decoded(), progress=on_frame)):
                if i == mid:
                    kept["after"] = frame
                yield frame

        t0 = time.perf_counter()
        out_dir = fresh_output_dir("video")
        mp4 = str(write_video(out_dir / f"{safe_stem(path.stem)}_{safe_stem(model)}.mp4", restored(), fps))
        run_s = time.perf_counter() - t0
        report = (f"**{model}** restored **{n} frames** of {w} x {h} px in **{run_s:.1f} s** "
                  f"({run_s / n:.2f} s per frame). The slider shows frame {mid + 1}.")
        if truncated:
            report += (f"\n\nThe clip is longer than {MAX_VIDEO_FRAMES} frames: only its first "
                       f"{MAX_VIDEO_FRAMES} were processed.")
        return (display_copy(kept["before"]), display_copy(kept["after"])), mp4, mp4, report


def build(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """The clip, its model and the button; the middle frame before / after, the player, the MP4.
    Returns a function that registers the tab's page-load refresh on the Blocks."""
    menu = offered(cfg)
    with gr.Row():
        with gr.Column(scale=2):
            video = gr.Video(label="Short clip", sources=["upload"], elem_id="video-upload")
            original = gr.State(None)  # {"preview": name, "original": path} once a preview replaced the upload
            model = gr.Dropdown(choices=video_model_choices(cfg, menu), value=default_video_model(cfg, menu),
                                allow_custom_value=True, label="Model", elem_id="video-model")
            run = gr.Button("Deblur clip", variant="primary", elem_id="video-button")
            gr.Markdown(f"At least 3 frames; the first {MAX_VIDEO_FRAMES} frames are processed, each at most "
                        "1280 x 720 px. A 3-frame motion network sees each frame with its neighbours. The "
                        "player shows an H.264 preview of those frames; your own file is what gets deblurred.")
        with gr.Column(scale=3):
            slider = gr.ImageSlider(label="Before / after (middle frame)", type="numpy")
            player = gr.Video(label="Restored clip", interactive=False)
            download = gr.File(label="Restored clip (MP4)", elem_id="video-download")
            report = gr.Markdown()

    def run_clip(video, model, state=None, progress=gr.Progress(), request: gr.Request = None):  # noqa: B008
        return deblur_clip(original_clip(video, state), model, progress, request, cfg=cfg)

    video.upload(user_errors(functools.partial(preview_clip, cfg=cfg)), inputs=video, outputs=[video, original],
                 api_visibility="private", concurrency_id="preview")
    video.clear(lambda: None, outputs=original, queue=False, api_visibility="private")
    run.click(run_clip, inputs=[video, model, original], outputs=[slider, player, download, report],
              api_name="deblur_video", concurrency_id="compute", concurrency_limit=COMPUTE_WORKERS)

    def refresh() -> dict:
        menu = offered(cfg)
        return gr.update(choices=video_model_choices(cfg, menu), value=default_video_model(cfg, menu))

    def on_load(demo: gr.Blocks) -> None:
        demo.load(refresh, outputs=model, api_visibility="private")

    return on_load
