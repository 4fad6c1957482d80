"""What hardware a run uses, said honestly, and how to make it repeatable."""

from __future__ import annotations

import platform
import sys
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
