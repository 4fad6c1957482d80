"""Numbers the chapters read off the data, a training run and its predictions.

Every function takes plain data (arrays, a run's ``history`` dict, a config,
a trained model) and returns a number, an array or a small pandas table, so a
chapter's code cells stay one or two calls long and the same computation is
never written twice. Figures of these numbers live in :mod:`rnn_mnist.plots`.

Nothing here is specific to MNIST. Functions that report per class take
``class_names`` (default: MNIST's digits, :data:`rnn_mnist.data.CLASS_NAMES`;
Fashion-MNIST's come from :func:`rnn_mnist.data.class_names_for`) and label
their tables with those names; the image size and the class count are
:mod:`rnn_mnist.model`'s ``ROWS``, ``PIXELS_PER_ROW`` and ``NUM_CLASSES``.

Grouped by the chapter that first needs them:

* data: :func:`array_fingerprints`, :func:`class_balance`,
  :func:`sample_indices_per_class`, :func:`split_table`, :func:`class_means`,
  :func:`row_difference`
* model: :func:`weight_table`, :func:`parameter_count`
* training: :func:`history_frame`, :func:`run_summary`, :func:`styled_run_summary`,
  :func:`recipe_differences`, :func:`learning_rate_curve`, :func:`device_note`
* learning curves: :func:`fit_summary`, :func:`describe_fit`
* confusion matrix: :func:`per_class_accuracy`, :func:`classification_table`,
  :func:`most_confused_pairs`, :func:`rank_of_pairs`, :func:`error_share_within`
* error analysis: :func:`confident_mistakes`, :func:`confidence_of`,
  :func:`confidence_summary`, :func:`probabilities_after_rows`,
  :func:`accuracy_after_rows`, :func:`accuracy_by_rows_read`,
  :func:`rows_needed`, :func:`rows_to_reach`, :func:`rows_to_reach_per_class`
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix

from .config import TrainingConfig
from .data import ARRAY_NAMES, CLASS_NAMES, DATASET_INFO, MnistArrays, array_sha256, dataset_info
from .model import NUM_CLASSES, PIXELS_PER_ROW, ROWS, parameter_count  # noqa: F401 (re-exported for the chapters)

#: Every prefix length an image has: read 1 row, 2 rows, ... all of them.
ALL_ROWS = tuple(range(1, ROWS + 1))


# -- class names -----------------------------------------------------------------
def class_noun(class_names: Sequence[str] = CLASS_NAMES) -> str:
    """What one class is called in tables and figures: ``"digit"`` (MNIST), ``"garment"`` (Fashion-MNIST).

    Looked up by the names themselves; names of no known dataset give ``"class"``.
    """
    names = tuple(str(name) for name in class_names)
    for info in DATASET_INFO.values():
        if names == tuple(info.class_names):
            return info.class_noun
    return "class"


def plural(noun: str) -> str:
    """``digit`` -> ``digits``, ``class`` -> ``classes``."""
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def overall_column(class_names: Sequence[str] = CLASS_NAMES) -> str:
    """The name of the all-classes column of :func:`accuracy_after_rows`: ``"all digits"`` for MNIST."""
    return f"all {plural(class_noun(class_names))}"


def _names_of(labels: Sequence[int], class_names: Sequence[str]) -> list[str]:
    return [str(class_names[int(label)]) for label in labels]


# -- chapter 1: the data -------------------------------------------------------
def array_fingerprints(arrays: MnistArrays, *, abbreviate: int | None = None) -> pd.DataFrame:
    """Shape, dtype and SHA-256 of each array, beside the pinned hash of its dataset.

    One row per array (``x_train``, ``y_train``, ``x_test``, ``y_test``);
    ``matches`` is True when the bytes are exactly the pinned ones of
    ``arrays.dataset`` (MNIST unless the arrays say otherwise; all 64 hex
    digits compared). ``abbreviate=n`` shows only the first ``n`` hex digits
    of each hash, to keep the table narrow.
    """
    pinned = dataset_info(getattr(arrays, "dataset", "mnist")).array_sha256

    def shown(digest: str) -> str:
        return digest if abbreviate is None else digest[:abbreviate] + "…"

    rows = []
    for name in ARRAY_NAMES:
        array = getattr(arrays, name)
        digest = array_sha256(array)
        rows.append(
            {
                "array": name,
                "shape": tuple(array.shape),
                "dtype": str(array.dtype),
                "sha256": shown(digest),
                "pinned sha256": shown(pinned[name]),
                "matches": digest == pinned[name],
            }
        )
    return pd.DataFrame(rows).set_index("array")


def class_balance(
    labels_by_split: Mapping[str, np.ndarray],
    *,
    normalize: bool = False,
    class_names: Sequence[str] = CLASS_NAMES,
) -> pd.DataFrame:
    """How many images of each class every split holds.

    Returns a table indexed by class name (the index is named after the kind
    of class: ``digit``, ``garment``) with one column per split; with
    ``normalize=True`` each column is a share that sums to 1. A class missing
    from a split counts 0.
    """
    classes = len(class_names)
    columns = {}
    for name, labels in labels_by_split.items():
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes)[:classes]
        columns[name] = counts / counts.sum() if normalize else counts
    return pd.DataFrame(columns, index=pd.Index(list(class_names), name=class_noun(class_names)))


def sample_indices_per_class(
    labels: np.ndarray, per_class: int = 8, *, seed: int = 0, class_names: Sequence[str] = CLASS_NAMES
) -> np.ndarray:
    """Indices of ``per_class`` random images of each class, shape ``(len(class_names), per_class)``.

    Row ``c`` holds images labelled ``c``, in increasing index order; the draw
    is a pure function of ``labels`` and ``seed``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    grid = np.empty((len(class_names), per_class), dtype=np.int64)
    for label, name in enumerate(class_names):
        candidates = np.flatnonzero(labels == label)
        if len(candidates) < per_class:
            raise ValueError(
                f"only {len(candidates)} images of {class_noun(class_names)} {name!r}, asked for {per_class}"
            )
        grid[label] = np.sort(rng.choice(candidates, size=per_class, replace=False))
    return grid


