"""Stored training runs, keyed by the hash of their config.

``ensure_trained(config)`` is what every chapter calls: it returns the stored
run for ``config`` when an intact one exists, and trains it otherwise. Runs
live in ``<runs_dir>/<config.run_id()>/``; a lock file beside each run makes a
second process asking for the same run wait and then reuse it, instead of
training it again or writing over it.

A stored run is served only if it is intact (:func:`check_run`): its
``metrics.json``, written last, records the size and SHA-256 of every other
file of the run, and each file must still match; it also carries the SHA-256
of its own content and every value read from it is checked by type and range. A run that fails the check
is named in a one-line warning, moved aside (renamed
``<run>.damaged-<UTC time>``, never deleted) and trained again. A run stored
before the checksums existed cannot be verified and is treated the same way.
A run without ``metrics.json`` is an interrupted one: training resumes it.

A stored run is served only if the installed Keras can read it
(:func:`unreadable_here`): ``metrics.json`` records the Keras that wrote it,
and a run written by a newer Keras (a newer major.minor; Keras does not
promise that an older release loads its files), or one whose models fail to
load here, is neither served nor touched. The config is trained again in a
slot named after the installed Keras, ``<run>.keras-<major>.<minor>/``,
beside it (:func:`keras_slot`), with a one-line note saying why; the next
request with this Keras reuses the slot, and the other environment keeps
reading the run it wrote.

This module does not import Keras (training does, when a run is trained, and
so does reading a run written by an older Keras, to check that it loads), so
checking the stored runs (``rnn-mnist runs verify``) is quick.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError, TrainingConfig
from .paths import StorageError, default_runs_dir, exclusive_lock, file_sha256, lock_if_free, move_aside, warn

__all__ = [
    "REQUIRED_FILES", "DamagedRunError", "RunCheck", "TrainingRun", "UnreadableRunError", "check_metrics",
    "check_model_archive", "check_run", "default_runs_dir", "ensure_trained", "find_run", "installed_keras",
    "is_complete", "keras_note", "keras_slot", "links_in_run", "metrics_digest", "model_load_error", "read_history",
    "read_json_bounded", "recorded_keras", "run_dir_for", "serving_dir", "stored_runs", "train_into",
    "unreadable_here", "verify_runs",
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
#: Key of ``metrics.json`` holding the SHA-256 of its own canonical content (:func:`metrics_digest`).
METRICS_DIGEST = "metrics_sha256"
#: The most bytes of ``metrics.json`` or ``config.json`` that are read (a run's are a few kilobytes).
MAX_JSON_BYTES = 4 << 20
#: A stored model is a zip of a few members; their uncompressed sizes may total at most this many
#: bytes per parameter of the model (weights, the optimizer's moments and weight average: 4 copies
#: of 4 bytes each, doubled), plus :data:`MODEL_ARCHIVE_SLACK` for the configs.
MODEL_BYTES_PER_PARAMETER = 32
MODEL_ARCHIVE_SLACK = 16 << 20
MODEL_ARCHIVE_MEMBERS = 16
#: The largest whole number ``metrics.json`` may hold (the largest integer a float represents exactly).
LARGEST_INTEGER = 2**53
#: Suffix of a run directory that was moved aside (``.damaged-`` or ``.replaced-`` and a UTC time).
MOVED_ASIDE = re.compile(r"\.(damaged|replaced)-\d{8}T\d{6}Z(-\d+)?$")
#: Suffix of a run trained again for one Keras release beside a run that Keras cannot read (:func:`keras_slot`).
KERAS_SLOT = re.compile(r"\.keras-(\d+)\.(\d+)$")


def read_json_bounded(path: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON value in ``path``, reading at most ``limit`` bytes.

    Raises :class:`ValueError` with a short reason when the file is larger,
    is not UTF-8 or not JSON, or nests too deep to parse; :class:`OSError`
    when it cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"is larger than {limit:,} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("nests too deep to be JSON metrics") from None
    except (UnicodeDecodeError, ValueError):
        raise ValueError("is not readable JSON") from None


def metrics_digest(metrics: dict[str, Any]) -> str:
    """The SHA-256 of ``metrics`` without its own digest, as canonical JSON (sorted keys, no spaces)."""
    content = {key: value for key, value in metrics.items() if key != METRICS_DIGEST}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _is_integer(value: Any, low: int = 0, high: int = LARGEST_INTEGER) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any, low: float = 0.0, high: float = math.inf) -> bool:
    """A finite int or float in ``[low, high]`` (never a bool, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int) and abs(value) > LARGEST_INTEGER:
        return False
    return math.isfinite(value) and low <= value <= high


