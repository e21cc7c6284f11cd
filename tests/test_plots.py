"""The study's figures: each function returns a Figure that shows what it claims."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from avsc_lib.evaluation import diagrams, plots
def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def assert_drawn(fig: Figure, dpi: int = 40) -> None:
    """The figure saved as PNG has the figure's size in pixels and ink spread over most of it
    (not blank, not one colour, not a drawing squeezed into a corner)."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    width, height = (fig.get_size_inches() * dpi).round().astype(int)
    plt.close(fig)
    buffer.seek(0)
    image = np.asarray(Image.open(buffer).convert("L"), dtype=np.int16)
    assert image.shape == (height, width)
    ink = image < 200  # darker than a light fill: lines, text, boxes
    assert 0.01 < ink.mean() < 0.3, f"{ink.mean():.1%} of the pixels drawn"  # line drawings: about 5 %
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows[-1] - rows[0] > height / 2 and cols[-1] - cols[0] > width / 2  # spread over the figure


def test_conv_block_diagram_draws_the_paper_block():
    fig = diagrams.conv_block_diagram()
    text = _texts(fig)
    assert text.count("3×3 conv") == 2 and "1×1 conv" in text
    assert text.count("BN") == 3 and text.count("ELU") == 2
    assert "scSE" in text and "sigmoid" in text and "global avg pool" in text
    assert "added a second time" in text  # the code adds the shortcut twice
    assert_drawn(fig)


@pytest.mark.parametrize("pooling,third_pool", [("max", 1), ("avg", 2)])
def test_architecture_diagram_has_four_outputs_and_follows_parameters(pooling, third_pool):
    fig = diagrams.architecture_diagram(frame_size=64, frame_pooling=pooling, third_pool=third_pool)
    text = _texts(fig)
    for output in ("audio (10)", "visual (10)", "early (10)", "late (10)"):
        assert output in text
    assert "5×64×64×3" in text and f"global {pooling}" in text and f"(1,{third_pool})" in text
    assert f"64×{25 // 2 // third_pool}×128" in text
    assert len(fig.axes[0].get_legend().get_texts()) == 4
    assert_drawn(fig)


def test_feature_images_one_row_per_kind_three_channels():
    features = {"gammatone": np.random.rand(64, 500, 3), "log-mel": np.random.rand(64, 500, 3)}
    fig = plots.feature_images(features, hop_s=0.02)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 6
    assert images[0].images[0].get_extent() == pytest.approx((0, 10.0, 0, 64))
    assert images[2].get_title() == "gammatone: left − right"
    plt.close(fig)


def test_frame_strip_picks_evenly_spaced_frames_with_times():
    frames = np.zeros((50, 8, 8, 3), np.uint8)
    fig = plots.frame_strip(frames, fps=5, count=10)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 10 and titles[0] == "0.0 s" and titles[-1] == "9.8 s"
    plt.close(fig)


def test_waveform_shows_left_right_and_difference():
    stereo = np.vstack([np.sin(np.linspace(0, 100, 44100)), np.zeros(44100)])
    fig = plots.waveform(stereo, 44100)
    assert [ax.get_ylabel() for ax in fig.axes] == ["left", "right", "left − right"]
    assert fig.axes[-1].get_xlim()[1] <= 1.0 + 1e-6
    plt.close(fig)


def test_class_examples_one_column_per_class():
    frames = {c: np.zeros((8, 8, 3), np.uint8) for c in ("airport", "bus", "metro_station")}
    fig = plots.class_examples(frames, {c: np.zeros((4, 5)) for c in frames})
    assert len(fig.axes) == 6
    assert fig.axes[2].get_title() == "metro station"
    plt.close(fig)
