"""Stored training runs, keyed by the hash of their config.

``ensure_trained(config)`` is what every chapter calls: it returns the stored
run for ``config`` when an intact one exists, and trains it otherwise. Runs
live in ``<runs_dir>/<config.run_id()>/``; a lock file beside each run makes a
second process asking for the same run wait and then reuse it, instead of
training it again or writing over it.

A stored run is served only if it is intact (:func:`check_run`): its
``metrics.json``, written last, records the size and SHA-256 of every other
file of the run, and each file must still match. A run that fails the check
is named in a one-line warning, moved aside (renamed
``<run>.damaged-<UTC time>``, never deleted) and trained again. A run stored
before the checksums existed cannot be verified and is treated the same way.
A run without ``metrics.json`` is an interrupted one: training resumes it.

This module does not import Keras (training does, when a run is trained),
so checking the stored runs (``rnn-mnist runs verify``) is quick.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError, TrainingConfig
from .paths import default_runs_dir, exclusive_lock, file_sha256, lock_if_free, move_aside, warn

__all__ = [
    "REQUIRED_FILES", "DamagedRunError", "RunCheck", "TrainingRun", "check_run", "default_runs_dir",
    "ensure_trained", "find_run", "is_complete", "read_history", "run_dir_for", "stored_runs", "train_into",
    "verify_runs",
]

# What a run directory holds (written by rnn_mnist.training).
HISTORY_CSV = "history.csv"
METRICS_JSON = "metrics.json"
CONFIG_JSON = "config.json"
MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
PREDICTIONS_NPZ = "predictions.npz"
BACKUP_DIR = "backup"
#: Files of a finished run whose size and SHA-256 ``metrics.json`` records (``best.keras`` when it was saved).
CHECKSUMMED_FILES = (CONFIG_JSON, HISTORY_CSV, MODEL_FILE, BEST_MODEL_FILE, PREDICTIONS_NPZ)
#: History column: 1 for the first epoch of a ``fit`` call (it includes tracing the training step), else 0.
FIRST_EPOCH_COLUMN = "first_epoch_of_fit"
#: Files every finished run has (``best.keras`` too, unless no epoch ever improved the validation loss).
REQUIRED_FILES = (CONFIG_JSON, HISTORY_CSV, MODEL_FILE, PREDICTIONS_NPZ, METRICS_JSON)
#: Values of ``metrics.json`` that the command and the chapters read.
REQUIRED_METRICS = ("test_accuracy", "test_loss", "epochs", "seconds_per_epoch", "train_seconds", "device")
#: Suffix of a run directory that was moved aside (``.damaged-`` or ``.replaced-`` and a UTC time).
MOVED_ASIDE = re.compile(r"\.(damaged|replaced)-\d{8}T\d{6}Z(-\d+)?$")


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The per-epoch log as ``{column: [value per epoch]}`` (``epoch`` included)."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = rows[0].keys() if rows else []
    return {name: [float(row[name]) for row in rows] for name in columns}


def train_into(config: TrainingConfig, run_dir: Path, **options: Any) -> dict[str, Any]:
    """:func:`rnn_mnist.training.train_into` (imported when a run is trained: it loads Keras)."""
    from .training import train_into as train

    return train(config, run_dir, **options)


class DamagedRunError(ValueError):
    """A stored run failed its integrity check (the message says which run and why)."""


@dataclass(frozen=True)
class TrainingRun:
    """A finished run on disk: config, history, metrics, predictions and model.

    ``trained_now`` is True when the call that returned it trained the run
    (False when a stored run was reused, also one another process finished
    while this one waited for the lock).
    """

    run_dir: Path
    config: TrainingConfig
    trained_now: bool = field(default=False, compare=False)

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
        from .data import read_npz_checked  # checks every member's header before reading its data

        n = self.config.effective_test_size
        layout = {"test_indices": (np.dtype("<i8"), (n,)), "y_true": (np.dtype("<i8"), (n,)),
                  "probabilities": (np.dtype("<f4"), (n, 10))}
        return read_npz_checked(self.run_dir / PREDICTIONS_NPZ, layout)

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
        """The run stored in ``run_dir``; :class:`DamagedRunError` if it is unfinished or fails :func:`check_run`."""
        run_dir = Path(run_dir)
        check = check_run(run_dir)
        if not check.ok:
            raise DamagedRunError(f"{run_dir} cannot be used: {check.reason}; call ensure_trained(config) to train it.")
        config = TrainingConfig.from_dict(json.loads((run_dir / CONFIG_JSON).read_text()))
        return cls(run_dir=run_dir, config=config)


@dataclass(frozen=True)
class RunCheck:
    """The verdict of :func:`check_run`: ``status`` is ``"ok"``, ``"unfinished"`` or ``"damaged"``."""

    run_dir: Path
    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def line(self) -> str:
        """One line for a person: the run's name, its status and, unless ok, why."""
        return f"{self.run_dir.name}: {self.status}" + (f" ({self.reason})" if self.reason else "")


