"""Display sinks: framebuffer bytes in a regular file, pygame under SDL's dummy driver, files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_emojify.controls import NEXT, QUIT
from edge_emojify.sinks.base import SinkError
from edge_emojify.sinks.files import PngSink, VideoSink
from edge_emojify.sinks.framebuffer import FramebufferSink


def fake_fb(tmp_path, width, height, bpp, stride=None):
    """A regular file as /dev/fb0 and a sysfs folder describing it, like the kernel's."""
    sysfs = tmp_path / "sys"
    (sysfs / "fb0").mkdir(parents=True)
    (sysfs / "fb0" / "virtual_size").write_text(f"{width},{height}\n")
    (sysfs / "fb0" / "bits_per_pixel").write_text(f"{bpp}\n")
    stride = stride or width * bpp // 8
    (sysfs / "fb0" / "stride").write_text(f"{stride}\n")
    dev = tmp_path / "fb0"
    dev.write_bytes(b"\xaa" * stride * height)
    return dev, sysfs, stride


def image(width, height):
    img = np.zeros((height, width, 3), np.uint8)
    img[0, 0] = (255, 0, 0)  # blue
    img[0, 1] = (0, 255, 0)  # green
    img[0, 2] = (0, 0, 255)  # red
    img[1, 0] = (255, 255, 255)
    return img


def test_framebuffer_32bpp_writes_bgrx_bytes(tmp_path):
    dev, sysfs, stride = fake_fb(tmp_path, 8, 4, 32)
    sink = FramebufferSink(dev, sysfs)
    assert sink.size == (8, 4)
    sink.show(image(8, 4))
    data = dev.read_bytes()
    assert data[0:4] == bytes([255, 0, 0, 255])  # B G R X in memory (little-endian XRGB8888)
    assert data[4:8] == bytes([0, 255, 0, 255])
    assert data[8:12] == bytes([0, 0, 255, 255])
    assert data[stride:stride + 3] == bytes([255, 255, 255])


def test_framebuffer_16bpp_writes_rgb565_with_the_device_stride(tmp_path):
    dev, sysfs, stride = fake_fb(tmp_path, 8, 4, 16, stride=32)  # rows padded to 32 bytes
    sink = FramebufferSink(dev, sysfs)
    sink.show(image(8, 4))
    data = np.frombuffer(dev.read_bytes(), np.uint8).reshape(4, 32)
    px = data[:, :16].copy().view("<u2")
    assert px[0, 0] == 0x001F  # blue: low 5 bits
    assert px[0, 1] == 0x07E0  # green: middle 6 bits
    assert px[0, 2] == 0xF800  # red: high 5 bits
    assert px[1, 0] == 0xFFFF
    assert (data[:, 16:] == 0).all()  # padding written as black, not garbage
    sink.close()
    assert not np.frombuffer(dev.read_bytes(), np.uint8).any()  # cleared on close


def test_framebuffer_that_is_not_there_is_a_clear_error(tmp_path):
    with pytest.raises(SinkError, match="framebuffer"):
        FramebufferSink(tmp_path / "fb7", tmp_path)


def test_video_sink_writes_a_playable_file(tmp_path):
    path = tmp_path / "out.mp4"
    sink = VideoSink(path, (160, 120), 15)
    for i in range(10):
        sink.show(np.full((120, 160, 3), i * 20, np.uint8))
    sink.close()
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    ok, frame = cap.read()
    assert ok and frame.shape == (120, 160, 3)


def test_video_sink_rejects_unknown_container(tmp_path):
    with pytest.raises(SinkError, match="must end in"):
        VideoSink(tmp_path / "out.gif", (160, 120), 15)


def test_png_sink_numbers_frames(tmp_path):
    sink = PngSink(tmp_path / "frames", (32, 24))
    sink.show(np.zeros((24, 32, 3), np.uint8))
    sink.show(np.zeros((24, 32, 3), np.uint8))
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_000000.png", "frame_000001.png"]


