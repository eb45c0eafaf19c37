"""Tests for deblur.io: every input kind a user can hand us, and every way a file can be bad.

Fixtures are written into tmp_path by the tests themselves; the 16-bit PNGs are built byte by
byte because Pillow cannot write 16-bit RGB, and a real 48-bit file is what cameras and
scanners produce.
"""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from deblur import io
from deblur.errors import DeblurError, ImageError


def _raw_png(path, arr, bit_depth, colour_type, width=None, height=None):
    """Write a minimal valid PNG (no filtering) so we control bit depth and header fields."""
    h, w = arr.shape[:2]
    width = w if width is None else width
    height = h if height is None else height

    def chunk(tag, data):
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + arr[i].astype(dtype).tobytes() for i in range(h))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def _rgb(h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------ images

def test_rgb_png_round_trip_is_exact(tmp_path):
    img = _rgb()
    out = io.write_image(tmp_path / "deep" / "dir" / "a.png", img)  # creates parents
    got = io.read_image(out)
    assert got.dtype == np.uint8 and got.shape == (6, 8, 3)
    np.testing.assert_array_equal(got, img)


def test_jpeg_written_by_suffix(tmp_path):
    img = np.full((16, 16, 3), (200, 40, 90), np.uint8)
    out = io.write_image(tmp_path / "a.jpg", img)
    with Image.open(out) as im:
        assert im.format == "JPEG"
    assert np.abs(io.read_image(out).astype(int) - img).max() <= 3


def test_write_rejects_unknown_suffix_and_float(tmp_path):
    with pytest.raises(ImageError, match="suffix"):
        io.write_image(tmp_path / "a.xyz", _rgb())
    with pytest.raises(ImageError, match="uint8"):
        io.write_image(tmp_path / "a.png", _rgb().astype(np.float32))


def test_grey_becomes_three_equal_channels(tmp_path):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    got = io.read_image(tmp_path / "g.png")
    assert got.shape == (6, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(got[:, :, c], grey)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)    # opaque red stays red
    rgba[0, 1] = (255, 0, 0, 0)      # fully transparent -> white
    rgba[1, 0] = (0, 0, 0, 128)      # half-transparent black -> mid grey
    rgba[1, 1] = (0, 0, 255, 255)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    got = io.read_image(tmp_path / "a.png").astype(int)
    assert tuple(got[0, 0]) == (255, 0, 0)
    assert tuple(got[0, 1]) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in got[1, 0])
    assert tuple(got[1, 1]) == (0, 0, 255)


def test_grey_with_alpha_is_composited_on_white(tmp_path):
    la = np.zeros((1, 2, 2), np.uint8)
    la[0, 0] = (0, 255)
    la[0, 1] = (0, 0)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    got = io.read_image(tmp_path / "la.png")
    assert tuple(got[0, 0]) == (0, 0, 0) and tuple(got[0, 1]) == (255, 255, 255)


def test_16bit_grey_png_keeps_high_byte(tmp_path):
    values = np.array([[0, 257 * 100, 65535], [32896, 1000, 60000]], dtype=np.uint16)
    path = _raw_png(tmp_path / "g16.png", values, 16, 0)
    got = io.read_image(path)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 3)
    np.testing.assert_array_equal(got[:, :, 0], values >> 8)
    np.testing.assert_array_equal(got[:, :, 0], got[:, :, 2])