def _is_loss(value: Any) -> bool:
    """A loss: a non-negative number, or NaN or infinity (a diverged run is stored as it ended)."""
    return isinstance(value, float) and (math.isnan(value) or value == math.inf) or _is_number(value)


def _is_text_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


#: Every value of ``metrics.json`` that the command, the chapters or the results page read, with its check.
METRICS_SCHEMA = {
    "run_id": lambda v: isinstance(v, str),
    "label": lambda v: isinstance(v, str),
    "test_accuracy": lambda v: _is_number(v, 0.0, 1.0),
    "test_loss": _is_loss,
    "epochs": lambda v: _is_integer(v, 1, 1000),
    "epoch_seconds": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    "seconds_per_epoch": _is_number,
    "first_epochs_of_fit": lambda v: isinstance(v, list) and all(_is_integer(x, 0, 1000) for x in v),
    "train_seconds": _is_number,
    "parameters": lambda v: _is_integer(v, 1),
    "sizes": lambda v: isinstance(v, dict) and all(_is_integer(v.get(k)) for k in ("train", "validation", "test")),
    "data_source": lambda v: isinstance(v, str),
    "device": lambda v: isinstance(v, dict) and all(isinstance(v.get(k), str) for k in ("summary", "backend", "kind")),
    "versions": _is_text_map,
    "finished_at": lambda v: isinstance(v, str),
}
#: Values of ``metrics.json`` that the command and the chapters read.
REQUIRED_METRICS = tuple(METRICS_SCHEMA)


def check_metrics(metrics: Any) -> str:
    """Why ``metrics`` (the parsed ``metrics.json``) cannot be served, or ``""`` if it can.

    Its own digest must match its content (:func:`metrics_digest`), and every
    value the readers use must have its type and range (:data:`METRICS_SCHEMA`).
    """
    if not isinstance(metrics, dict) or not metrics:
        return f"{METRICS_JSON} holds no metrics"
    if "artefacts" not in metrics:
        return f"{METRICS_JSON} records no checksums (stored by an older version), so it cannot be verified"
    if not isinstance(metrics.get(METRICS_DIGEST), str):
        return f"{METRICS_JSON} records no checksum of itself (stored by an older version), so it cannot be verified"
    if metrics_digest(metrics) != metrics[METRICS_DIGEST]:
        return f"{METRICS_JSON} does not match its own SHA-256 (edited after training)"
    missing = [name for name in METRICS_SCHEMA if name not in metrics]
    if missing:
        return f"{METRICS_JSON} lacks {', '.join(missing)}"
    wrong = [name for name, valid in METRICS_SCHEMA.items() if not valid(metrics[name])]
    if wrong:
        return f"{METRICS_JSON} has a value of the wrong type or range for {', '.join(wrong)}"
    return ""


def links_in_run(run_dir: Path) -> list[str]:
    """Names of the symbolic links in ``run_dir`` (itself, its files, ``backup/`` and what that holds)."""
    if run_dir.is_symlink():
        return [run_dir.name]
    if not run_dir.is_dir():
        return []
    links = [entry.name for entry in run_dir.iterdir() if entry.is_symlink()]
    backup = run_dir / BACKUP_DIR
    if backup.is_dir() and not backup.is_symlink():
        links += [f"{BACKUP_DIR}/{entry.name}" for entry in backup.iterdir() if entry.is_symlink()]
    return sorted(links)


def check_model_archive(path: Path, parameters: int) -> None:
    """Refuse a ``.keras`` zip that would unpack to more than a model of ``parameters`` needs.

    Reads only the zip's directory: the member count and each member's
    uncompressed size, against :data:`MODEL_ARCHIVE_MEMBERS` and
    ``parameters * MODEL_BYTES_PER_PARAMETER + MODEL_ARCHIVE_SLACK`` bytes in all.
    Raises :class:`DamagedRunError` naming the file.
    """
    limit = parameters * MODEL_BYTES_PER_PARAMETER + MODEL_ARCHIVE_SLACK
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as error:
        raise DamagedRunError(f"{path} is not a readable Keras archive ({error})") from None
    if len(members) > MODEL_ARCHIVE_MEMBERS:
        raise DamagedRunError(f"{path} holds {len(members)} files, a stored model at most {MODEL_ARCHIVE_MEMBERS}")
    total = sum(member.file_size for member in members)
    if total > limit:
        raise DamagedRunError(f"{path} would unpack to {total:,} bytes, more than the {limit:,} a model of "
                              f"{parameters:,} parameters needs; it was not loaded")


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