def class_means(x: np.ndarray, y: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """The mean image (pixels 0..1) of each class label in ``classes``, shape ``(len(classes), rows, width)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.max() > 1.0:
        x = x / 255.0
    return np.stack([x[np.asarray(y) == c].mean(axis=0) for c in classes])


def row_difference(x: np.ndarray, y: np.ndarray, a: int, b: int) -> np.ndarray:
    """How different the mean images of classes ``a`` and ``b`` are in each row (mean |difference|, 0..1).

    One number per row, top row first. A reader that goes row by row sees
    the two classes' average images differ most in the rows where this is large.
    """
    means = class_means(x, y, (a, b))
    return np.abs(means[0] - means[1]).mean(axis=1)


def split_table(splits) -> pd.DataFrame:
    """The three subsets a run uses: size, where they come from and what each is for.

    ``splits`` is a :class:`rnn_mnist.splits.DataSplits` (of MNIST unless its
    ``dataset`` says otherwise). When the validation set *is* the test set
    (the seed notebook's choice) the table says so.
    """
    title = dataset_info(getattr(splits, "dataset", "mnist")).title
    validation_from = (
        f"{title} test set (the same images as the test split)"
        if splits.validation_is_test
        else f"{title} training set (held out, never fitted)"
    )
    rows = [
        ("train", len(splits.y_train), f"{title} training set", "fit the weights, every epoch"),
        ("validation", len(splits.y_val), validation_from, "watch learning, compare settings, every epoch"),
        ("test", len(splits.y_test), f"{title} test set", "measure the final model, once"),
    ]
    return pd.DataFrame(rows, columns=["split", "images", "drawn from", "used to"]).set_index("split")


# -- chapter 2: the model ------------------------------------------------------
def weight_table(model) -> pd.DataFrame:
    """Every weight tensor of a Keras model: layer, weight name, shape and parameter count."""
    rows = []
    for layer in model.layers:
        for weight in layer.weights:
            shape = tuple(int(d) for d in weight.shape)
            rows.append(
                {
                    "layer": layer.name,
                    "weight": weight.name.split("/")[-1],
                    "shape": shape,
                    "parameters": int(np.prod(shape)) if shape else 1,
                }
            )
    return pd.DataFrame(rows, columns=["layer", "weight", "shape", "parameters"])


# -- chapter 3: training ----------------------------------------------------------
#: Column order of a history table: the four curves first, timing last.
HISTORY_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


def history_frame(history: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """A run's per-epoch log as a table indexed by epoch number (from 1).

    Adds ``elapsed_seconds``, the wall time at the end of each epoch, when
    ``epoch_seconds`` was logged. The ``epoch`` column Keras writes (from 0)
    becomes the index. The run store's bookkeeping column ``first_epoch_of_fit``
    (which epochs paid for tracing after a start or a resume) is left out.
    """
    first = [name for name in HISTORY_ORDER if name in history]
    rest = [name for name in history if name not in first and name not in ("epoch", "first_epoch_of_fit")]
    table = pd.DataFrame({name: list(history[name]) for name in first + rest})
    table.index = pd.RangeIndex(1, len(table) + 1, name="epoch")
    if "epoch_seconds" in table:
        table["elapsed_seconds"] = table["epoch_seconds"].cumsum()
    return table


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _shown(value: Any) -> str:
    """A config value as a reader would write it (``0.001``, ``None``, ``True``)."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_summary(runs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per training run: what it trained on, how long it took, how well it did.

    ``runs`` maps a name to a :class:`rnn_mnist.runs.TrainingRun` (anything
    with ``.config`` and ``.metrics`` works).
    """
    rows = {}
    for name, run in runs.items():
        metrics, config = run.metrics, run.config
        sizes = metrics.get("sizes", {})
        rows[name] = {
            "epochs": config.epochs,
            "batch size": config.batch_size,
            "training images": sizes.get("train"),
            "validation": "the test set"
            if metrics.get("validation_is_test")
            else f"{sizes.get('validation', 0):,} held-out images",
            "steps per epoch": math.ceil(config.effective_train_size / config.batch_size),
            "median seconds per epoch": _rounded(metrics.get("seconds_per_epoch"), 1),
            "training seconds": _rounded(metrics.get("train_seconds"), 1),
            "test accuracy": _rounded(metrics.get("test_accuracy"), 4),
            "parameters": metrics.get("parameters"),
            "device": metrics.get("device", {}).get("summary"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


#: How each column of :func:`run_summary` reads: counts with thousands separators, times to a
#: tenth of a second, accuracy as a percentage.
RUN_SUMMARY_FORMATS = {
    "epochs": "{:,}",
    "batch size": "{:,}",
    "training images": "{:,}",
    "steps per epoch": "{:,}",
    "median seconds per epoch": "{:.1f}",
    "training seconds": "{:.1f}",
    "test accuracy": "{:.2%}",
    "parameters": "{:,}",
}

#: What a table shows where a value is missing (instead of "nan" or "None").
MISSING = "—"


def styled_run_summary(table: pd.DataFrame, *, transpose: bool = False):
    """:func:`run_summary`'s table for reading (a pandas ``Styler``).

    Counts read as integers with thousands separators (``81,674``, not
    ``81674.0``), times to a tenth of a second, test accuracy as a percentage,
    a missing value as ``—``. ``transpose=True`` shows one column per run
    (the fields as rows), each row formatted by its field.
    """
    shown = table.T if transpose else table
    styler = shown.style.format(na_rep=MISSING)
    for field, spec in RUN_SUMMARY_FORMATS.items():
        if field not in table.columns:
            continue
        subset = pd.IndexSlice[[field], :] if transpose else pd.IndexSlice[:, [field]]
        styler = styler.format(lambda value, spec=spec: _formatted(value, spec), subset=subset)
    return styler


def _formatted(value: Any, spec: str) -> str:
    """``value`` by ``spec``; a count stored as a float (a column with a gap) as an integer, a gap as ``—``."""
    if value is None or pd.isna(value):
        return MISSING
    if spec == "{:,}" and float(value).is_integer():
        value = int(value)
    return spec.format(value)


#: Why the book's recipe sets each field the way it does (shown only for fields that differ).
RECIPE_REASONS = {
    "epochs": (
        "Passes over the training images; with a cosine schedule this also sets how long the decay lasts."
    ),
    "batch_size": (
        "Fewer, larger steps keep the CPU or GPU busy and cut the per-step overhead of every epoch."
    ),
    "learning_rate": "A larger batch averages away gradient noise, so it can take a larger peak step.",
    "schedule": "Warm up, then follow a cosine down: large steps early, small careful ones at the end.",
    "warmup_epochs": "Ramping the rate up from a small value avoids big early updates from random weights.",
    "min_learning_rate": "The floor the cosine decays to, so the last epochs still move a little.",
    "clipnorm": (
        "Keras's clipnorm rescales each weight tensor's gradient on its own so that its norm is at most "
        "this value (global_clipnorm would cap the norm of all gradients together); recurrent networks "
        "occasionally produce exploding gradients."
    ),
    "input_dtype": (
        "Keras casts the inputs to the layers' float32 either way, so the arithmetic is the same; float64 "
        "arrays only take twice the memory and are converted on every batch."
    ),
    "validation_size": "Images held out of the training set to validate on, so the test set stays unseen.",
    "validate_on_test": "Validating on the test set lets test images steer decisions; the book never does.",
    "dropout": "Randomly silences features during training to fight over-fitting.",
    "jit_compile": "XLA compilation of the training step (None lets Keras decide).",
    "ema_momentum": (
        "Keeps a running average of the weights over about the last 1 / (1 - momentum) steps (at most a "
        "tenth of a short run) and copies it into the model at the end of every epoch "
        "(ema_overwrite_frequency): validation, the stored model and the next epoch all start from the "
        "average, which is smoother than the last step's weights. Measured on validation, it reaches 98.8% "
        "about one epoch sooner; after ten epochs, runs without it end about a tenth of a point higher."
    ),
    "shift_pixels": (
        "Moves each training image by a random offset of up to this many pixels every time it is seen, so "
        "the LSTM cannot rely on where a digit's rows start. Measured on validation, it adds about a tenth "
        "of a point of accuracy, at the edge of the seed-to-seed noise, and costs nothing measurable per step."
    ),
    "mixed_precision": "float16 arithmetic on a GPU (ignored on a CPU): faster, with float32 weights kept.",
}


def recipe_differences(
    first: TrainingConfig,
    second: TrainingConfig,
    *,
    reasons: Mapping[str, str] = RECIPE_REASONS,
) -> pd.DataFrame:
    """The fields where two configs differ, with each one's value and why it matters.

    Values are shown as text (``0.001``, ``None``) for reading. Columns are
    named after the configs' labels (``first`` and ``second`` when a label is
    empty or both are the same). Fields that do not change the run (the label)
    and fields that are equal are left out.
    """
    first_name = first.label or "first"
    second_name = second.label or "second"
    if first_name == second_name:
        first_name, second_name = "first", "second"
    a, b = first.to_dict(), second.to_dict()
    rows = [
        {
            "setting": name,
            first_name: _shown(a[name]),
            second_name: _shown(b[name]),
            "why it matters": reasons.get(name, ""),
        }
        for name in a
        if name != "label" and a[name] != b[name]
    ]
    return pd.DataFrame(rows, columns=["setting", first_name, second_name, "why it matters"]).set_index(
        "setting"
    )


def learning_rate_curve(config: TrainingConfig, points_per_epoch: int = 20) -> pd.DataFrame:
    """The learning rate the optimizer uses over training, sampled along the epochs.

    Evaluates the schedule of the optimizer :func:`rnn_mnist.recipe.make_optimizer`
    builds for ``config`` (a constant, or warm-up + cosine decay). Columns:
    ``epoch`` (fractional, 0 = start of training) and ``learning_rate``.
    """
    import keras

    from .recipe import make_optimizer
    from .training import steps_per_epoch

    steps = steps_per_epoch(config)
    total = config.epochs * steps
    step_grid = np.unique(
        np.linspace(0, total, config.epochs * points_per_epoch + 1).round().astype(np.int64)
    )
    learning_rate = make_optimizer(config, steps).get_config()["learning_rate"]
    schedule = keras.optimizers.schedules.deserialize(learning_rate) if isinstance(learning_rate, dict) else learning_rate
    if callable(schedule):
        rates = [float(np.asarray(schedule(int(step)))) for step in step_grid]
    else:
        rates = [float(schedule)] * len(step_grid)
    return pd.DataFrame({"epoch": step_grid / steps, "learning_rate": rates})


def device_note(device: Mapping[str, Any]) -> str:
    """A short Markdown note on the hardware this notebook is running on, and what it means.

    ``device`` is :func:`rnn_mnist.device.describe_device`'s dict. The note is
    about the machine running the chapter now; the device each stored run was
    trained on is in its ``metrics["device"]``.
    """
    summary = device.get("summary", "")
    if device.get("kind") == "cpu":
        return (
            "**Running on a CPU.** No GPU is visible, so the LSTM runs as a plain loop over its "
            "28 time steps and cuDNN plays no part. Everything in this book works on a CPU, only "
            "more slowly: a run trained here reports CPU times."
        )
    if device.get("cudnn"):
        return (
            f"**Running on a GPU** ({summary}). The LSTM layer is eligible for cuDNN's fused "
            "kernel, which runs all 28 time steps for the whole batch as one optimised call "
            "instead of a loop of small operations per step."
        )
    return (
        f"**Running on an accelerator** ({summary}), but without the fused cuDNN kernel, so "
        "the LSTM runs as a generic loop of operations."
    )


# -- chapter 4: learning curves ------------------------------------------------------
def fit_summary(history: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """The facts about a run's curves that the over/under-fitting discussion needs.

    Epochs are numbered from 1. ``accuracy_gap`` is training minus validation
    accuracy at the last epoch (positive: better on the training images);
    ``val_loss_rise`` is how far the last validation loss sits above its
    minimum; ``last_val_loss_change`` is the relative change of validation
    loss over the last epoch (negative: still falling).
    """
    val_loss = np.asarray(history["val_loss"], dtype=float)
    best = int(np.argmin(val_loss))
    last_change = (val_loss[-1] - val_loss[-2]) / val_loss[-2] if len(val_loss) > 1 else float("nan")
    return {
        "epochs": len(val_loss),
        "best_epoch": best + 1,
        "best_val_loss": float(val_loss[best]),
        "final_val_loss": float(val_loss[-1]),
        "final_train_loss": float(history["loss"][-1]),
        "final_train_accuracy": float(history["accuracy"][-1]),
        "final_val_accuracy": float(history["val_accuracy"][-1]),
        "accuracy_gap": float(history["accuracy"][-1] - history["val_accuracy"][-1]),
        "val_loss_rise": float(val_loss[-1] - val_loss[best]),
        "last_val_loss_change": float(last_change),
    }


def describe_fit(
    history: Mapping[str, Sequence[float]],
    *,
    rise_tolerance: float = 0.05,
    still_falling: float = 0.01,
    gap_tolerance: float = 0.01,
) -> str:
    """Plain-English reading of a run's curves, decided by the numbers.

    * validation loss ended more than ``rise_tolerance`` (relative) above its
      minimum: it turned up, the signature of over-fitting;
    * it fell by more than ``still_falling`` (relative) over the last epoch:
      still learning when training stopped (under-fitting, if anything);
    * otherwise: it has levelled off.

    The accuracy gap is called out when it exceeds ``gap_tolerance``.
    """
    facts = fit_summary(history)
    sentences = []
    if facts["epochs"] < 2:
        sentences.append("With a single epoch there is no curve to read yet.")
    elif facts["val_loss_rise"] > rise_tolerance * facts["best_val_loss"]:
        sentences.append(
            f"Validation loss was lowest at epoch {facts['best_epoch']} ({facts['best_val_loss']:.4f}) "
            f"and ended higher ({facts['final_val_loss']:.4f}): it has turned up, the signature of "
            "over-fitting: the model keeps getting better on its training images and worse on new ones."
        )
    elif facts["last_val_loss_change"] < -still_falling:
        sentences.append(
            f"Validation loss was still falling in the last epoch ({facts['last_val_loss_change']:+.1%}): "
            "training stopped before the model stopped improving, so if anything this run under-fits."
        )
    else:
        sentences.append(
            f"Validation loss has levelled off (lowest {facts['best_val_loss']:.4f} at epoch "
            f"{facts['best_epoch']}, last {facts['final_val_loss']:.4f}): no sign of over-fitting yet, "
            "and little left to gain from more epochs of the same schedule."
        )
    gap = facts["accuracy_gap"]
    if gap > gap_tolerance:
        sentences.append(
            f"Training accuracy ends {gap * 100:.1f} percentage points above validation accuracy: "
            "the model does better on images it has fitted than on images it has not."
        )
    elif gap < -gap_tolerance:
        sentences.append(
            f"Validation accuracy ends {-gap * 100:.1f} percentage points above training accuracy. "
            "That is not magic, and the log alone cannot say which of three causes made it: Keras "
            "averages training accuracy over the whole epoch while the weights were still improving, "
            "but measures validation accuracy with the end-of-epoch weights; a recipe may change the "
            "training images only (random shifts), making them harder than the validation images; and "
            "an optimizer that keeps a weight average (EMA) may validate the averaged weights, which "
            "can score better than the weights that produced the training numbers."
        )
    else:
        sentences.append(
            f"Training and validation accuracy end within {gap_tolerance:.0%} of each other "
            f"({facts['final_train_accuracy']:.2%} and {facts['final_val_accuracy']:.2%}): "
            "the model does about as well on new images as on the ones it trained on."
        )
    return " ".join(sentences)


# -- chapter 5: the confusion matrix --------------------------------------------
def per_class_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> pd.Series:
    """For each class, the share of its images the model labelled correctly (its recall).

    Indexed by class name (index named ``digit``, ``garment`` ...). A class
    with no images in ``y_true`` gets NaN.
    """
    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(len(class_names)))
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)
    return pd.Series(accuracy, index=pd.Index(list(class_names), name=class_noun(class_names)), name="accuracy")


def classification_table(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> pd.DataFrame:
    """scikit-learn's ``classification_report`` as a table: precision, recall, F1, support.

    One row per class, then ``accuracy``, ``macro avg`` and ``weighted avg``.
    Support is an integer count of true images. The ``accuracy`` row has no
    precision or recall (NaN: show it with ``na_rep=""``).
    """
    report = classification_report(
        y_true,
        y_pred,
        labels=np.arange(len(class_names)),
        target_names=list(class_names),
        output_dict=True,
        zero_division=0,
    )
    accuracy = report.pop("accuracy")
    table = pd.DataFrame(report).T
    table.loc["accuracy"] = pd.Series(
        {
            "precision": np.nan,
            "recall": np.nan,
            "f1-score": accuracy,
            "support": table.loc["macro avg", "support"],
        }
    )
    table = table.loc[[*class_names, "accuracy", "macro avg", "weighted avg"]]
    table["support"] = table["support"].astype(int)
    return table


def most_confused_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, top: int | None = 10, class_names: Sequence[str] = CLASS_NAMES
) -> pd.DataFrame:
    """Off-diagonal cells of the confusion matrix, largest first, by class name.

    Columns: ``true``, ``predicted`` (class names), ``count``, ``share of
    errors`` (of all mistakes) and ``share of class`` (of the true class's
    images). Ties are broken by the true then the predicted label number;
    pairs that never happen are left out. Indexed by ``rank`` from 1.
    """
    classes = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(classes))
    support = matrix.sum(axis=1)
    errors = matrix.sum() - np.trace(matrix)
    pairs = [(t, p) for t in range(classes) for p in range(classes) if t != p and matrix[t, p] > 0]
    pairs.sort(key=lambda pair: (-matrix[pair], pair))
    if top is not None:
        pairs = pairs[:top]
    counts = np.array([matrix[pair] for pair in pairs], dtype=np.int64)
    return pd.DataFrame(
        {
            "true": _names_of([t for t, _ in pairs], class_names),
            "predicted": _names_of([p for _, p in pairs], class_names),
            "count": counts,
            "share of errors": counts / max(errors, 1),
            "share of class": counts / np.array([support[t] for t, _ in pairs], dtype=float).reshape(-1),
        },
        index=pd.RangeIndex(1, len(pairs) + 1, name="rank"),
    )


def rank_of_pairs(
    pairs: pd.DataFrame, candidates: Sequence[tuple[int | str, int | str]], class_names: Sequence[str] = CLASS_NAMES
) -> pd.Series:
    """Where each ``(true, predicted)`` candidate sits in a :func:`most_confused_pairs` table.

    A candidate names its classes by label number or by name. Indexed
    ``"true→predicted"`` (names); the value is the rank, or ``None`` when the
    pair is not in the table (it is rarer than the table's last row, or never
    happens).
    """

    def name(value: int | str) -> str:
        return str(value) if isinstance(value, str) else str(class_names[int(value)])

    ranks = {(str(t), str(p)): int(rank) for rank, t, p in zip(pairs.index, pairs["true"], pairs["predicted"])}
    keys = [(name(t), name(p)) for t, p in candidates]
    return pd.Series(
        [ranks.get(key) for key in keys], index=[f"{t}→{p}" for t, p in keys], name="rank", dtype=object
    )


def error_share_within(y_true: np.ndarray, y_pred: np.ndarray, group: Sequence[int]) -> float:
    """The share of all mistakes in which both the true and the predicted label lie in ``group``.

    0 when there are no mistakes.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = y_true != y_pred
    if not wrong.any():
        return 0.0
    inside = np.isin(y_true, group) & np.isin(y_pred, group)
    return float((wrong & inside).sum() / wrong.sum())


# -- chapter 6: error analysis ------------------------------------------------------
def confident_mistakes(y_true: np.ndarray, probabilities: np.ndarray, top: int | None = 16) -> pd.DataFrame:
    """The wrong answers the model was surest of, surest first.

    Indexed by ``position`` (row in ``probabilities``); columns ``true``,
    ``predicted`` (label numbers), ``confidence`` (probability of the
    predicted class) and ``p(true)`` (probability it gave the right class).
    """
    y_true = np.asarray(y_true)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")]
    if top is not None:
        order = order[:top]
    return pd.DataFrame(
        {
            "true": y_true[order],
            "predicted": predicted[order],
            "confidence": confidence[order],
            "p(true)": probabilities[order, y_true[order]],
        },
        index=pd.Index(order, name="position"),
    )


def confidence_of(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """The probability of the predicted class, split into right and wrong answers.

    Returns ``{"right": array, "wrong": array}``.
    """
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == np.asarray(y_true)
    return {"right": confidence[correct], "wrong": confidence[~correct]}


def confidence_summary(
    y_true: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float] = (0.9, 0.99)
) -> pd.DataFrame:
    """How sure the model was when right and when wrong.

    Rows ``right`` and ``wrong``; columns ``answers``, ``median confidence``
    and, for each threshold, the share of answers at least that confident.
    """
    rows = {}
    for name, values in confidence_of(y_true, probabilities).items():
        row = {
            "answers": len(values),
            "median confidence": float(np.median(values)) if len(values) else np.nan,
        }
        for threshold in thresholds:
            row[f"share ≥ {threshold:g}"] = float(np.mean(values >= threshold)) if len(values) else np.nan
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


@contextlib.contextmanager
def _tensorflow_warnings_silenced() -> Iterator[None]:
    """TensorFlow's Python logger at ERROR for the duration (nothing to do on other backends).

    Feeding prefixes of every length makes TensorFlow trace the predict step
    once per length, and it warns about retracing; here that is expected.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def probabilities_after_rows(
    model, x: np.ndarray, rows: Sequence[int] = ALL_ROWS, *, batch_size: int = 1000
) -> np.ndarray:
    """What a trained model answers having read only the first ``k`` rows, for each ``k``.

    Feeds ``x[:, :k]`` through :func:`rnn_mnist.model.prefix_reader`, the same
    trained layers accepting any number of rows. Returns an array of shape
    ``(len(rows), len(x), classes)``; for all the rows it equals the model's
    ordinary prediction. The classifier was trained only on the state after
    the last row, so for a shorter prefix this is what that classifier makes
    of a state it never saw in training.
    """
    from .model import prefix_reader

    reader = prefix_reader(model)
    with _tensorflow_warnings_silenced():
        return np.stack([np.asarray(reader.predict(x[:, :k], batch_size=batch_size, verbose=0)) for k in rows])


def accuracy_after_rows(
    row_probabilities: np.ndarray,
    y_true: np.ndarray,
    rows: Sequence[int] = ALL_ROWS,
    class_names: Sequence[str] = CLASS_NAMES,
) -> pd.DataFrame:
    """Accuracy after each number of rows read, overall and per class.

    ``row_probabilities`` comes from :func:`probabilities_after_rows`. The
    table is indexed by ``rows read``; its first column,
    :func:`overall_column` (``all digits`` for MNIST), is the overall
    accuracy, the others (one per class name) the accuracy on images of that
    class (NaN for a class without images).
    """
    y_true = np.asarray(y_true)
    correct = row_probabilities.argmax(axis=2) == y_true[None, :]
    table = pd.DataFrame(
        {overall_column(class_names): correct.mean(axis=1)}, index=pd.Index(list(rows), name="rows read")
    )
    for label, name in enumerate(class_names):
        mask = y_true == label
        table[name] = correct[:, mask].mean(axis=1) if mask.any() else np.nan
    return table


def accuracy_by_rows_read(
    model, x: np.ndarray, y: np.ndarray, rows: Sequence[int] = ALL_ROWS, class_names: Sequence[str] = CLASS_NAMES
) -> pd.DataFrame:
    """:func:`accuracy_after_rows` straight from a model and images (one call)."""
    return accuracy_after_rows(probabilities_after_rows(model, x, rows), y, rows, class_names)


def rows_needed(
    row_probabilities: np.ndarray, y_true: np.ndarray, rows: Sequence[int] = ALL_ROWS
) -> np.ndarray:
    """For each image, the fewest rows after which the answer is right and stays right.

    "Stays right" means right after every later number of rows in ``rows``
    too. Images the model still gets wrong after the last row get NaN.
    """
    correct = row_probabilities.argmax(axis=2) == np.asarray(y_true)[None, :]
    # stays[i, n]: correct at rows[i] and at every later entry.
    stays = np.flip(np.logical_and.accumulate(np.flip(correct, axis=0), axis=0), axis=0)
    first = stays.argmax(axis=0)
    needed = np.asarray(rows, dtype=float)[first]
    needed[~stays[-1]] = np.nan
    return needed


def rows_to_reach(table: pd.DataFrame, accuracy: float, column: str | None = None) -> int | None:
    """The fewest rows read after which a column of an :func:`accuracy_after_rows` table reaches ``accuracy``.

    ``column`` defaults to the table's first, the overall accuracy. ``None``
    when it never does.
    """
    column = table.columns[0] if column is None else column
    reached = table.index[table[column].to_numpy() >= accuracy]
    return int(reached[0]) if len(reached) else None


def rows_to_reach_per_class(table: pd.DataFrame, fraction: float = 0.9) -> pd.Series:
    """Per class, the fewest rows after which its accuracy is at least ``fraction`` of its final accuracy.

    ``table`` is :func:`accuracy_after_rows`'s; the result is indexed by class
    name, as integers. A class the model never gets right after all the rows
    has no such row: ``<NA>``.
    """
    result = {}
    for name in table.columns[1:]:
        curve = table[name].to_numpy(dtype=float)
        final = curve[-1]
        if not final > 0:
            result[name] = pd.NA
            continue
        above = np.flatnonzero(curve >= fraction * final)
        result[name] = int(table.index[above[0]])
    return pd.Series(result, name=f"rows to {fraction:.0%} of final accuracy", dtype="Int64")
