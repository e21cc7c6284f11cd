"""Small test videos for the video caches' tests (imported by their modules)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class FakeClip:
    """What the video caches need of a clip: ``dataset.Clip`` has these fields."""

    name: str
    video_path: Path


def write_clip(path: Path, seed: int, seconds: float = 2.0, rate: int = 10, smooth: bool = False) -> Path:
    """A small 64x48 H.264 MP4 of moving content: random blocks, or smooth waves (``smooth``,
    content a JPEG keeps close to the original)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:48, 0:64]
    phase = rng.uniform(0, 6, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * rate)):
            if smooth:
                image = np.stack([127 + 100 * np.sin(xx / (7 + c) + yy / 11 + phase[c] + i / 5) for c in range(3)], -1)
            else:
                image = np.kron(np.roll(base, i, axis=1), np.ones((8, 8, 1), np.uint8))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
