"""rnn_mnist: how a recurrent network reads a handwritten digit, row by row.

The package behind the book. The lesson, one module per arrow::

    config.TrainingConfig -> data.load_mnist_arrays -> splits.make_splits
      -> model.build_model -> recipe.fit_recipe (what chapter 3 shows)
      -> runs.ensure_trained (a cache around it: training.train_into)
      -> analysis / plots (chapters) -> book (papermill + Jupyter Book)

:mod:`rnn_mnist.lab` holds what exists for speed or for several devices;
no chapter needs it.
"""

from .config import (
    ConfigError,
    TrainingConfig,
    book_recipe,
    check_parameters,
    config_from_parameters,
    default_config,
    recipe,
    seed_recipe,
)
from .data import CLASS_NAMES, DataSourceError, VerificationError, load_mnist, load_mnist_arrays
from .model import build_model, lstm_parameter_count
from .runs import TrainingRun, ensure_trained, find_run
from .splits import make_splits, scale_images

__all__ = [
    "CLASS_NAMES",
    "ConfigError",
    "DataSourceError",
    "TrainingConfig",
    "TrainingRun",
    "VerificationError",
    "book_recipe",
    "build_model",
    "check_parameters",
    "config_from_parameters",
    "default_config",
    "ensure_trained",
    "find_run",
    "load_mnist",
    "load_mnist_arrays",
    "lstm_parameter_count",
    "make_splits",
    "recipe",
    "scale_images",
    "seed_recipe",
]
__version__ = "0.1.0"
