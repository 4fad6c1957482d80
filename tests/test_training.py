"""The training recipe's pieces: random shifts for training only, and the weight average's horizon."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnn_mnist.config import default_config, seed_recipe
from rnn_mnist.model import build_model_for
from rnn_mnist.training import (
    AdamWithAverageWarmup,
    average_momentum_at,
    ema_momentum_for,
    make_optimizer,
    steps_per_epoch,
    with_random_shifts,
)


def identity_model() -> keras.Model:
    rows = keras.Input(shape=(28, 28))
    return keras.Model(rows, keras.layers.Identity()(rows), name="identity")


def blob_images(count: int) -> np.ndarray:
    """``count`` copies of a 4x4 white square in the middle of a black 28x28 image."""
    images = np.zeros((count, 28, 28), np.float32)
    images[:, 12:16, 12:16] = 1.0
    return images


def centroids(images: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], axis=1)


def test_no_shift_trains_the_model_itself():
    model = build_model_for(seed_recipe())
    assert with_random_shifts(model, seed_recipe()) is model


def test_shifts_move_each_training_image_by_at_most_the_configured_pixels():
    config = default_config(seed=3)
    trainer = with_random_shifts(identity_model(), config)
    images = blob_images(256)
    shifted = keras.ops.convert_to_numpy(trainer(images, training=True))
    offsets = centroids(shifted) - centroids(images)
    # bilinear shifts keep the square's mass and move it up to 2 pixels each way
    np.testing.assert_allclose(shifted.sum(axis=(1, 2)), 16.0, rtol=1e-4)
    assert np.all(np.abs(offsets) <= config.shift_pixels + 1e-4)
    # a fresh offset per image, spread over the whole range in both directions
    assert len(np.unique(np.round(offsets, 3), axis=0)) > 200
    assert offsets.min() < -1.5 and offsets.max() > 1.5


def test_shifts_do_nothing_at_inference_and_share_the_models_weights():
    config = default_config(units=8)
    model = build_model_for(config)
    trainer = with_random_shifts(model, config)
    assert {id(v) for v in model.trainable_variables} == {id(v) for v in trainer.trainable_variables}
    assert trainer.count_params() == model.count_params()
    images = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trainer(images, training=False)),
        keras.ops.convert_to_numpy(model(images, training=False)),
        rtol=1e-6,
    )
    assert [layer.name for layer in model.layers] == ["rows", "lstm", "digit"]


def test_the_weight_average_keeps_its_momentum_on_a_full_run():
    config = default_config()
    assert steps_per_epoch(config) * config.epochs == 4300
    assert ema_momentum_for(config) == 0.995
    optimizer = make_optimizer(config)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.995
    assert optimizer.ema_overwrite_frequency == steps_per_epoch(config)


@pytest.mark.parametrize(
    ("train_size", "epochs", "expected"),
    [
        (2000, 2, 1 - 10 / 32),  # the small profile: 16 steps x 2 epochs
        (5000, 4, 1 - 10 / 160),
        (300, 2, None),          # 6 steps: too short to average anything
    ],
)
def test_the_weight_average_remembers_at_most_a_tenth_of_a_short_run(train_size, epochs, expected):
    config = default_config(train_size=train_size, epochs=epochs)
    if expected is None:
        assert ema_momentum_for(config) is None
    else:
        assert ema_momentum_for(config) == pytest.approx(expected)
    assert make_optimizer(config).use_ema is (expected is not None)


def test_no_weight_average_when_the_recipe_has_none():
    assert ema_momentum_for(seed_recipe()) is None
    assert not make_optimizer(seed_recipe()).use_ema


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.0), (1, 2 / 11), (430, 431 / 440), (860, 861 / 870), (1790, 0.995), (4299, 0.995)],
)
def test_the_weight_average_warms_up_over_the_first_epochs(step, expected):
    assert float(average_momentum_at(step, 0.995)) == pytest.approx(expected)


def test_the_optimizer_averages_with_the_warm_up_momentum():
    variable = keras.Variable(np.zeros(3, np.float32))
    optimizer = AdamWithAverageWarmup(learning_rate=0.1, use_ema=True, ema_momentum=0.995)
    optimizer.build([variable])
    expected_average = None
    for step in range(25):
        optimizer.apply_gradients([(keras.ops.ones(3), variable)])
        value = keras.ops.convert_to_numpy(variable)
        m = float(average_momentum_at(step, 0.995))
        expected_average = value if expected_average is None else m * expected_average + (1 - m) * value
        average = keras.ops.convert_to_numpy(optimizer._model_variables_moving_average[0])
        np.testing.assert_allclose(average, expected_average, rtol=1e-5)
    # after 25 steps the average trails the weights (Adam moves them about 0.1 a step)
    assert np.all(average > value)


def test_the_recipe_uses_the_warm_up_and_a_saved_model_loads_it_back(tmp_path):
    config = default_config(units=4)
    assert isinstance(make_optimizer(config), AdamWithAverageWarmup)
    assert type(make_optimizer(seed_recipe())) is keras.optimizers.Adam
    model = build_model_for(config)
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((8, 28, 28), np.float32), np.zeros(8, np.int64), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, AdamWithAverageWarmup)
    assert loaded.optimizer.ema_momentum == pytest.approx(ema_momentum_for(config))
