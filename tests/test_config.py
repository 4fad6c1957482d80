import pytest

from rnn_mnist.config import (
    ConfigError,
    TrainingConfig,
    config_from_parameters,
    default_config,
    recipe,
    seed_recipe,
)


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"epochs": 0}, "epochs", "from 1 to 1000"),
        ({"epochs": 2.5}, "epochs", "an integer"),
        ({"batch_size": -32}, "batch_size", "from 1"),
        ({"train_size": -1}, "train_size", "from 10 to 55000"),
        ({"train_size": 60001, "validation_size": 0, "validate_on_test": True}, "train_size", "to 60000"),
        ({"train_size": 56000}, "train_size", "to 55000"),
        ({"test_size": 10001}, "test_size", "from 10 to 10000"),
        ({"cell": "transformer"}, "cell", "'lstm', 'gru', 'simple_rnn', 'dense'"),
        ({"learning_rate": 0.0}, "learning_rate", "(0.0, 10.0]"),
        ({"dropout": 1.0}, "dropout", "[0.0, 1.0)"),
        ({"schedule": "linear"}, "schedule", "'constant', 'warmup_cosine'"),
        ({"validate_on_test": True}, "validation_size", "0 when validate_on_test=True"),
        ({"seed": -3}, "seed", "from 0"),
        ({"units": 0}, "units", "from 1 to 4096"),
        ({"shift_pixels": -1}, "shift_pixels", "from 0 to 8"),
        ({"shift_pixels": 1.5}, "shift_pixels", "an integer"),
        ({"ema_momentum": 1.0}, "ema_momentum", "(0.0, 1.0)"),
    ],
)
def test_invalid_values_name_the_field_and_allowed_range(changes, field, allowed):
    with pytest.raises(ConfigError) as caught:
        TrainingConfig(**changes)
    assert caught.value.field_name == field
    assert f"'{field}'" in str(caught.value)
    assert allowed in str(caught.value)


def test_unknown_field_is_rejected_with_the_list_of_fields():
    with pytest.raises(ConfigError, match="'epoch'.*a field of TrainingConfig: .*epochs"):
        default_config(epoch=3)


def test_seed_recipe_is_the_seed_notebook():
    config = seed_recipe()
    assert (config.epochs, config.batch_size, config.learning_rate) == (10, 32, 1e-3)
    assert (config.cell, config.units, config.bidirectional) == ("lstm", 128, False)
    assert config.schedule == "constant" and config.clipnorm is None
    assert config.validate_on_test and config.validation_size == 0
    assert config.effective_train_size == 60000
    assert config.input_dtype == "float64"
    assert config.ema_momentum is None and config.shift_pixels == 0


def test_book_recipe_keeps_the_model_and_validates_on_a_held_out_split():
    config = default_config()
    assert (config.cell, config.units) == ("lstm", 128)
    assert not config.validate_on_test
    assert config.effective_train_size + config.validation_size == 60000
    # what makes it faster and better (docs/performance.md): the training, not the model
    assert (config.epochs, config.batch_size, config.learning_rate) == (10, 128, 6e-3)
    assert config.schedule == "warmup_cosine" and config.warmup_epochs == 0.3
    assert (config.clipnorm, config.ema_momentum, config.shift_pixels) == (1.0, 0.995, 2)
    assert config.input_dtype == "float32"


def test_run_id_is_stable_and_changes_with_any_choice():
    a, b = default_config(), default_config()
    assert a.run_id() == b.run_id()
    assert a.run_id() != default_config(seed=1).run_id()
    assert a.run_id() != default_config(epochs=a.epochs + 1).run_id()
    assert a.run_id().startswith("mnist-lstm128-")


def test_label_is_for_people_and_does_not_change_the_run():
    assert default_config(label="x").run_id() == default_config(label="y").run_id()


def test_parameters_with_none_keep_the_recipes_values():
    config = config_from_parameters("seed", epochs=None, batch_size=None, train_size=2000, seed=3)
    assert config == seed_recipe(train_size=2000, seed=3)


def test_unknown_recipe_is_named():
    with pytest.raises(ConfigError, match="'recipe'.*'book'"):
        recipe("fastest")


@pytest.mark.parametrize("field", ["learning_rate", "dropout", "clipnorm", "ema_momentum", "warmup_epochs", "min_learning_rate"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_every_float_field_rejects_nan_and_infinity_by_name(field, value):
    from rnn_mnist.config import book_recipe

    with pytest.raises(ConfigError, match=f"'{field}'"):
        book_recipe(**{field: value})
