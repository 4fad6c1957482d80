"""Numbers and figures for the chapters that go beyond the seed.

* *Which recurrent cell?* (chapter 7): the same task learned by SimpleRNN,
  GRU, LSTM, a bidirectional LSTM and a non-recurrent baseline, each sized to
  the same parameter budget (:func:`units_for_budget`), compared by
  :func:`comparison_table` and :func:`plot_accuracy_against_time`; how far
  back in the image each trained model still "feels" its input
  (:func:`gradient_by_row`, the footprint of vanishing gradients).
* *Beyond digits* (chapter 8): the pipeline rerun on Fashion-MNIST, with
  class names carried into every table and figure
  (:func:`named_confusions`, :func:`plot_per_class_accuracy_side_by_side`,
  :func:`plot_class_means`, :func:`plot_class_accuracy_by_rows`).

Like :mod:`rnn_mnist.analysis` and :mod:`rnn_mnist.plots`, every function
takes plain data and returns a number, a table or a figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .config import TrainingConfig, config_from_parameters
from .data import ARRAY_NAMES, MnistArrays, array_sha256, dataset_info

ROWS, PIXELS_PER_ROW, NUM_CLASSES = 28, 28, 10

#: Parameters of the seed's model, LSTM(128) + Dense(10): every contender's budget.
DEFAULT_BUDGET = 81_674

#: What the comparison chapters train when a parameter is left at ``None``.
#: Five models (chapter 7) and one more (chapter 8) are trained, so they get
#: fewer epochs and images than the book's main run; chapter 8's MNIST
#: counterpart is chapter 7's LSTM, reused from the store.
COMPARISON_EPOCHS = 5
COMPARISON_TRAIN_SIZE = 20_000

#: The accuracy the comparison figure marks, and the thresholds of the table's "epochs to" columns.
DEFAULT_THRESHOLD = 0.98
DEFAULT_THRESHOLDS = (0.95, 0.98)


@dataclass(frozen=True)
class Contender:
    """One model of the comparison: a name for people, a cell and its direction."""

    label: str
    cell: str
    bidirectional: bool = False


CONTENDERS = (
    Contender("SimpleRNN", "simple_rnn"),
    Contender("GRU", "gru"),
    Contender("LSTM", "lstm"),
    Contender("bidirectional LSTM", "lstm", bidirectional=True),
    Contender("dense (no recurrence)", "dense"),
)


# -- parameter budgets ------------------------------------------------------------
def parameter_count(
    cell: str,
    units: int,
    *,
    bidirectional: bool = False,
    inputs: int = PIXELS_PER_ROW,
    rows: int = ROWS,
    classes: int = NUM_CLASSES,
) -> int:
    """Trainable parameters of ``build_model(cell, units, bidirectional=...)``, by formula.

    Each recurrent cell has, per gate, an input kernel ``inputs x units``, a
    recurrent kernel ``units x units`` and a bias: SimpleRNN has one "gate",
    LSTM four, and Keras's GRU three with two biases each (``reset_after``).
    The dense baseline sees the flattened image, ``rows * inputs`` numbers.
    The classifier head is ``Dense(classes)`` on the features.
    """
    if cell == "dense":
        if bidirectional:
            raise ValueError("the dense baseline has no direction to double")
        return rows * inputs * units + units + units * classes + classes
    per_gate = units * (inputs + units) + units
    gates = {"simple_rnn": per_gate, "lstm": 4 * per_gate, "gru": 3 * (per_gate + units)}
    if cell not in gates:
        raise ValueError(f"Invalid value for 'cell': {cell!r}. Allowed: one of dense, gru, lstm, simple_rnn.")
    directions = 2 if bidirectional else 1
    features = directions * units
    return directions * gates[cell] + features * classes + classes


def units_for_budget(cell: str, budget: int = DEFAULT_BUDGET, *, bidirectional: bool = False) -> int:
    """The number of units whose model comes closest to ``budget`` parameters (ties: fewer units)."""
    if budget < parameter_count(cell, 1, bidirectional=bidirectional):
        raise ValueError(f"a budget of {budget} parameters is below the smallest {cell} model")
    best_units, best_gap = 1, math.inf
    for units in range(1, 4097):
        gap = abs(parameter_count(cell, units, bidirectional=bidirectional) - budget)
        if gap < best_gap:
            best_units, best_gap = units, gap
        elif parameter_count(cell, units, bidirectional=bidirectional) > budget:
            break
    return best_units


def comparison_base(
    recipe_name: str = "book",
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    dataset: str = "mnist",
) -> TrainingConfig:
    """The recipe the contenders share: ``None`` epochs or images mean the comparison defaults."""
    return config_from_parameters(
        recipe_name,
        epochs=COMPARISON_EPOCHS if epochs is None else epochs,
        batch_size=batch_size,
        train_size=COMPARISON_TRAIN_SIZE if train_size is None else train_size,
        test_size=test_size,
        seed=seed,
        dataset=dataset,
    )


def comparison_configs(
    base: TrainingConfig,
    budget: int = DEFAULT_BUDGET,
    contenders: Sequence[Contender] = CONTENDERS,
) -> dict[str, TrainingConfig]:
    """One config per contender: ``base`` with its cell, direction and budget-sized units."""
    return {
        c.label: base.replace(
            cell=c.cell,
            bidirectional=c.bidirectional,
            units=units_for_budget(c.cell, budget, bidirectional=c.bidirectional),
            label=c.label,
        )
        for c in contenders
    }


def budget_table(configs: Mapping[str, TrainingConfig], budget: int = DEFAULT_BUDGET) -> pd.DataFrame:
    """Units and parameter count of each contender, and how far it is from the budget."""
    rows = {}
    for name, config in configs.items():
        count = parameter_count(config.cell, config.units, bidirectional=config.bidirectional)
        rows[name] = {
            "cell": config.cell,
            "bidirectional": config.bidirectional,
            "units": config.units,
            "parameters": count,
            "vs budget": count / budget - 1,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


# -- what the runs measured -------------------------------------------------------------
def epochs_to_reach(history: Mapping[str, Sequence[float]], threshold: float = DEFAULT_THRESHOLD,
                    metric: str = "val_accuracy") -> int | None:
    """The first epoch (counted from 1) whose ``metric`` is at least ``threshold``; None if never."""
    values = np.asarray(history[metric], dtype=float)
    reached = np.flatnonzero(values >= threshold)
    return int(reached[0]) + 1 if len(reached) else None


def seconds_to_reach(history: Mapping[str, Sequence[float]], threshold: float = DEFAULT_THRESHOLD,
                     metric: str = "val_accuracy") -> float | None:
    """Wall-clock training seconds until the end of :func:`epochs_to_reach`'s epoch; None if never."""
    epoch = epochs_to_reach(history, threshold, metric)
    if epoch is None:
        return None
    return float(np.sum(history["epoch_seconds"][:epoch]))


