"""One validated description of a training run.

Every choice that changes what a run produces lives in :class:`TrainingConfig`.
Its :meth:`~TrainingConfig.run_id` hashes those choices, so two equal configs
always name the same stored run (see :mod:`rnn_mnist.runs`).

Two recipes are provided:

* :func:`seed_recipe` -- the notebook this book started from, exactly: batch 32,
  adam at its default rate, 10 epochs, all 60,000 images for training and the
  *test* set used for validation every epoch.
* :func:`book_recipe` -- the book's recipe: the same LSTM(128), trained with a
  warm-up + cosine learning-rate schedule, larger batches and gradient clipping,
  with a validation split carved out of the training set so the test set is
  touched once, at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

#: Bump when the meaning of a stored run changes, so old runs are not reused.
RUN_FORMAT_VERSION = 4  # 4: random shifts by recipe.RandomShift (3: keras.layers.RandomTranslation)

CELLS = ("lstm", "gru", "simple_rnn", "dense")
SCHEDULES = ("constant", "warmup_cosine")
INPUT_DTYPES = ("float32", "float64")
#: Datasets a run can train on (served by :func:`rnn_mnist.data.load_dataset_arrays`).
DATASETS = ("mnist", "fashion_mnist")
TRAIN_POOL_SIZE = 60_000
TEST_POOL_SIZE = 10_000


class ConfigError(ValueError):
    """A configuration value is out of its allowed range."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field_name = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(
            f"Invalid value for '{field_name}': {value!r}. Allowed: {allowed}."
        )


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, value, _range_text(low, high, "an integer"))
    if value < low or (high is not None and value > high):
        raise ConfigError(name, value, _range_text(low, high, "an integer"))


