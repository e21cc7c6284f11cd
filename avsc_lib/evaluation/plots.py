"""The study's figures of data and results: one function per figure, each returning a Figure.

The drawings of the networks (the paper's Fig. 1 and Fig. 2) are :mod:`avsc_lib.evaluation.diagrams`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# The paper's colours for the four information flows (Fig. 1).
FLOW_COLORS = {"audio": "#4caf50", "visual": "#f2b705", "early": "#8e44ad", "late": "#1f77b4"}


def notebook_setup(jpeg_quality: int = 88) -> None:
    """Inline figures as JPEG in executed notebooks: images and spectrograms stay small.

    Call once at the top of a notebook (after the parameters cell).
    """
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("jpeg", pil_kwargs={"quality": jpeg_quality})


def waveform(stereo: np.ndarray, sample_rate: int, title: str | None = None, points: int = 2000) -> Figure:
    """The left and right channels and their difference over time, as min/max envelopes.

    Args:
        stereo: audio of shape (2, n) (left, right).
        sample_rate: samples per second.
        title: an optional figure title.
        points: envelope points per channel (keeps the figure light).
    """
    channels = {"left": stereo[0], "right": stereo[1], "left − right": stereo[0] - stereo[1]}
    fig, axes = plt.subplots(3, 1, figsize=(10, 4.2), sharex=True, sharey=True)
    for ax, (name, signal) in zip(axes, channels.items()):
        step = max(1, len(signal) // points)
        usable = signal[: len(signal) // step * step].reshape(-1, step)
        t = np.arange(usable.shape[0]) * step / sample_rate
        ax.fill_between(t, usable.min(axis=1), usable.max(axis=1), color="#1f77b4", lw=0)
        ax.set_ylabel(name, fontsize=9)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, stereo.shape[1] / sample_rate)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def feature_images(features: Mapping[str, np.ndarray], hop_s: float, title: str | None = None,
                   channel_names: Sequence[str] = ("left", "right", "left − right")) -> Figure:
    """One row per representation (e.g. gammatone, log-mel), one column per channel.

    Args:
        features: name -> array (n_bands, n_frames, 3), row 0 the highest band (dB).
        hop_s: seconds between frames.
        title: an optional figure title.
        channel_names: the names of the three channels.
    """
    rows = len(features)
    fig, axes = plt.subplots(rows, 3, figsize=(12, 2.6 * rows + 0.4), squeeze=False)
    for r, (name, array) in enumerate(features.items()):
        n_bands, n_frames, _ = array.shape
        extent = (0, n_frames * hop_s, 0, n_bands)
        for c in range(3):
            ax = axes[r, c]
            image = ax.imshow(array[:, :, c], aspect="auto", origin="upper", extent=extent, cmap="magma")
            ax.set_title(f"{name}: {channel_names[c]}", fontsize=9)
            ax.set_xlabel("time (s)", fontsize=8)
            if c == 0:
                ax.set_ylabel("band (low at bottom)", fontsize=8)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def frame_strip(frames: np.ndarray, fps: float, count: int = 10, title: str | None = None) -> Figure:
    """A strip of ``count`` evenly spaced frames of a clip, each titled with its time.

    Args:
        frames: RGB uint8 frames (n, H, W, 3).
        fps: frames per second of ``frames``.
        count: how many frames to show.
        title: an optional figure title.
    """
    count = max(1, min(count, len(frames)))
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    fig, axes = plt.subplots(1, count, figsize=(1.25 * count, 1.7), squeeze=False)
    for ax, i in zip(axes[0], picks):
        ax.imshow(frames[i])
        ax.set_title(f"{i / fps:.1f} s", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def class_examples(frames: Mapping[str, np.ndarray], spectrograms: Mapping[str, np.ndarray] | None = None,
                   title: str | None = None) -> Figure:
    """One column per class: a video frame and (optionally) a spectrogram channel of one clip.

    Args:
        frames: class label -> one RGB uint8 frame (H, W, 3).
        spectrograms: class label -> a 2-D array (bands, frames), row 0 the highest band.
        title: an optional figure title.
    """
    labels = list(frames)
    rows = 2 if spectrograms else 1
    fig, axes = plt.subplots(rows, len(labels), figsize=(1.45 * len(labels), 1.6 * rows + 0.3), squeeze=False)
    for c, label in enumerate(labels):
        axes[0, c].imshow(frames[label])
        axes[0, c].set_title(label.replace("_", " "), fontsize=8)
        axes[0, c].axis("off")
        if spectrograms:
            axes[1, c].imshow(spectrograms[label], aspect="auto", origin="upper", cmap="magma")
            axes[1, c].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --- training and evaluation (notebooks 02-05) -----------------------------------------------


def _flow_color(name: str) -> str | None:
    return FLOW_COLORS.get(name.split("-")[0])


def learning_curves(logs: Mapping[str, object], title: str | None = None) -> Figure:
    """Training (dashed) and validation (solid) accuracy per epoch, one panel per run.

    Args:
        logs: run label -> its per-epoch log (a DataFrame from ``log.csv``); a single-output
            run is drawn in its modality's colour when the label starts with ``audio`` or
            ``visual``; the audio-visual network's log shows all four outputs.
        title: an optional figure title.
    """
    fig, axes = plt.subplots(1, len(logs), figsize=(3.6 * len(logs), 2.8), squeeze=False, sharey=True)
    for ax, (label, log) in zip(axes[0], logs.items()):
        epochs = np.asarray(log["epoch"]) + 1
        series = [(name, f"{name}_accuracy") for name in FLOW_COLORS if f"val_{name}_accuracy" in log]
        if not series:
            series = [(label, "accuracy")]
        for name, column in series:
            color = _flow_color(name)
            ax.plot(epochs, log[column], "--", color=color, alpha=0.6, lw=1)
            ax.plot(epochs, log[f"val_{column}"], "-", color=color, lw=1.5, label=name)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0, 0].set_ylabel("accuracy (dashed: train, solid: validation)", fontsize=8)
    axes[0, 0].set_ylim(0, 1.02)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def per_class_accuracy(table: object, title: str | None = None) -> Figure:
    """Fig. 3 analogue: accuracy (%) per class, one bar per output (modality or fusion).

    Args:
        table: a DataFrame, rows classes, columns outputs (``audio``, ``visual``, ``early``,
            ``late``), values in %.
        title: an optional figure title.
    """
    classes, outputs = list(table.index), list(table.columns)
    width = 0.8 / len(outputs)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    x = np.arange(len(classes))
    for i, output in enumerate(outputs):
        ax.bar(x + (i - (len(outputs) - 1) / 2) * width, table[output].to_numpy(dtype=float), width,
               color=_flow_color(output), label=output)
    ax.set_xticks(x, [c.replace("_", "\n") for c in classes], fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(outputs), loc="upper center", bbox_to_anchor=(0.5, 1.16), frameon=False)
    if title:
        ax.set_title(title, fontsize=10, pad=24)
    fig.tight_layout()
    return fig


def confusion_matrices(matrices: Mapping[str, object], title: str | None = None) -> Figure:
    """Confusion matrices (rows: true class, columns: predicted), one panel per output.

    Args:
        matrices: output -> DataFrame of counts with the class names as index and columns.
        title: an optional figure title.

    Each row is shown as % of its true class; the cells give the counts.
    """
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 4.4), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        counts = matrix.to_numpy(dtype=float)
        rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(counts):
            if value:
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if rows[i, j] > 0.6 else "black")
        labels = [c.replace("_", " ") for c in matrix.index]
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels if ax is axes[0, 0] else [], fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_title(name, fontsize=9, color=_flow_color(name) or "black")
    axes[0, 0].set_ylabel("true", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def timeline(probs: np.ndarray, title: str | None = None, top: int = 3) -> Figure:
    """A file's per-second probabilities: one line per class, the ``top`` classes over the file
    drawn strong and labelled at their highest second.

    Args:
        probs: (seconds, classes) probabilities, classes in DCASE order.
        title: an optional figure title.
        top: how many classes to label.
    """
    from avsc_lib.core.classes import CLASSES

    probs = np.asarray(probs)
    seconds = np.arange(len(probs)) + 0.5  # the middle of each second
    best = np.argsort(probs.mean(axis=0))[::-1][:top]
    fig, ax = plt.subplots(figsize=(9, 3.0))
    colors = plt.get_cmap("tab10")
    for index, name in enumerate(CLASSES):
        strong = index in best
        ax.plot(seconds, probs[:, index], color=colors(index), lw=2.0 if strong else 0.8,
                alpha=1.0 if strong else 0.35, marker="o" if len(probs) < 40 and strong else None, ms=3,
                label=f"{name} ({probs[:, index].mean():.2f})" if strong else None)
        if strong:
            peak = int(np.argmax(probs[:, index]))
            ax.annotate(name, (seconds[peak], probs[peak, index]), textcoords="offset points", xytext=(0, 5),
                        ha="center", fontsize=8, color=colors(index))
    ax.set_xlim(0, max(len(probs), 1))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="mean over the file",
              title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
