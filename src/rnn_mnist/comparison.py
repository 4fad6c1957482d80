"""What chapter 7, *Which recurrent cell?*, needs beyond the book's generic analysis.

SimpleRNN, GRU, LSTM, a bidirectional LSTM and a non-recurrent baseline learn
the same task, each sized to the same parameter budget
(:func:`units_for_budget`, counting with
:func:`rnn_mnist.analysis.parameter_count`), trained with one shared recipe
(:func:`comparison_base`, :func:`comparison_configs`), compared by
:func:`comparison_table`, :func:`describe_comparison` and
:func:`plot_accuracy_against_time`; and how much of the learning signal
reaches the state after each row (:func:`gradient_by_row`,
:func:`gradient_table`, :func:`describe_gradients`).

Everything per class (names, confusions, accuracy after *k* rows) is in
:mod:`rnn_mnist.analysis` and :mod:`rnn_mnist.plots`, for any dataset. Like
them, every function here takes plain data and returns a number, a table or
a figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .analysis import parameter_count
from .config import TrainingConfig, config_from_parameters
from .plots import PercentTicks, row_ticks

#: Parameters of the seed's model, LSTM(128) + Dense(10): every contender's budget.
DEFAULT_BUDGET = parameter_count("lstm", 128)

#: What the comparison chapters train when a parameter is left at ``None``.
#: Five models (chapter 7) and one more (chapter 8) are trained, so they get
#: fewer epochs and images than the book's main run; chapter 8's MNIST
#: counterpart is chapter 7's LSTM, reused from the store.
COMPARISON_EPOCHS = 5
COMPARISON_TRAIN_SIZE = 20_000

#: The accuracy the comparison figure marks, and the thresholds of the table's "epochs to" columns.
DEFAULT_THRESHOLD = 0.98
DEFAULT_THRESHOLDS = (0.95, 0.98)

#: Validation accuracies closer than this to the best are not ranked: one seed cannot order them.
#: Measured (benchmarks/seed_spread.py, 2026-12-01): chapter 7's LSTM from seeds 0, 1 and 2 ended
#: 0.32 points apart in validation accuracy; the margin is set above that.
NOISE_MARGIN = 0.005

#: Times closer than this factor are not ranked: the book build trains two runs at a time, and a
#: run beside another took 1.0 to 1.6 times as long as alone (docs/performance.md, "Book build
#: step times"), so a gap smaller than this can be the neighbour, not the model.
TIME_NOISE_FACTOR = 1.5


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


def _as_list(thresholds: float | Sequence[float] | None) -> list[float]:
    if thresholds is None:
        return []
    return [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)


# -- parameter budgets ------------------------------------------------------------
def units_for_budget(cell: str, budget: int = DEFAULT_BUDGET, *, bidirectional: bool = False) -> int:
    """The number of units whose model comes closest to ``budget`` parameters (ties: fewer units)."""
    if budget < parameter_count(cell, 1, bidirectional=bidirectional):
        raise ValueError(f"a budget of {budget} parameters is below the smallest {cell} model")
    best_units, best_gap = 1, math.inf
    for units in range(1, 4097):
        count = parameter_count(cell, units, bidirectional=bidirectional)
        gap = abs(count - budget)
        if gap < best_gap:
            best_units, best_gap = units, gap
        elif count > budget:
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
    (median), ``training seconds``, ``validation accuracy`` and ``test
    accuracy`` (both of the final model: the comparison is read on the
    first, the second is reported once), then for each threshold ``epochs to NN%`` (an integer) and
    ``seconds to NN%`` (validation accuracy; missing, ``<NA>``, when the run
    never got there). :func:`format_comparison_table` shows it for reading.
    """
    thresholds = _as_list(thresholds)
    rows = {}
    for name, run in runs.items():
        history, metrics = run.history, run.metrics
        row = {
            "units": int(run.config.units),
            "parameters": int(metrics["parameters"]),
            "seconds per epoch": float(metrics["seconds_per_epoch"]),
            "training seconds": float(metrics["train_seconds"]),
            "validation accuracy": float(history["val_accuracy"][-1]),
            "test accuracy": float(metrics["test_accuracy"]),
        }
        for threshold in thresholds:
            epochs = epochs_to_reach(history, threshold)
            seconds = seconds_to_reach(history, threshold)
            row[f"epochs to {threshold:.0%}"] = pd.NA if epochs is None else epochs
            row[f"seconds to {threshold:.0%}"] = pd.NA if seconds is None else seconds
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    for threshold in thresholds:
        table[f"epochs to {threshold:.0%}"] = table[f"epochs to {threshold:.0%}"].astype("Int64")
        table[f"seconds to {threshold:.0%}"] = table[f"seconds to {threshold:.0%}"].astype("Float64")
    return table


