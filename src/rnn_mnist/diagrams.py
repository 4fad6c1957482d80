"""Chapter 2's diagrams, drawn with matplotlib: the LSTM cell and the network unrolled over the rows.

Both functions draw on ``ax`` (a new figure when it is ``None``) and return
the figure. The labels use chapter 2's notation: the row $x_t$, the states
$h_{t-1}, c_{t-1}$ and $h_t, c_t$, the gates $f_t, i_t, o_t$ (sigmoid,
$\\sigma$), the candidate $\\tilde{c}_t$ (tanh) and the element-wise
product $\\odot$. Every labelled element carries a ``gid`` naming what it is
(``"gate:forget"``, ``"input:7"``, ``"step:7"`` ...), so tests can find them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

from .model import NUM_CLASSES, ROWS

LINE = "0.2"
GATE_COLOR = "#fde7b0"
CELL_COLOR = "#eef3fb"
STEP_COLOR = "#cfe0f5"
HEAD_COLOR = "#f7d3d0"

#: The four boxes of the cell: gid, activation, name, the symbol of its output, x position.
GATES = (
    ("forget", r"$\sigma$", "forget gate", r"$f_t$", 3.0),
    ("input", r"$\sigma$", "input gate", r"$i_t$", 4.7),
    ("candidate", r"$\tanh$", "candidate", r"$\tilde{c}_t$", 6.4),
    ("output", r"$\sigma$", "output gate", r"$o_t$", 8.3),
)


def _new_axes(ax, figsize, dpi=None):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    return ax.figure, ax


def _path(ax, points, arrow=True, color=LINE, linewidth=1.6, zorder=1):
    """A polyline through ``points``, with an arrow head on its last segment."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color=color, linewidth=linewidth, solid_capstyle="round", zorder=zorder)
    ax.annotate(
        "",
        xy=points[-1],
        xytext=points[-2],
        arrowprops=dict(arrowstyle="-|>" if arrow else "-", color=color, linewidth=linewidth, shrinkA=0, shrinkB=0),
        zorder=zorder,
    )


def _operator(ax, xy, symbol, gid, radius=0.3):
    ax.add_patch(Circle(xy, radius, facecolor="white", edgecolor=LINE, linewidth=1.4, zorder=3, gid=gid))
    ax.text(*xy, symbol, ha="center", va="center", fontsize=14, zorder=4, gid=gid)


