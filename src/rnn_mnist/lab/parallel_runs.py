"""Train several stored runs at once, each in its own process: a speed-up of the book build.

The book build (:func:`rnn_mnist.book.build_book`) calls :func:`train_runs` with
every run the chapters read before it executes them, so the chapters find
their runs stored and only load them. Training is the same call a chapter
makes, :func:`rnn_mnist.runs.ensure_trained`, in a fresh process per run, so a
run's weights do not depend on which process trained it or on what ran beside
it; the runs' file locks keep two processes from training one config.

Why processes: on the 2-core machine a training step of the book's LSTM keeps
about one core busy (one thread per op, :mod:`.cpu_threads`), so two runs side
by side finish sooner than one after the other (``docs/performance.md``,
"Book build step times").
"""

from __future__ import annotations

import math
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Hashable

from ..config import TrainingConfig
from .cpu_threads import usable_cores

#: Runs trained at once when the caller does not say: two, or one on a one-core machine.
DEFAULT_WORKERS = 2

#: Relative cost of one optimizer step against one training image, from the book's two recipes
#: on the 2-core machine (the seed's batch 32 makes 4.4 times as many steps as the book's 128).
STEP_COST_IN_IMAGES = 20


@dataclass(frozen=True)
class TrainedRun:
    """What training one run in a worker process reported."""

    run_id: str
    seconds: float
    trained_now: bool
    test_accuracy: float | None = None


def default_workers() -> int:
    return max(1, min(DEFAULT_WORKERS, usable_cores()))


def estimated_cost(config: TrainingConfig) -> float:
    """A number proportional to the run's training time: images seen plus optimizer steps."""
    steps = math.ceil(config.effective_train_size / config.batch_size)
    return config.epochs * (config.effective_train_size + STEP_COST_IN_IMAGES * steps)


def _train_one(config_values: dict) -> TrainedRun:
    """The worker: train (or find) one run, printing a line as it starts and one per epoch. Runs in a fresh process."""
    from ..runs import ensure_trained
    from .progress import EpochProgress, model_summary, run_tag

    config = TrainingConfig.from_dict(config_values)
    print(f"  {run_tag(config)} training {config.run_id()}: {model_summary(config)}", flush=True)
    started = time.perf_counter()
    run = ensure_trained(config, verbose=0, extra_callbacks=[EpochProgress(f"  {run_tag(config)}", config.epochs)])
    return TrainedRun(config.run_id(), time.perf_counter() - started, run.trained_now,
                      run.metrics["test_accuracy"])


def run_in_processes(
    tasks: dict[Hashable, tuple],
    workers: int,
    on_done: Callable[[Hashable, Future], None],
    *,
    fresh_process_per_task: bool = False,
) -> None:
    """Run each ``key: (function, *arguments)`` in spawned processes, ``workers`` at a time.

    ``on_done(key, future)`` is called as each task finishes (in the order they
    finish); an exception it raises cancels the tasks not yet started and
    propagates. ``function`` must be importable by name (spawn pickles it).
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             max_tasks_per_child=1 if fresh_process_per_task else None) as pool:
        pending = {pool.submit(function, *arguments): key for key, (function, *arguments) in tasks.items()}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_done(pending.pop(future), future)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def train_runs(configs: list[TrainingConfig], workers: int | None = None) -> list[TrainedRun]:
    """Make sure every config in ``configs`` has a stored run, training up to ``workers`` at a time.

    Configs already stored are skipped without starting a process; the others
    are started longest first (:func:`estimated_cost`), so the longest run
    does not start last. Returns what each trained run reported, in the order
    they finished. The first failure stops the rest (runs already finished
    stay stored) and is raised here.
    """
    from ..runs import find_run
    from .progress import duration, run_tag

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    unique = {config.run_id(): config for config in configs}
    missing = [c for c in unique.values() if find_run(c) is None]  # the run this Keras reads, or its slot
    if not missing:
        return []
    missing.sort(key=estimated_cost, reverse=True)
    print(f"Training {len(missing)} run(s), {min(workers, len(missing))} at a time, each in its own process: "
          + ", ".join(c.run_id() for c in missing), flush=True)
    finished: list[TrainedRun] = []

    def report(run_id: str, future: Future) -> None:
        config = unique[run_id]
        try:
            result = future.result()
        except Exception as error:
            raise RuntimeError(f"training run {run_id} failed: {error}") from error
        finished.append(result)
        accuracy = "" if result.test_accuracy is None else f", test accuracy {result.test_accuracy:.2%}"
        print(f"  {run_tag(config)} {'trained' if result.trained_now else 'found'} {result.run_id} "
              f"in {duration(result.seconds)}{accuracy} ({len(finished)}/{len(missing)} runs done)", flush=True)

    # A fresh TensorFlow per run, never a fork of one.
    run_in_processes({c.run_id(): (_train_one, c.to_dict()) for c in missing}, workers, report,
                     fresh_process_per_task=True)
    return finished
