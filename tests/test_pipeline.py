"""The input pipeline: every image once per epoch, a fresh seeded order each epoch, no autotuning."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnn_mnist import pipeline
from rnn_mnist.pipeline import builds_own_pipeline, fit_inputs, keras_inputs, validation_inputs

tf_only = pytest.mark.skipif(not builds_own_pipeline(), reason="the tf.data pipeline: TensorFlow backend only")


def numbered_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose every pixel holds the image's number, labelled with that number."""
    numbers = np.arange(count)
    return np.broadcast_to(numbers[:, None, None], (count, 28, 28)).astype(np.float32), numbers


def epoch_of(dataset, batches: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batches of ``dataset`` (the first ``batches`` of a training one, which never ends)."""
    if batches is not None:
        dataset = dataset.take(batches)
    return [(np.asarray(x), np.asarray(y)) for x, y in dataset]


@tf_only
def test_an_epoch_feeds_every_image_once_in_batches_with_its_label():
    x, y = numbered_images(300)
    inputs = fit_inputs(x, y, batch_size=128, shuffle_seed=0)
    assert inputs["steps_per_epoch"] == 3 and inputs["shuffle"] is False
    batches = epoch_of(inputs["x"], 3)
    assert [len(labels) for _, labels in batches] == [128, 128, 44]
    for images, labels in batches:
        np.testing.assert_array_equal(images[:, 5, 7], labels)  # each image travels with its own label
    fed = np.concatenate([labels for _, labels in batches])
    assert sorted(fed) == list(range(300))
    assert not np.array_equal(fed, np.arange(300))  # shuffled


@tf_only
def test_each_epoch_is_shuffled_afresh_and_the_seed_fixes_every_order():
    x, y = numbered_images(200)

    def orders(seed):
        labels = np.concatenate([labels for _, labels in epoch_of(fit_inputs(
            x, y, batch_size=50, shuffle_seed=seed)["x"], 3 * 4)])
        return labels.reshape(3, 200)

    first = orders(7)
    for epoch in first:
        assert sorted(epoch) == list(range(200))  # every epoch feeds every image once
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    np.testing.assert_array_equal(orders(7), first)  # the seed fixes every epoch's order
    assert not np.array_equal(orders(8)[0], first[0])


@tf_only
def test_evaluation_and_prediction_read_the_images_in_order_without_autotuning():
    x, y = numbered_images(70)
    evaluation = validation_inputs(x, y, batch_size=32)["validation_data"]
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in epoch_of(evaluation)]), y)
    prediction = keras_inputs(x, batch_size=32)["x"]
    images = np.concatenate([np.asarray(batch) for batch in prediction])
    np.testing.assert_array_equal(images, x)
    assert prediction.options().autotune.enabled is False
    assert evaluation.options().autotune.enabled is False


@tf_only
def test_a_model_fits_and_predicts_through_the_pipeline():
    x, y = numbered_images(64)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(**fit_inputs(x / 64, y % 2, batch_size=16, shuffle_seed=0), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(**keras_inputs(x, batch_size=16), verbose=0).shape == (64, 2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"batch_size": 8, "y": np.zeros(3)}, r"x and y differ in length \(10 images, 3 labels\)"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    x, _ = numbered_images(10)
    with pytest.raises(ValueError, match=message):
        keras_inputs(x, **arguments)


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match="x holds no images"):
        keras_inputs(np.zeros((0, 28, 28), np.float32), batch_size=4)


def test_other_backends_get_the_arrays_and_keras_batches_them(monkeypatch):
    monkeypatch.setattr(pipeline, "builds_own_pipeline", lambda: False)
    x, y = numbered_images(10)
    assert fit_inputs(x, y, batch_size=4, shuffle_seed=0) == {
        "x": x, "y": y, "batch_size": 4, "shuffle": True}
    assert keras_inputs(x, batch_size=4) == {"x": x, "batch_size": 4}
    assert validation_inputs(x, y, batch_size=4) == {"validation_data": (x, y), "validation_batch_size": 4}
