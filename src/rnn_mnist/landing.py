"""The intro page's figure: one test digit read row by row, with the trained model's belief after each stage.

The book build calls :func:`write_landing_figure` after the chapters have run:
it takes the stored run of the profile's book-recipe config, picks one test
digit that the model names correctly (at random, with the run's seed, so the
same run always gives the same figure), reads it with chapter 6's row reader
and writes ``book/_static/landing.png``, which ``book/intro.md`` shows.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .data import CLASS_NAMES
from .model import PIXELS_PER_ROW, ROWS

#: Where the figure goes, relative to the repository root (a build product, git-ignored).
LANDING_FIGURE = Path("book") / "_static" / "landing.png"
#: The stages shown: the first 4, 8, ..., 28 rows.
REVEALED = tuple(range(4, ROWS + 1, 4))
FIGSIZE, DPI = (10.5, 4.2), 100
TRUE_COLOR, WRONG_COLOR, OTHER_COLOR = "tab:blue", "tab:red", "0.75"


def row_reader(model):
    """The trained model as a reader that answers after every row (chapter 6 builds the same one in view)."""
    import keras

    trained_lstm = model.get_layer("lstm")
    readout = model.get_layer("digit")  # the trained Dense(10, softmax)
    rows = keras.Input(shape=(None, PIXELS_PER_ROW))
    lstm = keras.layers.LSTM(trained_lstm.units, return_sequences=True)
    reader = keras.Model(rows, readout(lstm(rows)))
    lstm.set_weights(trained_lstm.get_weights())
    return reader


def pick_example(y_true: np.ndarray, y_pred: np.ndarray, seed: int) -> int:
    """The index of one test image the model names correctly, drawn at random with ``seed``."""
    right = np.flatnonzero(np.asarray(y_true) == np.asarray(y_pred))
    if right.size == 0:
        raise ValueError("the run names no test image correctly; the landing figure needs one it gets right")
    return int(np.random.default_rng(seed).choice(right))


def floor_percent(p: float) -> str:
    """``p`` as a percentage rounded down, so 0.9996 reads 99.9%, never 100%."""
    return f"{math.floor(p * 100)}%" if p < 0.99 else f"{math.floor(p * 1000) / 10:.1f}%"


def plot_landing(
    image: np.ndarray,
    row_probabilities: np.ndarray,
    true_label: int,
    *,
    revealed: Sequence[int] = REVEALED,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Figure:
    """The image revealed ``revealed`` rows at a time, above the probabilities after each of those rows.

    ``row_probabilities`` has shape ``(rows, classes)``: the reader's answer
    after every row for this image.
    """
    image = np.asarray(image, dtype=float)
    row_probabilities = np.asarray(row_probabilities)
    if row_probabilities.shape != (len(image), len(class_names)):
        raise ValueError(
            f"row_probabilities must have shape ({len(image)}, {len(class_names)}), got {row_probabilities.shape}"
        )
    cmap = plt.get_cmap("gray_r").with_extremes(bad="#dde3ea")
    fig, axes = plt.subplots(
        2, len(revealed), figsize=FIGSIZE, dpi=DPI, gridspec_kw={"height_ratios": [1, 0.8]}, sharey="row"
    )
    true_name = class_names[true_label]
    for column, k in enumerate(revealed):
        ax_image, ax_bars = axes[0, column], axes[1, column]
        hidden = np.zeros_like(image, dtype=bool)
        hidden[k:] = True
        ax_image.imshow(np.ma.masked_array(image, hidden), cmap=cmap, vmin=0, vmax=1)
        if k < len(image):
            ax_image.axhline(k - 0.5, color="tab:orange", linewidth=1.5)
        ax_image.set_xticks([])
        ax_image.set_yticks([])
        ax_image.set_title(f"{k} rows read", fontsize=10)
        probabilities = row_probabilities[k - 1]
        answer = int(np.argmax(probabilities))
        colors = [OTHER_COLOR] * len(class_names)
        colors[answer] = WRONG_COLOR
        colors[true_label] = TRUE_COLOR
        ax_bars.bar(np.arange(len(class_names)), probabilities, color=colors, width=0.8)
        ax_bars.set_ylim(0, 1)
        ax_bars.set_xticks(np.arange(len(class_names)), labels=class_names, fontsize=7)
        ax_bars.set_title(f"{class_names[answer]}: {floor_percent(float(probabilities[answer]))}", fontsize=10,
                          color=TRUE_COLOR if answer == true_label else WRONG_COLOR)
        ax_bars.spines[["top", "right"]].set_visible(False)
    axes[1, 0].set_ylabel("probability")
    axes[1, 0].set_yticks([0, 0.5, 1], labels=["0", "0.5", "1"])
    fig.suptitle(
        f"A {true_name} from the test set, read row by row: the trained LSTM's answer after "
        f"{', '.join(str(k) for k in revealed[:2])}, ..., {revealed[-1]} rows "
        f"(the true {true_name} in blue, another answer in red)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def landing_figure(run) -> Figure:
    """The landing figure for a stored run (a :class:`rnn_mnist.runs.TrainingRun` of an LSTM)."""
    from .splits import make_splits

    if run.config.cell != "lstm" or run.config.bidirectional:
        raise ValueError(f"the landing figure reads an LSTM run; this run's cell is {run.config.cell!r}")
    splits = make_splits(run.config)
    if not np.array_equal(run.predictions["test_indices"], splits.test_indices):
        raise ValueError(f"the stored predictions of {run.run_dir} are not of this config's test images")
    position = pick_example(run.y_true, run.y_pred, run.config.seed)
    image = splits.x_test[position : position + 1]
    per_row = row_reader(run.load_model()).predict(image, verbose=0)[0]
    return plot_landing(image[0], per_row, int(splits.y_test[position]), class_names=splits.class_names)


def save_landing_figure(run, path: str | os.PathLike) -> Path:
    """Draw :func:`landing_figure` for ``run`` and write it to ``path`` as a PNG (the same bytes for the same run)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = landing_figure(run)
    partial = path.with_name(path.name + ".partial")
    figure.savefig(partial, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(figure)
    os.replace(partial, path)
    return path


def write_landing_figure(root: str | os.PathLike, profile_values: dict[str, Any]) -> Path:
    """``book/_static/landing.png`` under ``root``, from the stored run of the profile's book-recipe config."""
    from .config import config_from_parameters
    from .runs import ensure_trained

    names = ("epochs", "batch_size", "train_size", "test_size", "seed")
    config = config_from_parameters("book", **{name: profile_values.get(name) for name in names})
    return save_landing_figure(ensure_trained(config), Path(root) / LANDING_FIGURE)
