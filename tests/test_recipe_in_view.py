"""The code chapter 3 shows is the code that trains every stored run, and it uses public Keras only."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from rnn_mnist import recipe, training
from rnn_mnist.config import book_recipe, seed_recipe

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_3 = ROOT / "notebooks" / "03_training.ipynb"
CHAPTER_2 = ROOT / "notebooks" / "02_building_the_lstm.ipynb"
SHOWN = ("make_optimizer", "RandomShift", "with_random_shifts", "fit_recipe")


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


@pytest.mark.parametrize("name", SHOWN)
def test_chapter_3_shows_the_packages_recipe_function_character_for_character(name):
    source = inspect.getsource(getattr(recipe, name)).rstrip()
    keyword = "class" if name[0].isupper() else "def"
    cells = [cell for cell in code_cells(CHAPTER_3) if cell.startswith(f"{keyword} {name}(")]
    assert cells, f"chapter 3 has no code cell defining {name}"
    assert cells == [source], (
        f"chapter 3's cell defining {name} differs from rnn_mnist.recipe.{name}; "
        "regenerate the cell from the source (they must not drift)"
    )


def test_chapter_3_calls_compile_and_fit_in_view_and_runs_a_short_fit():
    cells = "\n".join(code_cells(CHAPTER_3))
    for call in (".compile(", ".fit(", ".evaluate(", ".predict(", "keras.optimizers.Adam(",
                 "keras.optimizers.schedules.CosineDecay(", "keras.ops.matmul(", "keras.random.uniform(",
                 "fit_recipe(short_model"):
        assert call in cells, f"chapter 3 does not show {call}"


def test_chapter_2_builds_the_model_in_keras_and_checks_it_against_the_package():
    cells = "\n".join(code_cells(CHAPTER_2))
    for call in ("keras.Input(shape=(28, 28))", "keras.layers.LSTM(", "keras.layers.Dense(10, activation=\"softmax\")",
                 "keras.Model(inputs, outputs)", "build_model_for(config)", "assert "):
        assert call in cells, f"chapter 2 does not show {call}"


def test_every_stored_run_is_trained_by_the_recipe_chapter_3_shows(tmp_path, monkeypatch):
    calls = []

    def spy(model, config, splits, callbacks=(), verbose="auto", steps_per_execution=1):
        calls.append(config)
        return recipe.fit_recipe(model, config, splits, callbacks=callbacks, verbose=verbose,
                                 steps_per_execution=steps_per_execution)

    monkeypatch.setattr(training, "fit_recipe", spy)
    config = book_recipe(epochs=1, units=4, train_size=200, validation_size=100, test_size=100)
    from rnn_mnist.runs import ensure_trained

    run = ensure_trained(config, tmp_path, verbose=0)
    assert calls == [config]
    assert run.metrics["epochs"] == 1


def test_the_book_optimizer_is_stock_adam_with_the_configured_schedule_clip_and_average():
    import keras

    config = book_recipe()
    steps = 430
    optimizer = recipe.make_optimizer(config, steps)
    assert type(optimizer) is keras.optimizers.Adam
    assert optimizer.clipnorm == 1.0 and optimizer.global_clipnorm is None
    assert optimizer.use_ema and optimizer.ema_momentum == 0.995
    assert optimizer.ema_overwrite_frequency == steps
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    warmup = round(0.3 * steps)
    assert float(schedule(0)) == pytest.approx(6e-5)
    assert float(schedule(warmup)) == pytest.approx(6e-3)
    assert float(schedule(10 * steps)) == pytest.approx(1e-5, rel=1e-3)


def test_the_seed_recipe_is_plain_adam_without_average():
    optimizer = recipe.make_optimizer(seed_recipe(), 1875)
    assert not optimizer.use_ema and optimizer.clipnorm is None
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)


@pytest.mark.parametrize("train_size, epochs, average", [(200, 1, False), (2000, 2, True), (55_000, 10, True)])
def test_the_weight_average_remembers_at_most_a_tenth_of_a_short_run(train_size, epochs, average):
    config = book_recipe(train_size=train_size, epochs=epochs)
    steps = -(-train_size // config.batch_size)
    optimizer = recipe.make_optimizer(config, steps)
    assert optimizer.use_ema is average
    if average:
        assert optimizer.ema_momentum == pytest.approx(min(0.995, 1 - 10 / (steps * epochs)))


def test_shifts_wrap_the_model_and_share_its_weights():
    from rnn_mnist.model import build_model

    model = build_model(units=4)
    assert recipe.with_random_shifts(model, 0, seed=0) is model
    trainer = recipe.with_random_shifts(model, 2, seed=0)
    assert trainer is not model
    assert {id(w) for w in model.weights} <= {id(w) for w in trainer.weights}


# -- stock, public Keras API only ------------------------------------------------------------------

SOURCES = sorted((ROOT / "src" / "rnn_mnist").rglob("*.py"))


def private_uses(path: Path) -> list[str]:
    """Underscore attributes read or written anywhere, and underscore methods defined in classes."""
    found = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("_") and not item.name.startswith("__"):
                    found.append(f"line {item.lineno}: method {node.name}.{item.name}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT / "src")))
def test_no_private_attribute_or_method_anywhere_in_the_package(path):
    assert private_uses(path) == [], (
        f"{path.name} uses underscore names of objects (private API of Keras or others): {private_uses(path)}"
    )


def test_the_private_api_check_catches_what_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "class A(keras.callbacks.ModelCheckpoint):\n"
        "    def _save_model(self):\n"
        "        self._model = model._flatten_layers()\n"
    )
    assert len(private_uses(sample)) == 3
