"""The ``rnn-mnist`` command: ``data``, ``train``, ``runs verify``, ``book`` and ``sync-mocks``.

Every subcommand has ``--help``. Errors a user can fix (a bad argument or
parameter, no data source, a run directory that cannot be written) end with
one line on stderr naming the parameter or path, and exit status 2, not a
traceback. Arguments and the training config are checked before TensorFlow
or Keras is imported, so a typo is answered at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Sequence


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _positive_integer(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _run_directory(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty path")
    return Path(text)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what was wrong and where to read the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    train.add_argument("--dropout", type=_finite_float)
    train.add_argument("--learning-rate", type=_finite_float)
    train.add_argument("--train-size", type=_integer, help="training images (default: all)")
    train.add_argument("--validation-size", type=_integer)
    train.add_argument("--test-size", type=_integer, help="test images (default: all 10,000)")
    train.add_argument("--seed", type=_integer)
    train.add_argument("--run-dir", type=_run_directory,
                       help="directory under which runs are stored (default: $RNN_MNIST_RUNS or "
                       "$RNN_MNIST_HOME/runs or ~/.cache/rnn-mnist/runs)")
    train.add_argument("--retrain", action="store_true",
                       help="move the stored run of this config aside (renamed <run>.replaced-<UTC time>) "
                       "and train it again")
    train.add_argument("--json", action="store_true", help="end the output with one JSON line of results")

    runs = commands.add_parser(
        "runs",
        help="check the stored runs",
        description="Check the runs stored under the run directory.",
    )
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    verify = runs_commands.add_parser(
        "verify",
        help="check every stored run against the sizes and SHA-256s its metrics.json records",
        description="Check every run stored under the run directory: its metrics.json must be readable and "
        "every file it lists must match the stored size and SHA-256. Prints one line per run (ok, "
        "unfinished, training, blocked or damaged with the reason); exits 1 if any run is damaged or "
        "blocked, else 0. Nothing is written unless --move-aside is given, so a read-only store can be checked.",
    )
    verify.add_argument("--run-dir", type=_run_directory,
                        help="directory under which runs are stored (default: as for `train`)")
    verify.add_argument("--move-aside", action="store_true",
                        help="rename each damaged run to <run>.damaged-<UTC time> (nothing is deleted), "
                        "so the next `train` of its config trains it again")

    book = commands.add_parser(
        "book",
        help="execute every chapter with papermill and build the Jupyter Book site",
        description="Execute the chapter notebooks in order with papermill into book/notebooks/, "
        "write the results page, then build the HTML site with Jupyter Book.",
    )
    book.add_argument("--profile", default="full", help="parameter profile from notebooks/parameters.yml")
    book.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    book.add_argument("--no-build", action="store_true", help="execute the chapters but do not build HTML")
    book.add_argument("--jobs", type=_positive_integer, default=None,
                      help="runs, then chapters, processed at once, each in its own process "
                      "(default: 2, or 1 on a one-core machine; 1: one after the other)")

    mocks = commands.add_parser(
        "sync-mocks",
        help="write the 'small' parameter profile into each chapter's nbmake mock metadata",
        description="Copy a profile of notebooks/parameters.yml into the nbmake mock metadata of each "
        "chapter's parameters cell, so `pytest --nbmake notebooks/` runs on small parameters.",
    )
    mocks.add_argument("--profile", default="small")
    mocks.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    return parser


class UsageError(Exception):
    """An argument the parser could not check (its message says which and what to do)."""


def _book_root(args: argparse.Namespace) -> Path:
    """The repository root, with ``--profile`` checked against ``notebooks/parameters.yml``."""
    from .book import load_profile, repository_root

    root = repository_root(args.root)
    try:
        load_profile(root, args.profile)
    except ValueError as error:
        raise UsageError(f"--profile: {error}") from None
    return root


def _cmd_sync_mocks(args: argparse.Namespace) -> int:
    from .book import sync_nbmake_mocks

    changed = sync_nbmake_mocks(_book_root(args), args.profile)
    print("updated: " + ", ".join(changed) if changed else "all chapters already carry the profile")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    check_backend_setting()
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


def _runs_dir(args: argparse.Namespace) -> Path:
    from .paths import default_runs_dir

    return args.run_dir if args.run_dir is not None else default_runs_dir()


def json_line(result: dict) -> str:
    """``result`` as one line of strict JSON: a NaN or infinite number becomes ``null``."""

    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: finite(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(item) for item in value]
        return value

    return json.dumps(finite(result), allow_nan=False)


def _epochs(count: int) -> str:
    return f"{count} epoch" + ("" if count == 1 else "s")


def _number(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "n/a"


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import config_from_parameters
    from .paths import require_writable_directory

    config = config_from_parameters(args.recipe, **_train_overrides(args))  # validated before Keras is imported
    check_backend_setting()
    from .runs import ensure_trained, find_run

    stored = None if args.retrain else find_run(config, _runs_dir(args))  # served from a read-only store too
    if stored is not None:
        run = stored
    else:
        runs_dir = require_writable_directory(_runs_dir(args), "the run directory")
        run = ensure_trained(config, runs_dir, verbose="auto", retrain=args.retrain)
    reused = not run.trained_now
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
    first_of_fit = len(metrics.get("first_epochs_of_fit", []))
    timed = f"median of {_epochs(result['epochs'])}"
    if first_of_fit and result["epochs"] > first_of_fit:
        timed = f"median of {_epochs(result['epochs'] - first_of_fit)}; the first of each fit also traces the step"
    print(f"test accuracy     {_number(result['test_accuracy'], '.4f')}")
    print(f"test loss         {_number(result['test_loss'], '.4f')}")
    print(f"seconds per epoch {_number(result['seconds_per_epoch'], '.1f')} ({timed})")
    print(f"device            {result['device']}")
    print(f"stored in         {result['run_dir']}")
    if args.json:
        print(json_line(result))
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from .paths import StorageError

    runs_dir = _runs_dir(args)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise StorageError(f"the run directory {runs_dir} is a file, not a directory")
    if args.run_dir is not None and not runs_dir.exists():
        raise StorageError(f"the run directory {runs_dir} does not exist")
    from .runs import verify_runs

    checks = verify_runs(runs_dir, move_damaged=args.move_aside)
    for check in checks:
        print(check.line())
    statuses = ("ok", "unfinished", "training", "blocked", "damaged")
    counts = {status: sum(c.status == status for c in checks) for status in statuses}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no stored runs"
    print(f"{summary} under {runs_dir}")
    return 1 if counts["damaged"] or counts["blocked"] else 0


def _cmd_book(args: argparse.Namespace) -> int:
    root = _book_root(args)  # the profile is checked before anything is imported or trained
    check_backend_setting()
    from .book import ChapterExecutionError, build_book

    try:
        build_book(root, profile=args.profile, build_html_site=not args.no_build, jobs=args.jobs)
    except ChapterExecutionError as error:
        print(f"rnn-mnist book: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


#: The backends Keras 3 can run on (``KERAS_BACKEND``).
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")


def check_backend_setting() -> None:
    """Refuse a ``KERAS_BACKEND`` Keras does not know, before Keras is imported (it would raise a traceback)."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend is not None and backend not in KERAS_BACKENDS:
        raise UsageError(f"KERAS_BACKEND={backend!r} is not a Keras backend; set it to one of "
                         f"{', '.join(KERAS_BACKENDS)}, or unset it for TensorFlow")