class UnreadableRunError(ValueError):
    """An intact stored run whose model the installed Keras cannot load (the message says which and why)."""


# -- which Keras wrote a run, and whether the installed one reads it ---------------------------
def installed_keras() -> str | None:
    """The installed Keras's version, read from the package metadata (Keras is not imported)."""
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return None


def release(version: Any) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string such as ``"3.10.0"``; ``None`` if it is not one."""
    match = re.match(r"(\d+)\.(\d+)", version) if isinstance(version, str) else None
    return (int(match[1]), int(match[2])) if match else None


def recorded_keras(run_dir: Path) -> str | None:
    """The Keras version that ``metrics.json`` records for the run (``None`` if none is recorded)."""
    try:
        versions = read_json_bounded(Path(run_dir) / METRICS_JSON).get("versions")
    except (OSError, ValueError, AttributeError):
        return None
    keras_version = versions.get("keras") if isinstance(versions, dict) else None
    return keras_version if isinstance(keras_version, str) else None


def keras_slot(run_dir: Path, keras_version: str) -> Path:
    """``<run>.keras-<major>.<minor>``: where ``keras_version`` trains a run it cannot read, beside it."""
    major, minor = release(keras_version)
    return Path(run_dir).with_name(f"{Path(run_dir).name}.keras-{major}.{minor}")


def model_load_error(run_dir: Path) -> str:
    """``""`` if the installed Keras loads every model of the run, else the first failure, in one line."""
    import keras

    for name in (MODEL_FILE, BEST_MODEL_FILE):
        path = Path(run_dir) / name
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():  # a test load: what Keras warns about is for whoever uses the model
                warnings.simplefilter("ignore")
                keras.saving.load_model(path)
        except Exception as error:  # noqa: BLE001 -- any failure: the file itself matches its checksum
            return f"{name}: {_first_line(error)}"
    return ""


def _first_line(error: BaseException) -> str:
    """The error that started it all (Keras wraps a failed ``from_config`` in its own), in one line."""
    for _ in range(10):
        if error.__cause__ is None and error.__context__ is None:
            break
        error = error.__cause__ or error.__context__
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def unreadable_here(run_dir: Path) -> str:
    """Why the installed Keras cannot read the intact run in ``run_dir``; ``""`` when it can.

    Same major.minor as the Keras that wrote it: readable. A newer one wrote
    it: unreadable, without trying (Keras promises no forward compatibility,
    and a file from 3.15 fails in 3.10 while deserializing an initializer).
    An older one, or one not recorded: readable if its models load here
    (:func:`model_load_error`; the only case that imports Keras).
    """
    here, stored = installed_keras(), recorded_keras(run_dir)
    if release(here) is None or release(stored) == release(here):
        return ""
    if release(stored) is not None and release(stored) > release(here):
        return f"it was stored by Keras {stored}, newer than this Keras {here}"
    error = model_load_error(run_dir)
    written_by = f"Keras {stored}" if stored else "a Keras it does not record"
    return f"it was stored by {written_by} and this Keras {here} cannot load it ({error})" if error else ""


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
        """``metrics.json``, read again and checked (:func:`check_metrics`) before it is served."""
        try:
            metrics = read_json_bounded(self.run_dir / METRICS_JSON)
        except ValueError as error:
            raise DamagedRunError(f"{self.run_dir / METRICS_JSON} {error}; call ensure_trained(config)") from None
        reason = check_metrics(metrics)
        if reason:
            raise DamagedRunError(f"{self.run_dir} cannot be used: {reason}; call ensure_trained(config)")
        return metrics

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
        """The trained Keras model (the final one, or the best by validation loss).

        A model the installed Keras cannot load raises :class:`UnreadableRunError`,
        one line naming the run, both Keras versions and what to do (a run from
        :func:`ensure_trained` has been checked to load: :func:`unreadable_here`).
        """
        import keras

        path = self.run_dir / (BEST_MODEL_FILE if best else MODEL_FILE)
        if not path.is_file():
            raise DamagedRunError(f"{path} is missing; call ensure_trained(config) to train the run again")
        check_model_archive(path, self.metrics["parameters"])  # before Keras unpacks it (DamagedRunError)
        try:
            return keras.saving.load_model(path)
        except Exception as error:  # noqa: BLE001 -- a learner gets one line, not a deserialization traceback
            raise UnreadableRunError(
                f"{path} was stored by Keras {recorded_keras(self.run_dir) or '(not recorded)'} and this Keras "
                f"{installed_keras()} cannot load it ({_first_line(error)}); call ensure_trained(config), which "
                "trains the config again for this Keras beside the stored run"
            ) from None

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "TrainingRun":
        """The run stored in ``run_dir``; :class:`DamagedRunError` if it is unfinished or fails :func:`check_run`."""
        run_dir = Path(run_dir)
        check = check_run(run_dir)
        if not check.ok:
            raise DamagedRunError(f"{run_dir} cannot be used: {check.reason}; call ensure_trained(config) to train it.")
        config = TrainingConfig.from_dict(read_json_bounded(run_dir / CONFIG_JSON))
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
    training; the next ``ensure_trained`` resumes it). ``damaged``: the run
    holds a symbolic link; ``metrics.json`` is larger than 4 MiB, cannot be
    parsed, records no checksums (stored by an older version), does not match
    its own digest or has a value of the wrong type or range
    (:func:`check_metrics`); a file it lists is missing or differs in size or
    SHA-256; ``config.json`` does not hash to the run's name; or a model
    archive would unpack to more than its model needs (:func:`check_model_archive`).
    """
    run_dir = Path(run_dir)

    def damaged(reason: str) -> RunCheck:
        return RunCheck(run_dir, "damaged", reason)

    links = links_in_run(run_dir)
    if links:
        return damaged(f"{', '.join(links)} is a symbolic link; the run store holds no links")
    if not (run_dir / METRICS_JSON).is_file():
        reason = "no run directory" if not run_dir.is_dir() else f"no {METRICS_JSON}: training did not finish"
        return RunCheck(run_dir, "unfinished", reason)
    try:
        metrics = read_json_bounded(run_dir / METRICS_JSON)
    except OSError:
        return damaged(f"{METRICS_JSON} cannot be read")
    except ValueError as error:
        return damaged(f"{METRICS_JSON} {error}")
    reason = check_metrics(metrics)
    if reason:
        return damaged(reason)
    artefacts = metrics["artefacts"]
    if not isinstance(artefacts, dict):
        return damaged(f"{METRICS_JSON} has an unreadable list of checksums")
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
        stored_config = TrainingConfig.from_dict(read_json_bounded(run_dir / CONFIG_JSON))
    except (OSError, ValueError, TypeError, AttributeError, ConfigError):
        return damaged(f"{CONFIG_JSON} is not a valid config")
    expected = config.run_id() if config is not None else KERAS_SLOT.sub("", run_dir.name)
    if stored_config.run_id() != expected:
        return damaged(f"{CONFIG_JSON} hashes to {stored_config.run_id()}, not {expected} "
                       "(stored by another version of rnn-mnist, or moved)")
    if metrics["run_id"] != expected or metrics["epochs"] != stored_config.epochs:
        return damaged(f"{METRICS_JSON} describes run {metrics['run_id']} of {metrics['epochs']} epochs, "
                       f"not {expected} of {stored_config.epochs}")
    for name in (MODEL_FILE, BEST_MODEL_FILE):
        if name in artefacts:
            try:
                check_model_archive(run_dir / name, metrics["parameters"])
            except DamagedRunError as error:
                return damaged(str(error).replace(str(run_dir / name), name))
    return RunCheck(run_dir, "ok")


