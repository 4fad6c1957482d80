"""Fit a model for a :class:`~rnn_mnist.config.TrainingConfig` and store the run.

:func:`train_into` does the work inside one run directory, using Keras's own
callbacks: ``CSVLogger`` (per-epoch log), ``ModelCheckpoint`` (best model by
validation loss) and ``BackupAndRestore`` (an interrupted run resumes at the
epoch where it stopped). Callers normally go through
:func:`rnn_mnist.runs.ensure_trained`, which picks the directory and makes sure
a run is trained once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import keras
import numpy as np

from .config import TrainingConfig
from .device import apply_cpu_threads, cpu_threads_for, describe_device, library_versions, make_deterministic
from .distribute import describe_distribution
from .model import PIXELS_PER_ROW, ROWS, build_model_for
from .paths import atomic_write_npz, atomic_write_text
from .pipeline import fit_inputs, keras_inputs, validation_inputs
from .splits import DataSplits, make_splits

HISTORY_CSV = "history.csv"
METRICS_JSON = "metrics.json"
CONFIG_JSON = "config.json"
MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
PREDICTIONS_NPZ = "predictions.npz"
BACKUP_DIR = "backup"
#: Images per batch when a run validates after each epoch and when it evaluates and predicts the test
#: set at the end (the batch size changes no result, only how fast it comes).
EVALUATION_BATCH_SIZE = 1024


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch, validation included) to the logs.

    Placed before ``CSVLogger`` so the time is written to the per-epoch log and
    survives a resumed run.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


def steps_per_epoch(config: TrainingConfig) -> int:
    return math.ceil(config.effective_train_size / config.batch_size)


def learning_rate_for(config: TrainingConfig):
    """A constant rate, or Keras's ``CosineDecay`` with a linear warm-up."""
    if config.schedule == "constant":
        return config.learning_rate
    steps = steps_per_epoch(config)
    warmup_steps = int(round(config.warmup_epochs * steps))
    decay_steps = max(1, config.epochs * steps - warmup_steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 100 if warmup_steps else config.learning_rate,
        decay_steps=decay_steps,
        alpha=config.min_learning_rate / config.learning_rate,
        warmup_target=config.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


@dataclass(frozen=True)
class ExecutionPlan:
    """How this machine runs a config: speed choices that do not change the recipe.

    Decided by :func:`execution_plan` when training starts and written to
    ``metrics.json`` (``execution``). None of them changes the model, the data
    or the optimizer's maths; they change how fast a step runs (measurements in
    ``docs/performance.md``).

    * ``unroll_while_fitting``: on a CPU (TensorFlow), the recurrent layer runs
      its 28 steps as straight-line code while fitting (``unroll=True``), which
      saves the per-step overhead of a ``while`` loop. It is switched back
      before anything is saved, so stored models are the ordinary layer (which
      reads sequences of any length, see :func:`rnn_mnist.model.prefix_reader`).
      On a GPU the layer is left rolled, the condition for the fused cuDNN kernel.
    * ``jit_compile``: what is passed to ``compile``. ``config.jit_compile=None``
      means Keras's ``"auto"``: no XLA on a CPU (XLA measured 2.5x slower per
      step here) and no XLA around the cuDNN kernel on a GPU.
    * ``mixed_precision``: ``config.mixed_precision`` on a GPU only (float16
      compute, float32 weights and softmax); ignored on a CPU, where float16 is
      slower.
    * ``cpu_threads``: TensorFlow's thread counts on a CPU with few cores (one
      thread per op, as many ops at once as cores; see
      :func:`rnn_mnist.device.cpu_threads_for`), or None for TensorFlow's own.
      ``metrics.json`` also records ``cpu_threads_in_effect``: the counts
      TensorFlow actually ran with.
    """

    backend: str
    device_kind: str
    unroll_while_fitting: bool
    jit_compile: bool | str
    mixed_precision: bool
    cpu_threads: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def execution_plan(config: TrainingConfig) -> ExecutionPlan:
    backend = keras.backend.backend()
    device_kind = describe_device(config)["kind"]
    on_cpu = device_kind == "cpu"
    return ExecutionPlan(
        backend=backend,
        device_kind=device_kind,
        unroll_while_fitting=on_cpu and backend == "tensorflow" and config.cell in ("lstm", "gru", "simple_rnn"),
        jit_compile="auto" if config.jit_compile is None else config.jit_compile,
        mixed_precision=bool(getattr(config, "mixed_precision", False)) and not on_cpu,
        cpu_threads=cpu_threads_for(device_kind),
    )


def ema_momentum_for(config: TrainingConfig) -> float | None:
    """The weight-EMA momentum a run uses: ``config.ema_momentum``, capped for short runs.

    An average with momentum ``m`` remembers about ``1 / (1 - m)`` steps. On a
    short run (a small profile: a few dozen steps) 0.995 would still be mostly
    the random initial weights at the end, so the horizon is capped at a tenth
    of the run's steps: ``m <= 1 - 10 / total_steps``. A full book run (4,300
    steps) keeps 0.995. ``None`` when the config has no EMA or the run is too
    short for one.
    """
    if config.ema_momentum is None:
        return None
    cap = 1.0 - 10.0 / (steps_per_epoch(config) * config.epochs)
    momentum = min(config.ema_momentum, cap)
    return momentum if momentum > 0 else None


#: The weight average's warm-up: at optimizer step ``t`` its momentum is
#: ``min(ema_momentum, (1 + t) / (AVERAGE_WARMUP_STEPS + t))``.
AVERAGE_WARMUP_STEPS = 10


def average_momentum_at(step, ema_momentum: float):
    """The weight average's momentum at optimizer step ``step`` (see :class:`AdamWithAverageWarmup`).

    ``step`` is a number or the optimizer's step counter; the result is a
    float32 scalar tensor. Step 0 starts the average at the weights themselves
    (momentum 0), as Keras does.
    """
    step = keras.ops.cast(step, "float32")
    momentum = keras.ops.minimum(ema_momentum, (1.0 + step) / (AVERAGE_WARMUP_STEPS + step))
    return momentum * keras.ops.cast(keras.ops.not_equal(step, 0.0), "float32")


@keras.saving.register_keras_serializable(package="rnn_mnist")
class AdamWithAverageWarmup(keras.optimizers.Adam):
    """Adam whose weight average (``use_ema``) starts with a short memory and lengthens it.

    Keras's average uses one momentum from the first step, so at the end of
    the first epoch (430 steps) 0.995 still gives about 12% of the weight to
    the first step's almost random weights, and the model evaluated after
    epoch 1 (and trained on from it, since the average is copied in every
    epoch) is that blend. Here the momentum at step ``t`` is
    ``min(ema_momentum, (1 + t) / (10 + t))``, the warm-up of TensorFlow's
    ``ExponentialMovingAverage(num_updates=...)``: about 0.98 at the end of
    epoch 1, 0.99 after epoch 2, and the full 0.995 from step 1,790 (about
    epoch 4) on. Measured: 97.8% instead of 96.9% test accuracy after epoch 1,
    98.6% instead of 98.4% after epoch 2 (``docs/performance.md``).

    Only the average's update differs from ``keras.optimizers.Adam``; its
    configuration and variables are Adam's. A saved model that carries this
    optimizer loads where :mod:`rnn_mnist` is imported (it registers the
    class), or anywhere with ``keras.saving.load_model(path, compile=False)``.
    """

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        momentum = average_momentum_at(self.iterations, self.ema_momentum)
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is None:
                continue
            m = keras.ops.cast(momentum, variable.dtype)
            average.assign(m * average + (1.0 - m) * variable)


def _inside_tf_distribution_strategy() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy()


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """Adam with the config's schedule and clipping, and the optional weight EMA.

    With ``ema_momentum`` the optimizer keeps an exponential moving average of
    the weights (with a warm-up, :class:`AdamWithAverageWarmup`) and copies it
    into the model at the end of every epoch (and of training), so every
    evaluation, checkpoint and the stored model use the averaged weights.

    Under a ``tf.distribute`` strategy Keras cannot copy the average inside the
    training step (its ``merge_call`` in a conditional fails), so there the
    average is copied into the model once, when ``fit`` ends: the stored model
    is still the average, while per-epoch validation sees the raw weights.
    """
    options: dict[str, Any] = {"learning_rate": learning_rate_for(config), "clipnorm": config.clipnorm}
    ema = ema_momentum_for(config)
    if ema is None:
        return keras.optimizers.Adam(**options)
    every_epoch = None if _inside_tf_distribution_strategy() else steps_per_epoch(config)
    return AdamWithAverageWarmup(**options, use_ema=True, ema_momentum=ema, ema_overwrite_frequency=every_epoch)


def compile_model(
    model: keras.Model,
    config: TrainingConfig,
    plan: ExecutionPlan | None = None,
    *,
    optimizer: keras.optimizers.Optimizer | None = None,
) -> keras.Model:
    """Compile with the config's optimizer (or ``optimizer``), sparse cross-entropy and accuracy."""
    plan = plan if plan is not None else execution_plan(config)
    if optimizer is None:
        optimizer = make_optimizer(config)
        if plan.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=plan.jit_compile,
    )
    return model