def test_pygame_sink_under_the_dummy_driver(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    from edge_emojify.sinks.pygame_sink import PygameSink

    sink = PygameSink((320, 240), fullscreen=False)
    try:
        assert sink.size == (320, 240)
        assert sink._direct  # the dummy driver's XRGB8888 screen: OpenCV writes into it, no blit
        img = np.zeros((240, 320, 3), np.uint8)
        img[10, 20] = (255, 0, 0)  # blue in BGR
        sink.show(img)
        assert tuple(sink.screen.get_at((20, 10)))[:3] == (0, 0, 255)  # pygame is RGB
        for key in (pygame.K_SPACE, pygame.K_m, pygame.K_q):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key))
        assert sink.poll() == [NEXT, NEXT, QUIT]
    finally:
        sink.close()


def test_usb_camera_rotation_and_flips_combine_into_one_flip():
    from edge_emojify.config import SourceConfig
    from edge_emojify.sources.opencv import flip_code

    assert flip_code(SourceConfig()) is None
    assert flip_code(SourceConfig(rotation=180)) == -1
    assert flip_code(SourceConfig(hflip=True)) == 1
    assert flip_code(SourceConfig(vflip=True)) == 0
    assert flip_code(SourceConfig(rotation=180, hflip=True)) == 0  # turned, then un-mirrored: upside down


def test_image_source_loops_a_still_and_plays_a_folder_once(tmp_path):
    from edge_emojify.config import SourceConfig
    from edge_emojify.sources.images import ImageSource

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 60, 3), i * 50, np.uint8))
    folder = ImageSource(tmp_path, SourceConfig(loop=False))
    shades = [int(folder.read().image[0, 0, 0]) for _ in range(3)]
    assert shades == [0, 50, 100] and folder.read() is None
    still = ImageSource(tmp_path / "1.png", SourceConfig(loop=True))
    assert all(still.read().image[0, 0, 0] == 50 for _ in range(5))


def test_files_carry_their_own_time_and_say_where_a_scene_starts(tmp_path):
    """Media time, not reading time, so the emoji follows a clip alike on a fast or a slow machine."""
    from edge_emojify.config import SourceConfig
    from edge_emojify.resources import SAMPLE_VIDEO
    from edge_emojify.sources.images import ImageSource
    from edge_emojify.sources.opencv import VideoFileSource

    video = VideoFileSource(SAMPLE_VIDEO, SourceConfig(loop=True))
    frames = [video.read() for _ in range(92)]  # the 90-frame sample, then its first two frames again
    assert [f.timestamp for f in frames[:3]] == pytest.approx([0, 1 / 15, 2 / 15])
    assert frames[91].timestamp == pytest.approx(91 / 15)  # time runs on across the loop …
    assert [i for i, f in enumerate(frames) if f.cut] == [22, 44, 66, 90]  # its shots, and the loop
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 60, 3), 99, np.uint8))
    folder = ImageSource(tmp_path, SourceConfig(loop=True, fps=5))
    shots = [folder.read() for _ in range(3)]
    assert [f.timestamp for f in shots] == pytest.approx([0, 0.2, 0.4]) and all(f.cut for f in shots)
    still = ImageSource(tmp_path / "1.png", SourceConfig(loop=True))
    assert not any(still.read().cut for _ in range(3))  # one photo is one scene


def test_framebuffer_24bpp_writes_bgr_bytes(tmp_path):
    dev, sysfs, stride = fake_fb(tmp_path, 8, 4, 24)
    FramebufferSink(dev, sysfs).show(image(8, 4))
    data = dev.read_bytes()
    assert data[0:9] == bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])  # B G R per pixel, no padding byte
    assert data[stride:stride + 3] == bytes([255, 255, 255]) and stride == 24


def test_framebuffer_fits_a_frame_of_another_size_instead_of_failing(tmp_path):
    dev, sysfs, stride = fake_fb(tmp_path, 8, 4, 32)
    sink = FramebufferSink(dev, sysfs)
    small = np.full((2, 2, 3), 200, np.uint8)  # square: letterboxed into the middle of 8x4
    sink.show(small)
    pixels = np.frombuffer(dev.read_bytes(), np.uint8).reshape(4, 8, 4)
    assert (pixels[:, 2:6, :3] == 200).all() and not pixels[:, :2, :3].any() and not pixels[:, 6:, :3].any()
    sink.show(np.full((40, 80, 3), 50, np.uint8))  # larger, same aspect: scaled down to fill it
    assert (np.frombuffer(dev.read_bytes(), np.uint8).reshape(4, 8, 4)[..., :3] == 50).all()