def _check_float(name: str, value: Any, low: float, high: float, *, low_open=False, high_open=False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(name, value, f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ConfigError(name, value, f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, value, "one of " + ", ".join(repr(c) for c in choices))


def _range_text(low: int, high: int | None, kind: str) -> str:
    return f"{kind} from {low} to {high}" if high is not None else f"{kind} >= {low}"


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides what a training run produces.

    Sizes: ``train_size`` images are used for fitting and ``validation_size``
    further images are held out of the 60,000 training images for the learning
    curves. ``None`` means "all that is left". With ``validate_on_test=True``
    (the seed notebook's choice) no validation split is carved and the test
    set is used for validation instead.

    ``ema_momentum`` keeps an exponential moving average of the weights and
    overwrites the weights with it at the end of every epoch, so validation,
    the stored model and the next epoch's training all start from the average
    (``None``: off).
    ``shift_pixels`` moves every training image by a random offset of up to
    that many pixels (up, down, left, right; a fresh offset each time the image
    is seen), a data augmentation of training only (``0``: off).
    """

    dataset: str = "mnist"
    cell: str = "lstm"
    units: int = 128
    bidirectional: bool = False
    dropout: float = 0.0
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    min_learning_rate: float = 0.0
    clipnorm: float | None = None
    ema_momentum: float | None = None
    shift_pixels: int = 0
    input_dtype: str = "float32"
    train_size: int | None = None
    validation_size: int = 5_000
    test_size: int | None = None
    validate_on_test: bool = False
    seed: int = 0
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        self.validate()

    # -- validation ---------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field that is out of range."""
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("cell", self.cell, CELLS)
        _check_int("units", self.units, 1, 4096)
        _check_bool("bidirectional", self.bidirectional)
        _check_float("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _check_int("epochs", self.epochs, 1, 1000)
        _check_int("batch_size", self.batch_size, 1, TRAIN_POOL_SIZE)
        _check_float("learning_rate", self.learning_rate, 0.0, 10.0, low_open=True)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_float("warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        _check_float("min_learning_rate", self.min_learning_rate, 0.0, self.learning_rate)
        if self.clipnorm is not None:
            _check_float("clipnorm", self.clipnorm, 0.0, 1e6, low_open=True)
        if self.ema_momentum is not None:
            _check_float("ema_momentum", self.ema_momentum, 0.0, 1.0, low_open=True, high_open=True)
        _check_int("shift_pixels", self.shift_pixels, 0, 8)
        _check_choice("input_dtype", self.input_dtype, INPUT_DTYPES)
        _check_bool("validate_on_test", self.validate_on_test)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        if self.validate_on_test:
            if self.validation_size != 0:
                raise ConfigError(
                    "validation_size", self.validation_size,
                    "0 when validate_on_test=True (the test set is the validation set)",
                )
        else:
            _check_int("validation_size", self.validation_size, 10, TRAIN_POOL_SIZE - 10)
        room = TRAIN_POOL_SIZE - self.validation_size
        if self.train_size is not None:
            _check_int("train_size", self.train_size, 10, room)
        if self.test_size is not None:
            _check_int("test_size", self.test_size, 10, TEST_POOL_SIZE)

    # -- derived values -----------------------------------------------------
    @property
    def effective_train_size(self) -> int:
        """Number of images fitted on (``train_size`` or all that is left)."""
        if self.train_size is not None:
            return self.train_size
        return TRAIN_POOL_SIZE - self.validation_size

    @property
    def model_name(self) -> str:
        """``LSTM(128)``, ``bidirectional LSTM(87)``, ``Dense(103)``: the model this config trains, as a reader writes it."""
        if self.cell == "dense":
            return f"Dense({self.units})"
        cell = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}.get(self.cell, self.cell)
        return f"{'bidirectional ' if self.bidirectional else ''}{cell}({self.units})"

    @property
    def effective_test_size(self) -> int:
        return self.test_size if self.test_size is not None else TEST_POOL_SIZE

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def run_id(self) -> str:
        """A short, stable name for the stored run of this config.

        The label is for people (plot legends, tables); it does not enter the
        name, so relabelling a config reuses its stored run.
        """
        payload = {k: v for k, v in self.to_dict().items() if k != "label"}
        payload["_format"] = RUN_FORMAT_VERSION
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return f"{self.dataset}-{self.cell}{self.units}-{digest[:12]}"

    def replace(self, **changes: Any) -> "TrainingConfig":
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(
                sorted(unknown)[0], changes[sorted(unknown)[0]],
                "a field of TrainingConfig: " + ", ".join(f.name for f in dataclasses.fields(self)),
            )
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainingConfig":
        return cls().replace(**values)


def seed_recipe(**overrides: Any) -> TrainingConfig:
    """The original notebook's recipe: 10 epochs, batch 32, adam(1e-3), validate on test."""
    base = TrainingConfig(
        epochs=10,
        batch_size=32,
        learning_rate=1e-3,
        schedule="constant",
        input_dtype="float64",
        validation_size=0,
        validate_on_test=True,
        label="seed",
    )
    return base.replace(**overrides)


#: Where the book recipe's cosine decay ends (unless the peak rate asked for is lower).
BOOK_MIN_LEARNING_RATE = 1e-5


def _cosine_floor(learning_rate: Any) -> Any:
    """The book's floor, or ``learning_rate`` itself when that is a lower number (anything else is left to check)."""
    if isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool) and 0 < learning_rate:
        return min(BOOK_MIN_LEARNING_RATE, learning_rate)
    return BOOK_MIN_LEARNING_RATE


def book_recipe(**overrides: Any) -> TrainingConfig:
    """The book's recipe: the seed's LSTM(128), trained faster and validated honestly.

    Batch 128; adam peaking at 6e-3 after a 0.3-epoch warm-up, then cosine
    decay; each weight tensor's gradient clipped to norm 1; an exponential
    moving average of the weights (0.995) overwrites the weights every epoch,
    so it is what gets validated, trained on and stored; training images
    shifted at random by up to 2 pixels. The code that trains it is
    :func:`rnn_mnist.recipe.fit_recipe`. ``docs/performance.md`` says what each choice
    bought, measured against :func:`seed_recipe`.

    A ``learning_rate`` below the decay's floor (1e-5) lowers the floor to it, so
    the only rate a caller sets is the one that is checked.
    """
    if "min_learning_rate" not in overrides and "learning_rate" in overrides:
        overrides = dict(overrides, min_learning_rate=_cosine_floor(overrides["learning_rate"]))
    base = TrainingConfig(
        epochs=10,
        batch_size=128,
        learning_rate=6e-3,
        schedule="warmup_cosine",
        warmup_epochs=0.3,
        min_learning_rate=BOOK_MIN_LEARNING_RATE,
        clipnorm=1.0,
        ema_momentum=0.995,
        shift_pixels=2,
        input_dtype="float32",
        validation_size=5_000,
        label="book",
    )
    return base.replace(**overrides)


#: The name the package used first for :func:`book_recipe`; kept so older notebooks and scripts still run.
default_config = book_recipe

RECIPES = {"seed": seed_recipe, "book": book_recipe}


def recipe(name: str, **overrides: Any) -> TrainingConfig:
    """Look up a named recipe (``"seed"`` or ``"book"``) and apply overrides."""
    if name not in RECIPES:
        raise ConfigError("recipe", name, "one of " + ", ".join(repr(r) for r in RECIPES))
    return RECIPES[name](**overrides)


# -- the chapters' own parameters ---------------------------------------------------
def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        # papermill's `-p name false` passes the string "false", which Python reads as true.
        raise ConfigError(
            name, value,
            f"True or False, a real boolean (with papermill: `-p {name} False`, or YAML `-y '{name}: false'`)",
        )


def _check_thresholds(name: str, value: Any) -> None:
    allowed = "a list of 1 to 5 different accuracies in (0, 1], each a whole percentage, such as [0.95, 0.98]"
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 5:
        raise ConfigError(name, value, allowed)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise ConfigError(name, value, allowed)
        if not 0 < item <= 1 or abs(item * 100 - round(item * 100)) > 1e-9:
            raise ConfigError(name, value, allowed)
    if len({round(item * 100) for item in value}) != len(value):
        raise ConfigError(name, value, allowed)


#: Every parameter a chapter declares beyond :func:`config_from_parameters`'s (``recipe_name``
#: and the fields of :class:`TrainingConfig`), with its check. The ranges are what the
#: chapters can draw and measure: at most 100 mistake panels; images from the 10,000 test
#: images; a parameter budget from 1,000 (the dense baseline's smallest model has 805
#: parameters) to 1,000,000 (every contender stays within 4096 units).
CHAPTER_PARAMETERS = {
    "compare_with_seed": _check_bool,
    "mistakes_to_show": lambda name, value: _check_int(name, value, 1, 100),
    "analysis_images": lambda name, value: _check_int(name, value, 1, TEST_POOL_SIZE),
    "parameter_budget": lambda name, value: _check_int(name, value, 1_000, 1_000_000),
    "accuracy_thresholds": _check_thresholds,
    "latency_repeats": lambda name, value: _check_int(name, value, 1, 1_000),
    "large_batch": lambda name, value: _check_int(name, value, 1, TEST_POOL_SIZE),
}


def check_parameters(**parameters: Any) -> None:
    """Check a chapter's own parameters (those :class:`TrainingConfig` does not hold).

    Raises :class:`ConfigError` naming the first parameter whose type or range is
    wrong, like the config does; booleans accept only ``True`` or ``False``.
    A chapter calls it right after its ``parameters`` cell, e.g.
    ``check_parameters(compare_with_seed=compare_with_seed)``.
    """
    for name, value in parameters.items():
        if name not in CHAPTER_PARAMETERS:
            raise ConfigError(name, value, "a chapter parameter: " + ", ".join(CHAPTER_PARAMETERS))
        CHAPTER_PARAMETERS[name](name, value)


def config_from_parameters(recipe_name: str = "book", **parameters: Any) -> TrainingConfig:
    """The config a chapter's ``parameters`` cell asks for.

    ``None`` means "the recipe's own value", so a parameters cell can list every
    knob without restating the recipe's defaults. An unknown recipe is named as
    the chapters' parameter, ``recipe_name``.
    """
    if not isinstance(recipe_name, str) or recipe_name not in RECIPES:
        raise ConfigError("recipe_name", recipe_name, "one of " + ", ".join(repr(r) for r in RECIPES))
    return recipe(recipe_name, **{k: v for k, v in parameters.items() if v is not None})