def build_for_plan(config: TrainingConfig, plan: ExecutionPlan) -> keras.Model:
    """The config's model; under mixed precision, float16 compute with a float32 softmax."""
    model = build_model_for(config)
    if not plan.mixed_precision:
        return model
    output = model.layers[-1]

    def policy(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        layer_config = layer.get_config()
        layer_config["dtype"] = "float32" if layer is output else "mixed_float16"
        return layer.__class__.from_config(layer_config)

    return keras.models.clone_model(model, clone_function=policy)


def _recurrent_layers(model: keras.Model) -> list[keras.layers.RNN]:
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.RNN)]


@contextlib.contextmanager
def _recurrent_unroll(model: keras.Model, unroll: bool, enabled: bool = True) -> Iterator[None]:
    """Within the block, the model's recurrent layers have ``layer.unroll = unroll``.

    ``unroll=True`` traces them as straight-line code (faster fitting on a CPU);
    ``unroll=False`` gives back the ordinary rolled layers (what is saved).
    """
    layers = _recurrent_layers(model) if enabled else []
    before = [layer.unroll for layer in layers]
    for layer in layers:
        layer.unroll = unroll
    try:
        yield
    finally:
        for layer, previous in zip(layers, before):
            layer.unroll = previous


def with_random_shifts(model: keras.Model, config: TrainingConfig) -> keras.Model:
    """The model to fit: ``model`` behind a random shift of up to ``config.shift_pixels`` pixels.

    Keras's ``RandomTranslation`` moves each training image by a fresh random
    offset (bilinear, the uncovered border filled with black) and does nothing
    at inference, so evaluation and prediction see the images as they are. The
    shift is part of the training recipe, not of the model: ``model`` (the one
    stored) shares its layers and weights with the returned one and has no
    augmentation in it. ``shift_pixels=0`` returns ``model`` itself.
    """
    if not config.shift_pixels:
        return model
    fraction = config.shift_pixels / ROWS
    images = keras.Input(shape=(ROWS, PIXELS_PER_ROW), name="rows")
    x = keras.layers.Reshape((ROWS, PIXELS_PER_ROW, 1), name="as_image")(images)
    x = keras.layers.RandomTranslation(
        fraction, fraction, fill_mode="constant", seed=config.seed, name="random_shift"
    )(x)
    x = keras.layers.Reshape((ROWS, PIXELS_PER_ROW), name="as_rows")(x)
    return keras.Model(images, model(x), name=f"{model.name}_with_random_shifts")


