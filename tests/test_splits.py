import numpy as np
import pytest

from rnn_mnist.config import default_config, seed_recipe
from rnn_mnist.splits import make_splits, scale_images, split_indices, stratified_subset


def test_scaling_is_x_over_255_in_the_requested_dtype():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    scaled = scale_images(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, np.array([[0.0, 0.2, 1.0]], dtype=np.float32))
    assert scale_images(pixels, "float64").dtype == np.float64


def test_scaling_refuses_already_scaled_input():
    with pytest.raises(TypeError, match="expects uint8"):
        scale_images(np.zeros((2, 2), dtype=np.float32))


def test_subsets_are_deterministic_per_seed_and_keep_every_class():
    labels = np.repeat(np.arange(10), 100)
    a = stratified_subset(labels, 50, seed=0)
    assert np.array_equal(a, stratified_subset(labels, 50, seed=0))
    assert not np.array_equal(a, stratified_subset(labels, 50, seed=1))
    assert len(a) == 50 and set(labels[a]) == set(range(10))
    assert np.all(np.bincount(labels[a]) == 5)


def test_train_and_validation_are_disjoint_and_sized():
    labels = np.repeat(np.arange(10), 600)
    train, validation = split_indices(labels, train_size=1000, validation_size=500, seed=0)
    assert len(train) == 1000 and len(validation) == 500
    assert not set(train) & set(validation)
    assert set(labels[validation]) == set(range(10))


def test_book_splits_hold_out_validation_and_touch_test_once(synthetic_mnist):
    splits = make_splits(default_config(train_size=1000, test_size=200), synthetic_mnist)
    assert splits.summary() == {"train": 1000, "validation": 5000, "test": 200}
    assert not splits.validation_is_test
    assert not set(splits.train_indices) & set(splits.val_indices)
    assert splits.x_train.dtype == np.float32 and splits.x_train.max() <= 1.0
    assert splits.y_train.dtype == np.int64
    np.testing.assert_array_equal(
        splits.x_test, scale_images(synthetic_mnist.x_test[splits.test_indices])
    )


def test_seed_splits_validate_on_test_with_all_60000(synthetic_mnist):
    splits = make_splits(seed_recipe(), synthetic_mnist)
    assert splits.summary() == {"train": 60000, "validation": 10000, "test": 10000}
    assert splits.validation_is_test and splits.x_val is splits.x_test
    assert splits.x_train.dtype == np.float64