def draw_lstm_cell(ax=None) -> Figure:
    """One LSTM step: $x_t$, $h_{t-1}$ and $c_{t-1}$ in, the four gates, $c_t$ and $h_t$ out."""
    fig, ax = _new_axes(ax, (10, 6.6))
    cell_y, bus_y, gate_y, h_y = 5.4, 1.6, 3.0, 0.9
    ax.add_patch(
        FancyBboxPatch((1.2, 0.45), 9.8, 5.55, boxstyle="round,pad=0.1,rounding_size=0.4",
                       facecolor=CELL_COLOR, edgecolor="0.55", linewidth=1.2, zorder=0, gid="cell")
    )
    # The cell state runs along the top: kept by the forget gate, written by the input gate.
    _path(ax, [(0.0, cell_y), (2.7, cell_y)])
    _path(ax, [(3.3, cell_y), (5.1, cell_y)])
    _path(ax, [(5.7, cell_y), (13.2, cell_y)])
    ax.text(-0.1, cell_y + 0.25, r"$c_{t-1}$", ha="left", va="bottom", fontsize=15, gid="state:c_prev")
    ax.text(13.2, cell_y + 0.25, r"$c_t$", ha="right", va="bottom", fontsize=15, gid="state:c")
    ax.text(12.2, cell_y - 0.2, "cell state", ha="center", va="top", fontsize=10, color="0.3")
    # h_{t-1} and x_t meet and feed every gate.
    _path(ax, [(0.0, bus_y), (8.3, bus_y)], arrow=False)
    ax.text(-0.1, bus_y + 0.2, r"$h_{t-1}$", ha="left", va="bottom", fontsize=15, gid="state:h_prev")
    _path(ax, [(2.0, -0.6), (2.0, bus_y)], arrow=False)
    ax.plot([2.0], [bus_y], "o", color=LINE, markersize=5)
    ax.text(2.0, -0.7, r"$x_t$ (row $t$ of the image)", ha="center", va="top", fontsize=13, gid="input:x")
    for gid, activation, name, symbol, x in GATES:
        _path(ax, [(x, bus_y), (x, gate_y - 0.5)])
        ax.add_patch(
            FancyBboxPatch((x - 0.62, gate_y - 0.5), 1.24, 1.0, boxstyle="round,pad=0.02,rounding_size=0.12",
                           facecolor=GATE_COLOR, edgecolor=LINE, linewidth=1.2, zorder=2, gid=f"gate:{gid}")
        )
        ax.text(x, gate_y + 0.12, activation, ha="center", va="center", fontsize=15, zorder=3, gid=f"gate:{gid}")
        ax.text(x, gate_y - 0.32, name, ha="center", va="center", fontsize=7.5, zorder=3, gid=f"gate:{gid}")
    # Forget gate: f_t multiplies the old cell state.
    _path(ax, [(3.0, gate_y + 0.5), (3.0, cell_y - 0.3)])
    ax.text(3.12, 4.35, r"$f_t$", ha="left", va="center", fontsize=14, gid="symbol:f")
    _operator(ax, (3.0, cell_y), r"$\odot$", "op:forget")
    # Input gate and candidate: i_t * c~_t is added to the cell state.
    _path(ax, [(4.7, gate_y + 0.5), (4.7, 4.4), (5.1, 4.4)])
    _path(ax, [(6.4, gate_y + 0.5), (6.4, 4.4), (5.7, 4.4)])
    ax.text(4.58, 3.9, r"$i_t$", ha="right", va="center", fontsize=14, gid="symbol:i")
    ax.text(6.52, 3.9, r"$\tilde{c}_t$", ha="left", va="center", fontsize=14, gid="symbol:c_tilde")
    _operator(ax, (5.4, 4.4), r"$\odot$", "op:input")
    _path(ax, [(5.4, 4.7), (5.4, cell_y - 0.3)])
    _operator(ax, (5.4, cell_y), r"$+$", "op:add")
    # Output gate: h_t = o_t * tanh(c_t).
    _path(ax, [(9.7, cell_y), (9.7, 4.55)])
    ax.add_patch(
        FancyBboxPatch((9.25, 3.85), 0.9, 0.55, boxstyle="round,pad=0.02,rounding_size=0.25",
                       facecolor="white", edgecolor=LINE, linewidth=1.2, zorder=2, gid="op:tanh")
    )
    ax.text(9.7, 4.12, r"$\tanh$", ha="center", va="center", fontsize=12, zorder=3, gid="op:tanh")
    _path(ax, [(9.7, 3.85), (9.7, 3.3)])
    _path(ax, [(8.3 + 0.62, gate_y), (9.4, gate_y)])
    ax.text(9.12, gate_y + 0.1, r"$o_t$", ha="center", va="bottom", fontsize=14, gid="symbol:o")
    _operator(ax, (9.7, gate_y), r"$\odot$", "op:output")
    _path(ax, [(9.7, gate_y - 0.3), (9.7, h_y), (13.2, h_y)])
    ax.text(13.2, h_y + 0.2, r"$h_t$", ha="right", va="bottom", fontsize=15, gid="state:h")
    ax.text(12.2, h_y - 0.2, "hidden state", ha="center", va="top", fontsize=10, color="0.3")
    # The two state updates, as in the chapter's equations.
    ax.text(5.4, 6.45, r"$c_t = f_t \odot c_{t-1} + i_t \odot \tilde{c}_t$", ha="center", va="bottom",
            fontsize=13, gid="equation:c")
    ax.text(9.7, -0.7, r"$h_t = o_t \odot \tanh(c_t)$", ha="center", va="top", fontsize=13, gid="equation:h")
    ax.text(6.5, -1.55, r"$\sigma$: sigmoid, values in (0, 1)    $\odot$: element-wise product    "
            r"$+$: element-wise sum", ha="center", va="top", fontsize=10, color="0.3")
    ax.set_xlim(-0.3, 13.4)
    ax.set_ylim(-2.1, 7.1)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def draw_unrolled(image: np.ndarray | None = None, ax=None) -> Figure:
    """The model unrolled over the rows: row $t$ is $x_t$, one copy of the same cell per row, a softmax on $h_{28}$.

    ``image`` (28 x 28, optional) is drawn row by row under the steps; without
    it, each row is an empty box.
    """
    if image is not None:
        image = np.asarray(image, dtype=float)
        if image.shape != (ROWS, ROWS):
            raise ValueError(f"image must be {ROWS} x {ROWS} pixels, got shape {image.shape}")
        image = image / image.max() if image.max() > 1 else image
    fig, ax = _new_axes(ax, (13, 2.6), dpi=150)  # fine enough to show each row's pixels
    box, row_y, step_y = 0.8, 0.9, 2.6
    for t in range(1, ROWS + 1):
        x = float(t)
        extent = (x - box / 2, x + box / 2, row_y - 0.25, row_y + 0.25)
        if image is not None:
            ax.imshow(image[t - 1 : t], cmap="gray_r", vmin=0, vmax=1, extent=extent, aspect="auto",
                      interpolation="antialiased", zorder=2)
        ax.add_patch(
            Rectangle((extent[0], extent[2]), box, 0.5, fill=False, edgecolor="0.4", linewidth=0.8,
                      zorder=3, gid=f"input:{t}")
        )
        ax.text(x, row_y - 0.32, f"$x_{{{t}}}$", ha="center", va="top", fontsize=9, gid=f"input:{t}")
        _path(ax, [(x, row_y + 0.25), (x, step_y - box / 2)], linewidth=1.0)
        ax.add_patch(
            FancyBboxPatch((x - box / 2, step_y - box / 2), box, box, boxstyle="round,pad=0.0,rounding_size=0.1",
                           facecolor=STEP_COLOR, edgecolor=LINE, linewidth=1.0, zorder=2, gid=f"step:{t}")
        )
        if t < ROWS:
            _path(ax, [(x + box / 2, step_y), (x + 1 - box / 2, step_y)], linewidth=1.0)
    ax.text(0.0, step_y + 0.15, "$h_0 = 0$\n$c_0 = 0$", ha="right", va="center", fontsize=10, gid="state:initial")
    _path(ax, [(0.1, step_y), (1 - box / 2, step_y)], linewidth=1.0)
    ax.text(1.5, step_y + 0.5, "$h_1, c_1$", ha="center", va="bottom", fontsize=9, gid="state:1")
    ax.text(27.5, step_y + 0.5, "$h_{27}, c_{27}$", ha="center", va="bottom", fontsize=9, gid="state:27")
    ax.text((1 + ROWS) / 2, step_y + 1.05,
            "each blue box is the same LSTM cell, with the same weights $W$, $U$, $b$: it reads the rows left to right",
            ha="center", va="bottom", fontsize=11, gid="label:shared")
    ax.text((1 + ROWS) / 2, -0.05, "row $t$ of the image is the input $x_t$: 28 pixels", ha="center", va="top",
            fontsize=11, gid="label:rows")
    # Only the last hidden state reaches the dense layer.
    head_x = ROWS + 3.2
    _path(ax, [(ROWS + box / 2, step_y), (head_x - 1.35, step_y)], linewidth=1.3)
    ax.text(ROWS + 1.0, step_y + 0.15, "$h_{28}$", ha="center", va="bottom", fontsize=10, gid="state:last")
    ax.add_patch(
        FancyBboxPatch((head_x - 1.35, step_y - 0.6), 2.7, 1.2, boxstyle="round,pad=0.0,rounding_size=0.12",
                       facecolor=HEAD_COLOR, edgecolor=LINE, linewidth=1.0, zorder=2, gid="head")
    )
    ax.text(head_x, step_y, f"Dense({NUM_CLASSES})\n+ softmax", ha="center", va="center", fontsize=9.5,
            zorder=3, gid="head")
    _path(ax, [(head_x, step_y - 0.6), (head_x, row_y + 0.3)], linewidth=1.3)
    ax.text(head_x, row_y + 0.2, r"$\hat{y}$: 10 probabilities", ha="center", va="top", fontsize=10,
            gid="output")
    left = -1.1
    if image is not None:  # the whole image, at the left
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, extent=(-4.9, -1.9, row_y - 0.6, row_y + 2.4), zorder=2)
        ax.add_patch(Rectangle((-4.9, row_y - 0.6), 3.0, 3.0, fill=False, edgecolor="0.4", linewidth=0.8, gid="image"))
        ax.text(-3.4, row_y - 0.7, "the image", ha="center", va="top", fontsize=10, gid="label:image")
        left = -5.1
    ax.set_xlim(left, head_x + 1.9)
    ax.set_ylim(-0.6, step_y + 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