#: What to do when a write fails, by command.
_WRITE_HINT = {
    "train": "pass --run-dir a writable directory, or set RNN_MNIST_RUNS or RNN_MNIST_HOME to one",
    "runs": "pass --run-dir the directory the runs are stored in",
    "data": "set RNN_MNIST_HOME to a writable directory",
}


#: What an interrupted command left, by command.
_INTERRUPT_HINT = {
    "train": "run the same command again to resume the run from its last finished epoch",
    "book": "run the same command again: finished runs are kept, and an interrupted one resumes",
    "runs": "no run was changed except those already reported",
}


def main(argv: Sequence[str] | None = None) -> int:
    from .config import ConfigError
    from .data import DataSourceError
    from .paths import StorageError

    args = build_parser().parse_args(argv)
    handlers = {"data": _cmd_data, "train": _cmd_train, "runs": _cmd_runs, "book": _cmd_book,
                "sync-mocks": _cmd_sync_mocks}
    hint = _WRITE_HINT.get(args.command, "check that the path exists and is writable")
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print(f"rnn-mnist {args.command}: interrupted; {_INTERRUPT_HINT.get(args.command, 'nothing was lost')}",
              file=sys.stderr)
        return 130
    except (ConfigError, DataSourceError, UsageError) as error:
        message = str(error)
    except StorageError as error:
        message = f"{error}; {hint}"
    except OSError as error:  # a write the checks above could not foresee (disk full, permissions changed)
        if error.filename is not None and error.strerror:
            message = f"cannot write or read {error.filename}: {error.strerror}; {hint}"
        else:
            message = str(error)
    print(f"rnn-mnist {args.command}: " + " ".join(message.split()), file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
