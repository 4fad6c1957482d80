"""Data-parallel training on two devices: the same training code, the batch split across replicas.

The CPU is split into two logical devices (TensorFlow:
``tf.config.set_logical_device_configuration``; JAX: ``XLA_FLAGS``, set by
scripts/test-jax.sh). That must happen before the backend initialises its
devices, so the real test runs in a fresh Python process.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from rnn_mnist.lab import distribute

#: A short run with every batch full: 1,920 = 30 x 64 training images. The
#: comparison of one and two devices leaves out the recipe's random shifts and
#: weight average: the shifts draw different random numbers per replica, and
#: under MirroredStrategy the average reaches the model only when training ends
#: (rnn_mnist.training.make_optimizer), so with them the two runs would follow
#: different maths. The probe run below trains with both, on two devices.
CONFIG = dict(epochs=2, units=32, batch_size=64, train_size=1920, validation_size=500, test_size=1000,
              shift_pixels=0, ema_momentum=None)
#: How close the two-device run must come to the one-device run of the same config.
#: The replicas compute the same gradients as one device, only summed in a
#: different order, so the runs agree to float rounding; the margins below
#: leave room for that rounding to flip a few test images.
ACCURACY_TOLERANCE = 0.01      # absolute: 10 of the 1,000 test images
LOSS_RELATIVE_TOLERANCE = 0.01  # final training loss, relative

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from rnn_mnist import training
    from rnn_mnist.lab import distribute
    from rnn_mnist.config import default_config
    from rnn_mnist.runs import ensure_trained

    devices = distribute.split_cpu(2)          # before the backend makes any tensor
    backend = keras.backend.backend()
    config = default_config(**CONFIG)
    runs_dir = sys.argv[1]

    single = ensure_trained(config, runs_dir + "/single", verbose=0)
    distribution = distribute.data_parallel(devices)
    multi = ensure_trained(config, runs_dir + "/multi", verbose=0, distribution=distribution)

    evidence = {}
    if backend == "tensorflow":
        # Train once more (1 epoch) with a probe layer in front of the model that
        # records the batch size each replica sees inside the training step.
        import tensorflow as tf

        seen = []

        def record(n):
            seen.append(int(n))
            return n

        class BatchProbe(keras.layers.Layer):
            def call(self, x, training=None):
                if training:
                    n = tf.reshape(tf.numpy_function(record, [tf.shape(x)[0]], tf.int32), [])
                    x = x + tf.cast(n * 0, x.dtype)
                return x

        build = training.build_model_for

        def probed(config):
            inner = build(config)
            inputs = keras.Input(shape=(28, 28))
            return keras.Model(inputs, inner(BatchProbe()(inputs)))

        training.build_model_for = probed
        probe = ensure_trained(config.replace(epochs=1, shift_pixels=2, ema_momentum=0.9), runs_dir + "/probe",
                               verbose=0, distribution=distribution)
        evidence["probe_accuracy"] = probe.test_accuracy
        evidence["per_replica_batches"] = sorted(set(seen))
        evidence["probe_calls"] = len(seen)
    else:
        layout = distribution.get_data_layout((config.batch_size, 28, 28))
        evidence["batch_axis"] = list(layout.axes)
        evidence["mesh_shape"] = list(distribution.device_mesh.shape)

    print(json.dumps({
        "backend": backend,
        "devices": devices,
        "replicas": distribute.num_replicas(distribution),
        "per_replica_batch": distribute.per_replica_batch_size(config.batch_size, distribution),
        "single": {"accuracy": single.test_accuracy, "loss": single.history["loss"],
                   "distribution": single.metrics["distribution"]},
        "multi": {"accuracy": multi.test_accuracy, "loss": multi.history["loss"],
                  "distribution": multi.metrics["distribution"], "epochs": len(multi.history["loss"])},
        "evidence": evidence,
    }))
    """
).replace("CONFIG", repr(CONFIG))


@pytest.fixture(scope="module")
def two_device_result(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("two-devices")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(runs_dir)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_devices_make_two_replicas_that_split_the_batch(two_device_result):
    r = two_device_result
    assert len(r["devices"]) == 2
    assert r["replicas"] == 2 and r["per_replica_batch"] == CONFIG["batch_size"] // 2
    assert r["multi"]["distribution"]["replicas"] == 2
    assert r["single"]["distribution"] == {"kind": "single device", "replicas": 1, "devices": []}
    if r["backend"] == "tensorflow":
        assert r["multi"]["distribution"]["kind"] == "MirroredStrategy"
        # Every training step of every replica saw half of the global batch of 64.
        assert r["evidence"]["per_replica_batches"] == [32]
        assert r["evidence"]["probe_calls"] == 2 * CONFIG["train_size"] // CONFIG["batch_size"]
        # the full recipe (random shifts, weight average) trains on two replicas: well above chance (10%)
        assert r["evidence"]["probe_accuracy"] > 0.2
    else:
        assert r["multi"]["distribution"]["kind"] == "DataParallel"
        assert r["evidence"]["batch_axis"][0] == "batch" and r["evidence"]["mesh_shape"] == [2]


def test_two_devices_finish_and_match_one_device(two_device_result):
    single, multi = two_device_result["single"], two_device_result["multi"]
    assert multi["epochs"] == CONFIG["epochs"]
    assert abs(multi["accuracy"] - single["accuracy"]) <= ACCURACY_TOLERANCE
    assert abs(multi["loss"][-1] - single["loss"][-1]) <= LOSS_RELATIVE_TOLERANCE * single["loss"][-1]
    assert multi["accuracy"] > 0.3, "the run learned something (chance is 0.1)"


def test_without_a_distribution_nothing_changes():
    assert distribute.num_replicas(None) == 1
    assert distribute.per_replica_batch_size(128, None) == 128
    with distribute.distribution_scope(None):
        assert distribute.describe_distribution()["replicas"] == 1


def test_an_uneven_split_is_refused():
    class ThreeReplicas:
        num_replicas_in_sync = 3

    assert distribute.per_replica_batch_size(96, ThreeReplicas()) == 32
    with pytest.raises(ValueError, match="multiple of 3"):
        distribute.per_replica_batch_size(128, ThreeReplicas())


def test_split_cpu_refuses_zero_devices():
    with pytest.raises(ValueError, match="at least 1"):
        distribute.split_cpu(0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's device set-up")
def test_split_cpu_after_initialisation_raises_instead_of_silently_using_one_device():
    import tensorflow as tf

    tf.constant(1.0)  # TensorFlow is initialised now
    if len(tf.config.list_logical_devices("CPU")) == 2:
        pytest.skip("this process already split its CPU")
    with pytest.raises(RuntimeError):
        distribute.split_cpu(2)