def test_framebuffer_fits_a_frame_of_another_size_the_right_way_round(tmp_path):
    dev, sysfs, stride = fake_fb(tmp_path, 8, 4, 32)
    frame = np.zeros((2, 4, 3), np.uint8)
    frame[:, :2] = (0, 0, 255)  # red on the left, blue on the right: scaled twice, not mirrored
    frame[:, 2:] = (255, 0, 0)
    FramebufferSink(dev, sysfs).show(frame)
    pixels = np.frombuffer(dev.read_bytes(), np.uint8).reshape(4, 8, 4)
    assert (pixels[:, :3, :3] == (0, 0, 255)).all() and (pixels[:, 5:, :3] == (255, 0, 0)).all()  # blended between


class Stand:
    """A module standing in for another: its own attributes where given, the real module's otherwise."""

    def __init__(self, real, **own) -> None:
        self.__dict__.update(own, _real=real)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_pygame_full_screen_lets_sdl_scale_a_camera_sized_picture(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    from edge_emojify.sinks.pygame_sink import PygameSink

    sink = PygameSink((640, 360), fullscreen=True, scaled=True)
    try:  # the renderer draws at the camera's size; SDL fits it to whatever the screen is
        assert sink.scaled and sink.size == (640, 360)
        img = np.zeros((360, 640, 3), np.uint8)
        img[5, 7] = (0, 0, 255)  # red in BGR
        sink.show(img)
        assert tuple(sink.screen.get_at((7, 5)))[:3] == (255, 0, 0)
    finally:
        sink.close()
    screen = PygameSink((640, 360), fullscreen=True, scaled=False)
    try:  # drawn at the screen's own size (the dummy driver's desktop), scaled by the renderer on the CPU
        info_size = screen.size
        assert not screen.scaled and info_size != (640, 360)
    finally:
        screen.close()

    def refuse_scaling(size, flags=0):  # an SDL with no renderer to scale with, as on some framebuffers
        if flags & pygame.SCALED:
            raise pygame.error("no renderer")
        return pygame.display.set_mode(size, flags)

    no_scaling = Stand(pygame, display=Stand(pygame.display, set_mode=refuse_scaling))
    fallback = PygameSink((640, 360), fullscreen=True, scaled=True, pygame=no_scaling)
    try:
        assert not fallback.scaled and fallback.size == info_size
    finally:
        fallback.close()


def test_pygame_before_2_1_3_gets_rgb_where_the_screen_is_blitted(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    from edge_emojify.sinks import pygame_sink

    def frombuffer(data, size, fmt):  # pygame 2.1.2 (Debian Bookworm) refuses "BGR"
        if fmt == "BGR":
            raise ValueError("Unrecognized type of format")
        return pygame.image.frombuffer(data, size, fmt)

    old_pygame = Stand(pygame, image=Stand(pygame.image, frombuffer=frombuffer))
    monkeypatch.setattr(pygame_sink, "_is_bgrx", lambda screen: False)  # a screen OpenCV cannot write into
    sink = pygame_sink.PygameSink((32, 24), fullscreen=False, pygame=old_pygame)
    try:
        assert not sink._bgr and not sink._direct
        img = np.zeros((24, 32, 3), np.uint8)
        img[3, 4] = (255, 0, 0)  # blue in BGR
        sink.show(img)
        assert tuple(sink.screen.get_at((4, 3)))[:3] == (0, 0, 255)
    finally:
        sink.close()


def test_only_a_screen_of_b_g_r_x_bytes_is_written_directly(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    from edge_emojify.sinks.pygame_sink import _is_bgrx

    pygame.display.init()
    try:
        assert _is_bgrx(pygame.Surface((4, 4), 0, 32, (0xFF0000, 0xFF00, 0xFF, 0)))  # XRGB8888
        assert _is_bgrx(pygame.Surface((4, 4), pygame.SRCALPHA, 32, (0xFF0000, 0xFF00, 0xFF, 0xFF000000)))
        assert not _is_bgrx(pygame.Surface((4, 4), 0, 32, (0xFF, 0xFF00, 0xFF0000, 0)))  # XBGR: R first
        assert not _is_bgrx(pygame.Surface((4, 4), 0, 16))  # RGB565
        assert not _is_bgrx(pygame.Surface((4, 4), 0, 24))
    finally:
        pygame.display.quit()