def check_run(run_dir: str | os.PathLike, config: TrainingConfig | None = None) -> RunCheck:
    """Whether ``run_dir`` holds an intact finished run (of ``config``, if given).

    ``unfinished``: there is no ``metrics.json`` (an interrupted or running
    training; the next ``ensure_trained`` resumes it). ``damaged``:
    ``metrics.json`` cannot be read or records no checksums (stored by an
    older version), a file it lists is missing or differs in size or SHA-256,
    or ``config.json`` does not hash to the run's name.
    """
    run_dir = Path(run_dir)

    def damaged(reason: str) -> RunCheck:
        return RunCheck(run_dir, "damaged", reason)

    if not (run_dir / METRICS_JSON).is_file():
        reason = "no run directory" if not run_dir.is_dir() else f"no {METRICS_JSON}: training did not finish"
        return RunCheck(run_dir, "unfinished", reason)
    try:
        metrics = json.loads((run_dir / METRICS_JSON).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return damaged(f"{METRICS_JSON} is not readable JSON")
    if not isinstance(metrics, dict) or not metrics:
        return damaged(f"{METRICS_JSON} holds no metrics")
    artefacts = metrics.get("artefacts")
    if artefacts is None:
        return damaged(f"{METRICS_JSON} records no checksums (stored by an older version), so it cannot be verified")
    if not isinstance(artefacts, dict):
        return damaged(f"{METRICS_JSON} has an unreadable list of checksums")
    missing_values = [name for name in REQUIRED_METRICS if name not in metrics]
    if missing_values:
        return damaged(f"{METRICS_JSON} lacks {', '.join(missing_values)}")
    for name in (CONFIG_JSON, HISTORY_CSV, MODEL_FILE, PREDICTIONS_NPZ):
        if name not in artefacts:
            return damaged(f"{METRICS_JSON} records no checksum for {name}")
    for name, record in sorted(artefacts.items()):
        if not isinstance(name, str) or Path(name).name != name or not isinstance(record, dict):
            return damaged(f"{METRICS_JSON} has an unreadable checksum entry")
        path = run_dir / name
        if not path.is_file():
            return damaged(f"{name} is missing")
        size = path.stat().st_size
        if size != record.get("bytes"):
            return damaged(f"{name} has {size} bytes, {record.get('bytes')} were stored")
        if file_sha256(path) != record.get("sha256"):
            return damaged(f"{name} does not match its stored SHA-256")
    try:
        stored_config = TrainingConfig.from_dict(json.loads((run_dir / CONFIG_JSON).read_text()))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, ConfigError):
        return damaged(f"{CONFIG_JSON} is not a valid config")
    expected = config.run_id() if config is not None else run_dir.name
    if stored_config.run_id() != expected:
        return damaged(f"{CONFIG_JSON} hashes to {stored_config.run_id()}, not {expected} "
                       "(stored by another version of rnn-mnist, or moved)")
    return RunCheck(run_dir, "ok")


def is_complete(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds an intact finished run (:func:`check_run` says ``ok``)."""
    return check_run(run_dir).ok


def run_dir_for(config: TrainingConfig, runs_dir: str | os.PathLike | None = None) -> Path:
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    return root / config.run_id()


def find_run(config: TrainingConfig, runs_dir: str | os.PathLike | None = None) -> TrainingRun | None:
    """The stored run for ``config`` if it is finished and intact, else ``None`` (nothing is moved)."""
    run_dir = run_dir_for(config, runs_dir)
    return TrainingRun(run_dir, config) if check_run(run_dir, config).ok else None


def _lock_path(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".lock")


def ensure_trained(
    config: TrainingConfig,
    runs_dir: str | os.PathLike | None = None,
    *,
    verbose: int | str = 2,
    retrain: bool = False,
    **train_options: Any,
) -> TrainingRun:
    """The stored run for ``config``, training it first if it does not exist yet.

    A stored run that fails :func:`check_run` is named in a one-line warning,
    moved aside (``<run>.damaged-<UTC time>``) and trained again. With
    ``retrain=True`` the stored run, if any, is moved aside
    (``<run>.replaced-<UTC time>``) and the config is trained again.
    The returned run's ``trained_now`` says whether this call trained it.
    """
    run_dir = run_dir_for(config, runs_dir)
    if not retrain and check_run(run_dir, config).ok:
        return TrainingRun(run_dir, config)
    with exclusive_lock(_lock_path(run_dir)):
        check = check_run(run_dir, config)  # another process may have finished it while we waited
        if check.ok and not retrain:
            return TrainingRun(run_dir, config)
        if retrain and run_dir.exists():
            moved = move_aside(run_dir, "replaced")
            warn(f"run {run_dir.name}: retraining on request; the stored run was moved to {moved.name}")
        elif check.status == "damaged":
            moved = move_aside(run_dir, "damaged")
            warn(f"run {run_dir.name} is damaged ({check.reason}); moved to {moved.name}, training it again")
        train_into(config, run_dir, verbose=verbose, **train_options)
    return TrainingRun(run_dir, config, trained_now=True)


def stored_runs(runs_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every run directory under ``runs_dir`` (not lock files, hidden entries or runs moved aside), sorted."""
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    return sorted(
        path for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and not MOVED_ASIDE.search(path.name)
    )


def verify_runs(runs_dir: str | os.PathLike | None = None, *, move_damaged: bool = False) -> list[RunCheck]:
    """:func:`check_run` for every stored run; a run being trained right now is reported as ``training``.

    With ``move_damaged=True`` each damaged run is moved aside
    (``<run>.damaged-<UTC time>``), so the next request trains it again.
    """
    checks = []
    for run_dir in stored_runs(runs_dir):
        with lock_if_free(_lock_path(run_dir)) as free:
            if not free:
                checks.append(RunCheck(run_dir, "training", "another process holds its lock"))
                continue
            check = check_run(run_dir)
            if move_damaged and check.status == "damaged":
                moved = move_aside(run_dir, "damaged")
                check = RunCheck(run_dir, "damaged", f"{check.reason}; moved to {moved.name}")
            checks.append(check)
    return checks
