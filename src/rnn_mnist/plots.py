"""The book's figures, one function per figure.

Every function takes data (arrays, a ``history`` dict, a table from
:mod:`rnn_mnist.analysis`), draws with matplotlib's object API
(``fig, ax = plt.subplots(...)``, safe under the non-interactive Agg
backend) and returns the :class:`~matplotlib.figure.Figure`. Nothing is read
from or written to disk here; a chapter shows the figure and the build keeps it.

Figures of classes take ``class_names`` (default: MNIST's digits) or read
them from the table they draw, so Fashion-MNIST's garments are labelled by
name with the same functions.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import Formatter, MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from .analysis import class_noun, plural
from .data import CLASS_NAMES
from .model import NUM_CLASSES, ROWS

TRAIN_COLOR, VALIDATION_COLOR = "tab:blue", "tab:orange"
HIGHLIGHT = "tab:red"
#: Class names longer than this are slanted on an x axis and set smaller elsewhere.
SHORT_NAME = 3


class PercentTicks(Formatter):
    """Fractions shown as percentages, with just as many decimals as the ticks need.

    Matplotlib hands the formatter every tick position before labelling them;
    the number of decimals is the fewest that writes each position exactly
    (``96%``, ``96.5%``, ``99.25%``), so no two labels read the same and none
    is rounded to a value it is not.
    """

    def __init__(self, max_decimals: int = 4):
        self.max_decimals = max_decimals
        self.decimals = 0

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        percents = np.asarray(locs, dtype=float) * 100
        self.decimals = self.max_decimals
        for decimals in range(self.max_decimals + 1):
            if np.allclose(np.round(percents, decimals), percents, rtol=0, atol=1e-6):
                self.decimals = decimals
                break

    def __call__(self, value, pos=None) -> str:
        return f"{value * 100:.{self.decimals}f}%"


def _percent() -> PercentTicks:
    """A fresh percentage tick formatter (one per axis)."""
    return PercentTicks()


def row_ticks(rows: int = ROWS) -> list[int]:
    """Row numbers to mark on an axis of rows 1..rows: the first, every fourth and the last."""
    return sorted({1, *range(4, rows + 1, 4), rows})


def _long(class_names: Sequence[str]) -> bool:
    return max((len(str(name)) for name in class_names), default=0) > SHORT_NAME


def _as_intensity(image: np.ndarray) -> np.ndarray:
    """Pixels as floats in [0, 1], whether given as uint8 0..255 or already scaled."""
    image = np.asarray(image)
    return image / 255.0 if image.dtype == np.uint8 else image.astype(float)


def _hide_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


# -- chapter 1: the data -------------------------------------------------------
def plot_digit_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    suptitle: str | None = None,
    cell_size: float = 1.2,
    title_size: float = 8,
) -> Figure:
    """Images in a grid, each with an optional small title; empty cells stay blank."""
    count = len(images)
    ncols = max(1, min(ncols, count))
    nrows = max(1, -(-count // ncols))
    title_lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    row_height = cell_size + title_lines * title_size / 72 * 1.25 + 0.05
    height = nrows * row_height + (0.35 if suptitle else 0)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * cell_size, height), squeeze=False, layout="constrained"
    )
    for position, ax in enumerate(axes.flat):
        _hide_ticks(ax)
        if position >= count:
            ax.set_axis_off()
            continue
        ax.imshow(_as_intensity(images[position]), cmap="gray_r", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[position], fontsize=title_size)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_class_samples(
    images: np.ndarray,
    index_grid: np.ndarray,
    *,
    class_names: Sequence[str] = CLASS_NAMES,
    cell_size: float = 0.9,
) -> Figure:
    """One row per class: ``images[index_grid[c]]`` drawn along row ``c``, its name on the left.

    ``index_grid`` is :func:`rnn_mnist.analysis.sample_indices_per_class`'s
    ``(classes, per_class)`` array.
    """
    nrows, ncols = index_grid.shape
    long_names = _long(class_names)
    margin = 1.2 if long_names else 0.0
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(margin + ncols * cell_size, nrows * cell_size), squeeze=False
    )
    for row in range(nrows):
        for column in range(ncols):
            ax = axes[row, column]
            ax.imshow(_as_intensity(images[index_grid[row, column]]), cmap="gray_r", vmin=0, vmax=1)
            _hide_ticks(ax)
        axes[row, 0].set_ylabel(
            str(class_names[row]), rotation=0, ha="right", va="center", labelpad=6, fontsize=9 if long_names else 12
        )
    fig.suptitle(f"{ncols} training images of each {class_noun(class_names)}")
    fig.tight_layout()
    return fig


def plot_class_balance(shares: pd.DataFrame) -> Figure:
    """Grouped bars: the share of each class in every split (columns of ``shares``).

    ``shares`` is :func:`rnn_mnist.analysis.class_balance` with ``normalize=True``;
    its index (class names) labels the bars. A dotted line marks a perfectly
    even split.
    """
    fig, ax = plt.subplots(figsize=(8, 3.5))
    positions = np.arange(len(shares))
    width = 0.8 / max(1, shares.shape[1])
    for offset, name in enumerate(shares.columns):
        ax.bar(positions + (offset - (shares.shape[1] - 1) / 2) * width, shares[name], width, label=str(name))
    ax.axhline(1 / len(shares), color="gray", linestyle=":", linewidth=1, label="even split")
    names = [str(c) for c in shares.index]
    if _long(names):
        ax.set_xticks(positions, names, rotation=30, ha="right")
    else:
        ax.set_xticks(positions, names)
    ax.set_xlabel(shares.index.name or "class")
    ax.set_ylabel("share of the split's images")
    ax.yaxis.set_major_formatter(_percent())
    ax.set_title("Class balance")
    ax.set_ylim(0, float(np.nanmax(shares.to_numpy())) * 1.3)
    ax.legend(ncols=shares.shape[1] + 1, fontsize=8, loc="upper center")
    fig.tight_layout()
    return fig


def plot_image_as_sequence(image: np.ndarray, label: int | str | None = None, *, row: int = 14) -> Figure:
    """The book's key picture: one image, read as one time step per row.

    Left, the image with its rows ruled off; middle, the same rows pulled apart
    and stacked in reading order (time runs downwards); right, the numbers of
    one row (``row``, counted from 1): the input vector ``x_t`` of that step.
    """
    pixels = _as_intensity(image)
    rows, width = pixels.shape
    if not 1 <= row <= rows:
        raise ValueError(f"row must be between 1 and {rows}, got {row}")
    fig, (ax_image, ax_rows, ax_vector) = plt.subplots(
        1, 3, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1, 1, 1.35]}
    )
    name = f"a {label}" if label is not None else "an image"
    marked = sorted({1, *range(7, rows + 1, 7), rows})

    ax_image.imshow(pixels, cmap="gray_r", vmin=0, vmax=1)
    for boundary in np.arange(rows + 1) - 0.5:
        ax_image.axhline(boundary, color="tab:gray", linewidth=0.4, alpha=0.6)
    ax_image.add_patch(Rectangle((-0.5, row - 1.5), width, 1, fill=False, edgecolor=HIGHLIGHT, linewidth=2))
    ax_image.set_xticks([])
    ax_image.set_yticks([r - 1 for r in marked], [f"row {r}" for r in marked])
    ax_image.set_title(f"The image: {name}, {rows} rows of {width} pixels", fontsize=10)

    gap = 0.6
    for step in range(rows):
        top = step * (1 + gap)
        ax_rows.imshow(
            pixels[step : step + 1],
            cmap="gray_r",
            vmin=0,
            vmax=1,
            aspect="auto",
            extent=(-0.5, width - 0.5, top + 1, top),
        )
        if step == row - 1:
            ax_rows.add_patch(Rectangle((-0.5, top), width, 1, fill=False, edgecolor=HIGHLIGHT, linewidth=2))
    ax_rows.set_xlim(-0.5, width - 0.5)
    ax_rows.set_ylim(rows * (1 + gap), -gap)
    ax_rows.set_yticks([(r - 1) * (1 + gap) + 0.5 for r in marked], [f"t = {r}" for r in marked])
    ax_rows.set_xticks([0, width - 1], ["pixel 1", f"pixel {width}"])
    ax_rows.set_ylabel("time step  (read downwards)")
    ax_rows.set_title("The sequence: one row per time step", fontsize=10)

    positions = np.arange(1, width + 1)
    ax_vector.bar(positions, pixels[row - 1], color=HIGHLIGHT, width=0.8)
    ax_vector.set_xlim(0.4, width + 0.6)
    ax_vector.set_ylim(0, 1.05)
    ax_vector.set_xlabel(f"position in the row = input feature (1-{width})")
    ax_vector.set_ylabel("pixel intensity (0-1)")
    ax_vector.set_title(f"$x_{{{row}}}$: the {width} numbers the LSTM reads at step t = {row}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_class_means(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[int],
    pair: tuple[int, int],
    *,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Figure:
    """The mean image of each class label in ``classes``, then where the two classes of ``pair`` differ.

    Last two panels: the absolute difference of the pair's mean images, and
    that difference averaged over each row (what a row-by-row reader meets, row by row).
    """
    from .analysis import class_means

    means = class_means(x, y, classes)
    a, b = pair
    pair_means = class_means(x, y, (a, b))
    difference = np.abs(pair_means[0] - pair_means[1])
    rows = difference.shape[0]
    ticks = row_ticks(rows)
    columns = len(classes) + 2
    fig, axes = plt.subplots(1, columns, figsize=(2.1 * columns, 2.9),
                             gridspec_kw={"width_ratios": [1] * (columns - 1) + [1.2]})
    for ax, mean, c in zip(axes, means, classes):
        ax.imshow(mean, cmap="gray_r", vmin=0, vmax=1)
        _hide_ticks(ax)
        ax.set_title(f"mean {class_names[c]}", fontsize=9)
    ax = axes[-2]
    image = ax.imshow(difference, cmap="magma", vmin=0)
    ax.set_xticks([])
    ax.set_yticks([t - 1 for t in ticks], [str(t) for t in ticks], fontsize=7)
    ax.set_ylabel("row")
    ax.set_title(f"|{class_names[a]} − {class_names[b]}|", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    ax = axes[-1]
    ax.plot(difference.mean(axis=1), np.arange(1, rows + 1), color=HIGHLIGHT)
    ax.set_ylim(rows + 0.5, 0.5)
    ax.set_xlim(left=0)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("mean |difference|", fontsize=8)
    ax.set_title("per row", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# -- chapters 3 and 4: training and learning curves ---------------------------------
def _elapsed_seconds(history: Mapping[str, Sequence[float]]) -> np.ndarray:
    if "epoch_seconds" not in history:
        raise KeyError("the history has no 'epoch_seconds' column, so there is no wall time to plot against")
    return np.cumsum(history["epoch_seconds"])


def plot_learning_curves(
    history: Mapping[str, Sequence[float]],
    *,
    against: str = "epoch",
    validation_label: str = "validation",
    title: str | None = None,
) -> Figure:
    """Loss (left) and accuracy (right) per epoch, training against validation.

    ``against="seconds"`` puts cumulative wall-clock seconds on the x axis
    instead of the epoch number (needs ``epoch_seconds`` in the history).
    """
    if against == "epoch":
        x = np.arange(1, len(history["loss"]) + 1)
        xlabel = "epoch"
    elif against == "seconds":
        x = _elapsed_seconds(history)
        xlabel = "wall-clock seconds of training"
    else:
        raise ValueError(f"against must be 'epoch' or 'seconds', got {against!r}")
    fig, (ax_loss, ax_accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, name in (
        (ax_loss, "loss", "Loss (cross-entropy)"),
        (ax_accuracy, "accuracy", "Accuracy"),
    ):
        ax.plot(x, history[metric], "o-", color=TRAIN_COLOR, label="training")
        ax.plot(x, history[f"val_{metric}"], "s-", color=VALIDATION_COLOR, label=validation_label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
        if against == "epoch":
            ax.set_xticks(x if len(x) <= 20 else x[:: max(1, len(x) // 10)])
    ax_accuracy.yaxis.set_major_formatter(_percent())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_recipes_compared(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, metric: str = "val_accuracy"
) -> Figure:
    """Two or more runs side by side: ``metric`` per epoch (left) and against wall-clock seconds (right)."""
    fig, (ax_epoch, ax_time) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, history in histories.items():
        values = history[metric]
        (line,) = ax_epoch.plot(np.arange(1, len(values) + 1), values, "o-", label=name)
        ax_time.plot(_elapsed_seconds(history), values, "o-", color=line.get_color(), label=name)
    # Each run's validation data can differ (the seed recipe validates on the test set): the legend says which.
    label = metric.replace("val_", "held-out ")
    ax_epoch.set_xlabel("epoch")
    ax_time.set_xlabel("wall-clock seconds of training")
    ax_epoch.set_ylabel(label)
    ax_epoch.set_title(f"{label.capitalize()} per epoch")
    ax_time.set_title(f"{label.capitalize()} against time")
    ax_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_epoch, ax_time):
        ax.grid(alpha=0.3)
        ax.legend()
        if "accuracy" in metric:
            ax.yaxis.set_major_formatter(_percent())
    fig.tight_layout()
    return fig


def plot_learning_rate_schedules(curves: Mapping[str, pd.DataFrame]) -> Figure:
    """Learning rate against epoch for each recipe (tables from ``analysis.learning_rate_curve``)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, curve in curves.items():
        ax.plot(curve["epoch"], curve["learning_rate"], label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate over training")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# -- chapter 5: the confusion matrix ----------------------------------------------
def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    normalize: str | None = None,
    errors_only: bool = False,
    title: str | None = None,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Figure:
    """scikit-learn's :class:`~sklearn.metrics.ConfusionMatrixDisplay` of the predictions, labelled by class name.

    ``normalize="true"`` divides each row by the number of images of that
    class (cells become shares of the row); ``errors_only=True`` blanks the
    diagonal so the colour scale shows where the mistakes go. Cells that are
    exactly zero are left empty to keep the picture readable. Names longer
    than a few characters are slanted on the x axis so they stay readable.
    """
    labels = np.arange(len(class_names))
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    values = counts.astype(float)
    if normalize == "true":
        values = values / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    if errors_only:
        np.fill_diagonal(values, 0)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    display = ConfusionMatrixDisplay(values, display_labels=list(class_names))
    display.plot(ax=ax, cmap="Blues", values_format=".1%" if normalize else ".0f", colorbar=True)
    if normalize:
        display.im_.colorbar.ax.yaxis.set_major_formatter(_percent())
    for (i, j), text in np.ndenumerate(display.text_):
        if values[i, j] == 0:
            text.set_text("")
        text.set_fontsize(8)
    if _long(class_names):
        ax.set_xticks(labels, list(class_names), rotation=40, ha="right")
    noun = class_noun(class_names)
    default = {
        (None, False): "Confusion matrix (counts)",
        ("true", False): f"Confusion matrix (share of each true {noun})",
        (None, True): "Where the mistakes go (counts, diagonal removed)",
        ("true", True): f"Where the mistakes go (share of each true {noun}, diagonal removed)",
    }
    ax.set_title(title or default[(normalize, errors_only)])
    fig.tight_layout()
    return fig


def _accuracy_bars(ax, accuracy: pd.Series, overall: float | None, low: float) -> None:
    noun = accuracy.index.name or "class"
    names = [str(name) for name in accuracy.index]
    ax.barh(names, accuracy.to_numpy(), color=TRAIN_COLOR)
    ax.set_ylim(len(names) - 0.5, -1.4)  # the first class on top, room above it for the label
    if overall is not None:
        ax.axvline(overall, color=HIGHLIGHT, linestyle="--")
        ax.text(overall, -0.95, f"all {plural(noun)}: {overall:.2%} ", color=HIGHLIGHT, ha="right", va="center")
    ax.set_xlim(max(0.0, low - (1 - low) * 0.5 - 0.01), 1.0)
    ax.set_xlabel(f"accuracy on images of this {noun}")
    ax.set_ylabel(noun)
    ax.xaxis.set_major_formatter(_percent())


def plot_per_class_accuracy(
    accuracy: pd.Series | Mapping[str, pd.Series],
    *,
    overall: float | Mapping[str, float] | None = None,
) -> Figure:
    """Horizontal bars of each class's accuracy, with the overall accuracy as a dashed line.

    ``accuracy`` is :func:`rnn_mnist.analysis.per_class_accuracy`'s series, or
    a mapping from a title (``"MNIST"``) to one such series per run: then one
    panel per run, side by side on a shared x axis, ``overall`` a mapping too.
    """
    panels = {"": accuracy} if isinstance(accuracy, pd.Series) else dict(accuracy)
    overalls = overall if isinstance(overall, Mapping) else {title: overall for title in panels}
    low = min(float(np.nanmin(series.to_numpy(dtype=float))) for series in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(7 if len(panels) == 1 else 5.6 * len(panels), 4),
                             sharex=True, squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels.items()):
        _accuracy_bars(ax, series, overalls.get(title), low)
        noun = series.index.name or "class"
        ax.set_title(f"{title}: accuracy per {noun}" if title else f"Accuracy per {noun}")
    fig.tight_layout()
    return fig


# -- chapter 6: error analysis ------------------------------------------------------
def plot_mistakes(
    images: np.ndarray,
    true: Sequence[int],
    predicted: Sequence[int],
    confidence: Sequence[float],
    *,
    class_names: Sequence[str] = CLASS_NAMES,
    ncols: int = 8,
    suptitle: str | None = "The model's most confident mistakes",
) -> Figure:
    """A grid of misread images titled with class names and the probability the model gave its answer.

    ``true`` and ``predicted`` are label numbers. Short names read
    "true 4 → read 9"; longer ones go on lines of their own
    ("true: Shirt", "read: T-shirt/top"), in wider cells.
    """
    true_names = [str(class_names[int(t)]) for t in true]
    read_names = [str(class_names[int(p)]) for p in predicted]
    if _long(class_names):
        titles = [f"true: {t}\nread: {p}\np = {c:.3f}" for t, p, c in zip(true_names, read_names, confidence)]
        cell_size = 2.1
    else:
        titles = [f"true {t} → read {p}\np = {c:.3f}" for t, p, c in zip(true_names, read_names, confidence)]
        cell_size = 1.35
    return plot_digit_grid(images, titles, ncols=ncols, suptitle=suptitle, cell_size=cell_size)


def plot_confidence_histogram(confidences: Mapping[str, np.ndarray], *, bins: int = 20) -> Figure:
    """How sure the model was, right answers against wrong ones.

    ``confidences`` is :func:`rnn_mnist.analysis.confidence_of`'s dict. Each
    group is scaled to its own total, so the bars compare shapes, not counts;
    the y axis is logarithmic because right answers pile up near 1.
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    edges = np.linspace(0.1, 1.0, bins + 1)
    colors = {"right": TRAIN_COLOR, "wrong": HIGHLIGHT}
    for name, values in confidences.items():
        if len(values) == 0:
            continue
        ax.hist(
            values,
            bins=edges,
            weights=np.full(len(values), 1 / len(values)),
            alpha=0.6,
            color=colors.get(name),
            label=f"{name} answers ({len(values)})",
            edgecolor="white",
        )
    ax.set_yscale("log")
    ax.set_xlabel("confidence: probability given to the predicted digit")
    ax.set_ylabel("share of the group's answers (log scale)")
    ax.set_title("How sure was the model?")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_rows_revealed(image: np.ndarray, rows: Sequence[int] | None = None) -> Figure:
    """The same image as the model has seen it after reading ``k`` rows, for each ``k`` (default: every fourth)."""
    pixels = _as_intensity(image)
    rows = list(range(4, pixels.shape[0] + 1, 4)) if rows is None else list(rows)
    fig, axes = plt.subplots(1, len(rows), figsize=(1.5 * len(rows), 1.9), squeeze=False)
    for ax, k in zip(axes.flat, rows):
        seen = np.full_like(pixels, np.nan)
        seen[:k] = pixels[:k]
        cmap = plt.get_cmap("gray_r").with_extremes(bad="#f2d7d5")
        ax.imshow(np.ma.masked_invalid(seen), cmap=cmap, vmin=0, vmax=1)
        ax.axhline(k - 0.5, color=HIGHLIGHT, linewidth=1)
        _hide_ticks(ax)
        ax.set_title(f"{k} rows", fontsize=9)
    fig.suptitle("What the LSTM has read so far (unread rows shaded)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy_by_rows(
    tables: pd.DataFrame | Mapping[str, pd.DataFrame], *, chance: float | None = None
) -> Figure:
    """Accuracy after reading the first ``k`` rows, for every ``k``, with chance level marked.

    ``tables`` is :func:`rnn_mnist.analysis.accuracy_after_rows`'s table (its
    first column, the overall accuracy, is drawn), or a mapping from a model's
    name to one such table: one line per model. ``chance`` defaults to one
    over the number of classes.
    """
    lines = {None: tables} if isinstance(tables, pd.DataFrame) else dict(tables)
    first = next(iter(lines.values()))
    if chance is None:
        chance = 1 / (first.shape[1] - 1 if first.shape[1] > 1 else NUM_CLASSES)
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    for name, table in lines.items():
        overall = table.columns[0]
        if name is None:
            ax.plot(table.index, table[overall], "o-", color=TRAIN_COLOR, label=overall)
        else:
            ax.plot(table.index, table[overall], "o-", markersize=3, label=name)
    ax.axhline(chance, color="gray", linestyle=":", label=f"chance ({chance:.0%})")
    last = max(int(table.index.max()) for table in lines.values())
    ax.set_xlim(0.5, last + 0.5)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(row_ticks(last))
    ax.set_xlabel("rows read (time steps)")
    ax.set_ylabel("test accuracy")
    ax.yaxis.set_major_formatter(_percent())
    ax.set_title("Accuracy after reading only the first k rows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_accuracy_by_rows_per_class(table: pd.DataFrame) -> Figure:
    """Heat map: accuracy on each class (rows, by name) after reading ``k`` rows (columns).

    ``table`` is :func:`rnn_mnist.analysis.accuracy_after_rows`'s table; every
    column after the first (the overall accuracy) is a class.
    """
    names = [str(name) for name in table.columns[1:]]
    noun = class_noun(names)
    values = table[table.columns[1:]].to_numpy(dtype=float).T
    fig, ax = plt.subplots(figsize=(10, 4.2))
    image = ax.imshow(
        values,
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=(table.index[0] - 0.5, table.index[-1] + 0.5, len(names) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(names)), names)
    ax.set_xticks(row_ticks(int(table.index[-1])))
    ax.set_xlabel("rows read (time steps)")
    ax.set_ylabel(f"true {noun}")
    ax.set_title(f"Accuracy per {noun} after reading the first k rows")
    fig.colorbar(image, ax=ax, label="accuracy", format=_percent())
    fig.tight_layout()
    return fig


def plot_reading_trace(
    image: np.ndarray,
    row_probabilities: np.ndarray,
    true_label: int,
    *,
    rows: Sequence[int] | None = None,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Figure:
    """One image being read: the probability of each class after every row.

    ``row_probabilities`` has shape ``(len(rows), classes)`` (one image's
    slice of :func:`rnn_mnist.analysis.probabilities_after_rows`). The true
    class and the final answer are drawn bold; the other classes thin and grey.
    """
    rows = list(rows) if rows is not None else list(range(1, len(row_probabilities) + 1))
    noun = class_noun(class_names)
    final = int(np.argmax(row_probabilities[-1]))
    true_name, final_name = class_names[true_label], class_names[final]
    fig, (ax_image, ax_trace) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 3]})
    ax_image.imshow(_as_intensity(image), cmap="gray_r", vmin=0, vmax=1)
    _hide_ticks(ax_image)
    ax_image.set_title(f"true {true_name}, read as {final_name}")
    for label in range(row_probabilities.shape[1]):
        if label in (true_label, final):
            continue
        ax_trace.plot(rows, row_probabilities[:, label], color="lightgray", linewidth=1)
    ax_trace.plot(
        rows,
        row_probabilities[:, true_label],
        "o-",
        color=TRAIN_COLOR,
        markersize=3,
        linewidth=2,
        label=f"p({true_name}) (true {noun})",
    )
    if final != true_label:
        ax_trace.plot(
            rows,
            row_probabilities[:, final],
            "s-",
            color=HIGHLIGHT,
            markersize=3,
            linewidth=2,
            label=f"p({final_name}) (final answer)",
        )
    ax_trace.plot([], [], color="lightgray", label=f"other {plural(noun)}")
    ax_trace.set_xlim(0.5, rows[-1] + 0.5)
    ax_trace.set_ylim(-0.02, 1.02)
    ax_trace.set_xticks(row_ticks(rows[-1]))
    ax_trace.set_xlabel("rows read (time steps)")
    ax_trace.set_ylabel("probability")
    ax_trace.set_title("What the model would answer after each row")
    ax_trace.grid(alpha=0.3)
    ax_trace.legend(loc="center left", fontsize=8)
    fig.tight_layout()
    return fig
