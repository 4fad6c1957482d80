#!/usr/bin/env python
"""Choose the book's recipe on validation data, across seeds: does each part earn its cost?

Run from the repository root (after ``make`` has set up ``.venv`` and fetched MNIST)::

    .venv/bin/python benchmarks/recipe_choice.py --seeds 0 1 2 --jobs 1
    KERAS_BACKEND=jax python benchmarks/recipe_choice.py --seeds 0 1 2 3 4 --jobs 4   # on a GPU
    .venv/bin/python benchmarks/recipe_choice.py --quick                                # a smoke check

Every variant is :func:`rnn_mnist.config.book_recipe` with some fields changed, fitted by
:func:`rnn_mnist.recipe.fit_recipe` (the code chapter 3 shows) in a fresh process per run.
Only the *validation* split (5,000 of the 60,000 training images) is ever scored: no run
here evaluates or predicts the test set, and nothing is stored in the run store. The book's
final models are evaluated on test once each, by the training code, after the choice.

For each variant it reports the final model's validation accuracy (mean and standard
deviation over the seeds), the mean validation accuracy after every epoch, the epoch that
first reaches ``--threshold`` on validation, and, seed by seed, the difference from the
first variant (the baseline), with a paired t statistic. It writes the result as JSON
after every finished run (``--output``), so a run stopped by a time limit keeps what it
measured, and ends its output with one line holding that JSON object.

Seconds per epoch are printed too, but with ``--jobs`` above 1 the runs share the machine:
speed is measured by ``benchmarks/step_cost.py`` and ``benchmarks/time_to_accuracy.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from rnn_mnist.measured import first_epoch_reaching

#: Variants, each a change to book_recipe(); the first is the baseline the others are compared with.
VARIANTS = {
    "the book's recipe": {},
    "without random shifts": {"shift_pixels": 0},
    "without the weight average": {"ema_momentum": None},
    "without gradient clipping": {"clipnorm": None},
    "batch 256": {"batch_size": 256},
}
THRESHOLD = 0.988
QUICK = {"train_size": 1280, "validation_size": 256, "test_size": 10, "epochs": 2}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                        help="variants to run, in this order; the first is the baseline (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process (default 1)")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="Keras compile's steps_per_execution: speed only, the same result")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="validation accuracy to reach")
    parser.add_argument("--deadline", type=float, default=None,
                        help="start no new run after this many seconds (the finished ones are kept)")
    parser.add_argument("--quick", action="store_true", help="tiny data and 2 epochs: checks the script runs")
    parser.add_argument("--output", type=Path, help="write the JSON result here, after every finished run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variants is None:
        args.variants = list(VARIANTS)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.steps_per_execution < 1:
        parser.error(f"--steps-per-execution must be at least 1, got {args.steps_per_execution}")
    return args


# -- one run, in a child process ------------------------------------------------------------------
def child_main(spec: dict) -> None:
    from rnn_mnist.config import book_recipe
    from rnn_mnist.device import backend_name, make_deterministic
    from rnn_mnist.model import build_model_for
    from rnn_mnist.recipe import fit_recipe
    from rnn_mnist.splits import make_splits
    from rnn_mnist.training import EpochTimer

    config = book_recipe(seed=spec["seed"], **VARIANTS[spec["variant"]], **spec["sizes"])
    make_deterministic(config.seed)
    splits = make_splits(config)
    model = build_model_for(config)
    started = time.perf_counter()
    history = fit_recipe(model, config, splits, callbacks=[EpochTimer()], verbose=0,
                         steps_per_execution=spec["steps_per_execution"])
    logs = history.history
    print("RESULT " + json.dumps({
        "variant": spec["variant"], "seed": spec["seed"], "backend": backend_name(),
        "val_accuracy": [float(v) for v in logs["val_accuracy"]],
        "val_loss": [float(v) for v in logs["val_loss"]],
        "accuracy": [float(v) for v in logs["accuracy"]],
        "epoch_seconds": [float(v) for v in logs["epoch_seconds"]],
        "fit_seconds": time.perf_counter() - started,
    }), flush=True)


def run_children(specs: list[dict], jobs: int, deadline: float | None, on_result) -> None:
    """Run each spec in a fresh process, ``jobs`` at a time; ``on_result(result)`` after each."""
    pending, running, started = list(specs), [], time.perf_counter()
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "PYTHONUNBUFFERED": "1"}
    while pending or running:
        while pending and len(running) < jobs and (deadline is None or time.perf_counter() - started < deadline):
            spec = pending.pop(0)
            process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            running.append((spec, process))
        if not running:
            print(f"deadline of {deadline:.0f} s reached: {len(pending)} runs not started", flush=True)
            return
        time.sleep(0.5)
        for spec, process in list(running):
            if process.poll() is None:
                continue
            running.remove((spec, process))
            out, err = process.communicate()
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            if process.returncode != 0 or not lines:
                tail = (err.strip().splitlines() or ["no output"])[-1]
                print(f"run {spec['variant']!r} seed {spec['seed']} failed (exit {process.returncode}): {tail}",
                      flush=True)
                continue
            on_result(json.loads(lines[-1].removeprefix("RESULT ")))


# -- the summary (pure; tested in tests/test_recipe_choice.py) ------------------------------------
def spread(values: list[float]) -> dict:
    return {"values": values, "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}


def paired_difference(variant: dict[int, float], baseline: dict[int, float]) -> dict | None:
    """Seed-by-seed ``variant - baseline`` on the seeds both have: mean, sd and the paired t statistic."""
    seeds = sorted(set(variant) & set(baseline))
    if not seeds:
        return None
    differences = [variant[s] - baseline[s] for s in seeds]
    sd = statistics.stdev(differences) if len(differences) > 1 else 0.0
    mean = statistics.fmean(differences)
    t = mean / (sd / math.sqrt(len(differences))) if sd > 0 else None
    return {"seeds": seeds, "differences": differences, "mean": mean, "sd": sd, "t": t}


def summarize(results: list[dict], variants: list[str], threshold: float) -> dict:
    by_variant = {name: sorted((r for r in results if r["variant"] == name), key=lambda r: r["seed"])
                  for name in variants}
    final = {name: {r["seed"]: r["val_accuracy"][-1] for r in runs} for name, runs in by_variant.items()}
    baseline = variants[0]
    summary = {}
    for name, runs in by_variant.items():
        if not runs:
            continue
        epochs = len(runs[0]["val_accuracy"])
        reach = [first_epoch_reaching(r["val_accuracy"], threshold) for r in runs]
        steady = [s for r in runs for s in r["epoch_seconds"][1:]] or [s for r in runs for s in r["epoch_seconds"]]
        summary[name] = {
            "change": VARIANTS[name],
            "seeds": [r["seed"] for r in runs],
            "final_val_accuracy": spread([r["val_accuracy"][-1] for r in runs]),
            "mean_val_accuracy_per_epoch": [statistics.fmean(r["val_accuracy"][e] for r in runs)
                                            for e in range(epochs)],
            "epoch_reaching_threshold": reach,
            "median_epoch_seconds": statistics.median(steady),
            "difference_from_baseline": None if name == baseline else paired_difference(final[name], final[baseline]),
        }
    return summary


def format_summary(summary: dict, threshold: float) -> str:
    lines = [f"{'variant':34} {'final val acc (mean +/- sd)':>28} {'vs baseline':>18} {'epoch to ' + format(threshold, '.1%'):>14}"]
    for name, item in summary.items():
        acc = item["final_val_accuracy"]
        diff = item["difference_from_baseline"]
        diff_text = "baseline" if diff is None else f"{diff['mean'] * 100:+.2f} pt" + (
            f" (t={diff['t']:+.1f})" if diff["t"] is not None else "")
        reach = ",".join("-" if e is None else str(e) for e in item["epoch_reaching_threshold"])
        lines.append(f"{name:34} {acc['mean']:>17.2%} +/- {acc['sd']:.2%} {diff_text:>18} {reach:>14}")
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    sizes = QUICK if args.quick else {}
    # Seed-major order: when a deadline stops the sweep, every variant has the same seeds done.
    specs = [{"variant": v, "seed": s, "sizes": sizes, "steps_per_execution": args.steps_per_execution}
             for s in args.seeds for v in args.variants]
    results: list[dict] = []
    started = datetime.now(timezone.utc)

    def document() -> dict:
        from rnn_mnist.device import describe_device, library_versions

        return {
            "measured": started.isoformat(timespec="seconds"),
            "what": "book_recipe() variants fitted by fit_recipe; validation split only (the test set is never read)",
            "threshold": args.threshold, "seeds": args.seeds, "quick": args.quick,
            "steps_per_execution": args.steps_per_execution, "jobs": args.jobs,
            "device": describe_device()["summary"], "versions": library_versions(),
            "summary": summarize(results, args.variants, args.threshold), "runs": results,
        }

    def on_result(result: dict) -> None:
        results.append(result)
        print(f"{result['variant']:34} seed {result['seed']}: validation "
              + " ".join(f"{v:.2%}" for v in result["val_accuracy"])
              + f"  ({statistics.median(result['epoch_seconds']):.1f} s/epoch)", flush=True)
        if args.output:
            write_atomic(args.output, json.dumps(document(), indent=2, allow_nan=False) + "\n")

    run_children(specs, args.jobs, args.deadline, on_result)
    result = document()
    print(format_summary(result["summary"], args.threshold))
    if args.output:
        write_atomic(args.output, json.dumps(result, indent=2, allow_nan=False) + "\n")
    print(json.dumps(result, allow_nan=False))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