class _StoredModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` that writes the stored model: no augmentation, ordinary recurrent layer.

    ``fit`` runs the training model (:func:`with_random_shifts`, recurrent
    layers unrolled on a CPU); what is saved is ``stored_model``, which shares
    its weights, with ``unroll=False`` in its config. The traced training step
    keeps its unrolled graph.
    """

    def __init__(self, filepath: str, stored_model: keras.Model, **options: Any):
        super().__init__(filepath, **options)
        self._stored_model = stored_model

    def _save_model(self, epoch, batch, logs):
        trainer = self.model  # the property brings JAX's state back into the variables
        self._model = self._stored_model
        try:
            with _recurrent_unroll(self._stored_model, False):
                super()._save_model(epoch, batch, logs)
        finally:
            self._model = trainer


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The per-epoch log as ``{column: [value per epoch]}`` (``epoch`` included)."""
    import csv

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = rows[0].keys() if rows else []
    return {name: [float(row[name]) for row in rows] for name in columns}


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

    Writes ``config.json``, ``history.csv``, ``model.keras``, ``best.keras``,
    ``predictions.npz`` and finally ``metrics.json``, whose presence marks the
    run complete. If ``run_dir`` holds the backup of an interrupted attempt,
    training resumes from it.

    ``distribution`` (from :func:`rnn_mnist.distribute.data_parallel`) trains
    data-parallel on several devices: the same code runs under its scope, the
    global batch of ``config.batch_size`` split across the replicas.
    """
    if distribution is not None:
        from .distribute import distribution_scope

        with distribution_scope(distribution):
            return train_into(config, run_dir, splits=splits, verbose=verbose, extra_callbacks=extra_callbacks)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_JSON, json.dumps(config.to_dict(), indent=2, sort_keys=True))

    _align_history_with_backup(run_dir)
    make_deterministic(config.seed)
    splits = splits if splits is not None else make_splits(config)
    plan = execution_plan(config)
    threads_in_effect = apply_cpu_threads(plan.cpu_threads)  # before the first op: TensorFlow fixes them then
    # ``model`` is what is stored; ``trainer`` (the same layers, behind the
    # random shifts when the recipe asks for them) is what is fitted.
    model = build_for_plan(config, plan)
    trainer = compile_model(with_random_shifts(model, config), config, plan)
    if trainer is not model:
        # The stored model carries the optimizer that trained it, as it would without the shifts.
        compile_model(model, config, plan, optimizer=trainer.optimizer)

    callbacks = [
        EpochTimer(),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_CSV), append=True),
        _StoredModelCheckpoint(str(run_dir / BEST_MODEL_FILE), model, monitor="val_loss", save_best_only=True),
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR)),
        *extra_callbacks,
    ]
    started = time.perf_counter()
    with _recurrent_unroll(trainer, True, enabled=plan.unroll_while_fitting):
        trainer.fit(
            **fit_inputs(splits.x_train, splits.y_train, batch_size=config.batch_size, shuffle_seed=config.seed),
            **validation_inputs(splits.x_val, splits.y_val, batch_size=EVALUATION_BATCH_SIZE),
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=verbose,
        )
    fit_seconds = time.perf_counter() - started

    test_loss, test_accuracy = trainer.evaluate(
        **keras_inputs(splits.x_test, splits.y_test, batch_size=EVALUATION_BATCH_SIZE), verbose=0
    )
    probabilities = trainer.predict(
        **keras_inputs(splits.x_test, batch_size=EVALUATION_BATCH_SIZE), verbose=0
    ).astype(np.float32)

    _save_model_atomic(model, run_dir / MODEL_FILE)
    buffer_path = run_dir / PREDICTIONS_NPZ
    atomic_write_npz(
        buffer_path,
        test_indices=splits.test_indices,
        y_true=splits.y_test,
        probabilities=probabilities,
    )

    history = read_history(run_dir / HISTORY_CSV)
    epoch_seconds = history.get("epoch_seconds", [])
    metrics = {
        "run_id": config.run_id(),
        "label": config.label,
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "epochs": config.epochs,
        "epoch_seconds": epoch_seconds,
        "seconds_per_epoch": float(np.median(epoch_seconds)) if epoch_seconds else None,
        "train_seconds": float(sum(epoch_seconds)),
        "fit_call_seconds": fit_seconds,
        "parameters": int(model.count_params()),
        "sizes": splits.summary(),
        "validation_is_test": splits.validation_is_test,
        "data_source": splits.source,
        "device": describe_device(config),
        "execution": {**plan.to_dict(), "cpu_threads_in_effect": threads_in_effect},
        "distribution": describe_distribution(),
        "versions": library_versions(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    atomic_write_text(run_dir / METRICS_JSON, json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def _align_history_with_backup(run_dir: Path) -> None:
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


def _save_model_atomic(model: keras.Model, path: Path) -> None:
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, path)


