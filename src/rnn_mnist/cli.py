"""The ``rnn-mnist`` command: ``data``, ``train`` and ``book``.

Every subcommand has ``--help``. Errors a user can fix (a bad parameter, no
data source) end with a one-paragraph message and exit status 2, not a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-mnist",
        description="How a recurrent network reads a handwritten digit, row by row.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser(
        "data",
        help="fetch and verify MNIST, print shapes, dtypes and SHA-256 of each array",
        description="Fetch MNIST from the first source that serves it, verify every array against "
        "the pinned SHA-256 of the real MNIST, and print what was served.",
    )
    data.add_argument("--path", help="an mnist.npz in Keras's layout to use instead of the other sources")
    data.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    train = commands.add_parser(
        "train",
        help="train a model (or reuse the stored run of the same config) and print test metrics",
        description="Train the recipe's model with any overrides, store the run under a hash of its "
        "config, and print test loss/accuracy, seconds per epoch and where the run lives. "
        "A config that was trained before is reused, not retrained.",
    )
    train.add_argument("--recipe", default="book", choices=["book", "seed"],
                       help="'book' (the book's faster recipe, default) or 'seed' (the original notebook's)")
    train.add_argument("--epochs", type=_integer)
    train.add_argument("--batch-size", type=_integer)
    train.add_argument("--units", type=_integer, help="recurrent units (128 in the seed)")
    train.add_argument("--cell", choices=["lstm", "gru", "simple_rnn", "dense"])
    train.add_argument("--bidirectional", action="store_true", default=None)
    train.add_argument("--dropout", type=float)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--train-size", type=_integer, help="training images (default: all)")
    train.add_argument("--validation-size", type=_integer)
    train.add_argument("--test-size", type=_integer, help="test images (default: all 10,000)")
    train.add_argument("--seed", type=_integer)
    train.add_argument("--run-dir", type=Path,
                       help="directory under which runs are stored (default: $RNN_MNIST_RUNS or "
                       "$RNN_MNIST_HOME/runs or ~/.cache/rnn-mnist/runs)")
    train.add_argument("--json", action="store_true", help="end the output with one JSON line of results")

    book = commands.add_parser(
        "book",
        help="execute every chapter with papermill and build the Jupyter Book site",
        description="Execute the chapter notebooks in order with papermill into book/notebooks/, "
        "write the results page, then build the HTML site with Jupyter Book.",
    )
    book.add_argument("--profile", default="full", help="parameter profile from notebooks/parameters.yml")
    book.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    book.add_argument("--no-build", action="store_true", help="execute the chapters but do not build HTML")

    mocks = commands.add_parser(
        "sync-mocks",
        help="write the 'small' parameter profile into each chapter's nbmake mock metadata",
        description="Copy a profile of notebooks/parameters.yml into the nbmake mock metadata of each "
        "chapter's parameters cell, so `pytest --nbmake notebooks/` runs on small parameters.",
    )
    mocks.add_argument("--profile", default="small")
    mocks.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    return parser


def _cmd_sync_mocks(args: argparse.Namespace) -> int:
    from .book import repository_root, sync_nbmake_mocks

    changed = sync_nbmake_mocks(repository_root(args.root), args.profile)
    print("updated: " + ", ".join(changed) if changed else "all chapters already carry the profile")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import ARRAY_NAMES, MNIST_ARRAY_SHA256, array_sha256, load_mnist_arrays

    mnist = load_mnist_arrays(args.path)
    arrays = mnist.arrays()
    rows = {
        name: {
            "shape": list(arrays[name].shape),
            "dtype": str(arrays[name].dtype),
            "sha256": array_sha256(arrays[name]),
            "verified": array_sha256(arrays[name]) == MNIST_ARRAY_SHA256[name],
        }
        for name in ARRAY_NAMES
    }
    if args.json:
        print(json.dumps({"source": mnist.source, "arrays": rows}))
        return 0
    print(f"source: {mnist.source}")
    for name, row in rows.items():
        shape = "x".join(str(n) for n in row["shape"])
        print(f"{name:8s} shape={shape:12s} dtype={row['dtype']:6s} sha256={row['sha256']}")
    print("all four arrays match the pinned SHA-256 of the real MNIST")
    return 0


def _train_overrides(args: argparse.Namespace) -> dict:
    names = ["epochs", "batch_size", "units", "cell", "bidirectional", "dropout", "learning_rate",
             "train_size", "validation_size", "test_size", "seed"]
    return {name: getattr(args, name) for name in names}


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import config_from_parameters
    from .runs import ensure_trained, find_run

    config = config_from_parameters(args.recipe, **_train_overrides(args))
    reused = find_run(config, args.run_dir) is not None
    run = ensure_trained(config, args.run_dir, verbose="auto")
    metrics = run.metrics
    result = {
        "run_id": config.run_id(),
        "recipe": args.recipe,
        "reused_stored_run": reused,
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics["test_loss"],
        "seconds_per_epoch": metrics["seconds_per_epoch"],
        "train_seconds": metrics["train_seconds"],
        "epochs": metrics["epochs"],
        "device": metrics["device"]["summary"],
        "run_dir": str(run.run_dir),
    }
    print(("Reused the stored run" if reused else "Trained") + f" {result['run_id']} ({args.recipe} recipe)")
    print(f"test accuracy     {result['test_accuracy']:.4f}")
    print(f"test loss         {result['test_loss']:.4f}")
    print(f"seconds per epoch {result['seconds_per_epoch']:.1f} (median of {result['epochs']} epochs)")
    print(f"device            {result['device']}")
    print(f"stored in         {result['run_dir']}")
    if args.json:
        print(json.dumps(result))
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    build_book(args.root.resolve(), profile=args.profile, build_html_site=not args.no_build)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from .config import ConfigError
    from .data import DataSourceError

    args = build_parser().parse_args(argv)
    handlers = {"data": _cmd_data, "train": _cmd_train, "book": _cmd_book, "sync-mocks": _cmd_sync_mocks}
    try:
        return handlers[args.command](args)
    except (ConfigError, DataSourceError) as error:
        print(f"rnn-mnist {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
