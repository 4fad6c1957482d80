"""Train a config inside a run directory and store what the chapters read.

:func:`train_into` is the run store's worker (:func:`rnn_mnist.runs.ensure_trained`
calls it). Each function below has one job:

* :func:`fit_into` builds the model and fits it with the book's recipe,
  :func:`rnn_mnist.recipe.fit_recipe` (the code chapter 3 shows), adding
  Keras's own callbacks for the per-epoch log (``CSVLogger``), resuming an
  interrupted run (:class:`ResumeFromBackup`, Keras's ``BackupAndRestore``
  with two checkpoints) and the best model so far (:class:`SaveBestModel`);
* :func:`evaluate_and_predict` scores the finished model on the test set, once;
* :func:`store_run` writes the model, the predictions and finally
  ``metrics.json``, whose presence marks the run complete and which records
  the size and SHA-256 of every other file of the run (``artefacts``), so a
  damaged run is recognised (:func:`rnn_mnist.runs.check_run`).

A resume checkpoint that cannot be read (a kill or a full disk during
Keras's backup write) is reported in one line and the run starts afresh.
"""

from __future__ import annotations

import errno
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
from .paths import StorageError, atomic_write_npz, atomic_write_text, file_sha256, warn
from .recipe import fit_recipe
from .runs import (
    BACKUP_DIR,
    BEST_MODEL_FILE,
    CHECKSUMMED_FILES,
    CONFIG_JSON,
    FIRST_EPOCH_COLUMN,
    HISTORY_CSV,
    METRICS_DIGEST,
    METRICS_JSON,
    MODEL_FILE,
    PREDICTIONS_NPZ,
    links_in_run,
    metrics_digest,
    read_history,
)
from .splits import DataSplits, make_splits

__all__ = [
    "BACKUP_DIR", "BEST_MODEL_FILE", "CHECKSUMMED_FILES", "CONFIG_JSON", "EVALUATION_BATCH_SIZE", "FIRST_EPOCH_COLUMN",
    "HISTORY_CSV", "METRICS_JSON", "MODEL_FILE", "PREDICTIONS_NPZ", "EpochTimer", "FitResult", "ResumeFromBackup",
    "SaveBestModel", "UnreadableBackup", "align_history_with_backup", "artefact_records", "backup_epoch",
    "check_history_epochs", "discard_backup", "unreadable_checkpoint", "evaluate_and_predict", "fit_into", "is_disk_full",
    "keep_optimizer_state_apart", "logged_best", "read_history", "refuse_links", "save_model_atomic", "steps_per_epoch",
    "store_run", "train_into", "weights_readable",
]
#: Images per batch when the finished model is evaluated and predicts the test set (changes no result).
EVALUATION_BATCH_SIZE = 1024


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch, validation included) to the logs.

    The first epoch of every ``fit`` call also pays for tracing (or compiling)
    the training step, and a resumed run has one such epoch at each restart,
    in the middle of the run. It is marked with ``first_epoch_of_fit = 1``
    (0 for the others), so its time is not mistaken for an ordinary epoch's.
    Placed before ``CSVLogger``, so both are written to the per-epoch log
    and survive a resumed run.
    """

    def __init__(self):
        super().__init__()
        self.first_of_fit = True

    def on_train_begin(self, logs=None):
        self.first_of_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.epoch_started
            logs[FIRST_EPOCH_COLUMN] = 1.0 if self.first_of_fit else 0.0
        self.first_of_fit = False


class UnreadableBackup(RuntimeError):
    """The resume checkpoint of an interrupted run cannot be loaded."""


class ResumeFromBackup(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore`` with two checkpoints; an unreadable backup raises :class:`UnreadableBackup`.

    Keras itself falls back to the previous checkpoint when the latest
    weights cannot be read; when neither can, it raises whatever the file
    library raised. :func:`train_into` catches :class:`UnreadableBackup` and
    starts the run afresh.
    """

    def __init__(self, backup_dir: Path):
        super().__init__(str(backup_dir), double_checkpoint=True)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UnreadableBackup(f"{type(error).__name__}: {error}".splitlines()[0]) from error


def logged_best(run_dir: Path, monitor: str = "val_loss") -> float:
    """The lowest ``monitor`` in the run's per-epoch log, if its best model was saved; else infinity.

    A resumed run passes it to :class:`SaveBestModel`, so an epoch trained after
    the resume replaces ``best.keras`` only if it beats every epoch before it.
    Call it after :func:`align_history_with_backup`, which leaves only the epochs
    the backup resumes after.
    """
    csv_path = run_dir / HISTORY_CSV
    if not (run_dir / BEST_MODEL_FILE).exists() or not csv_path.exists():
        return math.inf
    values = [value for value in read_history(csv_path).get(monitor, []) if math.isfinite(value)]
    return min(values, default=math.inf)


