#!/usr/bin/env python
"""Time to 98.8% test accuracy: the seed notebook's recipe against the book's default training.

Run from the repository root (after ``make`` has set up ``.venv`` and fetched MNIST)::

    .venv/bin/python benchmarks/time_to_accuracy.py           # the benchmark (3 repeats each)
    .venv/bin/python benchmarks/time_to_accuracy.py --quick   # a smoke check for CI (tiny data)

In one run it alternates the two recipes, each repeat in a fresh Python process
(so TensorFlow's global state, such as op determinism, and the peak memory are
per run), on the same verified MNIST and the same machine:

* **seed** -- the notebook's code as it has it: ``Input(shape=(28, 28))``,
  ``LSTM(128)``, ``Dense(10, activation='softmax')``, ``compile(optimizer='adam',
  loss='sparse_categorical_crossentropy', metrics=['accuracy'])``, inputs
  ``x / 255.0`` (float64), batch 32 (Keras's default), all 60,000 training
  images, and ``validation_data=(x_test, y_test)``: its per-epoch validation
  *is* the test-set evaluation. Only ``keras.utils.set_random_seed(repeat)`` is
  added, so a repeat can be rerun.
* **project** -- :func:`rnn_mnist.config.book_recipe` (``seed=repeat``),
  trained by the package's own :func:`rnn_mnist.training.train_into`, the code
  the book runs: 55,000 training images (5,000 are held out for validation).

After every epoch the test set (10,000 images) is evaluated and the clock is
stopped while it is: training time is the wall time of the training steps,
plus the per-epoch work the recipe itself does (logging, checkpoints), minus
every evaluation (the seed's validation on the test set, the project's
validation on its held-out split, and the benchmark's own test evaluation).
The first epoch includes tracing the training graph, for both recipes.

It prints a table, the median ratio project/seed of the time to the threshold,
the targets, writes the result as JSON (``--output``) and ends its output with
one line holding that JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

THRESHOLD = 0.988
SEED_EPOCHS = 10
TARGET_RATIO = 0.20
TARGET_FINAL_ACCURACY = 0.992
TARGET_PEAK_MB = 3 * 1024
SIDES = ("seed", "project")
#: An epoch whose first training step starts later than this after the epoch began waited for its data
#: iterator (Keras's autotuned ``tf.data`` pipeline sometimes blocks about 10 s there; docs/performance.md).
EPOCH_START_WAIT_SECONDS = 2.0

#: The --quick smoke check: tiny data, one repeat, a threshold it can reach.
QUICK = {"repeats": 1, "train_size": 3000, "test_size": 1000, "epochs": 2, "threshold": 0.5}


# -- pure logic (tested in tests/test_benchmark.py) --------------------------------------------
def time_to_threshold(records: Sequence[Mapping[str, Any]], threshold: float) -> tuple[int | None, float | None]:
    """Epochs and training seconds until test accuracy first reaches ``threshold``.

    ``records`` are per-epoch dicts in training order with ``train_seconds``
    (that epoch's training time) and ``test_accuracy`` (after that epoch).
    Returns ``(epochs, cumulative seconds)`` through the first epoch that
    reaches the threshold, or ``(None, None)`` if none does.
    """
    elapsed = 0.0
    for count, record in enumerate(records, start=1):
        elapsed += float(record["train_seconds"])
        if float(record["test_accuracy"]) >= threshold:
            return count, elapsed
    return None, None


def median_or_none(values: Iterable[float | None]) -> float | None:
    """Median where ``None`` (threshold never reached) counts as infinitely slow.

    ``None`` when there are no values, or when at least half of them are
    ``None`` (then the median itself was never reached).
    """
    numbers = [math.inf if v is None else float(v) for v in values]
    if not numbers:
        return None
    middle = statistics.median(numbers)
    return None if math.isinf(middle) else middle


def ratio_or_none(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def epoch_start_waits(records: Sequence[Mapping[str, Any]]) -> list[float]:
    """Per epoch, the seconds it waited for its data iterator (0 for an epoch that did not wait).

    An epoch waited when its first training step began more than
    ``EPOCH_START_WAIT_SECONDS`` after the epoch started. The first epoch's
    start builds the pipeline and is never counted as a wait.
    """
    waits = []
    for index, record in enumerate(records):
        start = float(record.get("epoch_start_seconds", 0.0))
        waits.append(start if index > 0 and start > EPOCH_START_WAIT_SECONDS else 0.0)
    return waits


def summarize_run(side: str, repeat: int, records: Sequence[Mapping[str, Any]], threshold: float, **extra: Any) -> dict:
    """One repeat of one recipe: its per-epoch records and what they add up to."""
    epochs, seconds = time_to_threshold(records, threshold)
    epoch_seconds = [float(r["train_seconds"]) for r in records]
    waits = epoch_start_waits(records)
    waited_before_threshold = sum(waits[:epochs]) if epochs is not None else None
    return {
        "side": side,
        "repeat": repeat,
        "epochs_to_threshold": epochs,
        "seconds_to_threshold": seconds,
        "epochs_run": len(records),
        "final_accuracy": float(records[-1]["test_accuracy"]) if records else None,
        "best_accuracy": max((float(r["test_accuracy"]) for r in records), default=None),
        "train_seconds": sum(epoch_seconds),
        # the median epoch: the first one also traces the graph, so it is not typical
        "seconds_per_epoch": statistics.median(epoch_seconds) if epoch_seconds else None,
        "epoch_start_waits": sum(w > 0 for w in waits),
        "epoch_start_wait_seconds": sum(waits),
        "seconds_to_threshold_without_waits": None if seconds is None else seconds - waited_before_threshold,
        "train_seconds_without_waits": sum(epoch_seconds) - sum(waits),
        "records": [dict(r) for r in records],
        **extra,
    }


def seed_seconds_lower_bound(
    run: Mapping[str, Any], seed_epochs: int = SEED_EPOCHS, *, without_waits: bool = False
) -> float | None:
    """The seed run's time to the threshold, or a lower bound of it.

    Its measured time when it reached the threshold; its whole training time
    when it ran all ``seed_epochs`` without reaching it (it would have needed
    more); ``None`` when it stopped early without reaching it. With
    ``without_waits`` the same times with the epochs' waits for their data
    iterator taken out.
    """
    suffix = "_without_waits" if without_waits else ""
    if run["seconds_to_threshold"] is not None:
        return float(run["seconds_to_threshold" + suffix])
    if run["epochs_run"] >= seed_epochs:
        return float(run["train_seconds" + suffix])
    return None


def summarize(runs: Sequence[Mapping[str, Any]], *, seed_epochs: int = SEED_EPOCHS) -> dict:
    """Medians per recipe, the ratio project/seed and whether each target holds.

    ``ratio`` is the median project time to the threshold over the median seed
    time; ``paired_ratios`` divides the two runs of each repeat (they ran next
    to each other, so they shared the machine's load), and their median is
    reported too.
    """
    by_side = {side: [r for r in runs if r["side"] == side] for side in SIDES}
    sides = {}
    for side, items in by_side.items():
        sides[side] = {
            "repeats": len(items),
            "reached": sum(r["seconds_to_threshold"] is not None for r in items),
            "median_seconds_to_threshold": median_or_none(r["seconds_to_threshold"] for r in items),
            "median_epochs_to_threshold": median_or_none(r["epochs_to_threshold"] for r in items),
            "median_final_accuracy": median_or_none(r["final_accuracy"] for r in items),
            "min_final_accuracy": min((r["final_accuracy"] for r in items), default=None),
            "median_seconds_per_epoch": median_or_none(r["seconds_per_epoch"] for r in items),
            "median_train_seconds": median_or_none(r["train_seconds"] for r in items),
            "max_peak_rss_mb": max((r.get("peak_rss_mb") or 0.0 for r in items), default=None),
            "epoch_start_waits": sum(r.get("epoch_start_waits", 0) for r in items),
            "epoch_start_wait_seconds": sum(r.get("epoch_start_wait_seconds", 0.0) for r in items),
        }
    # A seed run that used all its epochs without reaching the threshold would
    # have needed more than its training time: that time is a lower bound of
    # its time to the threshold. Dividing by lower bounds gives an upper bound
    # of the ratio, so a target met with it is met for certain.
    seed_bound = {r["repeat"]: seed_seconds_lower_bound(r, seed_epochs) for r in by_side["seed"]}
    censored = sum(r["seconds_to_threshold"] is None and seed_bound[r["repeat"]] is not None for r in by_side["seed"])
    sides["seed"]["censored"] = censored
    sides["seed"]["median_seconds_to_threshold_lower_bound"] = median_or_none(seed_bound.values())
    paired = [
        ratio_or_none(p["seconds_to_threshold"], seed_bound[p["repeat"]])
        for p in by_side["project"]
        if p["repeat"] in seed_bound
    ]
    ratio = ratio_or_none(sides["project"]["median_seconds_to_threshold"],
                          sides["seed"]["median_seconds_to_threshold_lower_bound"])
    # The same ratio with every epoch's wait for its data iterator taken out of both sides: what the
    # recipes cost if TensorFlow never paused between epochs.
    ratio_without_waits = ratio_or_none(
        median_or_none(p.get("seconds_to_threshold_without_waits") for p in by_side["project"]),
        median_or_none(seed_seconds_lower_bound(r, seed_epochs, without_waits=True) for r in by_side["seed"]),
    )

    # The seed recipe's 10 epochs of training: measured when its runs went on
    # to epoch 10, otherwise its median epoch time times 10.
    full_seed = [r["train_seconds"] for r in by_side["seed"] if r["epochs_run"] >= seed_epochs]
    if full_seed and len(full_seed) == len(by_side["seed"]):
        seed_full_seconds, seed_full_how = statistics.median(full_seed), "measured"
    elif sides["seed"]["median_seconds_per_epoch"] is not None:
        seed_full_seconds = seed_epochs * sides["seed"]["median_seconds_per_epoch"]
        seed_full_how = f"{seed_epochs} x its median seconds per epoch"
    else:
        seed_full_seconds, seed_full_how = None, "unknown"
    project_train = sides["project"]["median_train_seconds"]
    peak = max((r.get("peak_rss_mb") or 0.0 for r in runs), default=0.0)
    targets = {
        "ratio": _target(ratio, f"<= {TARGET_RATIO}", ratio is not None and ratio <= TARGET_RATIO),
        "project_final_accuracy": _target(
            sides["project"]["min_final_accuracy"], f">= {TARGET_FINAL_ACCURACY} (every repeat)",
            sides["project"]["min_final_accuracy"] is not None
            and sides["project"]["min_final_accuracy"] >= TARGET_FINAL_ACCURACY,
        ),
        "project_train_seconds_vs_seed_10_epochs": _target(
            project_train, f"<= {seed_full_seconds:.1f} s (seed's {seed_epochs} epochs, {seed_full_how})"
            if seed_full_seconds is not None else "<= the seed's 10 epochs (unknown)",
            project_train is not None and seed_full_seconds is not None and project_train <= seed_full_seconds,
        ),
        "peak_rss_mb": _target(peak, f"<= {TARGET_PEAK_MB}", 0 < peak <= TARGET_PEAK_MB),
    }
    return {
        "sides": sides,
        "ratio": ratio,
        "ratio_is_upper_bound": bool(censored),
        "ratio_without_epoch_start_waits": ratio_without_waits,
        "paired_ratios": paired,
        "median_paired_ratio": median_or_none(paired),
        "seed_10_epoch_seconds": seed_full_seconds,
        "targets": targets,
        "all_targets_met": all(t["met"] for t in targets.values()),
    }


def _target(value: Any, goal: str, met: bool) -> dict:
    return {"value": value, "goal": goal, "met": bool(met)}


def _fmt(value: Any, spec: str, missing: str = "not reached") -> str:
    return missing if value is None else format(value, spec)


def format_table(result: Mapping[str, Any]) -> str:
    """The human-readable report: one row per run, then medians, ratio and targets."""
    threshold = result["threshold"]
    pct = f"{100 * threshold:g}%"
    header = (f"{'recipe':<8} {'rep':>3} {'train imgs':>10} {'epochs to ' + pct:>15} {'s to ' + pct:>11} "
              f"{'epochs run':>10} {'final acc':>9} {'s/epoch':>8} {'peak MB':>8} {'load':>5}")
    lines = [header, "-" * len(header)]
    for run in result["runs"]:
        lines.append(
            f"{run['side']:<8} {run['repeat']:>3} {run.get('train_images', 0):>10,} "
            f"{_fmt(run['epochs_to_threshold'], 'd'):>15} {_fmt(run['seconds_to_threshold'], '.1f'):>11} "
            f"{run['epochs_run']:>10} {_fmt(run['final_accuracy'], '.4f', '-'):>9} "
            f"{_fmt(run['seconds_per_epoch'], '.2f', '-'):>8} {_fmt(run.get('peak_rss_mb'), '.0f', '-'):>8} "
            f"{_fmt(run.get('load_average'), '.1f', '-'):>5}"
        )
    lines.append("-" * len(header))
    summary = result["summary"]
    for side in SIDES:
        s = summary["sides"][side]
        lines.append(
            f"{side:<8} median: {_fmt(s['median_epochs_to_threshold'], 'g')} epochs, "
            f"{_fmt(s['median_seconds_to_threshold'], '.1f')} s to {pct} "
            f"({s['reached']}/{s['repeats']} reached); final acc {_fmt(s['median_final_accuracy'], '.4f', '-')}; "
            f"{_fmt(s['median_seconds_per_epoch'], '.2f', '-')} s/epoch; peak {_fmt(s['max_peak_rss_mb'], '.0f', '-')} MB"
        )
    waits = "; ".join(
        f"{side} {summary['sides'][side]['epoch_start_waits']} epochs, "
        f"{summary['sides'][side]['epoch_start_wait_seconds']:.0f} s"
        for side in SIDES
    )
    lines.append(f"epochs that waited > {EPOCH_START_WAIT_SECONDS:g} s for their data iterator (counted as training "
                 f"time): {waits}; ratio with every such wait taken out of both sides: "
                 f"{'<= ' if summary.get('ratio_is_upper_bound') else ''}"
                 f"{_fmt(summary.get('ratio_without_epoch_start_waits'), '.3f', 'undefined')}")
    paired = ", ".join(_fmt(r, ".3f") for r in summary["paired_ratios"])
    bound = summary.get("ratio_is_upper_bound")
    lines.append(
        f"ratio project/seed (median time to {pct}): {'<= ' if bound else ''}"
        f"{_fmt(summary['ratio'], '.3f', 'undefined')}"
        f"   [per repeat: {paired}; median {_fmt(summary['median_paired_ratio'], '.3f', 'undefined')}]"
    )
    if bound:
        lines.append(
            f"  ({summary['sides']['seed']['censored']} seed run(s) did not reach {pct} in their "
            f"{result.get('seed_epochs', SEED_EPOCHS)} epochs; their whole training time is used as a lower bound "
            "of their time to it, so the ratio is an upper bound)"
        )
    lines.append("targets:")
    for name, target in summary["targets"].items():
        value = target["value"]
        shown = _fmt(value, ".4f" if isinstance(value, float) and value < 10 else ".1f", "-")
        lines.append(f"  [{'met' if target['met'] else 'MISSED'}] {name}: {shown} (goal {target['goal']})")
    return "\n".join(lines)


# -- one run, in a child process ------------------------------------------------------------------
def _make_clock(threshold: float, stop_at_threshold: bool, evaluate=None):
    """A Keras callback timing the training part of each epoch and recording test accuracy.

    The clock runs from ``on_epoch_begin`` to this callback's ``on_epoch_end``
    (callbacks listed before it, such as the recipe's own logging and
    checkpoints, are inside), minus the time between ``on_test_begin`` and
    ``on_test_end`` (validation inside ``fit``). ``evaluate(model)`` returns
    the test accuracy and is called with the clock stopped; without it, the
    epoch's ``val_accuracy`` is the test accuracy (the seed validates on the
    test set).
    """
    import keras

    class TrainingClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.records: list[dict] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._paused = 0.0
            self._start = time.perf_counter()
            self._first_batch = None

        def on_train_batch_begin(self, batch, logs=None):
            if self._first_batch is None:
                self._first_batch = time.perf_counter()

        def on_test_begin(self, logs=None):
            # JAX dispatches training steps asynchronously: wait for the epoch's last one (reading a
            # weight through self.model does) so that its time is not counted as validation time.
            keras.ops.convert_to_numpy(self.model.trainable_variables[0])
            self._test_start = time.perf_counter()

        def on_test_end(self, logs=None):
            self._paused += time.perf_counter() - self._test_start

        def on_epoch_end(self, epoch, logs=None):
            stopped = time.perf_counter()
            train_seconds = stopped - self._start - self._paused
            logs = logs or {}
            if evaluate is not None:
                accuracy = float(evaluate(self.model))
            else:
                accuracy = float(logs["val_accuracy"])
            self.records.append({
                "epoch": epoch + 1,
                "train_seconds": train_seconds,
                # from the epoch's start to its first training step: setting up the data iterator
                "epoch_start_seconds": (self._first_batch or stopped) - self._start,
                "eval_seconds": self._paused + time.perf_counter() - stopped,
                "test_accuracy": accuracy,
                "train_loss": float(logs.get("loss", math.nan)),
                "load_average": os.getloadavg()[0],
            })
            if stop_at_threshold and accuracy >= threshold:
                self.model.stop_training = True

    return TrainingClock()


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_seed(repeat: int, threshold: float, epochs: int, stop_at_threshold: bool,
             train_size: int | None, test_size: int | None) -> dict:
    """The seed notebook's cells, with a clock and a repeatable random seed."""
    try:  # the notebook's imports
        import tensorflow as tf
        from tensorflow.keras.layers import LSTM, Dense, Input
        from tensorflow.keras.models import Model

        set_random_seed = tf.keras.utils.set_random_seed
    except ImportError:  # a machine with JAX and no TensorFlow (the GPU figures): the same Keras 3 layers
        import keras
        from keras.layers import LSTM, Dense, Input
        from keras.models import Model

        set_random_seed = keras.utils.set_random_seed

    from rnn_mnist.data import load_mnist
    from rnn_mnist.training import EVALUATION_BATCH_SIZE

    set_random_seed(repeat)  # not in the notebook: makes the repeat repeatable

    # Load in the data -- the same arrays as tf.keras.datasets.mnist.load_data(), hash-verified
    (x_train, y_train), (x_test, y_test) = load_mnist()
    if train_size is not None:  # --quick only
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    if test_size is not None:
        x_test, y_test = x_test[:test_size], y_test[:test_size]
    x_train, x_test = x_train / 255.0, x_test / 255.0

    # Build the model
    i = Input(shape=x_train[0].shape)
    x = LSTM(128)(i)
    x = Dense(10, activation='softmax')(x)
    model = Model(i, x)

    # Compile and train
    model.compile(optimizer='adam',
                  loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    clock = _make_clock(threshold, stop_at_threshold)
    # validation_batch_size is the benchmark's only addition: the notebook validates in batches of 32
    # (fit's default); the same evaluation in batches of 1,024 gives the same accuracy, trains nothing,
    # is not timed, and saves about 8 s of wall time per run.
    model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=epochs,
              callbacks=[clock], verbose=0, validation_batch_size=EVALUATION_BATCH_SIZE)
    return {
        "records": clock.records,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "input_dtype": str(x_train.dtype),
        "batch_size": 32,
        "parameters": int(model.count_params()),
    }


def run_project(repeat: int, threshold: float, overrides: Mapping[str, Any], steps_per_execution: int = 1) -> dict:
    """``book_recipe(seed=repeat)`` through the package's own training code (``rnn_mnist.recipe.fit_recipe``)."""
    from rnn_mnist.config import book_recipe
    from rnn_mnist.splits import make_splits
    from rnn_mnist.training import EVALUATION_BATCH_SIZE, train_into

    config = book_recipe(seed=repeat, **overrides)
    splits = make_splits(config)

    def test_accuracy(model) -> float:
        return model.evaluate(splits.x_test, splits.y_test, batch_size=EVALUATION_BATCH_SIZE, verbose=0)[1]

    clock = _make_clock(threshold, False, evaluate=test_accuracy)
    with tempfile.TemporaryDirectory(prefix="rnn-mnist-benchmark-") as run_dir:
        metrics = train_into(config, Path(run_dir) / config.run_id(), splits=splits, verbose=0,
                             extra_callbacks=[clock], steps_per_execution=steps_per_execution)
    return {
        "records": clock.records,
        "train_images": int(len(splits.y_train)),
        "test_images": int(len(splits.y_test)),
        "input_dtype": config.input_dtype,
        "batch_size": config.batch_size,
        "parameters": int(metrics["parameters"]),
        "config": config.to_dict(),
        "run_id": config.run_id(),
        "steps_per_execution": steps_per_execution,
        "final_test_accuracy_train_into": metrics["test_accuracy"],
        "device": metrics["device"],
        "versions": metrics["versions"],
    }


def child_main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.child == "seed":
        out = run_seed(args.repeat, args.threshold, args.seed_epochs, not args.full_seed_runs,
                       args.train_size, args.test_size)
    else:
        overrides = {}
        if args.train_size is not None:
            overrides["train_size"] = args.train_size
        if args.test_size is not None:
            overrides["test_size"] = args.test_size
        if args.project_epochs is not None:
            overrides["epochs"] = args.project_epochs
        out = run_project(args.repeat, args.threshold, overrides, args.steps_per_execution)
    out["peak_rss_mb"] = _peak_rss_mb()
    out["process_seconds"] = time.perf_counter() - started
    Path(args.child_output).write_text(json.dumps(out))


# -- the parent: alternate the recipes, collect, report --------------------------------------------
def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gb": round(memory_gb, 1) if memory_gb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg()[0],
    }


