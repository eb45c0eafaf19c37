"""The app opens only what visitors upload (issue 27).

A request names its files by server path, and a client can write any path there. These tests call
the running app's raw HTTP API (no gradio_client, which would upload the caller's own file instead)
with paths that are not uploads -- an image outside the upload folders, system files, a missing
file, a directory, a symlink out of the upload folder, a bare string -- and check that each is
refused with the one message deblur_app.uploads.NOT_UPLOADED, that nothing comes back, that no handler opened it
and that no copy of it appears in Gradio's served cache. A real upload still works.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from PIL import Image

import app
from deblur.data import builtin_image
from deblur.io import read_image, write_video
from deblur_app import common, photo_tab, uploads, video_tab

SYSTEM_FILES = [p for p in ("/etc/hostname", "/etc/passwd") if Path(p).is_file()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> dict[str, Path]:
    """Files a visitor never uploaded: a photo and a clip outside every upload folder, a missing
    file, and symlinks inside Gradio's upload folder that point at the outside ones."""
    d = tmp_path_factory.mktemp("server-files")
    rgb = builtin_image("coffee")[100:196:2, 200:328:2]
    Image.fromarray(rgb).save(d / "server_photo.png")
    write_video(d / "server_clip.mp4", [np.roll(rgb, 2 * i, axis=1) for i in range(5)], fps=10)
    inside = Path(gr.utils.get_upload_folder()) / f"test-security-{uuid.uuid4().hex}"
    inside.mkdir(parents=True)
    (inside / "link_photo.png").symlink_to(d / "server_photo.png")
    (inside / "link_clip.mp4").symlink_to(d / "server_clip.mp4")
    yield {"photo": d / "server_photo.png", "clip": d / "server_clip.mp4", "missing": d / "missing.png",
           "link_photo": inside / "link_photo.png", "link_clip": inside / "link_clip.mp4", "dir": d}
    shutil.rmtree(inside, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the baselines only: `blurred` returns its input, so a leak would show."""
    d = tmp_path_factory.mktemp("app")
    demo = app.build_demo(d / "weights", d / "leaderboards")
    app.launch(demo, "127.0.0.1", free_port())
    yield demo
    demo.close()


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Every file the handlers open (the server runs in this process)."""
    calls: list[str] = []
    for tab, name in ((photo_tab, "read_image"), (video_tab, "video_fps"), (video_tab, "iter_video")):
        real = getattr(tab, name)
        monkeypatch.setattr(tab, name,
                            lambda path, *a, _real=real, **k: calls.append(str(path)) or _real(path, *a, **k))
    return calls


def call(url: str, api: str, data: list) -> tuple[str, object]:
    """POST /gradio_api/call/<api> as any HTTP client can, then read its event stream:
    (last event name, its data)."""
    with httpx.Client(timeout=120) as http:
        r = http.post(f"{url}gradio_api/call/{api}", json={"data": data})
        r.raise_for_status()
        event, payload = None, None
        with http.stream("GET", f"{url}gradio_api/call/{api}/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    payload = json.loads(line.split(":", 1)[1])
                    if event in ("complete", "error"):
                        break
    return event, payload


def file_data(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def cache_snapshot() -> set[Path]:
    return {p for p in Path(gr.utils.get_upload_folder()).rglob("*") if p.is_file() and not p.is_symlink()}


def copies_of(target: Path, new_files: set[Path]) -> list[Path]:
    """New cache files named like `target` or holding its bytes."""
    content = target.read_bytes() if target.is_file() else None
    return [p for p in new_files if p.name == target.name or (content is not None and p.read_bytes() == content)]


def targets(outside) -> list[tuple[str, object]]:
    cases = [("outside image", outside["photo"]), ("outside clip", outside["clip"]),
             ("missing file", outside["missing"]), ("directory", outside["dir"]),
             ("symlink out of the upload folder", outside["link_photo"]),
             ("symlinked clip", outside["link_clip"])]
    return cases + [(f"system file {p}", Path(p)) for p in SYSTEM_FILES]


def test_raw_api_refuses_every_path_that_was_not_uploaded(server, outside, opened):
    messages = []
    for label, target in targets(outside):
        for api, data in (("deblur", [file_data(target), None, "gaussian", "blurred", False, 1.5, False]),
                          ("deblur_video", [file_data(target), "blurred"]),
                          ("deblur", [str(target), None, "gaussian", "blurred", False, 1.5, False])):
            before = cache_snapshot()
            event, payload = call(server.local_url, api, data)
            assert event == "error", (label, api, event, payload)
            messages.append(payload.get("error") if isinstance(payload, dict) else payload)
            assert not (isinstance(payload, dict) and payload.keys() - {"error", "duration", "visible", "title"})
            real = Path(target).resolve()
            assert not copies_of(real, cache_snapshot() - before), (label, api)
    assert all(m == uploads.NOT_UPLOADED for m in messages), set(map(str, messages))
    assert opened == []  # no handler ran: the paths were refused before anything was opened


def test_refused_even_where_gradio_would_copy_and_hand_it_on(server, outside, opened, monkeypatch):
    """A Gradio without its own upload-folder check copies whatever path it is given into its cache
    and hands the copy to the handler; the app's check runs first, so nothing is copied or opened."""
    from gradio import processing_utils

    monkeypatch.setattr(processing_utils, "_check_allowed", lambda path, check_in_upload_folder: None)
    for label, target in targets(outside):
        before = cache_snapshot()
        event, payload = call(server.local_url, "deblur", [file_data(target), None, "gaussian", "blurred", False,
                                                           1.5, False])
        assert event == "error" and payload["error"] == uploads.NOT_UPLOADED, (label, event, payload)
        assert not copies_of(Path(target).resolve(), cache_snapshot() - before), label
    assert opened == []


def test_a_real_upload_still_works(server, outside, opened):
    from gradio_client import Client, handle_file

    client = Client(server.local_url, verbose=False)
    (before, after), png, report = client.predict(handle_file(str(outside["photo"])), None, "gaussian", "blurred",
                                                  False, 1.5, False, api_name="/deblur")
    np.testing.assert_array_equal(read_image(png), read_image(outside["photo"]))
    assert "**blurred** took" in report and len(opened) == 1 and Path(opened[0]).name == "server_photo.png"
    *_, report = client.predict(handle_file(str(outside["clip"])), "blurred", api_name="/deblur_video")
    assert "restored **5 frames**" in report


@pytest.mark.parametrize("case", ["photo", "missing", "dir", "link_photo"])
def test_handlers_refuse_what_was_not_uploaded(outside, opened, case):
    """The same check in every handler that takes a file, for calls that do not come through Gradio."""
    cfg = common.AppConfig(weights_dir=outside["dir"], leaderboards_dir=outside["dir"])
    path = str(outside[case])
    calls = [lambda: photo_tab.deblur_photo(path, None, "gaussian", "blurred", False, 1.5, cfg=cfg),
             lambda: photo_tab.preview_photo(path, cfg),
             lambda: video_tab.preview_clip(path, cfg),
             lambda: video_tab.deblur_clip(path, "blurred", cfg=cfg),
             lambda: photo_tab.load_photo({"path": path}, None, cfg)]
    for fn in calls:
        with pytest.raises(gr.Error) as err:
            fn()
        assert err.value.message == uploads.NOT_UPLOADED
    assert opened == []


def test_the_apps_own_example_photos_are_accepted(tmp_path, opened):
    Image.fromarray(builtin_image("coffee")[:40, :50]).save(tmp_path / "b_clock.png")
    cfg = common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path, gallery_dir=tmp_path)
    img, name = photo_tab.load_photo(str(tmp_path / "b_clock.png"), None, cfg)
    assert img.shape == (40, 50, 3) and name == "b_clock"
    with pytest.raises(gr.Error, match="not uploaded through the app"):
        photo_tab.load_photo(str(tmp_path / "b_clock.png"), None, common.AppConfig(gallery_dir=tmp_path / "other"))