def format_comparison_table(table: pd.DataFrame):
    """:func:`comparison_table` for reading: counts as integers, times to a tenth of a second,
    accuracies as percentages, and "not reached" where a threshold never was."""
    formats = {"parameters": "{:,}", "seconds per epoch": "{:.1f}", "training seconds": "{:.0f}",
               "validation accuracy": "{:.2%}", "test accuracy": "{:.2%}"}
    formats.update({column: "{:.1f}" for column in table.columns if column.startswith("seconds to ")})
    formats.update({column: "{:d}" for column in table.columns if column.startswith("epochs to ")})
    return table.style.format(formats, na_rep="not reached")


def noise_margin(accuracy: float, images: int | None, floor: float = NOISE_MARGIN) -> float:
    """How far apart two accuracies near ``accuracy`` must be before one run of each can order them.

    The larger of ``floor`` (what changing only the seed moves a model by:
    see :data:`NOISE_MARGIN`) and twice the standard error of the difference
    of two accuracies measured on ``images`` images each.
    """
    if not images:
        return floor
    standard_error = math.sqrt(2 * accuracy * (1 - accuracy) / images)
    return max(floor, 2 * standard_error)


def _names(names: Sequence[str]) -> str:
    names = [f"the {name}" for name in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe_comparison(
    table: pd.DataFrame,
    thresholds: float | Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    validation_images: int | None = None,
    floor: float = NOISE_MARGIN,
) -> str:
    """Plain-English reading of :func:`comparison_table`, decided by its numbers.

    The models are compared on their **validation** accuracy: accuracies
    within :func:`noise_margin` of the best are reported as a group, not as a
    ranking, since one seed and ``validation_images`` images cannot order
    them. The test accuracies are then stated once, as the final report of
    each model, and rank nothing.
    """
    thresholds = _as_list(thresholds)
    accuracy = table["validation accuracy"].sort_values(ascending=False)
    best = float(accuracy.iloc[0])
    margin = noise_margin(best, validation_images, floor)
    close = [name for name, value in accuracy.items() if best - value <= margin]
    behind = [name for name in accuracy.index if name not in close]
    points = f"{margin * 100:.1f} percentage points"
    if len(close) == 1 and behind:
        rest = ", ".join(f"the {name} ({accuracy[name]:.2%})" for name in behind)
        sentences = [f"On the validation images the {close[0]} is best ({best:.2%}), more than {points} ahead "
                     f"of the others: {rest}."]
    elif len(close) == 1:
        sentences = [f"The {close[0]} scores {best:.2%} on the validation images."]
    else:
        listed = ", ".join(f"{value:.2%}" for value in accuracy[close])
        group = _names(close)
        sentences = [f"{group[0].upper()}{group[1:]} are within {points} of the best validation accuracy "
                     f"({listed}). With one seed and this many validation images a gap that small is noise: "
                     "it does not rank them."]
        if behind:
            sentences.append(f"More than {points} below the best: {_names(behind)} "
                             f"({', '.join(f'{accuracy[name]:.2%}' for name in behind)}).")
    if "test accuracy" in table:
        tested = ", ".join(f"the {name} {float(table.loc[name, 'test accuracy']):.2%}" for name in accuracy.index)
        sentences.append(f"Each final model was evaluated once on the test images: {tested}.")
    per_epoch = table["seconds per epoch"].astype(float)
    fastest, slowest = per_epoch.idxmin(), per_epoch.idxmax()
    if per_epoch[slowest] < TIME_NOISE_FACTOR * per_epoch[fastest]:
        sentences.append(
            f"An epoch took {per_epoch[fastest]:.1f} to {per_epoch[slowest]:.1f} s for every model, less than a "
            f"factor {TIME_NOISE_FACTOR:g} apart: too close to rank on a machine that trained two runs at a time."
        )
    else:
        sentences.append(
            f"An epoch took least time for the {fastest} ({per_epoch[fastest]:.1f} s) and most "
            f"for the {slowest} ({per_epoch[slowest]:.1f} s) on the machine that trained them."
        )
    unreached = []
    for threshold in thresholds:
        percent = f"{threshold:.0%}"
        seconds = table[f"seconds to {percent}"].dropna().astype(float).sort_values()
        if len(seconds) == 0:
            unreached.append(percent)
            continue
        first = seconds.index[0]
        reached = f"{len(seconds)} of {len(table)} models reached {percent} validation accuracy; "
        close = [name for name in seconds.index[1:] if seconds[name] < TIME_NOISE_FACTOR * seconds[first]]
        if close:
            group = _names([first, *close])
            sentences.append(
                reached + f"{group} got there within a factor {TIME_NOISE_FACTOR:g} of each other in wall-clock "
                f"time ({', '.join(f'{seconds[name]:.1f} s' for name in [first, *close])}), too close to rank."
            )
        else:
            sentences.append(reached + f"the {first} got there first in wall-clock time ({seconds[first]:.1f} s).")
    if unreached:
        sentences.append(
            f"No model reached {' or '.join(unreached)} validation accuracy within this run's epochs and images."
        )
    return " ".join(sentences)


def describe_dense_gap(table: pd.DataFrame, dense: str = "dense (no recurrence)") -> str:
    """Where the dense baseline's validation accuracy falls among the recurrent models', in one sentence.

    States the numbers only; it ranks no recurrent model against another.
    """
    recurrent = table["validation accuracy"].drop(dense)
    score = float(table.loc[dense, "validation accuracy"])
    low, high = recurrent.idxmin(), recurrent.idxmax()
    if score > recurrent[high]:
        where = f"{(score - recurrent[high]) * 100:.1f} percentage points above all of them"
    elif score < recurrent[low]:
        where = f"{(recurrent[low] - score) * 100:.1f} percentage points below all of them"
    else:
        where = "within their range"
    return (f"The dense network scores {score:.2%} on the validation images, {where}; the recurrent models score "
            f"from {recurrent[low]:.2%} (the {low}) to {recurrent[high]:.2%} (the {high}).")


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
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for name, history in histories.items():
        seconds = np.cumsum(history["epoch_seconds"])
        ax.plot(seconds, history[metric], "o-", label=name)
    for threshold in _as_list(thresholds):
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1)
        ax.annotate(f"{threshold:.0%}", (1.0, threshold), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=8, color="gray")
    ax.set_xlim(left=0)
    ax.set_xlabel("wall-clock seconds of training (end of each epoch)")
    ax.set_ylabel(metric.replace("val_", "validation "))
    ax.yaxis.set_major_formatter(PercentTicks())
    ax.set_title("Accuracy against training time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# -- gradients, row by row ---------------------------------------------------------------
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
    """‖∂ loss / ∂ state after step t‖ for every image and step, shape ``(len(x), rows)``.

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
    """Mean over the images of ‖∂ loss / ∂ state after reading row t‖, for t = 1 .. the last row.

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
    """:func:`gradient_by_row` for each model, relative to its own last row (= 1).

    Indexed by ``row`` (1 .. the number of rows), one column per model.
    """
    columns = {}
    for name, model in models.items():
        by_row = gradient_by_row(model, x, y)
        columns[name] = by_row / by_row[-1]
    return pd.DataFrame(columns, index=pd.Index(range(1, x.shape[1] + 1), name="row"))


def gradient_reach(table: pd.DataFrame, fraction: float = 0.01) -> pd.Series:
    """How many rows back from the last one each model's gradient stays above ``fraction`` of the last row's.

    All the rows means every row still gets at least that share; a small
    number means the gradient has shrunk below it a few steps back.
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
    """Each model's gradient curve in three numbers (``T`` is the last row, 28 for these images).

    ``row 1 / row T``: the gradient reaching the state after row 1, relative
    to row T's; ``change per step``: the geometric mean factor by which it
    changes per step back (below 1: shrinking, above 1: growing);
    ``rows ≥ 1% of row T``: :func:`gradient_reach` with ``fraction``.
    """
    last = int(table.index[-1])
    steps = len(table) - 1
    first = table.iloc[0]
    return pd.DataFrame({
        f"row 1 / row {last}": first,
        "change per step": first ** (1 / steps),
        f"rows ≥ {fraction:.0%} of row {last}": gradient_reach(table, fraction),
    })


def _gradient_verdict(factor: float, steady: float) -> str:
    if factor < 1 - steady:
        return "shrinking on the way back"
    if factor > 1 + steady:
        return "growing on the way back"
    return "roughly steady"


def describe_gradients(
    after: pd.DataFrame,
    before: pd.DataFrame | None = None,
    *,
    accuracy: Mapping[str, float] | None = None,
    steady: float = 0.05,
) -> str:
    """One line per model: how its gradient changes per step back, after training (and before, if given).

    A gradient that changes by more than ``steady`` (relative) per step back,
    on geometric average, is called shrinking or growing; otherwise roughly
    steady. Given ``before`` and each model's validation ``accuracy``, a last
    paragraph sets the model whose gradient reached row 1 best at its initial
    weights beside the accuracies, and says what that does and does not show.
    Decided by the numbers alone.
    """
    last = int(after.index[-1])
    ratio_column = f"row 1 / row {last}"
    summaries = {"after training": gradient_summary(after)}
    if before is not None:
        summaries = {"at its initial weights": gradient_summary(before), **summaries}
    lines = []
    for name in after.columns:
        parts = []
        for when, summary in summaries.items():
            factor, ratio = summary.loc[name, "change per step"], summary.loc[name, ratio_column]
            parts.append(f"{when} the gradient reaching row 1 is {ratio:.2g} × row {last}'s, "
                         f"{factor:.3f} per step back: {_gradient_verdict(factor, steady)}")
        lines.append(f"* **{name}**: " + "; ".join(parts) + ".")
    if before is not None and accuracy is not None:
        names = list(after.columns)
        start = summaries["at its initial weights"][ratio_column]
        scores = pd.Series({name: float(accuracy[name]) for name in names})
        reaches, best, worst = start[names].idxmax(), scores.idxmax(), scores.idxmin()
        opening = (f"At the initial weights the gradient reaching row 1 is largest for the {reaches} "
                   f"({start[reaches]:.2g} × row {last}'s)")
        if reaches == worst and reaches != best:
            verdict = (f"{opening}, yet the {reaches} has the lowest validation accuracy of these models "
                       f"({scores[reaches]:.2%}; the {best}: {scores[best]:.2%}). A learning signal that "
                       "reaches the early rows is needed to learn from them, not enough to do it well: "
                       "this measurement does not explain the accuracies.")
        elif reaches == best:
            verdict = (f"{opening}, and the {reaches} also has the highest validation accuracy of these models "
                       f"({scores[reaches]:.2%}). One run shows that the two agree here, not that one causes "
                       "the other.")
        else:
            verdict = (f"{opening}; the highest validation accuracy of these models is the {best}'s "
                       f"({scores[best]:.2%}, against {scores[reaches]:.2%}). How far the gradient reaches "
                       "at the start does not, by itself, order the models.")
        lines.append("")
        lines.append(verdict)
    return "\n".join(lines)


def untrained_model(config: TrainingConfig):
    """The model of ``config`` with the initial weights its run started from (same seed, same builder)."""
    from .device import make_deterministic
    from .model import build_model_for

    make_deterministic(config.seed)
    return build_model_for(config)


def plot_gradient_by_row(after: pd.DataFrame, before: pd.DataFrame | None = None) -> Figure:
    """Gradient reaching the state after each row, relative to the last row, on a log scale, one line per model.

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
        ax.set_xticks(row_ticks(int(table.index.max())))
        ax.set_xlabel("rows read (time step t)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel(f"‖∂ loss / ∂ state after row t‖\nrelative to row {int(after.index.max())} (log)")
    fig.suptitle("How much of the learning signal reaches the state after each row")
    fig.tight_layout()
    return fig