def run_child(side: str, repeat: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="rnn-mnist-benchmark-") as tmp:
        output = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--repeat", str(repeat),
                   "--threshold", repr(args.threshold), "--seed-epochs", str(args.seed_epochs),
                   "--child-output", str(output), "--steps-per-execution", str(args.steps_per_execution)]
        for flag, value in (("--train-size", args.train_size), ("--test-size", args.test_size),
                            ("--project-epochs", args.project_epochs)):
            if value is not None:
                command += [flag, str(value)]
        if args.full_seed_runs:
            command.append("--full-seed-runs")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        load = os.getloadavg()[0]
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if completed.returncode != 0 or not output.exists():
            sys.stderr.write(completed.stdout[-5000:])
            raise SystemExit(f"benchmark: the {side} run (repeat {repeat}) failed with exit code {completed.returncode}")
        out = json.loads(output.read_text())
    out["wall_seconds"] = time.perf_counter() - started
    records = out.pop("records")
    loads = [load] + [r["load_average"] for r in records]
    return summarize_run(side, repeat, records, args.threshold, load_average=max(loads), **out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time to 98.8%% test accuracy: the seed notebook's recipe against the book's default "
                    "training, alternated in one run.")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke check: {QUICK['train_size']} training and {QUICK['test_size']} test images, "
                             f"{QUICK['epochs']} epochs, 1 repeat, threshold {QUICK['threshold']}")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each recipe (default 3; --quick: 1)")
    parser.add_argument("--threshold", type=float, default=None, help=f"test accuracy to reach (default {THRESHOLD})")
    parser.add_argument("--seed-epochs", type=int, default=None,
                        help=f"most epochs the seed recipe runs (default: its {SEED_EPOCHS})")
    parser.add_argument("--full-seed-runs", action="store_true",
                        help="run the seed's epochs to the end instead of stopping once it reaches the threshold "
                             "(longer; measures its 10-epoch time and accuracy)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the JSON result (default <RNN_MNIST_HOME>/benchmarks/"
                             "time_to_accuracy[-quick].json)")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="the book's side: Keras compile's steps_per_execution (speed only; default 1)")
    parser.add_argument("--train-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--test-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--project-epochs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = QUICK["repeats"] if args.repeats is None else args.repeats
        args.threshold = args.threshold if args.threshold is not None else QUICK["threshold"]
        args.seed_epochs = args.seed_epochs or QUICK["epochs"]
        args.train_size = args.train_size or QUICK["train_size"]
        args.test_size = args.test_size or QUICK["test_size"]
        args.project_epochs = args.project_epochs or QUICK["epochs"]
    args.repeats = 3 if args.repeats is None else args.repeats
    args.threshold = THRESHOLD if args.threshold is None else args.threshold
    args.seed_epochs = args.seed_epochs or SEED_EPOCHS
    if args.steps_per_execution < 1:
        parser.error(f"--steps-per-execution must be at least 1, got {args.steps_per_execution}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not 0 < args.threshold <= 1:
        parser.error("--threshold must be in (0, 1]")
    return args


def default_output(quick: bool) -> Path:
    from rnn_mnist.paths import project_home

    return project_home() / "benchmarks" / f"time_to_accuracy{'-quick' if quick else ''}.json"


def main(argv: Sequence[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return None

    started = time.perf_counter()
    machine = machine_description()
    print(f"time to {100 * args.threshold:g}% test accuracy: seed recipe vs the project's default training, "
          f"{args.repeats} repeat(s) each, alternating, each run in a fresh process"
          f"{' (QUICK smoke check: tiny data, numbers mean nothing)' if args.quick else ''}", flush=True)
    print(f"machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, {machine['memory_gb']} GB; "
          f"load average at start {machine['load_average_at_start']:.2f}", flush=True)
    runs = []
    for repeat in range(args.repeats):
        # alternate which recipe goes first, so a drift in the machine's load hits both
        order = SIDES if repeat % 2 == 0 else SIDES[::-1]
        for side in order:
            run = run_child(side, repeat, args)
            runs.append(run)
            print(f"  {side:<7} repeat {repeat}: {_fmt(run['epochs_to_threshold'], 'd')} epochs, "
                  f"{_fmt(run['seconds_to_threshold'], '.1f')} s to threshold; final acc "
                  f"{run['final_accuracy']:.4f} after {run['epochs_run']} epochs; "
                  f"{run['seconds_per_epoch']:.2f} s/epoch; peak {run['peak_rss_mb']:.0f} MB "
                  f"({run['wall_seconds']:.0f} s wall)", flush=True)

    project = next((r for r in runs if r["side"] == "project"), {})
    seed = next((r for r in runs if r["side"] == "seed"), {})
    result = {
        "benchmark": "time_to_accuracy",
        "quick": bool(args.quick),
        "threshold": args.threshold,
        "repeats": args.repeats,
        "seed_epochs": args.seed_epochs,
        "seed_stops_at_threshold": not args.full_seed_runs,
        "steps_per_execution": args.steps_per_execution,
        "data": {
            "seed": f"{seed.get('train_images', 0):,} training images (the notebook's choice: every one); "
                    "its validation set is the test set",
            "project": f"{project.get('train_images', 0):,} training images (a further "
                       f"{(project.get('config') or {}).get('validation_size', 0):,} held out for validation); "
                       "the test set is evaluated by the benchmark only",
            "test_images": project.get("test_images"),
        },
        "timing": "training seconds per epoch exclude every evaluation (validation and test); "
                  "the first epoch includes graph tracing",
        "machine": {**machine, "load_average_at_end": os.getloadavg()[0],
                    "device": project.get("device", {}).get("summary")},
        "versions": project.get("versions"),
        "project_config": project.get("config"),
        "runs": runs,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": None,
    }
    result["summary"] = summarize(runs, seed_epochs=args.seed_epochs)
    result["ratio"] = result["summary"]["ratio"]
    result["ratio_is_upper_bound"] = result["summary"]["ratio_is_upper_bound"]
    result["wall_seconds"] = time.perf_counter() - started

    output = args.output or default_output(args.quick)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print()
    print(format_table(result))
    print(f"data: seed: {result['data']['seed']}; project: {result['data']['project']}; "
          f"test images: {result['data']['test_images'] or 0:,}")
    print(f"benchmark wall time {result['wall_seconds'] / 60:.1f} min; "
          f"load average {machine['load_average_at_start']:.2f} at start, "
          f"{result['machine']['load_average_at_end']:.2f} at end; JSON written to {output}")
    print(json.dumps(result, sort_keys=True, separators=(",", ":")))
    return result


if __name__ == "__main__":
    main()
