"""Train a config inside a run directory and store what the chapters read.

:func:`train_into` is the run store's worker (:func:`rnn_mnist.runs.ensure_trained`
calls it). Each function below has one job:

* :func:`fit_into` builds the model and fits it with the book's recipe,
  :func:`rnn_mnist.recipe.fit_recipe` (the code chapter 3 shows), adding
  Keras's own callbacks for the per-epoch log (``CSVLogger``), resuming an
  interrupted run (``BackupAndRestore``) and the best model so far
  (:class:`SaveBestModel`);
* :func:`evaluate_and_predict` scores the finished model on the test set, once;
* :func:`store_run` writes the model, the predictions and finally
  ``metrics.json``, whose presence marks the run complete.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from .config import TrainingConfig
from .device import describe_device, library_versions, make_deterministic
from .model import build_model_for
from .paths import atomic_write_npz, atomic_write_text
from .recipe import fit_recipe
from .splits import DataSplits, make_splits

HISTORY_CSV = "history.csv"
METRICS_JSON = "metrics.json"
CONFIG_JSON = "config.json"
MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
PREDICTIONS_NPZ = "predictions.npz"
BACKUP_DIR = "backup"
#: Images per batch when the finished model is evaluated and predicts the test set (changes no result).
EVALUATION_BATCH_SIZE = 1024


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch, validation included) to the logs.

    Placed before ``CSVLogger``, so the time is written to the per-epoch log
    and survives a resumed run.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.epoch_started


class SaveBestModel(keras.callbacks.Callback):
    """Saves ``stored_model`` to ``path`` whenever the validation loss reaches a new low.

    ``fit`` runs the training model (the stored model behind the random
    shifts); ``stored_model`` shares its layers and weights and has no
    augmentation, so it is what gets saved. (Keras's ``ModelCheckpoint``
    would save the training model itself.)
    """

    def __init__(self, stored_model: keras.Model, path: Path, monitor: str = "val_loss"):
        super().__init__()
        self.stored_model = stored_model
        self.path = Path(path)
        self.monitor = monitor
        self.best = math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not value < self.best:
            return
        self.best = float(value)
        self.model  # noqa: B018 -- reading the property brings JAX's training state back into the variables
        save_model_atomic(self.stored_model, self.path)


def steps_per_epoch(config: TrainingConfig) -> int:
    return math.ceil(config.effective_train_size / config.batch_size)


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The per-epoch log as ``{column: [value per epoch]}`` (``epoch`` included)."""
    import csv

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = rows[0].keys() if rows else []
    return {name: [float(row[name]) for row in rows] for name in columns}


@dataclass
class FitResult:
    model: keras.Model  # the stored model: the recipe's LSTM and Dense, no augmentation
    fit_seconds: float


def fit_into(
    config: TrainingConfig,
    run_dir: Path,
    splits: DataSplits,
    *,
    verbose: int | str = "auto",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> FitResult:
    """Build the config's model and fit it with :func:`~rnn_mnist.recipe.fit_recipe`, logging into ``run_dir``."""
    align_history_with_backup(run_dir)
    model = build_model_for(config)
    # Compiled for evaluation, so best.keras loads ready for evaluate (fit_recipe compiles what it fits).
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [
        EpochTimer(),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_CSV), append=True),
        SaveBestModel(model, run_dir / BEST_MODEL_FILE),
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR), double_checkpoint=True),
        *extra_callbacks,
    ]
    started = time.perf_counter()
    history = fit_recipe(model, config, splits, callbacks=callbacks, verbose=verbose)
    fit_seconds = time.perf_counter() - started
    # The stored model carries the optimizer that trained it, so it loads ready to evaluate.
    trainer = history.model
    model.compile(optimizer=trainer.optimizer, loss=trainer.loss, metrics=["accuracy"])
    return FitResult(model=model, fit_seconds=fit_seconds)


def evaluate_and_predict(model: keras.Model, splits: DataSplits) -> dict[str, Any]:
    """Test loss and accuracy (``evaluate``) and the class probabilities of every test image (``predict``)."""
    test_loss, test_accuracy = model.evaluate(splits.x_test, splits.y_test, batch_size=EVALUATION_BATCH_SIZE, verbose=0)
    probabilities = model.predict(splits.x_test, batch_size=EVALUATION_BATCH_SIZE, verbose=0)
    return {
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "probabilities": np.asarray(probabilities, dtype=np.float32),
    }


