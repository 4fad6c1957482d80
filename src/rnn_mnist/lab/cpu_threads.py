"""TensorFlow's thread counts on a small CPU: a speed setting that changes no number.

On a CPU with at most :data:`FEW_CORES` cores, each TensorFlow op runs on one
thread (``intra_op``) and as many ops run at once as there are cores
(``inter_op``). The LSTM's matrix products are too small to gain from two
threads each, while its backward pass has independent branches that can run
side by side: 12 to 15% less time per step than TensorFlow's default on the
2-core development machine, with weights identical to the last bit
(``docs/performance.md``). Larger machines, GPUs and other backends keep their
own defaults (not measured there).

Applied in one place, :func:`rnn_mnist.training.train_into`, before the first
op of a training process. TensorFlow fixes its thread pools at its first op:
if a notebook kernel already ran TensorFlow code, the counts stay as they
were (the results are the same, only a little slower) and ``metrics.json``
records the counts that were in effect.
"""

from __future__ import annotations

import os

from ..device import backend_name

#: Machines with at most this many usable cores get one thread per TensorFlow op.
FEW_CORES = 2


def usable_cores() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_threads_for(device_kind: str, cores: int | None = None) -> dict[str, int] | None:
    """The thread counts for training on this machine, or None for the backend's own."""
    if backend_name() != "tensorflow" or device_kind != "cpu":
        return None
    cores = usable_cores() if cores is None else cores
    if cores > FEW_CORES:
        return None
    return {"intra_op": 1, "inter_op": cores}


def apply_cpu_threads(threads: dict[str, int] | None) -> dict[str, int] | None:
    """Set TensorFlow's thread counts if its runtime has not started; returns the counts in effect.

    ``None`` in the result means TensorFlow's default for that pool; ``None``
    as the result means another backend, or nothing was asked for.
    """
    if threads is None or backend_name() != "tensorflow":
        return None
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads["intra_op"])
        tf.config.threading.set_inter_op_parallelism_threads(threads["inter_op"])
    except RuntimeError:
        pass  # TensorFlow is already running: its pools stay as they are; the counts in effect say so
    in_effect = {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }
    return {name: count or None for name, count in in_effect.items()}


def apply_cpu_threads_for_this_machine() -> dict[str, int] | None:
    """:func:`apply_cpu_threads` with :func:`cpu_threads_for` this machine's device and cores."""
    from ..device import describe_device

    return apply_cpu_threads(cpu_threads_for(describe_device()["kind"]))
