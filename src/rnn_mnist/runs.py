"""Stored training runs, keyed by the hash of their config.

``ensure_trained(config)`` is what every chapter calls: it returns the stored
run for ``config`` when a complete one exists, and trains it otherwise. Runs
live in ``<runs_dir>/<config.run_id()>/``; a lock file beside each run makes a
second process asking for the same run wait and then reuse it, instead of
training it again or writing over it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .config import TrainingConfig
from .paths import exclusive_lock, project_home
from .training import (
    BEST_MODEL_FILE,
    CONFIG_JSON,
    HISTORY_CSV,
    METRICS_JSON,
    MODEL_FILE,
    PREDICTIONS_NPZ,
    read_history,
    train_into,
)

REQUIRED_FILES = (CONFIG_JSON, HISTORY_CSV, MODEL_FILE, PREDICTIONS_NPZ, METRICS_JSON)


def default_runs_dir() -> Path:
    """``RNN_MNIST_RUNS`` if set, else ``<project home>/runs``."""
    configured = os.environ.get("RNN_MNIST_RUNS")
    return Path(configured).expanduser() if configured else project_home() / "runs"


@dataclass(frozen=True)
class TrainingRun:
    """A finished run on disk: config, history, metrics, predictions and model."""

    run_dir: Path
    config: TrainingConfig

    @cached_property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.run_dir / METRICS_JSON).read_text())

    @cached_property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch values: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``epoch_seconds`` ..."""
        return read_history(self.run_dir / HISTORY_CSV)

    @cached_property
    def predictions(self) -> dict[str, np.ndarray]:
        """``test_indices``, ``y_true`` and ``probabilities`` (n_test x 10) on the test set."""
        with np.load(self.run_dir / PREDICTIONS_NPZ, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}

    @property
    def y_true(self) -> np.ndarray:
        return self.predictions["y_true"]

    @property
    def probabilities(self) -> np.ndarray:
        return self.predictions["probabilities"]

    @property
    def y_pred(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def test_accuracy(self) -> float:
        return float(self.metrics["test_accuracy"])

    def load_model(self, best: bool = False):
        """The trained Keras model (the final one, or the best by validation loss)."""
        import keras

        return keras.saving.load_model(self.run_dir / (BEST_MODEL_FILE if best else MODEL_FILE))

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "TrainingRun":
        run_dir = Path(run_dir)
        if not is_complete(run_dir):
            missing = [name for name in REQUIRED_FILES if not (run_dir / name).is_file()]
            raise FileNotFoundError(
                f"{run_dir} is not a complete run (missing: {', '.join(missing)}); "
                "call ensure_trained(config) to train it."
            )
        config = TrainingConfig.from_dict(json.loads((run_dir / CONFIG_JSON).read_text()))
        return cls(run_dir=run_dir, config=config)


def is_complete(run_dir: Path) -> bool:
    return all((Path(run_dir) / name).is_file() for name in REQUIRED_FILES)


def run_dir_for(config: TrainingConfig, runs_dir: str | os.PathLike | None = None) -> Path:
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    return root / config.run_id()


def find_run(config: TrainingConfig, runs_dir: str | os.PathLike | None = None) -> TrainingRun | None:
    """The stored run for ``config`` if it is complete, else ``None``."""
    run_dir = run_dir_for(config, runs_dir)
    return TrainingRun(run_dir, config) if is_complete(run_dir) else None


def ensure_trained(
    config: TrainingConfig,
    runs_dir: str | os.PathLike | None = None,
    *,
    verbose: int | str = 2,
    **train_options: Any,
) -> TrainingRun:
    """The stored run for ``config``, training it first if it does not exist yet."""
    run_dir = run_dir_for(config, runs_dir)
    existing = find_run(config, runs_dir)
    if existing is not None:
        return existing
    with exclusive_lock(run_dir.with_name(run_dir.name + ".lock")):
        if not is_complete(run_dir):  # another process may have finished it while we waited
            train_into(config, run_dir, verbose=verbose, **train_options)
    return TrainingRun(run_dir, config)