class SaveBestModel(keras.callbacks.Callback):
    """Saves ``stored_model`` to ``path`` whenever the validation loss reaches a new low.

    ``fit`` runs the training model (the stored model behind the random
    shifts); ``stored_model`` shares its layers and weights and has no
    augmentation, so it is what gets saved. (Keras's ``ModelCheckpoint``
    would save the training model itself.)
    """

    def __init__(self, stored_model: keras.Model, path: Path, monitor: str = "val_loss", best: float = math.inf):
        super().__init__()
        self.stored_model = stored_model
        self.path = Path(path)
        self.monitor = monitor
        self.best = best  # a resumed run starts from the best of the epochs it already logged

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not value < self.best:
            return
        self.best = float(value)
        self.model  # noqa: B018 -- reading the property brings JAX's training state back into the variables
        save_model_atomic(self.stored_model, self.path)


def steps_per_epoch(config: TrainingConfig) -> int:
    return math.ceil(config.effective_train_size / config.batch_size)


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
        SaveBestModel(model, run_dir / BEST_MODEL_FILE, best=logged_best(run_dir)),
        ResumeFromBackup(run_dir / BACKUP_DIR),
        *extra_callbacks,
    ]
    started = time.perf_counter()
    history = fit_recipe(model, config, splits, callbacks=callbacks, verbose=verbose)
    fit_seconds = time.perf_counter() - started
    # The stored model carries the optimizer that trained it, so it loads ready to evaluate.
    trainer = history.model
    keep_optimizer_state_apart(trainer.optimizer)
    model.compile(optimizer=trainer.optimizer, loss=trainer.loss, metrics=["accuracy"])
    return FitResult(model=model, fit_seconds=fit_seconds)


def keep_optimizer_state_apart(optimizer: keras.optimizers.Optimizer) -> None:
    """Give every variable of ``optimizer`` an array of its own.

    On JAX, the weight average's last overwrite leaves each weight and its
    average holding one and the same array; ``evaluate`` then donates the
    weights' buffers to XLA, which deletes the averages the stored optimizer
    is saved with ("Array has been deleted", Keras 3.15). A copy of each
    optimizer variable keeps the two apart. On TensorFlow, whose variables
    own their buffers, it changes nothing.
    """
    for variable in optimizer.variables:
        variable.assign(keras.ops.copy(variable))


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
        test_indices=np.asarray(splits.test_indices, dtype="<i8"),  # the layout TrainingRun.predictions checks
        y_true=np.asarray(splits.y_test, dtype="<i8"),
        probabilities=np.asarray(scores["probabilities"], dtype="<f4"),
    )
    history = read_history(run_dir / HISTORY_CSV)
    check_history_epochs(run_dir, history, config.epochs)
    epoch_seconds = history.get("epoch_seconds", [])
    first_of_fit = [int(i) for i, flag in enumerate(history.get(FIRST_EPOCH_COLUMN, [])) if flag]
    steady = [s for i, s in enumerate(epoch_seconds) if i not in first_of_fit] or epoch_seconds
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    metrics = {
        "run_id": config.run_id(),
        "label": config.label,
        "test_loss": scores["test_loss"],
        "test_accuracy": scores["test_accuracy"],
        "epochs": config.epochs,
        "epoch_seconds": epoch_seconds,
        # the median of the epochs that did not start a fit call (those also trace the step)
        "seconds_per_epoch": float(np.median(steady)) if steady else None,
        "first_epochs_of_fit": first_of_fit,
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
        "artefacts": artefact_records(run_dir),
    }
    metrics[METRICS_DIGEST] = metrics_digest(metrics)  # metrics.json's own checksum, over what it holds
    atomic_write_text(run_dir / METRICS_JSON, json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def check_history_epochs(run_dir: Path, history: dict[str, list[float]], epochs: int) -> None:
    """Refuse to store a run whose per-epoch log is not exactly epochs 0, 1, ..., ``epochs - 1``.

    A resume that trained an epoch twice (or skipped one) would otherwise be
    stored as intact; the run is left unfinished instead, with its log.
    """
    logged = history.get("epoch", [])
    if logged != [float(epoch) for epoch in range(epochs)]:
        shown = ", ".join(f"{value:g}" for value in logged[:12]) + (" ..." if len(logged) > 12 else "")
        raise RuntimeError(f"run {run_dir.name}: its per-epoch log holds epochs {shown or 'none'}, "
                           f"not 0 to {epochs - 1}; it was not stored (retrain it with --retrain)")


def artefact_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``{file name: {"bytes": size, "sha256": digest}}`` for each of :data:`CHECKSUMMED_FILES` present."""
    return {
        name: {"bytes": (run_dir / name).stat().st_size, "sha256": file_sha256(run_dir / name)}
        for name in CHECKSUMMED_FILES
        if (run_dir / name).is_file()
    }


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
    backup of an interrupted attempt, training resumes from it; if that backup
    cannot be read, a one-line warning says so and the run starts afresh.
    ``distribution`` (:func:`rnn_mnist.lab.distribute.data_parallel`) trains
    data-parallel on several devices, see :mod:`rnn_mnist.lab.distribute`.
    """
    run_dir = Path(run_dir)
    refuse_links(run_dir)
    options = dict(splits=splits, verbose=verbose, extra_callbacks=extra_callbacks, distribution=distribution)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / CONFIG_JSON, json.dumps(config.to_dict(), indent=2, sort_keys=True))
        try:
            return _train_once(config, run_dir, **options)
        except UnreadableBackup as error:
            warn(f"run {run_dir.name}: its resume checkpoint cannot be read ({error}); starting the run afresh")
            discard_backup(run_dir)
            return _train_once(config, run_dir, **options)
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise StorageError(f"run {run_dir.name}: the disk holding {run_dir.parent} is full ({error.strerror or error}); "
                           "free some space and run the same command again: it resumes from the last finished "
                           "epoch") from None


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the disk or the quota is full."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def refuse_links(run_dir: Path) -> None:
    """Raise :class:`StorageError` if the run directory is, or holds, a symbolic link.

    Training writes only inside the run store: a link would send its writes
    (the resume checkpoint, the log, the models) somewhere else.
    """
    links = links_in_run(run_dir)
    if links:
        raise StorageError(f"run {run_dir.name}: {', '.join(links)} in {run_dir.parent} is a symbolic link, and "
                           "the run store holds no links; remove the link (or move the run aside) and try again")


