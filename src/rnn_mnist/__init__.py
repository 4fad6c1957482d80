"""rnn_mnist: how a recurrent network reads a handwritten digit, row by row.

The package behind the book. The lesson, one module per arrow::

    config.TrainingConfig -> data.load_mnist_arrays -> splits.make_splits
      -> model.build_model -> recipe.fit_recipe (what chapter 3 shows)
      -> runs.ensure_trained (a cache around it: training.train_into)
      -> analysis / plots (chapters) -> book (papermill + Jupyter Book)

:mod:`rnn_mnist.lab` holds what exists for speed or for several devices;
no chapter needs it.
"""

import importlib
import os
from typing import Any

# TensorFlow's C++ log threshold, read once when TensorFlow is imported (every chapter imports this
# package first): 3 keeps ERROR-level start-up lines such as "failed call to cuInit" and "NodeDef mentions
# attribute" out of a chapter; Python's errors, warnings and tracebacks are not affected. A value already
# set is kept. What each setting silences, measured: rnn_mnist/lab/quiet.py.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Names are imported on first use (PEP 562), so ``import rnn_mnist`` and the
# ``rnn-mnist`` command load no TensorFlow or Keras until something needs them:
# the command checks its arguments first, and answers a typo at once.
_EXPORTS = {
    "ConfigError": "config",
    "TrainingConfig": "config",
    "book_recipe": "config",
    "check_parameters": "config",
    "config_from_parameters": "config",
    "default_config": "config",
    "recipe": "config",
    "seed_recipe": "config",
    "CLASS_NAMES": "data",
    "DataSourceError": "data",
    "VerificationError": "data",
    "load_mnist": "data",
    "load_mnist_arrays": "data",
    "build_model": "model",
    "lstm_parameter_count": "model",
    "TrainingRun": "runs",
    "ensure_trained": "runs",
    "find_run": "runs",
    "make_splits": "splits",
    "scale_images": "splits",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
