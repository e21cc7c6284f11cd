"""Drawings of the networks as the paper draws them, each returning a matplotlib Figure.

``conv_block_diagram`` is Fig. 2 (the Conv-StandardPOST block with scSE, as the authors' code
builds it) and ``architecture_diagram`` is Fig. 1 (the audio-visual network with its four
outputs, in the paper's colours: audio green, visual yellow, early fusion purple, late fusion
blue).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

from avsc_lib.evaluation.plots import FLOW_COLORS

_LAYER_COLORS = {"conv": "#cfe2f3", "bn": "#e6e6e6", "act": "#fde2c8", "se": "#d9ead3", "pool": "#ead1dc",
                 "dense": "#fff2cc", "rnn": "#d0e0e3", "io": "#ffffff", "frozen": "#d9d9d9"}


# --- drawing primitives ---------------------------------------------------------------------


def _box(ax, x: float, y: float, text: str, kind: str = "conv", w: float = 1.0, h: float = 0.7,
         edge: str = "#333333", fontsize: float = 8.5, hatch: str | None = None) -> tuple[float, float, float, float]:
    """A rounded box centred on (x, y); returns its (left, right, bottom, top)."""
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                           facecolor=_LAYER_COLORS.get(kind, kind), edgecolor=edge, linewidth=1.2,
                           hatch=hatch)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)
    return x - w / 2, x + w / 2, y - h / 2, y + h / 2


def _node(ax, x: float, y: float, symbol: str, r: float = 0.22) -> None:
    """A small circle with an operator symbol (sum, product, concatenation)."""
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor="#333333", linewidth=1.2, zorder=2))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=11, zorder=3)


def _arrow(ax, points: Sequence[tuple[float, float]], color: str = "#333333", label: str | None = None,
           label_at: int = 0, lw: float = 1.3) -> None:
    """A polyline through ``points`` with an arrow head at the end, optionally labelled."""
    xs, ys = zip(*points)
    if len(points) > 2:
        ax.plot(xs[:-1], ys[:-1], color=color, lw=lw, zorder=1, solid_capstyle="round")
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=11,
                                 color=color, lw=lw, shrinkA=0, shrinkB=0, zorder=1))
    if label:
        (x0, y0), (x1, y1) = points[label_at], points[label_at + 1]
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, label, ha="center", va="bottom", fontsize=7.5,
                color="#444444")


def _canvas(width: float, height: float, xlim: tuple[float, float], ylim: tuple[float, float]) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


# --- Fig. 2: the Conv-StandardPOST block with scSE -------------------------------------------


def conv_block_diagram(filters: str = "F") -> Figure:
    """Fig. 2: the Conv-StandardPOST block with scSE, as the authors' code builds it (top to bottom).

    Main path 3x3 conv, BN, ELU, 3x3 conv, BN; a 1x1 conv + BN shortcut; their sum through
    an ELU into scSE (channel and spatial squeeze-excitation, summed); the shortcut is then
    added a second time.

    Args:
        filters: the label of the block's number of filters.
    """
    fig, ax = _canvas(6.4, 10.4, (0.0, 9.2), (-2.1, 13.9))
    w = 2.0
    _box(ax, 4.2, 13.2, "$X_l$", "io", w=1.2)
    x_main, x_short = 2.4, 6.2
    main = [(11.7, f"3×3 conv, {filters}", "conv"), (10.7, "BN", "bn"), (9.7, "ELU", "act"),
            (8.7, f"3×3 conv, {filters}", "conv"), (7.7, "BN", "bn")]
    for y, text, kind in main:
        _box(ax, x_main, y, text, kind, w=w)
    for (y0, _, _), (y1, _, _) in zip(main, main[1:]):
        _arrow(ax, [(x_main, y0 - 0.35), (x_main, y1 + 0.35)])
    _box(ax, x_short, 10.2, f"1×1 conv, {filters}", "conv", w=w)
    _box(ax, x_short, 9.2, "BN", "bn", w=w)
    _arrow(ax, [(x_short, 9.85), (x_short, 9.55)])
    _arrow(ax, [(4.2, 12.85), (4.2, 12.5), (x_main, 12.5), (x_main, 12.05)])
    _arrow(ax, [(4.2, 12.5), (x_short, 12.5), (x_short, 10.55)])
    ax.text(x_main - 1.15, 12.2, "main path", fontsize=9, ha="right", color="#444444", rotation=90, va="top")
    ax.text(x_short + 1.15, 11.2, "shortcut", fontsize=9, ha="left", color="#444444", rotation=90, va="top")
    _node(ax, 4.2, 6.8, "+")
    _arrow(ax, [(x_main, 7.35), (x_main, 6.8), (3.98, 6.8)])
    _arrow(ax, [(x_short, 8.85), (x_short, 6.8), (4.42, 6.8)])
    _box(ax, 4.2, 5.9, "ELU", "act", w=w)
    _arrow(ax, [(4.2, 6.58), (4.2, 6.25)])
    # scSE
    ax.add_patch(Rectangle((0.75, 0.05), 7.1, 5.05, fill=False, ls="--", lw=1.0, ec="#6a8f5a"))
    ax.text(0.85, 4.95, "scSE (ratio 2)", fontsize=9, va="top", color="#3d6b2f")
    x_c, x_s, y_split, y_mul = 2.4, 6.0, 5.2, 1.45
    _box(ax, x_c, 4.05, "global avg pool", "pool", w=w)
    _box(ax, x_c, 3.05, f"dense {filters}/2, ReLU", "dense", w=w)
    _box(ax, x_c, 2.05 + 0.05, f"dense {filters}, sigmoid", "dense", w=w)
    _box(ax, x_s, 3.05, "1×1 conv, 1,\nsigmoid", "conv", w=w)
    _arrow(ax, [(x_c, 3.7), (x_c, 3.4)])
    _arrow(ax, [(x_c, 2.7), (x_c, 2.45)])
    _arrow(ax, [(4.2, 5.55), (4.2, y_split), (x_c, y_split), (x_c, 4.4)])
    _arrow(ax, [(4.2, y_split), (x_s, y_split), (x_s, 3.4)])
    _node(ax, x_c, y_mul, "×")
    _node(ax, x_s, y_mul, "×")
    _arrow(ax, [(x_c, 1.75), (x_c, y_mul + 0.22)])
    _arrow(ax, [(x_s, 2.7), (x_s, y_mul + 0.22)])
    _arrow(ax, [(4.2, y_split), (4.2, y_mul), (x_c + 0.22, y_mul)], color="#888888")
    _arrow(ax, [(4.2, y_mul), (x_s - 0.22, y_mul)], color="#888888")
    ax.text(4.3, 2.6, "x", fontsize=9, color="#888888")
    _node(ax, 4.2, 0.55, "+")
    _arrow(ax, [(x_c, y_mul - 0.22), (x_c, 0.55), (3.98, 0.55)])
    _arrow(ax, [(x_s, y_mul - 0.22), (x_s, 0.55), (4.42, 0.55)])
    # second shortcut addition
    _node(ax, 4.2, -0.55, "+")
    _arrow(ax, [(4.2, 0.33), (4.2, -0.33)])
    _arrow(ax, [(x_short + 1.0, 9.2), (8.5, 9.2), (8.5, -0.55), (4.42, -0.55)])
    ax.text(8.65, 4.6, "shortcut, added a second time", fontsize=8.5, rotation=270, va="center",
            ha="left", color="#444444")
    _box(ax, 4.2, -1.55, "$X_{l+1}$", "io", w=1.2)
    _arrow(ax, [(4.2, -0.77), (4.2, -1.2)])
    ax.set_title("Conv-StandardPOST block with scSE\n(as in the authors' code)", fontsize=11)
    fig.tight_layout()
    return fig


# --- Fig. 1: the audio-visual network --------------------------------------------------------


def _output(ax, x: float, y: float, name: str) -> None:
    ax.add_patch(FancyBboxPatch((x - 0.8, y - 0.33), 1.6, 0.66, boxstyle="round,pad=0.02,rounding_size=0.3",
                                facecolor="white", edgecolor=FLOW_COLORS[name], linewidth=2.5))
    ax.text(x, y, f"{name} (10)", ha="center", va="center", fontsize=9, weight="bold",
            color=FLOW_COLORS[name])


def architecture_diagram(frame_size: int = 224, n_bands: int = 64, n_frames: int = 50,
                         n_steps: int = 5, frame_pooling: str = "max", third_pool: int = 1) -> Figure:
    """Fig. 1: the audio-visual network with its four outputs (audio, visual, early, late).

    Drawn top to bottom; shapes are those of the authors' code for a 1-s input;
    ``frame_size``, ``frame_pooling`` and ``third_pool`` follow the study's parameters.
    """
    green, yellow, purple, blue = (FLOW_COLORS[k] for k in ("audio", "visual", "early", "late"))
    fig, ax = _canvas(8.2, 11.2, (-0.2, 12.3), (-0.8, 16.2))
    t3 = n_frames // 2 // 2 // third_pool
    xa, xe, xv, w = 2.0, 6.05, 10.1, 2.5
    audio = [(15.2, f"audio {n_bands}×{n_frames}×3", "io"), (14.1, "block, 32 filters", "se"),
             (13.0, "max pool (1,2)", "pool"), (11.9, "block, 64 filters", "se"), (10.8, "max pool (1,2)", "pool"),
             (9.7, "block, 128 filters", "se"), (8.6, f"max pool (1,{third_pool})", "pool"),
             (7.5, "global avg pool", "pool"), (6.4, "dense 10, softmax", "dense")]
    for y, text, kind in audio:
        _box(ax, xa, y, text, kind, w=w, edge=green, fontsize=9)
    for (y0, _, _), (y1, _, _) in zip(audio, audio[1:]):
        _arrow(ax, [(xa, y0 - 0.35), (xa, y1 + 0.35)], color=green)
    _output(ax, xa, 4.3, "audio")
    _arrow(ax, [(xa, 6.05), (xa, 4.63)], color=green)
    pool = "max" if frame_pooling == "max" else "avg"
    visual = [(15.2, f"frames {n_steps}×{frame_size}×{frame_size}×3", "io"),
              (14.1, "VGG16 conv base,\nper frame, frozen", "frozen"), (13.0, f"global {pool} pool / frame", "pool"),
              (11.9, "BiGRU, 2×32", "rnn"), (10.8, "dropout 0.5", "bn"), (9.7, "dense 10 softmax / step", "dense"),
              (8.6, "mean over steps", "pool")]
    for y, text, kind in visual:
        _box(ax, xv, y, text, kind, w=w, h=0.85 if "\n" in text else 0.7, edge=yellow, fontsize=9)
    for (y0, t0, _), (y1, t1, _) in zip(visual, visual[1:]):
        _arrow(ax, [(xv, y0 - (0.43 if "\n" in t0 else 0.35)), (xv, y1 + (0.43 if "\n" in t1 else 0.35))],
               color=yellow)
    _output(ax, xv, 4.3, "visual")
    _arrow(ax, [(xv, 8.25), (xv, 4.63)], color=yellow)
    # early fusion
    ax.text(xa + w / 2 + 0.1, 8.95, f"{n_bands}×{t3}×128", fontsize=8, color="#444444")
    _box(ax, 5.3, 7.5, f"mean over bands,\navg pool 1D (3, 2)\n→ {n_steps}×128", "pool", w=2.3, h=1.05,
         edge=purple, fontsize=8.5)
    _arrow(ax, [(xa + w / 2, 8.6), (5.3, 8.6), (5.3, 8.03)], color=purple)
    _node(ax, xe, 6.4, "‖")
    _arrow(ax, [(5.3, 6.97), (5.3, 6.4), (xe - 0.22, 6.4)], color=purple)
    _arrow(ax, [(xv - w / 2, 13.0), (7.3, 13.0), (7.3, 6.4), (xe + 0.22, 6.4)], color=purple)
    ax.text(7.4, 11.0, f"{n_steps}×512", fontsize=8, color="#444444")
    _box(ax, xe, 5.45, "BiGRU, 2×64", "rnn", w=w, edge=purple, fontsize=9)
    ax.text(xe + 0.3, 5.88, f"{n_steps}×640", fontsize=8, color="#444444")
    _arrow(ax, [(xe, 6.18), (xe, 5.8)], color=purple)
    _box(ax, xe, 4.5 - 0.05, "mean over steps,\ndense 10, softmax", "dense", w=w, h=0.85, edge=purple, fontsize=9)
    _arrow(ax, [(xe, 5.1), (xe, 4.88)], color=purple)
    _output(ax, xe, 3.2, "early")
    _arrow(ax, [(xe, 4.02), (xe, 3.53)], color=purple)
    # late fusion
    _node(ax, xe, 1.9, "‖")
    _arrow(ax, [(xa, 3.97), (xa, 1.9), (xe - 0.22, 1.9)], color=blue)
    _arrow(ax, [(xe, 2.87), (xe, 2.12)], color=blue)
    _arrow(ax, [(xv, 3.97), (xv, 1.9), (xe + 0.22, 1.9)], color=blue)
    ax.text(xe + 0.3, 1.3, "30", fontsize=8, color="#444444")
    _box(ax, xe, 0.95, "dense 10, softmax", "dense", w=w, edge=blue, fontsize=9)
    _arrow(ax, [(xe, 1.68), (xe, 1.3)], color=blue)
    _output(ax, xe, -0.3, "late")
    _arrow(ax, [(xe, 0.6), (xe, 0.03)], color=blue)
    handles = [Rectangle((0, 0), 1, 1, facecolor="white", edgecolor=FLOW_COLORS[k], lw=2.5)
               for k in FLOW_COLORS]
    ax.legend(handles, ["audio flow", "visual flow", "early fusion", "late fusion"], loc="upper center",
              fontsize=8.5, frameon=False, ncol=4, bbox_to_anchor=(0.5, 1.0))
    ax.set_title("Audio-visual network with its four outputs (‖: concatenation)", fontsize=11, pad=18)
    fig.tight_layout()
    return fig


# --- data and features -----------------------------------------------------------------------