def is_complete(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds an intact finished run (:func:`check_run` says ``ok``)."""
    return check_run(run_dir).ok


def run_dir_for(config: TrainingConfig, runs_dir: str | os.PathLike | None = None) -> Path:
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    return root / config.run_id()


def serving_dir(config: TrainingConfig, run_dir: Path) -> tuple[Path, str]:
    """Where the installed Keras reads ``config``'s run, and why that is not ``run_dir`` (``""`` when it is).

    ``run_dir`` itself, unless it holds an intact run this Keras cannot read
    (:func:`unreadable_here`): then its slot for this Keras (:func:`keras_slot`).
    """
    if not check_run(run_dir, config).ok:
        return run_dir, ""
    reason = unreadable_here(run_dir)
    return (keras_slot(run_dir, installed_keras()), reason) if reason else (run_dir, "")


def find_run(config: TrainingConfig, runs_dir: str | os.PathLike | None = None) -> TrainingRun | None:
    """The stored run for ``config`` that this Keras reads, if finished and intact, else ``None`` (nothing is moved).

    That is the run's own directory or, when this Keras cannot read the run
    there, its slot for this Keras (:func:`serving_dir`).
    """
    run_dir, _ = serving_dir(config, run_dir_for(config, runs_dir))
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
    An intact run that the installed Keras cannot read (:func:`unreadable_here`)
    is left as it is: the run is served from, or trained into, this Keras's
    slot beside it (:func:`serving_dir`), and ``retrain`` applies to the slot.
    The returned run's ``trained_now`` says whether this call trained it.
    """
    run_dir = run_dir_for(config, runs_dir)
    if not retrain and (found := find_run(config, runs_dir)) is not None:
        return found
    with exclusive_lock(_lock_path(run_dir), label=f"run {run_dir.name}"):
        target, reason = serving_dir(config, run_dir)  # another process may have finished it while we waited
        if target == run_dir:
            return _reuse_or_train(config, run_dir, retrain=retrain, verbose=verbose, **train_options)
    note = (f"run {run_dir.name} is kept as it is and not read here: {reason}; "
            f"the config is trained again for this Keras in {target.name}")
    with exclusive_lock(_lock_path(target), label=f"run {target.name}"):
        return _reuse_or_train(config, target, retrain=retrain, note=note, verbose=verbose, **train_options)


def _reuse_or_train(config: TrainingConfig, run_dir: Path, *, retrain: bool, note: str = "",
                    **train_options: Any) -> TrainingRun:
    """Under ``run_dir``'s lock: its intact run, or train it (damaged: moved aside first; ``note``: said first)."""
    check = check_run(run_dir, config)
    if check.ok and not retrain:
        return TrainingRun(run_dir, config)
    if retrain and run_dir.exists():
        moved = move_aside(run_dir, "replaced")
        warn(f"run {run_dir.name}: retraining on request; the stored run was moved to {moved.name}")
    elif check.status == "damaged":
        moved = move_aside(run_dir, "damaged")
        warn(f"run {run_dir.name} is damaged ({check.reason}); moved to {moved.name}, training it again")
    if note:
        warn(note)
    train_into(config, run_dir, **train_options)
    return TrainingRun(run_dir, config, trained_now=True)


def stored_runs(runs_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every run directory under ``runs_dir`` (not lock files, hidden entries or runs moved aside), sorted.

    Slots of a run for another Keras (``<run>.keras-<major>.<minor>``) are run directories too.
    A symbolic link to a folder is listed too, so :func:`check_run` reports it.
    """
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    return sorted(
        path for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and not path.name.endswith(".lock")
        and not MOVED_ASIDE.search(path.name)
    )


def verify_runs(runs_dir: str | os.PathLike | None = None, *, move_damaged: bool = False) -> list[RunCheck]:
    """:func:`check_run` for every stored run; a run being trained right now is reported as ``training``.

    With ``move_damaged=True`` each damaged run is moved aside
    (``<run>.damaged-<UTC time>``), so the next request trains it again.
    An intact run says which Keras it is for when that matters (:func:`keras_note`).
    """
    return [_verify_one(run_dir, move_damaged) for run_dir in stored_runs(runs_dir)]


def _verify_one(run_dir: Path, move_damaged: bool) -> RunCheck:
    """:func:`check_run` for one run, under its lock if free; ``blocked`` if the lock file cannot be used.

    Only moving a run aside writes: without ``move_damaged`` an absent lock
    file is not created, so a read-only store is checked as any other.
    """
    try:
        with lock_if_free(_lock_path(run_dir), create=move_damaged) as free:
            if not free:
                return RunCheck(run_dir, "training", "another process holds its lock")
            check = check_run(run_dir)
            if move_damaged and check.status == "damaged":
                moved = move_aside(run_dir, "damaged")
                check = RunCheck(run_dir, "damaged", f"{check.reason}; moved to {moved.name}")
            if check.ok and (note := keras_note(run_dir)):
                check = RunCheck(run_dir, "ok", note)
            return check
    except StorageError as error:
        return RunCheck(run_dir, "blocked", str(error))


def keras_note(run_dir: Path) -> str:
    """For ``runs verify``: a slot's Keras, or that a newer Keras stored the run; else ``""`` (no model is loaded)."""
    slot = KERAS_SLOT.search(run_dir.name)
    if slot:
        return f"trained again for Keras {slot[1]}.{slot[2]}, beside {KERAS_SLOT.sub('', run_dir.name)}"
    here, stored = installed_keras(), recorded_keras(run_dir)
    if release(here) is None or release(stored) is None or release(stored) <= release(here):
        return ""
    return f"stored by Keras {stored}, newer than this Keras {here}, which reads {keras_slot(run_dir, here).name}"
