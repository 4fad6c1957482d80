"""From verified uint8 MNIST to the float arrays a run trains on.

The one place where images are scaled to [0, 1] (:func:`scale_images`) and
where the training, validation and test subsets are chosen
(:func:`make_splits`). Subsets are stratified, so every class is kept, and are
a pure function of the config's sizes and seed. The dataset is the config's
(``config.dataset``: MNIST or Fashion-MNIST); its class names travel with the
splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from .config import TrainingConfig
from .data import CLASS_NAMES, MnistArrays, load_dataset_arrays


@dataclass(frozen=True)
class DataSplits:
    """Scaled images, integer labels and the indices they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_indices: np.ndarray
    val_indices: np.ndarray
    test_indices: np.ndarray
    validation_is_test: bool
    source: str
    dataset: str = "mnist"
    class_names: tuple[str, ...] = CLASS_NAMES

    def summary(self) -> dict[str, int]:
        return {
            "train": len(self.y_train),
            "validation": len(self.y_val),
            "test": len(self.y_test),
        }


def scale_images(images: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """Map uint8 pixels 0..255 to floats in [0, 1] (``x / 255``)."""
    if images.dtype != np.uint8:
        raise TypeError(f"scale_images expects uint8 pixels, got {images.dtype}")
    return images.astype(dtype) / np.asarray(255.0, dtype=dtype)


def stratified_subset(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Indices of ``size`` items keeping the class proportions (all items if None).

    The result is sorted, so it does not depend on anything but ``labels``,
    ``size`` and ``seed``.
    """
    indices = np.arange(len(labels))
    if size is None or size >= len(labels):
        return indices
    chosen, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    return np.sort(chosen)


def split_indices(labels: np.ndarray, train_size: int | None, validation_size: int, seed: int):
    """``(train, validation)`` index arrays drawn from the training pool."""
    indices = np.arange(len(labels))
    if validation_size == 0:
        return stratified_subset(labels, train_size, seed), indices[:0]
    rest, validation = train_test_split(
        indices, test_size=validation_size, stratify=labels, random_state=seed
    )
    rest = np.sort(rest)
    train = rest[stratified_subset(labels[rest], train_size, seed + 1)]
    return train, np.sort(validation)


def make_splits(config: TrainingConfig, mnist: MnistArrays | None = None) -> DataSplits:
    """Training, validation and test arrays for ``config``.

    ``mnist`` (arrays already loaded) must be of the config's dataset; by
    default the config's dataset is loaded.
    """
    mnist = mnist if mnist is not None else load_dataset_arrays(config.dataset)
    if mnist.dataset != config.dataset:
        raise ValueError(
            f"the config trains on {config.dataset!r} but the arrays given are {mnist.dataset!r}"
        )
    train_idx, val_idx = split_indices(mnist.y_train, config.train_size, config.validation_size, config.seed)
    test_idx = stratified_subset(mnist.y_test, config.test_size, config.seed)

    def images(x: np.ndarray) -> np.ndarray:
        return scale_images(x, config.input_dtype)

    x_test, y_test = images(mnist.x_test[test_idx]), mnist.y_test[test_idx].astype(np.int64)
    if config.validate_on_test:
        x_val, y_val, val_idx = x_test, y_test, test_idx
    else:
        x_val, y_val = images(mnist.x_train[val_idx]), mnist.y_train[val_idx].astype(np.int64)
    return DataSplits(
        x_train=images(mnist.x_train[train_idx]),
        y_train=mnist.y_train[train_idx].astype(np.int64),
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        train_indices=train_idx,
        val_indices=val_idx,
        test_indices=test_idx,
        validation_is_test=config.validate_on_test,
        source=mnist.source,
        dataset=mnist.dataset,
        class_names=mnist.class_names,
    )
