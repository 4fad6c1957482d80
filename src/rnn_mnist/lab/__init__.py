"""The lab: what exists for speed, for the benchmark or for several devices.

Nothing here is needed to read a chapter. The chapters' code (the lesson) is
in :mod:`rnn_mnist.config`, :mod:`~rnn_mnist.data`, :mod:`~rnn_mnist.splits`,
:mod:`~rnn_mnist.model`, :mod:`~rnn_mnist.recipe`, :mod:`~rnn_mnist.runs`,
:mod:`~rnn_mnist.analysis` and :mod:`~rnn_mnist.plots`.

* :mod:`.cpu_threads`: TensorFlow's thread counts on a CPU with at most two
  cores, applied in one place (:func:`rnn_mnist.training.train_into`, before
  TensorFlow's first op). Changes no number, only the time a step takes.
* :mod:`.parallel_runs`: the book build trains the runs the chapters read
  before executing them, two at a time, each in a fresh process
  (:func:`rnn_mnist.book.build_book`, ``rnn-mnist book --jobs N``).
* :mod:`.progress` and :mod:`.quiet`: what the book build prints, a line per
  run and per epoch while it trains, and none of TensorFlow's start-up lines
  (in the log or in the chapters).
* :mod:`.distribute`: data-parallel training on several devices (opt-in:
  ``ensure_trained(config, distribution=data_parallel())``).

The time-to-accuracy benchmark lives in ``benchmarks/``; what each speed
choice bought is measured in ``docs/performance.md``.
"""
