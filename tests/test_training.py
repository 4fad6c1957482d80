"""The run store's worker: random shifts for training only, the best model, and what a run writes."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from rnn_mnist.config import book_recipe, seed_recipe
from rnn_mnist.model import build_model_for
from rnn_mnist.recipe import with_random_shifts
from rnn_mnist.training import SaveBestModel, read_history, steps_per_epoch, train_into


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
    assert with_random_shifts(model, seed_recipe().shift_pixels, seed=0) is model


def test_shifts_move_each_training_image_by_at_most_the_configured_pixels():
    config = book_recipe(seed=3)
    trainer = with_random_shifts(identity_model(), config.shift_pixels, config.seed)
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
    config = book_recipe(units=8)
    model = build_model_for(config)
    trainer = with_random_shifts(model, config.shift_pixels, config.seed)
    assert {id(v) for v in model.trainable_variables} == {id(v) for v in trainer.trainable_variables}
    assert trainer.count_params() == model.count_params()
    images = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trainer(images, training=False)),
        keras.ops.convert_to_numpy(model(images, training=False)),
        rtol=1e-6,
    )
    assert [layer.name for layer in model.layers] == ["rows", "lstm", "digit"]


def test_steps_per_epoch_rounds_up():
    assert steps_per_epoch(book_recipe()) == 430  # 55,000 / 128
    assert steps_per_epoch(seed_recipe()) == 1875  # 60,000 / 32


def test_the_best_model_is_saved_only_when_the_validation_loss_reaches_a_new_low(tmp_path):
    model = build_model_for(book_recipe(units=4))
    saver = SaveBestModel(model, tmp_path / "best.keras")
    saver.set_model(model)
    saved = []
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.8, 0.5, float("nan")]):
        before = (tmp_path / "best.keras").stat().st_mtime_ns if (tmp_path / "best.keras").exists() else None
        saver.on_epoch_end(epoch, {"val_loss": loss})
        after = (tmp_path / "best.keras").stat().st_mtime_ns if (tmp_path / "best.keras").exists() else None
        saved.append(after != before)
    assert saved == [True, True, False, False, True, False]
    assert saver.best == 0.5
    assert keras.saving.load_model(tmp_path / "best.keras").count_params() == model.count_params()
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"


def test_a_run_writes_every_artefact_with_metrics_last_and_a_stored_model_ready_to_evaluate(tmp_path):
    config = book_recipe(epochs=2, units=8, train_size=300, validation_size=100, test_size=100)
    metrics = train_into(config, tmp_path, verbose=0)
    names = {"config.json", "history.csv", "best.keras", "model.keras", "predictions.npz", "metrics.json"}
    assert {p.name for p in tmp_path.iterdir()} == names  # the backup is gone once the run is complete
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert metrics["execution"]["weight_average"] is False  # 3 steps x 2 epochs: too short for an average
    assert (tmp_path / "metrics.json").stat().st_mtime_ns >= max(p.stat().st_mtime_ns for p in tmp_path.iterdir())
    history = read_history(tmp_path / "history.csv")
    assert history["epoch"] == [0.0, 1.0] and len(history["epoch_seconds"]) == 2
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert [layer.name for layer in model.layers] == ["rows", "lstm", "digit"]  # no augmentation stored
    with np.load(tmp_path / "predictions.npz") as stored:
        assert stored["probabilities"].shape == (100, 10)
        from rnn_mnist.splits import make_splits

        splits = make_splits(config)
        loss, accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
        assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)
        np.testing.assert_allclose(model.predict(splits.x_test, verbose=0), stored["probabilities"], atol=1e-5)


def test_a_run_long_enough_for_the_weight_average_stores_it_and_reloads_ready_to_evaluate(tmp_path):
    # 1,280 images at batch 128 for 2 epochs: 20 steps, enough for the recipe to turn the average on.
    # On JAX this used to fail in model.save ("Array has been deleted"): evaluate() donated the
    # weights' buffers, which the average shared after its last overwrite.
    config = book_recipe(epochs=2, units=16, train_size=1280, validation_size=256, test_size=256, shift_pixels=0)
    metrics = train_into(config, tmp_path, verbose=0)
    assert metrics["execution"]["weight_average"] is True
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.optimizer.use_ema is True
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 20
    # after the last overwrite, the stored average is the stored weights
    averages = {v.path.split("/")[-1].removesuffix("_average"): keras.ops.convert_to_numpy(v)
                for v in model.optimizer.variables if v.path.endswith("_average")}
    assert len(averages) == len(model.trainable_variables)
    for weight in model.trainable_variables:
        name = weight.path.replace("/", "_")
        np.testing.assert_array_equal(averages[name], keras.ops.convert_to_numpy(weight))
    from rnn_mnist.splits import make_splits

    splits = make_splits(config)
    _, accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    model.save(tmp_path / "again.keras")  # evaluate() left the loaded model's optimizer intact too
    assert keras.saving.load_model(tmp_path / "again.keras").count_params() == model.count_params()
