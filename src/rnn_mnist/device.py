"""What hardware a run uses, said honestly, and how to make it repeatable."""

from __future__ import annotations

import os
import platform
import sys
import warnings
from importlib import metadata
from typing import Any

import keras

from .config import TrainingConfig


def backend_name() -> str:
    return keras.backend.backend()


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and the backend from one number; make TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if backend_name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


#: Machines with at most this many usable cores get one thread per TensorFlow op (see ``cpu_threads_for``).
FEW_CORES = 2


def usable_cores() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_threads_for(device_kind: str, cores: int | None = None) -> dict[str, int] | None:
    """TensorFlow's thread counts for training on this machine, or None for TensorFlow's own.

    On a CPU with at most :data:`FEW_CORES` cores, each op runs on one thread
    (``intra_op``) and as many ops run at once as there are cores
    (``inter_op``). The LSTM's matrix products are too small to gain from two
    threads each, while its unrolled backward pass has independent branches
    that can run side by side: 12 to 15% less time per step than TensorFlow's
    default (both ops and matrices on all cores) on the 2-core development
    machine, with identical numbers (docs/performance.md). Larger machines and
    GPUs keep TensorFlow's defaults: not measured there.
    """
    if backend_name() != "tensorflow" or device_kind != "cpu":
        return None
    cores = usable_cores() if cores is None else cores
    if cores > FEW_CORES:
        return None
    return {"intra_op": 1, "inter_op": cores}


def apply_cpu_threads(threads: dict[str, int] | None) -> dict[str, int] | None:
    """Set TensorFlow's thread counts before its runtime starts; returns the counts in effect.

    TensorFlow fixes its thread pools when it runs its first op. If that has
    already happened with other counts (a notebook kernel that ran TensorFlow
    code before training), the counts stay as they are, with a warning: the
    results are the same, only slower. ``None`` in the result means
    TensorFlow's default for that pool.
    """
    if threads is None or backend_name() != "tensorflow":
        return None
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads["intra_op"])
        tf.config.threading.set_inter_op_parallelism_threads(threads["inter_op"])
    except RuntimeError:
        warnings.warn(
            f"TensorFlow was already running before training started, so its thread counts stay as they were "
            f"instead of {threads} (one thread per op, measured 12-15% faster on 2 cores). The results are "
            "the same; to train faster, restart the kernel and train before running other TensorFlow code.",
            RuntimeWarning,
            stacklevel=2,
        )
    in_effect = {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }
    return {name: count or None for name, count in in_effect.items()}


def cudnn_eligible(config: TrainingConfig | None) -> bool:
    """Whether the configured layer can use the fused cuDNN kernel on a GPU.

    Keras's LSTM and GRU take the cuDNN path only with their default
    activations, no recurrent dropout, ``unroll=False`` and ``use_bias=True``;
    :func:`rnn_mnist.model.build_model` keeps all of these. SimpleRNN and the
    dense baseline have no cuDNN kernel.
    """
    return config is None or config.cell in ("lstm", "gru")


def _accelerators() -> list[str]:
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return names
    if backend == "jax":
        import jax

        return [str(d.device_kind) for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def describe_device(config: TrainingConfig | None = None) -> dict[str, Any]:
    """Backend, CPU or GPU, and whether cuDNN can serve the recurrent layer."""
    accelerators = _accelerators()
    on_gpu = bool(accelerators)
    built_with_cuda = None
    if backend_name() == "tensorflow":
        import tensorflow as tf

        built_with_cuda = bool(tf.test.is_built_with_cuda())
    uses_cudnn = on_gpu and cudnn_eligible(config) and built_with_cuda is not False
    if on_gpu:
        summary = f"GPU ({', '.join(accelerators)})" + (
            "; the recurrent layer uses the fused cuDNN kernel" if uses_cudnn else "; no cuDNN kernel for this layer"
        )
    else:
        summary = f"CPU only ({platform.processor() or platform.machine()}); no GPU, so no cuDNN kernel"
    return {
        "backend": backend_name(),
        "kind": "gpu" if on_gpu else "cpu",
        "accelerators": accelerators,
        "built_with_cuda": built_with_cuda,
        "cudnn": uses_cudnn,
        "summary": summary,
    }


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in ("rnn-mnist", "keras", "tensorflow", "jax", "numpy", "scikit-learn", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
