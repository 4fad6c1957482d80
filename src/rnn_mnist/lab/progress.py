"""What the book build prints while it trains: one line per run started, per epoch, per run finished.

:func:`rnn_mnist.lab.parallel_runs.train_runs` trains the runs in worker
processes whose output goes straight to the build log; each worker gives
:class:`EpochProgress` to training as an extra Keras callback. A callback that
only reads the epoch's logs changes no number. Lines look like::

    [book recipe, seed 0] training mnist-lstm128-57ce072636d4: LSTM(128), 10 epochs of 55,000 images, batch 128
    [book recipe, seed 0] epoch 3/10  val_accuracy 0.9904  11.8 s/epoch  ~1 min 23 s left
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

import keras

from ..config import TrainingConfig

#: Labels that name a recipe (chapter 3's two runs); other labels name a model (chapter 7's).
RECIPE_LABELS = ("book", "seed")


def run_tag(config: TrainingConfig) -> str:
    """``[book recipe, seed 0]``, ``[GRU, seed 0]``, ``[book recipe, fashion_mnist, seed 0]``: a run in the log."""
    label = config.label or config.cell
    parts = [f"{label} recipe" if label in RECIPE_LABELS else label]
    if config.dataset != "mnist":
        parts.append(config.dataset)
    return f"[{', '.join(parts)}, seed {config.seed}]"


def model_summary(config: TrainingConfig) -> str:
    """``LSTM(128), 10 epochs of 55,000 images, batch 128``: what the run trains."""
    return f"{config.model_name}, {config.epochs} epochs of {config.effective_train_size:,} images, batch {config.batch_size}"


def duration(seconds: float) -> str:
    """``45 s``, ``1 min 20 s``, ``1 h 5 min``: a time, as a reader says it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class EpochProgress(keras.callbacks.Callback):
    """Prints one short, flushed line at the end of every epoch: which run, the epoch, time per epoch, time left.

    The time left is the epochs still to go times the mean epoch time so far,
    leaving out the first epoch of the ``fit`` call (it also traces the
    training step) once a later one has been timed. A resumed run counts from
    the epoch it resumed at.
    """

    def __init__(self, tag: str, epochs: int, stream: TextIO | None = None):
        super().__init__()
        self.tag = tag
        self.epochs = epochs
        self.stream = stream
        self.seconds: list[float] = []

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)
        print(self.line(epoch + 1, logs or {}), file=self.stream or sys.stdout, flush=True)

    def line(self, done: int, logs: dict) -> str:
        steady = self.seconds[1:] or self.seconds
        per_epoch = sum(steady) / len(steady)
        parts = [f"{self.tag} epoch {done}/{self.epochs}"]
        for name in ("val_accuracy", "accuracy"):
            value = logs.get(name)
            if value is not None and math.isfinite(float(value)):
                parts.append(f"{name} {float(value):.4f}")
                break
        parts.append(f"{per_epoch:.1f} s/epoch")
        left = self.epochs - done
        parts.append(f"~{duration(left * per_epoch)} left" if left > 0 else "evaluating and storing")
        return "  ".join(parts)
