"""Training on more than one device: data parallelism, on TensorFlow or JAX.

The training code does not change. :func:`data_parallel` returns the
backend's data-parallel "distribution" and
``ensure_trained(config, distribution=...)`` (or ``train_into``) builds,
compiles and fits the model under it, with the recipe chapter 3 shows
(:func:`rnn_mnist.recipe.fit_recipe`):

* TensorFlow: :class:`tf.distribute.MirroredStrategy`. The model's weights
  are copied onto every device (a *replica*); each step, the global batch of
  ``config.batch_size`` images is split evenly across the replicas, each
  computes the gradients of its share, and the gradients are summed across
  replicas (an all-reduce) before every copy takes the same step.
* JAX: Keras 3's distribution API, :class:`keras.distribution.DataParallel`:
  the same idea, with the batch sharded across JAX devices.

A reader with several GPUs writes::

    from rnn_mnist.lab.distribute import data_parallel
    run = ensure_trained(config, distribution=data_parallel())  # every GPU

One difference on TensorFlow: Keras cannot overwrite the weights with their
moving average inside a replicated training step, so under
``MirroredStrategy`` the recipe's weight average is left out
(:func:`distributed_config`); ``metrics.json`` says whether the average was
used (``execution.weight_average``). JAX's ``DataParallel`` keeps it.

With one device there is nothing to split, and ``distribution=None`` (the
default) trains exactly as before. The stored run is the same format either
way; ``metrics.json`` records the replicas in ``distribution``.

To *test* this on a machine with one CPU, :func:`split_cpu` splits the CPU
into several logical devices (TensorFlow); on JAX the environment variable
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` does the same. Either
must happen before the backend initialises its devices, so tests do it in a
fresh process.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import keras


def _backend() -> str:
    return keras.backend.backend()


def split_cpu(count: int = 2) -> list[str]:
    """Split the first physical CPU into ``count`` logical devices; their names.

    TensorFlow only, and only before TensorFlow has initialised its devices
    (before any tensor was made): TensorFlow raises ``RuntimeError`` otherwise,
    which is left to propagate. On JAX, set ``XLA_FLAGS`` (see the module
    notes) before JAX is imported instead.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
        return [device.name for device in tf.config.list_logical_devices("CPU")]
    if backend == "jax":
        import jax

        devices = jax.devices("cpu")
        if len(devices) < count:
            raise RuntimeError(
                f"JAX sees {len(devices)} CPU device(s), {count} were asked for: set "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={count} before JAX is imported"
            )
        return [str(device) for device in devices[:count]]
    raise NotImplementedError(f"split_cpu supports the tensorflow and jax backends, not {backend!r}")


def available_devices() -> list[str]:
    """The devices a data-parallel run would use by default: every GPU, else every CPU device."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if backend == "jax":
        return list(keras.distribution.list_devices())
    raise NotImplementedError(f"data parallelism is wired for the tensorflow and jax backends, not {backend!r}")


def data_parallel(devices: Sequence[str] | None = None) -> Any:
    """The backend's data-parallel distribution over ``devices`` (default: all of them).

    TensorFlow: ``tf.distribute.MirroredStrategy(devices)``; JAX:
    ``keras.distribution.DataParallel(devices=devices)``. Device names are
    the backend's own (``"/job:localhost/replica:0/task:0/device:CPU:1"`` or
    ``"/gpu:0"`` on TensorFlow, ``"cpu:1"`` or ``"gpu:0"`` on JAX).
    """
    backend = _backend()
    devices = list(devices) if devices is not None else None
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(devices)
    if backend == "jax":
        return keras.distribution.DataParallel(devices=devices or available_devices())
    raise NotImplementedError(f"data parallelism is wired for the tensorflow and jax backends, not {backend!r}")


def num_replicas(distribution: Any | None) -> int:
    """How many copies of the model train side by side (1 without a distribution)."""
    if distribution is None:
        return 1
    if hasattr(distribution, "num_replicas_in_sync"):  # tf.distribute.Strategy
        return int(distribution.num_replicas_in_sync)
    mesh = getattr(distribution, "device_mesh", None)  # keras.distribution.DataParallel
    if mesh is not None:
        return int(mesh.shape[0])
    raise TypeError(f"not a data-parallel distribution: {distribution!r}")


def per_replica_batch_size(global_batch_size: int, distribution: Any | None) -> int:
    """The images each replica sees per step when the global batch is split evenly.

    Raises ``ValueError`` when the batch does not split evenly, because then
    the replicas would not do equal work (and the comparison with one device
    would not be like for like).
    """
    replicas = num_replicas(distribution)
    if global_batch_size % replicas:
        raise ValueError(
            f"batch size {global_batch_size} does not split evenly over {replicas} replicas; "
            f"choose a multiple of {replicas}"
        )
    return global_batch_size // replicas


def distributed_config(config, distribution: Any | None):
    """The config to fit under ``distribution``: ``config`` itself, but without the weight
    average under a TensorFlow strategy (see the module notes)."""
    if distribution is None or _backend() != "tensorflow" or config.ema_momentum is None:
        return config
    return config.replace(ema_momentum=None)


@contextlib.contextmanager
def distribution_scope(distribution: Any | None) -> Iterator[None]:
    """Make ``distribution`` current (nothing at all for ``None``)."""
    if distribution is None:
        yield
        return
    with distribution.scope():
        yield


def describe_distribution() -> dict[str, Any]:
    """The data-parallel setting in force right now, for a run's ``metrics.json``.

    ``{"kind": "single device" | "MirroredStrategy" | "DataParallel", "replicas": n, "devices": [...]}``.
    """
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy():
            strategy = tf.distribute.get_strategy()
            return {
                "kind": type(strategy).__name__,
                "replicas": int(strategy.num_replicas_in_sync),
                "devices": list(getattr(strategy.extended, "worker_devices", ())),
            }
    else:
        current = keras.distribution.distribution()
        if current is not None:
            mesh = current.device_mesh
            return {
                "kind": type(current).__name__,
                "replicas": int(mesh.shape[0]),
                "devices": [str(d) for d in mesh.devices.flatten()],
            }
    return {"kind": "single device", "replicas": 1, "devices": []}