def comparison_table(runs: Mapping[str, Any], thresholds: float | Sequence[float] = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """One row per trained contender: size, speed and accuracy.

    ``runs`` maps a name to a :class:`rnn_mnist.runs.TrainingRun`. Columns:
    ``units``, ``parameters`` (counted by Keras), ``seconds per epoch``
    (median), ``training seconds``, ``test accuracy``, ``best validation
    accuracy``, then for each threshold ``epochs to NN%`` and ``seconds to
    NN%`` (validation accuracy; ``"not reached"`` when the run never got there).
    """
    thresholds = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    rows = {}
    for name, run in runs.items():
        history, metrics = run.history, run.metrics
        row = {
            "units": run.config.units,
            "parameters": int(metrics["parameters"]),
            "seconds per epoch": float(metrics["seconds_per_epoch"]),
            "training seconds": float(metrics["train_seconds"]),
            "test accuracy": float(metrics["test_accuracy"]),
            "best validation accuracy": float(np.max(history["val_accuracy"])),
        }
        for threshold in thresholds:
            epochs = epochs_to_reach(history, threshold)
            seconds = seconds_to_reach(history, threshold)
            row[f"epochs to {threshold:.0%}"] = epochs if epochs is not None else "not reached"
            row[f"seconds to {threshold:.0%}"] = round(seconds, 1) if seconds is not None else "not reached"
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def describe_comparison(table: pd.DataFrame, thresholds: float | Sequence[float] = DEFAULT_THRESHOLDS) -> str:
    """Plain-English reading of :func:`comparison_table`, decided by its numbers."""
    thresholds = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    best = table["test accuracy"].idxmax()
    fastest = table["seconds per epoch"].idxmin()
    slowest = table["seconds per epoch"].idxmax()
    sentences = [
        f"The most accurate model on the test images is the {best} "
        f"({table.loc[best, 'test accuracy']:.2%}); the least accurate is the "
        f"{table['test accuracy'].idxmin()} ({table['test accuracy'].min():.2%}).",
        f"An epoch is quickest for the {fastest} ({table.loc[fastest, 'seconds per epoch']:.1f} s) and slowest "
        f"for the {slowest} ({table.loc[slowest, 'seconds per epoch']:.1f} s).",
    ]
    unreached = []
    for threshold in thresholds:
        percent = f"{threshold:.0%}"
        reached = [name for name in table.index if table.loc[name, f"epochs to {percent}"] != "not reached"]
        if reached:
            first = min(reached, key=lambda n: float(table.loc[n, f"seconds to {percent}"]))
            sentences.append(
                f"{len(reached)} of {len(table)} models reached {percent} validation accuracy; the "
                f"{first} got there first in wall-clock time ({table.loc[first, f'seconds to {percent}']} s)."
            )
        else:
            unreached.append(percent)
    if unreached:
        sentences.append(
            f"No model reached {' or '.join(unreached)} validation accuracy within this run's epochs and images."
        )
    return " ".join(sentences)


def plot_accuracy_against_time(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    thresholds: float | Sequence[float] | None = DEFAULT_THRESHOLDS,
    metric: str = "val_accuracy",
) -> Figure:
    """Validation accuracy after every epoch against wall-clock seconds of training, one line per model.

    Dashed lines mark ``thresholds``; a model to the left of another at the
    same height got there sooner.
    """
    thresholds = [] if thresholds is None else (
        [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds))
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for name, history in histories.items():
        seconds = np.cumsum(history["epoch_seconds"])
        ax.plot(seconds, history[metric], "o-", label=name)
    for threshold in thresholds:
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1)
        ax.annotate(f"{threshold:.0%}", (1.0, threshold), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=8, color="gray")
    ax.set_xlim(left=0)
    ax.set_xlabel("wall-clock seconds of training (end of each epoch)")
    ax.set_ylabel(metric.replace("val_", "validation "))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.set_title("Accuracy against training time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# -- vanishing gradients -------------------------------------------------------------
def _recurrent_parts(model):
    """The recurrent layer of a model built by :func:`rnn_mnist.model.build_model`, and the layers after it."""
    import keras

    layers = model.layers
    for position, layer in enumerate(layers):
        if isinstance(layer, keras.layers.Bidirectional):
            raise ValueError("state gradients are defined here for one reading direction; this model has two")
        if isinstance(layer, keras.layers.RNN):
            return layer, layers[position + 1 :]
    raise ValueError(f"model {model.name!r} has no recurrent layer (the dense baseline has no time steps)")


def _unrolled_loss(model, x, y, perturbations):
    """The model's summed loss, computed step by step, with ``perturbations[k][t]`` added to state k after step t.

    With all perturbations zero this is exactly the model's loss; its gradient
    with respect to ``perturbations[k][t]`` is ∂ loss / ∂ (state k after step t).
    """
    import keras

    layer, head = _recurrent_parts(model)
    cell = layer.cell
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    states = [keras.ops.zeros((x.shape[0], size), dtype="float32") for size in sizes]
    for t in range(x.shape[1]):
        _, new_states = cell(x[:, t, :], states, training=False)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        states = [state + perturbation[t] for state, perturbation in zip(new_states, perturbations)]
    outputs = states[0]  # h_T: the output of SimpleRNN, GRU and LSTM cells alike
    for head_layer in head:
        outputs = head_layer(outputs, training=False)
    return keras.ops.sum(keras.losses.sparse_categorical_crossentropy(y, outputs)), outputs


def state_gradients(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """‖∂ loss / ∂ state after step t‖ for every image and step, shape ``(len(x), 28)``.

    The state is everything the cell carries to the next step (``h`` for
    SimpleRNN and GRU, ``h`` and ``c`` for LSTM). This is the quantity the
    vanishing-gradient argument is about: what reaches step t of the learning
    signal that starts at the loss after the last step. Computed on the
    TensorFlow or JAX backend by unrolling the trained cell over the rows.
    """
    import keras

    backend = keras.backend.backend()
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y)
    layer, _ = _recurrent_parts(model)
    sizes = layer.cell.state_size if isinstance(layer.cell.state_size, (list, tuple)) else [layer.cell.state_size]
    zeros = [np.zeros((x.shape[1], x.shape[0], size), dtype="float32") for size in sizes]
    if backend == "tensorflow":
        import tensorflow as tf

        perturbations = [tf.convert_to_tensor(z) for z in zeros]
        with tf.GradientTape() as tape:
            tape.watch(perturbations)
            loss, _ = _unrolled_loss(model, tf.convert_to_tensor(x), y, perturbations)
        gradients = [g.numpy() for g in tape.gradient(loss, perturbations)]
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def loss_only(perturbations):
            return _unrolled_loss(model, jnp.asarray(x), y, perturbations)[0]

        gradients = [np.asarray(g) for g in jax.grad(loss_only)([jnp.asarray(z) for z in zeros])]
    else:
        raise NotImplementedError(f"state gradients are wired for the tensorflow and jax backends, not {backend!r}")
    squared = sum(np.sum(g**2, axis=2) for g in gradients)  # (steps, images)
    return np.sqrt(squared).T


def gradient_by_row(model, x: np.ndarray, y: np.ndarray, *, batch_size: int = 250) -> np.ndarray:
    """Mean over the images of ‖∂ loss / ∂ state after reading row t‖, for t = 1 .. 28.

    The learning signal for what the model does at row t has to travel back
    from the loss through every later step. A cell that passes its state on
    only by multiplying it with the same matrix and squashing it (SimpleRNN)
    multiplies the gradient by the same kind of factor at every step, so the
    gradient changes geometrically with the distance from the end: a straight
    line on a log scale, falling (vanishing) or rising (exploding).
    """
    norms = [state_gradients(model, x[start : start + batch_size], y[start : start + batch_size])
             for start in range(0, len(x), batch_size)]
    return np.concatenate(norms).mean(axis=0)


def gradient_table(models: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """:func:`gradient_by_row` for each model, relative to its own last row (row 28 = 1).

    Indexed by ``row`` (1..28), one column per model.
    """
    columns = {}
    for name, model in models.items():
        by_row = gradient_by_row(model, x, y)
        columns[name] = by_row / by_row[-1]
    return pd.DataFrame(columns, index=pd.Index(range(1, x.shape[1] + 1), name="row"))


def gradient_reach(table: pd.DataFrame, fraction: float = 0.01) -> pd.Series:
    """How many rows back from the last one each model's gradient stays above ``fraction`` of row 28's.

    28 means every row still gets at least that share; a small number means
    the gradient has vanished a few steps back.
    """
    reach = {}
    for name in table.columns:
        above = table[name].to_numpy() >= fraction
        # count consecutive rows from the end that stay above the fraction
        run = 0
        for value in above[::-1]:
            if not value:
                break
            run += 1
        reach[name] = run
    return pd.Series(reach, name=f"rows with gradient ≥ {fraction:.0%} of the last row's")


def gradient_summary(table: pd.DataFrame, fraction: float = 0.01) -> pd.DataFrame:
    """Each model's gradient curve in three numbers.

    ``row 1 / row 28``: the gradient reaching the state after row 1, relative
    to row 28's; ``change per step``: the geometric mean factor by which it
    changes per step back (below 1: shrinking, above 1: growing);
    ``rows kept``: :func:`gradient_reach` with ``fraction``.
    """
    steps = len(table) - 1
    first = table.iloc[0]
    return pd.DataFrame({
        "row 1 / row 28": first,
        "change per step": first ** (1 / steps),
        f"rows ≥ {fraction:.0%} of row 28": gradient_reach(table, fraction),
    })


def _gradient_verdict(factor: float, steady: float) -> str:
    if factor < 1 - steady:
        return "shrinking on the way back (vanishing)"
    if factor > 1 + steady:
        return "growing on the way back (exploding)"
    return "roughly steady"


def describe_gradients(after: pd.DataFrame, before: pd.DataFrame | None = None, *, steady: float = 0.05) -> str:
    """One line per model: how its gradient changes per step back, after training (and before, if given).

    A gradient that changes by more than ``steady`` (relative) per step back,
    on geometric average, is called shrinking (vanishing) or growing
    (exploding); otherwise roughly steady. Decided by the numbers alone.
    """
    summaries = {"after training": gradient_summary(after)}
    if before is not None:
        summaries = {"at its initial weights": gradient_summary(before), **summaries}
    lines = []
    for name in after.columns:
        parts = []
        for when, summary in summaries.items():
            factor, ratio = summary.loc[name, "change per step"], summary.loc[name, "row 1 / row 28"]
            parts.append(f"{when} the gradient reaching row 1 is {ratio:.2g} × row 28's, "
                         f"{factor:.3f} per step back: {_gradient_verdict(factor, steady)}")
        lines.append(f"* **{name}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def untrained_model(config: TrainingConfig):
    """The model of ``config`` with the initial weights its run started from (same seed, same builder)."""
    from .device import make_deterministic
    from .model import build_model_for

    make_deterministic(config.seed)
    return build_model_for(config)


def accuracy_after_rows_by_model(models: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> dict[str, pd.DataFrame]:
    """:func:`rnn_mnist.analysis.accuracy_by_rows_read` for each model (TensorFlow's retracing notes silenced).

    Feeding 28 different prefix lengths makes TensorFlow trace the predict
    step once per length, and it warns about that; the warning is expected here.
    """
    from .analysis import accuracy_by_rows_read

    with _quiet_tensorflow():
        return {name: accuracy_by_rows_read(model, x, y) for name, model in models.items()}


class _quiet_tensorflow:
    """Raise TensorFlow's Python logger to ERROR for the duration (nothing on other backends)."""

    def __enter__(self):
        import keras

        self._logger = None
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            self._logger = tf.get_logger()
            self._level = self._logger.level
            self._logger.setLevel("ERROR")
        return self

    def __exit__(self, *exc):
        if self._logger is not None:
            self._logger.setLevel(self._level)
        return False


def plot_gradient_by_row(after: pd.DataFrame, before: pd.DataFrame | None = None) -> Figure:
    """Gradient reaching the state after each row, relative to row 28, on a log scale, one line per model.

    With ``before`` (the same models at their initial weights) the two are
    drawn side by side on the same scale.
    """
    panels = {"after training": after} if before is None else {"at the initial weights": before,
                                                               "after training": after}
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.2), sharey=True, squeeze=False)
    for ax, (title, table) in zip(axes.flat, panels.items()):
        for name in table.columns:
            ax.plot(table.index, table[name], "o-", markersize=3, label=name)
        ax.set_yscale("log")
        ax.axhline(1.0, color="gray", linewidth=0.8)
        ax.set_xlim(0.5, table.index.max() + 0.5)
        ax.set_xticks([1, 4, 8, 12, 16, 20, 24, 28])
        ax.set_xlabel("rows read (time step t)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("‖∂ loss / ∂ state after row t‖\nrelative to row 28 (log)")
    fig.suptitle("How much of the learning signal reaches the state after each row")
    fig.tight_layout()
    return fig


def plot_accuracy_after_rows_compared(tables: Mapping[str, pd.DataFrame], *, chance: float = 0.1) -> Figure:
    """Test accuracy after reading the first k rows, one line per model.

    ``tables`` maps a model name to :func:`rnn_mnist.analysis.accuracy_by_rows_read`'s table.
    """
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    for name, table in tables.items():
        ax.plot(table.index, table["all digits"], "o-", markersize=3, label=name)
    ax.axhline(chance, color="gray", linestyle=":", label=f"chance ({chance:.0%})")
    ax.set_ylim(0, 1.02)
    ax.set_xticks([1, 4, 8, 12, 16, 20, 24, 28])
    ax.set_xlabel("rows read (time steps)")
    ax.set_ylabel("test accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.set_title("Accuracy after reading only the first k rows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


# -- beyond digits -----------------------------------------------------------------------
def dataset_fingerprints(arrays: MnistArrays) -> pd.DataFrame:
    """Shape, dtype and SHA-256 of each array beside the pinned hash of its dataset."""
    pinned = dataset_info(arrays.dataset).array_sha256
    rows = []
    for name in ARRAY_NAMES:
        array = getattr(arrays, name)
        digest = array_sha256(array)
        rows.append({"array": name, "shape": tuple(array.shape), "dtype": str(array.dtype),
                     "sha256": digest, "matches the pinned hash": digest == pinned[name]})
    return pd.DataFrame(rows).set_index("array")


def class_name_table(class_names: Sequence[str], labels: np.ndarray | None = None) -> pd.DataFrame:
    """Label number, class name and (given ``labels``) how many images carry it."""
    table = pd.DataFrame({"class": list(class_names)}, index=pd.Index(range(len(class_names)), name="label"))
    if labels is not None:
        table["images"] = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    return table


def class_samples(labels: np.ndarray, per_class: int = 8, *, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` random images of each class, shape ``(classes, per_class)``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes = int(labels.max()) + 1
    return np.stack([np.sort(rng.choice(np.flatnonzero(labels == c), per_class, replace=False))
                     for c in range(classes)])


def plot_class_gallery(images: np.ndarray, index_grid: np.ndarray, class_names: Sequence[str]) -> Figure:
    """One row per class, labelled with its name: ``images[index_grid[c]]`` along row ``c``."""
    nrows, ncols = index_grid.shape
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 + ncols * 0.9, nrows * 0.9), squeeze=False)
    for c in range(nrows):
        for j in range(ncols):
            ax = axes[c, j]
            ax.imshow(images[index_grid[c, j]], cmap="gray_r", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[c, 0].set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{ncols} training images of each class")
    fig.tight_layout()
    return fig


def named_confusions(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                     top: int | None = 10) -> pd.DataFrame:
    """The most frequent mistakes, by class name: true class, predicted class, count and shares.

    :func:`rnn_mnist.analysis.most_confused_pairs` with the label numbers
    replaced by ``class_names``.
    """
    from .analysis import most_confused_pairs

    table = most_confused_pairs(y_true, y_pred, top=top, num_classes=len(class_names))
    names = np.asarray(class_names, dtype=object)
    table["true"] = names[table["true"].to_numpy().astype(int)]
    table["predicted"] = names[table["predicted"].to_numpy().astype(int)]
    return table


def error_share_within(y_true: np.ndarray, y_pred: np.ndarray, group: Sequence[int]) -> float:
    """The share of all mistakes in which both the true and the predicted class lie in ``group``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = y_true != y_pred
    if not wrong.any():
        return 0.0
    inside = np.isin(y_true, group) & np.isin(y_pred, group)
    return float((wrong & inside).sum() / wrong.sum())


def per_class_accuracy_named(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> pd.Series:
    """Accuracy (recall) on each class, indexed by class name."""
    from .analysis import per_class_accuracy

    accuracy = per_class_accuracy(y_true, y_pred, num_classes=len(class_names))
    return pd.Series(accuracy.to_numpy(), index=pd.Index(list(class_names), name="class"), name="accuracy")


def plot_per_class_accuracy_side_by_side(panels: Mapping[str, pd.Series]) -> Figure:
    """Horizontal bars of per-class accuracy, one panel per run, each with its class names.

    ``panels`` maps a title (e.g. ``"MNIST"``) to :func:`per_class_accuracy_named`'s series.
    All panels share the x axis so their bars compare directly.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), sharex=True, squeeze=False)
    low = min(float(np.nanmin(s.to_numpy())) for s in panels.values())
    for ax, (title, accuracy) in zip(axes.flat, panels.items()):
        values = accuracy.to_numpy()
        ax.barh([str(n) for n in accuracy.index], values, color="tab:blue")
        worst = int(np.nanargmin(values))
        ax.barh([str(accuracy.index[worst])], [values[worst]], color="tab:red")
        ax.set_xlim(max(0.0, low - 0.05), 1.0)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.set_xlabel("accuracy on images of this class")
        ax.set_title(f"{title}: accuracy per class (worst in red)")
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def class_means(x: np.ndarray, y: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """The mean image (pixels 0..1) of each class in ``classes``, shape ``(len(classes), 28, 28)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.max() > 1.0:
        x = x / 255.0
    return np.stack([x[np.asarray(y) == c].mean(axis=0) for c in classes])


def row_difference(x: np.ndarray, y: np.ndarray, a: int, b: int) -> np.ndarray:
    """How different the mean images of classes ``a`` and ``b`` are in each row (mean |difference|, 0..1).

    A reader that goes row by row can only tell the two apart in rows where
    this is large.
    """
    means = class_means(x, y, (a, b))
    return np.abs(means[0] - means[1]).mean(axis=1)


def plot_class_means(x: np.ndarray, y: np.ndarray, class_names: Sequence[str], classes: Sequence[int],
                     pair: tuple[int, int]) -> Figure:
    """The mean image of each class in ``classes``, then where the two classes of ``pair`` differ.

    Last two panels: the absolute difference of the pair's mean images, and
    that difference averaged over each row (what a row-by-row reader can use).
    """
    means = class_means(x, y, classes)
    a, b = pair
    pair_means = class_means(x, y, (a, b))
    difference = np.abs(pair_means[0] - pair_means[1])
    columns = len(classes) + 2
    fig, axes = plt.subplots(1, columns, figsize=(2.1 * columns, 2.9),
                             gridspec_kw={"width_ratios": [1] * (columns - 1) + [1.2]})
    for ax, mean, c in zip(axes, means, classes):
        ax.imshow(mean, cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"mean {class_names[c]}", fontsize=9)
    ax = axes[-2]
    ax.imshow(difference, cmap="magma", vmin=0)
    ax.set_xticks([])
    ax.set_yticks([0, 7, 14, 21, 27], ["1", "8", "15", "22", "28"], fontsize=7)
    ax.set_ylabel("row")
    ax.set_title(f"|{class_names[a]} − {class_names[b]}|", fontsize=9)
    ax = axes[-1]
    ax.plot(difference.mean(axis=1), np.arange(1, difference.shape[0] + 1), color="tab:red")
    ax.set_ylim(difference.shape[0] + 0.5, 0.5)
    ax.set_xlim(left=0)
    ax.set_yticks([1, 8, 15, 22, 28])
    ax.set_xlabel("mean |difference|", fontsize=8)
    ax.set_title("per row", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_class_accuracy_by_rows(table: pd.DataFrame, class_names: Sequence[str]) -> Figure:
    """Heat map: accuracy on each class (rows, by name) after reading the first k rows (columns).

    ``table`` is :func:`rnn_mnist.analysis.accuracy_by_rows_read`'s table (columns 0..9).
    """
    values = table[list(range(len(class_names)))].to_numpy().T
    fig, ax = plt.subplots(figsize=(10, 4.2))
    image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                      extent=(table.index[0] - 0.5, table.index[-1] + 0.5, len(class_names) - 0.5, -0.5))
    ax.set_yticks(range(len(class_names)), list(class_names))
    ax.set_xticks([1, 4, 8, 12, 16, 20, 24, 28])
    ax.set_xlabel("rows read (time steps)")
    ax.set_ylabel("true class")
    ax.set_title("Accuracy per class after reading the first k rows")
    fig.colorbar(image, ax=ax, label="accuracy", format=PercentFormatter(xmax=1, decimals=0))
    fig.tight_layout()
    return fig


def rows_to_reach_per_class(table: pd.DataFrame, class_names: Sequence[str], fraction: float = 0.9) -> pd.Series:
    """Per class, the fewest rows after which accuracy is at least ``fraction`` of its final accuracy.

    Indexed by class name; a class whose accuracy is 0 after all rows gets NaN.
    """
    result = {}
    for c, name in enumerate(class_names):
        curve = table[c].to_numpy()
        final = curve[-1]
        if not final > 0:
            result[name] = np.nan
            continue
        above = np.flatnonzero(curve >= fraction * final)
        result[name] = int(table.index[above[0]])
    return pd.Series(result, name=f"rows to {fraction:.0%} of final accuracy")


def mistake_titles(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> tuple[list, list]:
    """Label numbers turned into class names, for :func:`rnn_mnist.plots.plot_mistakes`."""
    return [class_names[int(t)] for t in y_true], [class_names[int(p)] for p in y_pred]


def plot_named_mistakes(images: np.ndarray, true_names: Sequence[str], predicted_names: Sequence[str],
                        confidence: Sequence[float], *, ncols: int = 4, suptitle: str | None = None) -> Figure:
    """A grid of misread images titled with class names: "Shirt → T-shirt/top" and the probability given.

    Like :func:`rnn_mnist.plots.plot_mistakes`, with room for names longer than a digit.
    """
    count = len(images)
    nrows = max(1, -(-count // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 2.3, nrows * 2.85), squeeze=False)
    for position, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if position >= count:
            ax.set_axis_off()
            continue
        image = np.asarray(images[position], dtype=float)
        ax.imshow(image / 255.0 if image.max() > 1 else image, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true: {true_names[position]}\nread: {predicted_names[position]}\np = {confidence[position]:.3f}",
                     fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_named_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], **options) -> Figure:
    """:func:`rnn_mnist.plots.plot_confusion_matrix` with long class names slanted so they stay readable."""
    from .plots import plot_confusion_matrix

    fig = plot_confusion_matrix(y_true, y_pred, class_names=class_names, **options)
    ax = fig.axes[0]
    if max(len(name) for name in class_names) > 3:
        ax.set_xticks(range(len(class_names)), list(class_names), rotation=40, ha="right")
        fig.tight_layout()
    return fig