def test_16bit_rgb_png_matches_16bit_grey_scaling(tmp_path):
    values = np.array([[0, 25700, 65535], [32896, 1000, 60000]], dtype=np.uint16)
    rgb16 = np.stack([values, values // 2, 65535 - values], axis=-1)
    got = io.read_image(_raw_png(tmp_path / "rgb16.png", rgb16, 16, 2))
    np.testing.assert_array_equal(got, (rgb16 >> 8).astype(np.uint8))


def test_16bit_pillow_written_png(tmp_path):
    ramp = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    Image.fromarray(ramp).save(tmp_path / "p16.png")
    got = io.read_image(tmp_path / "p16.png")
    np.testing.assert_array_equal(got[:, :, 1], ramp >> 8)


def test_float_tiff_in_unit_range_is_scaled(tmp_path):
    f = np.array([[0.0, 0.5, 1.0]], np.float32)
    Image.fromarray(f, mode="F").save(tmp_path / "f.tif")
    got = io.read_image(tmp_path / "f.tif")
    assert got[0, :, 0].tolist() == [0, 128, 255]


def test_palette_png_is_converted(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2] = (10, 200, 30)
    img[2:] = (250, 5, 5)
    Image.fromarray(img).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
        tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        assert im.mode == "P"
    np.testing.assert_array_equal(io.read_image(tmp_path / "p.png"), img)


def test_palette_png_with_transparent_index_goes_white(tmp_path):
    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    p.save(tmp_path / "t.png", transparency=0)
    got = io.read_image(tmp_path / "t.png")
    assert tuple(got[0, 0]) == (255, 255, 255) and tuple(got[0, 1]) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((2, 4, 3), np.uint8)
    img[0, 0] = 255  # top-left marker
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(img).save(tmp_path / "o.png", exif=exif)
    got = io.read_image(tmp_path / "o.png")
    assert got.shape == (4, 2, 3)
    assert got[0, 1].tolist() == [255, 255, 255]  # marker moved to the top-right


@pytest.mark.parametrize("make, pattern", [
    (lambda p: p, "not found"),
    (lambda p: (p.mkdir(), p)[1], "directory"),
    (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    (lambda p: (p.write_bytes(b"this is not an image at all"), p)[1], "cannot"),
])
def test_bad_files_raise_image_error_naming_the_path(tmp_path, make, pattern):
    path = make(tmp_path / "bad.png")
    with pytest.raises(ImageError, match=pattern) as info:
        io.read_image(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(info.value, DeblurError) and isinstance(info.value, ValueError)


def test_truncated_png_raises_image_error(tmp_path):
    io.write_image(tmp_path / "ok.png", _rgb(64, 64))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        io.read_image(tmp_path / "cut.png")


def test_zero_size_png_raises_image_error(tmp_path):
    path = _raw_png(tmp_path / "zero.png", np.zeros((1, 1), np.uint8), 8, 0, width=0)
    with pytest.raises(ImageError, match="zero.png"):
        io.read_image(path)


def test_max_pixels_guard(tmp_path):
    path = io.write_image(tmp_path / "a.png", _rgb(10, 10))
    assert io.read_image(path, max_pixels=100).shape == (10, 10, 3)
    with pytest.raises(ImageError, match="more than the limit"):
        io.read_image(path, max_pixels=99)


def test_decompression_bomb_becomes_image_error(tmp_path):
    # Header claims 40000 x 40000 = 1.6 GP (> 2 * MAX_PIXELS); Pillow refuses before decoding.
    path = _raw_png(tmp_path / "bomb.png", np.zeros((1, 1), np.uint8), 8, 0,
                    width=40000, height=40000)
    with pytest.raises(ImageError, match="bomb.png"):
        io.read_image(path)


# ------------------------------------------------------------------------------ conversions

def test_float_conversions():
    u8 = np.array([0, 1, 127, 128, 255], np.uint8)
    f = io.to_float(u8)
    assert f.dtype == np.float32 and f[-1] == 1.0 and f[0] == 0.0
    np.testing.assert_array_equal(io.to_uint8(f), u8)
    assert io.to_uint8(np.array([-0.5, 0.4 / 255, 0.6 / 255, 1.7, np.nan])).tolist() == \
        [0, 0, 1, 255, 0]
    with pytest.raises(TypeError):
        io.to_float(f)


def test_suffix_predicates():
    assert io.is_video_path("a/b/clip.MP4") and io.is_video_path("x.avi")
    assert not io.is_video_path("photo.png")
    assert io.is_image_path("photo.JPG") and not io.is_image_path("clip.mov")


# ------------------------------------------------------------------------------ video

def _moving_frames(n=6, h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return [np.stack([(x * 6 + t * 8) % 256, y * 9, np.full_like(x, 100)], -1).astype(np.uint8)
            for t in range(n)]


@pytest.mark.parametrize("codec", [None, "mpeg4"])
def test_video_round_trip(tmp_path, codec):
    frames = _moving_frames()
    path = io.write_video(tmp_path / "v" / "clip.mp4", frames, fps=12, codec=codec)
    got, fps = io.read_video(path)
    assert fps == pytest.approx(12.0)
    assert len(got) == len(frames)
    for a, b in zip(got, frames):
        assert a.dtype == np.uint8 and a.shape == b.shape
        assert np.abs(a.astype(int) - b).mean() < 4  # lossy, but the same picture
    # Frames differ from each other far more than from their originals: order is kept.
    own, other = (np.abs(got[0].astype(int) - frames[k]).mean() for k in (0, 3))
    assert other > 2 * own
    assert len(io.read_video(path, max_frames=2)[0]) == 2
    assert sum(1 for _ in io.iter_video(path)) == len(frames)


def test_video_is_h264_yuv420p_and_pads_odd_sizes(tmp_path):
    import av

    frames = [f[:23, :31] for f in _moving_frames(n=3)]
    path = io.write_video(tmp_path / "odd.mp4", frames, fps=25)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.format.name == "yuv420p"
    got, _ = io.read_video(path)
    assert got[0].shape == (24, 32, 3)
    np.testing.assert_allclose(got[0][:23, :31], frames[0], atol=30)
    np.testing.assert_allclose(got[0][23, :31], got[0][22, :31], atol=12)  # edge-repeated row


def test_write_video_errors_leave_no_file(tmp_path):
    frames = _moving_frames(n=3)
    with pytest.raises(ImageError, match="frame 1"):
        io.write_video(tmp_path / "bad.mp4", [frames[0], frames[1][:10]], fps=10)
    assert not (tmp_path / "bad.mp4").exists()
    with pytest.raises(ImageError, match="no frames"):
        io.write_video(tmp_path / "empty.mp4", [], fps=10)
    with pytest.raises(ImageError, match="fps"):
        io.write_video(tmp_path / "zero.mp4", frames, fps=0)


@pytest.mark.parametrize("content, pattern", [
    (None, "not found"), (b"", "empty"), (b"\x00\x01garbage" * 50, "cannot")])
def test_bad_video_raises_image_error(tmp_path, content, pattern):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=pattern) as info:
        io.read_video(path)
    assert str(path) in str(info.value)


def test_still_image_opened_as_video_is_one_frame(tmp_path):
    # FFmpeg demuxes a PNG as a one-frame stream; read_video must give that frame, not crash.
    path = io.write_image(tmp_path / "still.png", _rgb())
    frames, fps = io.read_video(path)
    assert len(frames) == 1 and fps > 0
    np.testing.assert_array_equal(frames[0], _rgb())


def test_two_frame_video_reads_two_frames(tmp_path):
    path = io.write_video(tmp_path / "two.mp4", _moving_frames(n=2), fps=5)
    frames, fps = io.read_video(path)
    assert len(frames) == 2 and fps == pytest.approx(5.0)


def test_display_rotation_of_phone_videos_is_applied(tmp_path):
    import av

    frame = np.zeros((16, 32, 3), np.uint8)
    frame[:8, :8] = 255  # top-left marker
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(io._pick_encoder(), rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.set_display_rotation(90)  # "rotate 90 degrees counter-clockwise to display"
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    got = io.read_video(path)[0][0]
    assert got.shape == (32, 16, 3)
    assert got[28, 4].mean() > 200 and got[4, 4].mean() < 50  # marker now bottom-left
