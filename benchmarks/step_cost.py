#!/usr/bin/env python
"""What each part of the recipe costs per training step, on this machine and backend.

Run from the repository root::

    .venv/bin/python benchmarks/step_cost.py                                  # TensorFlow, the CPU
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/step_cost.py            # JAX, the CPU
    KERAS_BACKEND=jax python benchmarks/step_cost.py --steps-per-execution 1 8 32   # on a GPU

Each variant is :func:`rnn_mnist.config.book_recipe` with some fields changed, fitted by
:func:`rnn_mnist.recipe.fit_recipe` on ``--steps`` batches of real MNIST for 3 epochs. The
first epoch traces (or compiles) the step and is left out; an epoch's training time runs
from its start to the start of its validation, once its last step has finished. Variants and ``steps_per_execution`` values
alternate within each repeat, in one process, and the median over repeats and epochs is
reported as milliseconds per step, with its ratio to the plainest variant (no shifts, no
weight average) at the same ``steps_per_execution``. Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

VARIANTS = {
    "plain (no shifts, no weight average)": {"shift_pixels": 0, "ema_momentum": None},
    "weight average, no shifts": {"shift_pixels": 0},
    "random shifts, no weight average": {"ema_momentum": None},
    "the book's recipe (shifts and weight average)": {},
}
PLAINEST = "plain (no shifts, no weight average)"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="training steps per epoch (default 50)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[128])
    parser.add_argument("--steps-per-execution", type=int, nargs="+", default=[1])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def training_seconds_per_epoch(config, splits, steps_per_execution: int) -> list[float]:
    """Seconds of each epoch's training part (validation excluded) when ``fit_recipe`` fits ``config``."""
    import keras

    from rnn_mnist.model import build_model_for
    from rnn_mnist.recipe import fit_recipe

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_test_begin(self, logs=None):
            # Wait for the epoch's last step: JAX dispatches steps asynchronously, and reading a
            # weight (through self.model, which brings JAX's training state back) waits for them.
            keras.ops.convert_to_numpy(self.model.trainable_variables[0])
            self.seconds.append(time.perf_counter() - self.start)

    clock = Clock()
    fit_recipe(build_model_for(config), config, splits, callbacks=[clock], verbose=0,
               steps_per_execution=steps_per_execution)
    return clock.seconds


def main(argv=None) -> int:
    args = parse_args(argv)
    from rnn_mnist.config import book_recipe
    from rnn_mnist.device import describe_device, library_versions, make_deterministic
    from rnn_mnist.splits import make_splits

    samples: dict[tuple[str, int, int], list[float]] = {}
    cases = [(v, b, k) for b in args.batch_size for k in args.steps_per_execution for v in args.variants]
    for repeat in range(args.repeats):
        for variant, batch, spe in cases:
            config = book_recipe(seed=repeat, epochs=3, batch_size=batch, train_size=args.steps * batch,
                                 validation_size=1024, **VARIANTS[variant])
            make_deterministic(config.seed)
            seconds = training_seconds_per_epoch(config, make_splits(config), spe)
            samples.setdefault((variant, batch, spe), []).extend(s / args.steps * 1000 for s in seconds[1:])
            print(f"repeat {repeat} | {variant:45} batch {batch:4} steps/execution {spe:3}: "
                  + " ".join(f"{s / args.steps * 1000:.2f}" for s in seconds) + " ms/step (first epoch compiles)",
                  flush=True)
    table = []
    for variant, batch, spe in cases:
        median = statistics.median(samples[(variant, batch, spe)])
        plain = samples.get((PLAINEST, batch, spe))
        table.append({"variant": variant, "batch_size": batch, "steps_per_execution": spe,
                      "ms_per_step": median, "ms_per_epoch_of_55000_images": median * -(-55_000 // batch),
                      "ratio_to_plainest": median / statistics.median(plain) if plain else None})
    print(f"\n{'variant':45} {'batch':>5} {'spe':>4} {'ms/step':>8} {'s/epoch':>8} {'x plainest':>10}")
    for row in table:
        ratio = "-" if row["ratio_to_plainest"] is None else f"{row['ratio_to_plainest']:.2f}"
        print(f"{row['variant']:45} {row['batch_size']:>5} {row['steps_per_execution']:>4} "
              f"{row['ms_per_step']:>8.2f} {row['ms_per_epoch_of_55000_images'] / 1000:>8.2f} {ratio:>10}")
    result = {"measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": describe_device()["summary"], "versions": library_versions(),
              "steps": args.steps, "repeats": args.repeats, "table": table}
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
