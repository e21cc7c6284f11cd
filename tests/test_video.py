"""Video decoding: frame choice by timestamp, sizes, containers, rotation, short and bad files."""

from __future__ import annotations

from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest

from avsc_lib.core.errors import AvscError
from avsc_lib.features.video import ShortClipWarning, decode_frames, iter_frames, read_frames, resize_bilinear

BITS = 8  # frame index written as 8 black/white vertical stripes, most significant first


def index_image(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """An RGB frame whose stripes spell ``index`` in binary (survives lossy coding and scaling)."""
    image = np.zeros((height, width, 3), np.uint8)
    stripe = width // BITS
    for bit in range(BITS):
        if index >> (BITS - 1 - bit) & 1:
            image[:, bit * stripe:(bit + 1) * stripe] = 255
    return image


def read_index(frame: np.ndarray) -> int:
    """The index spelled by a (scaled) stripe frame: sample the middle of each stripe."""
    width = frame.shape[1]
    row = frame[frame.shape[0] // 2, :, 0].astype(int)
    bits = [row[int((bit + 0.5) * width / BITS)] > 127 for bit in range(BITS)]
    return int(sum(b << (BITS - 1 - i) for i, b in enumerate(bits)))


def write_video(
    path: Path,
    images: list[np.ndarray],
    rate: Fraction | int = 25,
    codec: str = "libx264",
    times_ms: list[int] | None = None,
    display_rotation: int | None = None,
    rotate_tag: str | None = None,
) -> Path:
    """Write frames with PyAV; ``times_ms`` gives a variable frame rate."""
    height, width = images[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if display_rotation is not None:
            stream.set_display_rotation(display_rotation)
        if rotate_tag is not None:
            stream.metadata["rotate"] = rotate_tag
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def indices(frames: np.ndarray) -> list[int]:
    return [read_index(frame) for frame in frames]


# --- the real samples -------------------------------------------------------------------------


def test_real_mp4_25fps_takes_every_5th_frame(video_sample_dir):
    path = video_sample_dir / "bikes.mp4"
    frames = read_frames(path, fps=5, size=224, n_frames=50, resize="ffmpeg")
    assert frames.shape == (50, 224, 224, 3) and frames.dtype == np.uint8
    with av.open(str(path)) as container:
        every = [
            f.reformat(width=224, height=224, format="rgb24", interpolation="BILINEAR").to_ndarray()
            for f in container.decode(video=0)
        ]
    assert len(every) == 250
    for k in range(50):
        np.testing.assert_array_equal(frames[k], every[5 * k])
    assert not np.array_equal(frames[0], frames[1])


def test_real_avi_10fps_takes_every_2nd_frame(video_sample_dir):
    path = video_sample_dir / "vtest.avi"
    decoded = decode_frames(path, fps=5, size=64, n_frames=50, resize="ffmpeg")
    assert decoded.frames.shape == (50, 64, 64, 3) and decoded.frames.dtype == np.uint8
    assert decoded.source_fps == 10 and decoded.source_size == (768, 576) and decoded.padded == 0
    with av.open(str(path)) as container:
        first = [
            f.reformat(width=64, height=64, format="rgb24", interpolation="BILINEAR").to_ndarray()
            for f in islice(container.decode(video=0), 100)
        ]
    for k in range(50):
        np.testing.assert_array_equal(decoded.frames[k], first[2 * k])


def test_default_scaling_is_the_authors_cv2_resize(video_sample_dir):
    # generate_tfrecords_gammatone.ipynb cell 9: cv2.resize(frame, (224, 224)) of the full frame
    cv2 = pytest.importorskip("cv2")
    path = video_sample_dir / "bikes.mp4"
    frames = read_frames(path, fps=5, size=224, n_frames=10)
    with av.open(str(path)) as container:
        full = [f.to_ndarray(format="rgb24") for f in islice(container.decode(video=0), 50)]
    for k in range(10):
        np.testing.assert_array_equal(frames[k], cv2.resize(full[5 * k], (224, 224)))
    smoothed = read_frames(path, fps=5, size=224, n_frames=10, resize="ffmpeg")
    assert np.abs(frames.astype(int) - smoothed).mean() > 1.0  # the two scalings really differ


@pytest.mark.parametrize("shape, size", [((720, 1280, 3), 224), ((576, 768, 3), 224), ((144, 256, 3), 64),
                                         ((37, 53, 3), 19), ((100, 100, 3), 224)])
def test_resize_bilinear_equals_opencv(shape, size):
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    difference = np.abs(resize_bilinear(image, size).astype(int) - cv2.resize(image, (size, size)))
    if shape[0] >= size:  # shrinking: bit for bit
        assert difference.max() == 0
    else:  # enlarging: OpenCV's vector code rounds a few values the other way
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_unknown_resize_method_is_named(tmp_path):
    path = write_video(tmp_path / "clip.mp4", [index_image(i) for i in range(10)], rate=5)
    with pytest.raises(AvscError, match="frame resize 'lanczos': expected one of cv2, ffmpeg"):
        read_frames(path, size=32, n_frames=2, resize="lanczos")


def test_iter_frames_streams_the_whole_file(tmp_path):
    path = write_video(tmp_path / "long.mp4", [index_image(i) for i in range(63)], rate=25)  # 2.52 s
    assert indices(np.stack(list(iter_frames(path, fps=5, size=32)))) == [5 * k for k in range(13)]


# --- frame rates, sizes, containers (synthetic) -------------------------------------------------


@pytest.mark.parametrize(
    "rate, step",
    [(25, 5), (10, 2), (30, 6), (Fraction(30000, 1001), None)],
    ids=["25fps", "10fps", "30fps", "29.97fps"],
)
def test_frame_choice_by_timestamp(tmp_path, rate, step):
    n_source = int(2.2 * float(rate))
    path = write_video(tmp_path / "clip.mp4", [index_image(i) for i in range(n_source)], rate=rate)
    got = indices(read_frames(path, fps=5, size=32, n_frames=10))
    if step is None:  # the last source frame shown at or before k/5 s
        step_times = [Fraction(i) / Fraction(rate) for i in range(n_source)]
        expected = [max(i for i, t in enumerate(step_times) if t <= Fraction(k, 5)) for k in range(10)]
    else:
        expected = [step * k for k in range(10)]
    assert got == expected


def test_variable_frame_rate(tmp_path):
    times = [0, 30, 90, 190, 200, 330, 410, 590, 600, 799, 1000, 1210, 1390, 1610, 1800, 2000]
    path = write_video(
        tmp_path / "vfr.mkv", [index_image(i) for i in range(len(times))], rate=25, times_ms=times
    )
    got = indices(read_frames(path, fps=5, size=32, n_frames=10))
    expected = [max(i for i, t in enumerate(times) if t <= 200 * k) for k in range(10)]
    assert got == expected  # 0, 4, 6, 8, 10, 11, 12, 13, 14, 15 with repeats where frames are sparse
    assert expected[1] == 4 and expected[3] == 8


@pytest.mark.parametrize("suffix, codec", [(".mkv", "libx264"), (".avi", "mpeg4"), (".mp4", "mpeg4")])
def test_other_containers_and_sizes(tmp_path, suffix, codec):
    images = [index_image(i, width=96, height=40) for i in range(30)]
    path = write_video(tmp_path / f"clip{suffix}", images, rate=15, codec=codec)
    decoded = decode_frames(path, fps=5, size=40, n_frames=6)
    assert decoded.frames.shape == (6, 40, 40, 3)
    assert decoded.source_size == (96, 40) and decoded.source_fps == 15
    assert indices(decoded.frames) == [0, 3, 6, 9, 12, 15]


def test_mp4_with_audio_track(tmp_path):
    # The dataset's MP4 files carry sound too; only the video stream is decoded.
    path = tmp_path / "av.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        mux_silence(container)
        for i in range(50):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_image(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert indices(read_frames(path, fps=5, size=32, n_frames=10)) == [5 * k for k in range(10)]


def test_resize_ignores_aspect_ratio(tmp_path):
    image = np.zeros((40, 160, 3), np.uint8)
    image[:, :80] = 255  # left half white
    path = write_video(tmp_path / "wide.mp4", [image] * 5, rate=5)
    frame = read_frames(path, fps=5, size=32, n_frames=1)[0, :, :, 0].astype(int)
    assert frame[:, :14].min() > 200 and frame[:, 18:].max() < 60  # stretched, not cropped or padded


# --- rotation ---------------------------------------------------------------------------------


def corner_image() -> np.ndarray:
    """A wide frame, white only in its top-left quarter."""
    image = np.zeros((32, 64, 3), np.uint8)
    image[:16, :32] = 255
    return image


def white_quadrant(frame: np.ndarray) -> str:
    half = frame.shape[0] // 2
    quads = {
        "top-left": frame[:half, :half], "top-right": frame[:half, half:],
        "bottom-left": frame[half:, :half], "bottom-right": frame[half:, half:],
    }
    return max(quads, key=lambda q: quads[q].mean())


@pytest.mark.parametrize(
    "degrees, quadrant", [(0, "top-left"), (90, "bottom-left"), (-90, "top-right"), (180, "bottom-right")]
)
def test_display_matrix_rotation(tmp_path, degrees, quadrant):
    # The display matrix rotates counter-clockwise by `degrees` (FFmpeg's convention, which
    # PyAV's VideoFrame.rotation reads back); a player shows the top-left corner moved there.
    path = write_video(tmp_path / "rot.mp4", [corner_image()] * 5, rate=5, display_rotation=degrees)
    decoded = decode_frames(path, fps=5, size=32, n_frames=2)
    assert decoded.rotation % 360 == degrees % 360  # 180 may read back as -180
    assert white_quadrant(decoded.frames[0]) == quadrant


def test_rotate_tag_is_clockwise(tmp_path):
    # Old phones write a `rotate` tag meaning "turn clockwise to show"; Matroska keeps the tag.
    path = write_video(tmp_path / "tag.mkv", [corner_image()] * 5, rate=5, rotate_tag="90")
    with av.open(str(path)) as container:
        assert {k.lower(): v for k, v in container.streams.video[0].metadata.items()}["rotate"] == "90"
    decoded = decode_frames(path, fps=5, size=32, n_frames=2)
    assert decoded.rotation == -90
    assert white_quadrant(decoded.frames[0]) == "top-right"


# --- short clips ------------------------------------------------------------------------------


def test_short_clip_repeats_last_frame_with_warning(tmp_path):
    path = write_video(tmp_path / "short.mp4", [index_image(i) for i in range(38)], rate=25)  # 1.52 s
    with pytest.warns(ShortClipWarning, match="repeated 2 time"):
        frames = read_frames(path, fps=5, size=32, n_frames=10, max_short_fraction=0.2)
    assert frames.shape == (10, 32, 32, 3)
    assert indices(frames) == [0, 5, 10, 15, 20, 25, 30, 35, 37, 37]
    decoded = decode_frames(path, fps=5, size=32, n_frames=10)
    assert decoded.padded == 2 and "short.mp4" in decoded.note


def test_much_too_short_clip_is_an_error(tmp_path):
    # A Matroska file cut after 40 % of its bytes still decodes, but covers only ~0.5 of 2 s.
    path = write_video(tmp_path / "cut.mkv", [index_image(i) for i in range(50)], rate=25)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(AvscError, match=r"cut\.mkv: video ends at .* need 2\.00 s \(truncated\?\)"):
        read_frames(path, size=32, n_frames=10)
    with pytest.warns(ShortClipWarning, match="repeated 7 time"):  # tolerated on request
        frames = read_frames(path, size=32, n_frames=10, max_short_fraction=1.0)
    assert indices(frames)[:3] == [0, 5, 10]


def test_full_length_clip_has_no_note(tmp_path):
    path = write_video(tmp_path / "full.mp4", [index_image(i) for i in range(50)], rate=25)  # 2.0 s
    decoded = decode_frames(path, fps=5, size=32, n_frames=10)
    assert decoded.padded == 0 and decoded.note == ""


# --- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(AvscError, match=r"nothere\.mp4: video file not found"):
        read_frames(tmp_path / "nothere.mp4")


@pytest.mark.parametrize("content", [b"", b"this is not a video" * 100], ids=["empty", "garbage"])
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(AvscError, match=r"bad\.mp4: not a readable video file"):
        read_frames(path, size=32, n_frames=2)


def test_truncated_mp4(tmp_path):
    path = write_video(tmp_path / "cut.mp4", [index_image(i) for i in range(50)], rate=25)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) is written last: lost
    with pytest.raises(AvscError, match=r"cut\.mp4: not a readable video file"):
        read_frames(path, size=32, n_frames=2)


def mux_silence(container: av.container.OutputContainer) -> None:
    """Add an AAC stream to an output container and mux a quarter second of silence."""
    stream = container.add_stream("aac", rate=44100)
    for _ in range(10):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def test_audio_only_mp4(tmp_path):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        mux_silence(container)
    with pytest.raises(AvscError, match=r"audio\.mp4: has no video stream"):
        read_frames(path, size=32, n_frames=2)


def test_zero_frames(tmp_path):
    # A video stream declared in the header but never given a packet (only audio was muxed).
    path = tmp_path / "noframes.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        mux_silence(container)
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1
    with pytest.raises(AvscError, match=r"noframes\.mkv: contains no decodable video frames"):
        read_frames(path, size=32, n_frames=2)
