"""The input pipeline: arrays in memory to the batches ``fit``, ``evaluate`` and ``predict`` read.

Given NumPy arrays, Keras on TensorFlow builds an autotuned ``tf.data``
pipeline and a new iterator for every epoch. On this project's 2-core machine,
destroying the old iterator sometimes waited about 10 seconds with the CPU
idle (the main thread blocks in ``RootDataset::Iterator::~Iterator`` until a
background thread of the autotuning stops): one epoch in five, so a 95-second
training took two or three times 10 s longer. This module does the same work
as Keras's pipeline (a fresh shuffle of the indices every epoch, one gather per
batch) with autotuning off and a fixed prefetch; training reads every epoch
through one iterator (:func:`fit_inputs`), evaluation and prediction read once
in order (:func:`keras_inputs`). Measurements are in ``docs/performance.md``.

On the other backends (JAX) Keras batches NumPy arrays without ``tf.data``;
there the arrays are passed through unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

#: Batches prepared ahead of the training step (a gather of 128 images takes well under a millisecond).
PREFETCH_BATCHES = 2


def builds_own_pipeline() -> bool:
    """Whether this module builds ``tf.data`` pipelines (TensorFlow) or passes the arrays on (JAX)."""
    return keras.backend.backend() == "tensorflow"


def fit_inputs(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle_seed: int) -> dict[str, Any]:
    """Keyword arguments for ``fit``: ``x`` and ``y``, shuffled afresh every epoch.

    On TensorFlow the order of the ``e``-th epoch of a ``fit`` call is a pure
    function of ``(shuffle_seed, e)`` (a stateless shuffle), so one device and
    the replicas of a ``tf.distribute`` strategy read the same batches. (A run
    that ``BackupAndRestore`` resumes calls ``fit`` again, so its first resumed
    epoch reads the first order, as with Keras's own shuffling.) The
    dataset runs on epoch after epoch, read through one iterator
    (``steps_per_epoch`` marks the epochs), so no iterator is torn down
    between epochs.

    >>> model.fit(**fit_inputs(x, y, batch_size=128, shuffle_seed=0), epochs=3)  # doctest: +SKIP
    """
    _check_arrays(x, y, batch_size)
    if not builds_own_pipeline():
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": True}
    return {
        "x": _tf_dataset(x, y, batch_size, shuffle_seed),
        "steps_per_epoch": math.ceil(len(x) / batch_size),
        # the dataset shuffles itself; fit's own ``shuffle`` would only warn that it is ignored
        "shuffle": False,
    }


def keras_inputs(x: np.ndarray, y: np.ndarray | None = None, *, batch_size: int) -> dict[str, Any]:
    """Keyword arguments for ``evaluate`` (``x`` and ``y``) or ``predict`` (``x``): in order, in batches.

    >>> model.evaluate(**keras_inputs(x, y, batch_size=1024))  # doctest: +SKIP
    """
    _check_arrays(x, y, batch_size)
    if not builds_own_pipeline():
        return {"x": x, "batch_size": batch_size} | ({} if y is None else {"y": y})
    return {"x": _tf_dataset(x, y, batch_size, None)}


def validation_inputs(x: np.ndarray, y: np.ndarray, *, batch_size: int) -> dict[str, Any]:
    """Keyword arguments for ``fit`` that validate on ``x`` and ``y`` after every epoch, in order."""
    inputs = keras_inputs(x, y, batch_size=batch_size)
    if builds_own_pipeline():
        return {"validation_data": inputs["x"]}
    return {"validation_data": (x, y), "validation_batch_size": batch_size}


def _check_arrays(x: np.ndarray, y: np.ndarray | None, batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(x) == 0:
        raise ValueError("x holds no images: there is nothing to feed the model")
    if y is not None and len(y) != len(x):
        raise ValueError(f"x and y differ in length ({len(x)} images, {len(y)} labels)")


def _tf_dataset(x: np.ndarray, y: np.ndarray | None, batch_size: int, shuffle_seed: int | None):
    """Batches of ``x`` (and ``y``): once, in order (``shuffle_seed=None``), or shuffled epoch after epoch."""
    import tensorflow as tf

    count = len(x)
    if shuffle_seed is None:
        # one pass in order; a known length, so evaluate and predict stop where it ends
        indices = tf.data.Dataset.range(count).batch(batch_size)
    else:
        def one_epoch(epoch):
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=seed)
            return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

        indices = tf.data.Dataset.counter().flat_map(one_epoch)
    # The arrays travel as one dataset element repeated, not as constants captured by the map
    # function (the way Keras's own pipeline does it), so they are not copied into a graph.
    arrays = (x,) if y is None else (x, y)
    whole = tf.data.Dataset.from_tensors(arrays).repeat()

    def gather(batch_indices, tensors):
        picked = tuple(tf.gather(tensor, batch_indices) for tensor in tensors)
        return picked[0] if y is None else picked

    dataset = tf.data.Dataset.zip((indices, whole)).map(gather).prefetch(PREFETCH_BATCHES)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    return dataset.with_options(options)
