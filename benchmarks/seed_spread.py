#!/usr/bin/env python
"""Seed-to-seed spread of the book's recipe, and the recipe's choices checked on validation data.

Run from the repository root (after ``make`` has set up ``.venv`` and fetched MNIST)::

    .venv/bin/python benchmarks/seed_spread.py                      # seeds 0 1 2, ablations on seed 0
    .venv/bin/python benchmarks/seed_spread.py --output docs/results/seed_spread.json

Every model goes through :func:`rnn_mnist.runs.ensure_trained`, so runs the book has
stored already are reused and new ones are stored for the book to reuse. It reports:

* **book recipe, several seeds** (full data, 10 epochs): validation accuracy after every
  epoch, the final model's validation accuracy, and its test accuracy (each of these
  is a final model: the test set is evaluated once per run, by the training code);
* **chapter 7's LSTM, several seeds** (chapter 7's shared recipe: 5 epochs on 20,000
  images): the noise level the chapter's ranking has to beat;
* **ablations on validation only**: the book's recipe without the random shifts,
  without the weight average, with half the peak learning rate, and with 8 epochs. The script prints their *validation* accuracies only;
  the choice between them and the recipe is made on those. (The training code still
  evaluates each stored model once on the test set; this script does not read it.)

Numbers are mean and sample standard deviation over the seeds. It ends its output with
one line holding the JSON it writes to ``--output``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the book's recipe and of chapter 7's LSTM (default: 0 1 2)")
    parser.add_argument("--ablation-seeds", type=int, nargs="*", default=[0],
                        help="seeds of the ablations (default: 0; none: skip them)")
    parser.add_argument("--output", type=Path, help="write the JSON result here as well")
    return parser.parse_args(argv)


def _spread(values):
    values = [float(v) for v in values]
    return {"values": values, "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def _final_val_accuracy(run) -> float:
    """Validation accuracy of the final model (the one whose test accuracy the run stores)."""
    return float(run.history["val_accuracy"][-1])


def main(argv=None) -> int:
    args = _parse(argv)
    from rnn_mnist import comparison
    from rnn_mnist.config import book_recipe
    from rnn_mnist.runs import ensure_trained

    book_runs = {seed: ensure_trained(book_recipe().replace(seed=seed), verbose=0) for seed in args.seeds}
    book = {
        "config": "book_recipe() (55,000 training images, 10 epochs)",
        "val_accuracy_per_epoch": {seed: run.history["val_accuracy"] for seed, run in book_runs.items()},
        "final_val_accuracy": _spread(_final_val_accuracy(run) for run in book_runs.values()),
        "test_accuracy": _spread(run.test_accuracy for run in book_runs.values()),
    }

    lstm_runs = {}
    for seed in args.seeds:
        config = comparison.comparison_configs(comparison.comparison_base(seed=seed))["LSTM"]
        lstm_runs[seed] = ensure_trained(config, verbose=0)
    chapter7 = {
        "config": f"chapter 7's LSTM ({comparison.COMPARISON_EPOCHS} epochs, "
                  f"{comparison.COMPARISON_TRAIN_SIZE:,} training images)",
        "final_val_accuracy": _spread(_final_val_accuracy(run) for run in lstm_runs.values()),
        "test_accuracy": _spread(run.test_accuracy for run in lstm_runs.values()),
    }

    ablations = {}
    variants = {
        "without random shifts": {"shift_pixels": 0},
        "without the weight average": {"ema_momentum": None},
        "peak learning rate 3e-3 instead of 6e-3": {"learning_rate": 3e-3},
        "8 epochs instead of 10": {"epochs": 8},
    }
    for name, change in variants.items():
        if not args.ablation_seeds:
            break
        runs = {seed: ensure_trained(book_recipe().replace(seed=seed, **change), verbose=0)
                for seed in args.ablation_seeds}
        ablations[name] = {
            "change": change,
            "val_accuracy_per_epoch": {seed: run.history["val_accuracy"] for seed, run in runs.items()},
            "final_val_accuracy": _spread(_final_val_accuracy(run) for run in runs.values()),
        }

    result = {"measured": dt.date.today().isoformat(), "seeds": args.seeds, "book_recipe": book,
              "chapter7_lstm": chapter7, "ablations_validation_only": ablations}

    def pct(s):
        return f"{s['mean']:.2%} +/- {s['sd']:.2%} (min {s['min']:.2%}, max {s['max']:.2%})"

    print(f"book's recipe, seeds {args.seeds}:")
    for seed, values in book["val_accuracy_per_epoch"].items():
        print(f"  seed {seed}: validation per epoch " + " ".join(f"{v:.2%}" for v in values))
    print(f"  final model, validation: {pct(book['final_val_accuracy'])}")
    print(f"  final model, test:       {pct(book['test_accuracy'])}")
    print(f"{chapter7['config']}, seeds {args.seeds}:")
    print(f"  final model, validation: {pct(chapter7['final_val_accuracy'])}")
    print(f"  final model, test:       {pct(chapter7['test_accuracy'])}")
    for name, ablation in ablations.items():
        print(f"book's recipe {name}, seeds {args.ablation_seeds} (validation only):")
        for seed, values in ablation["val_accuracy_per_epoch"].items():
            print(f"  seed {seed}: validation per epoch " + " ".join(f"{v:.2%}" for v in values))
        print(f"  final model, validation: {pct(ablation['final_val_accuracy'])}")
    text = json.dumps(result, allow_nan=False)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