def _train_once(config, run_dir, *, splits, verbose, extra_callbacks, distribution) -> dict[str, Any]:
    """One attempt of :func:`train_into` (seeded from scratch, so a restart trains what a fresh run would)."""
    from .lab.cpu_threads import apply_cpu_threads_for_this_machine
    from .lab.distribute import distributed_config, distribution_scope

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


def backup_epoch(metadata: Path) -> int | None:
    """The finished epochs a backup's ``training_metadata.json`` records; ``None`` if it cannot be read."""
    try:
        epoch = json.loads(metadata.read_text())["epoch"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None


def discard_backup(run_dir: Path) -> None:
    """Remove the backup and what was logged with it, so the run starts from epoch 0."""
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    for name in (HISTORY_CSV, BEST_MODEL_FILE):
        (run_dir / name).unlink(missing_ok=True)


def align_history_with_backup(run_dir: Path) -> None:
    """Keep exactly the logged epochs that the backup will resume after.

    Without a backup the run starts from epoch 0, so an old log is dropped;
    with one, log rows past the backed-up epoch (written just before a crash)
    are cut, so a resumed run never logs an epoch twice. If the latest
    ``training_metadata.json`` or ``latest.weights.h5`` cannot be read, the previous checkpoint that
    ``double_checkpoint`` keeps (``*.bkp``) takes its place; if there is none,
    a one-line warning says so and the run starts afresh.
    """
    backup = run_dir / BACKUP_DIR
    metadata = backup / "training_metadata.json"
    unreadable = unreadable_checkpoint(metadata, backup / "latest.weights.h5")
    if backup.is_dir() and unreadable:
        previous = [backup / "training_metadata.json.bkp", backup / "latest.weights.h5.bkp"]
        if not unreadable_checkpoint(*previous):
            warn(f"run {run_dir.name}: its latest resume checkpoint cannot be read ({unreadable}); "
                 "resuming from the one before")
            os.replace(previous[0], metadata)
            os.replace(previous[1], backup / "latest.weights.h5")
        else:
            if any(backup.iterdir()):
                warn(f"run {run_dir.name}: its resume checkpoint cannot be read ({unreadable}); "
                     "starting the run afresh")
            discard_backup(run_dir)
    csv_path = run_dir / HISTORY_CSV
    if not csv_path.exists():
        return
    if not metadata.exists():
        csv_path.unlink()
        return
    completed_epochs = backup_epoch(metadata)
    lines = csv_path.read_text().splitlines(keepends=True)
    atomic_write_text(csv_path, "".join(lines[: 1 + completed_epochs]))


def unreadable_checkpoint(metadata: Path, weights: Path) -> str:
    """The name of the file that keeps a resume checkpoint from being used, or ``""`` if it can be.

    Both are checked, so the epoch the log is cut at is the epoch Keras resumes
    from (Keras would fall back to the previous checkpoint by itself when the
    weights cannot be read, after the log was cut for the latest one).
    """
    if backup_epoch(metadata) is None:
        return metadata.name
    return "" if weights_readable(weights) else weights.name


def weights_readable(path: Path) -> bool:
    """Whether ``path`` is an HDF5 weights file that opens and whose datasets can all be listed."""
    import h5py  # Keras's own weights format

    try:
        with h5py.File(path, "r") as weights:
            weights.visit(lambda name: None)
    except (OSError, ValueError, RuntimeError):
        return False
    return True


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """``model.save(path)`` through a temporary file, so a crash never leaves half a model at ``path``."""
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