def store_run(
    config: TrainingConfig,
    run_dir: Path,
    splits: DataSplits,
    fitted: FitResult,
    scores: dict[str, Any],
    *,
    execution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the model, the test predictions and, last, ``metrics.json``; returns the metrics."""
    from .lab.distribute import describe_distribution

    save_model_atomic(fitted.model, run_dir / MODEL_FILE)
    atomic_write_npz(
        run_dir / PREDICTIONS_NPZ,
        test_indices=splits.test_indices,
        y_true=splits.y_test,
        probabilities=scores["probabilities"],
    )
    epoch_seconds = read_history(run_dir / HISTORY_CSV).get("epoch_seconds", [])
    metrics = {
        "run_id": config.run_id(),
        "label": config.label,
        "test_loss": scores["test_loss"],
        "test_accuracy": scores["test_accuracy"],
        "epochs": config.epochs,
        "epoch_seconds": epoch_seconds,
        "seconds_per_epoch": float(np.median(epoch_seconds)) if epoch_seconds else None,
        "train_seconds": float(sum(epoch_seconds)),
        "fit_call_seconds": fitted.fit_seconds,
        "parameters": int(fitted.model.count_params()),
        "sizes": splits.summary(),
        "validation_is_test": splits.validation_is_test,
        "data_source": splits.source,
        "device": describe_device(config),
        "execution": execution or {},
        "distribution": describe_distribution(),
        "versions": library_versions(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    atomic_write_text(run_dir / METRICS_JSON, json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def train_into(
    config: TrainingConfig,
    run_dir: Path,
    *,
    splits: DataSplits | None = None,
    verbose: int | str = "auto",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    distribution: Any | None = None,
) -> dict[str, Any]:
    """Train ``config`` inside ``run_dir`` and write every artefact; returns the metrics.

    Writes ``config.json``, ``history.csv``, ``best.keras``, ``model.keras``,
    ``predictions.npz`` and finally ``metrics.json``. If ``run_dir`` holds the
    backup of an interrupted attempt, training resumes from it.
    ``distribution`` (:func:`rnn_mnist.lab.distribute.data_parallel`) trains
    data-parallel on several devices, see :mod:`rnn_mnist.lab.distribute`.
    """
    from .lab.cpu_threads import apply_cpu_threads_for_this_machine
    from .lab.distribute import distributed_config, distribution_scope

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_JSON, json.dumps(config.to_dict(), indent=2, sort_keys=True))
    threads = apply_cpu_threads_for_this_machine()  # a speed setting only: before TensorFlow's first op
    make_deterministic(config.seed)
    splits = splits if splits is not None else make_splits(config)
    with distribution_scope(distribution):
        fitted = fit_into(
            distributed_config(config, distribution), run_dir, splits,
            verbose=verbose, extra_callbacks=extra_callbacks,
        )
        scores = evaluate_and_predict(fitted.model, splits)
        execution = {"cpu_threads_in_effect": threads, "weight_average": bool(fitted.model.optimizer.use_ema)}
        return store_run(config, run_dir, splits, fitted, scores, execution=execution)


def align_history_with_backup(run_dir: Path) -> None:
    """Keep exactly the logged epochs that the backup will resume after.

    Without a backup the run starts from epoch 0, so an old log is dropped;
    with one, log rows past the backed-up epoch (written just before a crash)
    are cut, so a resumed run never logs an epoch twice.
    """
    csv_path = run_dir / HISTORY_CSV
    metadata = run_dir / BACKUP_DIR / "training_metadata.json"
    if not csv_path.exists():
        return
    if not metadata.exists():
        csv_path.unlink()
        return
    completed_epochs = int(json.loads(metadata.read_text())["epoch"])
    lines = csv_path.read_text().splitlines(keepends=True)
    atomic_write_text(csv_path, "".join(lines[: 1 + completed_epochs]))


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """``model.save(path)`` through a temporary file, so a crash never leaves half a model at ``path``."""
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, path)
