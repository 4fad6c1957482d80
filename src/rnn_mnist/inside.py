"""Inside the trained LSTM: its gates and states after every row, computed with NumPy.

:func:`lstm_steps` is the LSTM's step written out from chapter 2's equations
and the layer's public weights (``layer.get_weights()``: input kernel,
recurrent kernel, bias, the four gates side by side in Keras's order input,
forget, candidate, output). Chapter 6 shows it in view (a test checks the
shown cell against this source) and checks that its hidden states equal
Keras's. :func:`plot_gates_and_states` draws what it returns for a few images.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .data import CLASS_NAMES


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_steps(x, kernel, recurrent_kernel, bias):
    """Run an LSTM over x (images, rows, pixels) with NumPy; every gate and state after every row."""
    units = recurrent_kernel.shape[0]
    h = np.zeros((len(x), units))  # h_0 = 0
    c = np.zeros((len(x), units))  # c_0 = 0
    kept = {name: [] for name in ("i", "f", "c_tilde", "o", "c", "h")}
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias  # W x_t + U h_{t-1} + b, the four gates side by side
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=1)  # Keras's order: input, forget, candidate, output
        i, f, c_tilde, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_c), sigmoid(z_o)
        c = f * c + i * c_tilde
        h = o * np.tanh(c)
        for name, value in zip(kept, (i, f, c_tilde, o, c, h)):
            kept[name].append(value)
    return {name: np.stack(values, axis=1) for name, values in kept.items()}  # each (images, rows, units)


def leading_blank_rows(image: np.ndarray) -> int:
    """How many rows at the top of ``image`` are entirely zero."""
    blank = np.asarray(image).reshape(len(image), -1).max(axis=1) == 0
    return len(blank) if blank.all() else int(np.argmin(blank))


def plot_gates_and_states(
    images: np.ndarray,
    steps: Mapping[str, np.ndarray],
    labels: Sequence[int],
    *,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Figure:
    """One row of panels per image: the image, the gates' means across rows, the hidden state as a heat map.

    ``steps`` is what :func:`lstm_steps` returns for ``images``. The middle panel plots the
    mean over units of the input, forget and output gates after each row; the
    right panel shows ``h_t`` with one column per row read and one line per unit.
    """
    images = np.asarray(images)
    if len(images) != len(labels) or steps["h"].shape[0] != len(images):
        raise ValueError(
            f"images ({len(images)}), labels ({len(labels)}) and steps ({steps['h'].shape[0]} images) must match"
        )
    rows = steps["h"].shape[1]
    read = np.arange(1, rows + 1)
    fig, axes = plt.subplots(
        len(images), 3, figsize=(12, 3.1 * len(images)), squeeze=False, gridspec_kw={"width_ratios": [1, 2.2, 2.2]}
    )
    for n, (image, label) in enumerate(zip(images, labels)):
        ax_image, ax_gates, ax_state = axes[n]
        ax_image.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        ax_image.set_xticks([])
        ax_image.set_yticks([0, rows - 1], labels=["row 1", f"row {rows}"])
        ax_image.set_title(f"a {class_names[int(label)]}")
        for name, values, color in (
            ("forget gate $f_t$", steps["f"][n], "tab:blue"),
            ("input gate $i_t$", steps["i"][n], "tab:orange"),
            ("output gate $o_t$", steps["o"][n], "tab:green"),
        ):
            ax_gates.plot(read, values.mean(axis=1), "o-", markersize=3, color=color, label=name)
        ax_gates.set_ylim(0, 1)
        ax_gates.set_xlim(0.5, rows + 0.5)
        ax_gates.set_ylabel("mean over units")
        ax_gates.grid(alpha=0.3)
        heat = ax_state.imshow(
            steps["h"][n].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
            extent=(0.5, rows + 0.5, steps["h"].shape[2], 0),
        )
        ax_state.set_ylabel("unit")
        if n == 0:
            ax_gates.set_title("the gates after each row")
            ax_state.set_title("hidden state $h_t$ after each row")
            ax_gates.legend(loc="lower right", fontsize=8)
        if n == len(images) - 1:
            ax_gates.set_xlabel("rows read, $t$")
            ax_state.set_xlabel("rows read, $t$")
        fig.colorbar(heat, ax=ax_state, fraction=0.04, pad=0.02)
    fig.tight_layout()
    return fig
