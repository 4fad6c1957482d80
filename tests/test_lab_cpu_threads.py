"""Thread counts for training: one thread per op on a CPU with few cores, TensorFlow's own elsewhere."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from rnn_mnist.lab import cpu_threads as device
from rnn_mnist.lab.cpu_threads import FEW_CORES, apply_cpu_threads, cpu_threads_for

on_tensorflow = keras.backend.backend() == "tensorflow"
tf_only = pytest.mark.skipif(not on_tensorflow, reason="thread counts are TensorFlow's")


@tf_only
@pytest.mark.parametrize("cores", [1, 2])
def test_few_cores_get_one_thread_per_op_and_as_many_ops_as_cores(cores):
    assert cores <= FEW_CORES
    assert cpu_threads_for("cpu", cores=cores) == {"intra_op": 1, "inter_op": cores}


@tf_only
def test_larger_machines_and_gpus_keep_tensorflows_defaults():
    assert cpu_threads_for("cpu", cores=FEW_CORES + 1) is None
    assert cpu_threads_for("cpu", cores=64) is None
    assert cpu_threads_for("gpu", cores=2) is None


def test_other_backends_keep_their_own_threads(monkeypatch):
    monkeypatch.setattr(device, "backend_name", lambda: "jax")
    assert cpu_threads_for("cpu", cores=2) is None
    assert apply_cpu_threads({"intra_op": 1, "inter_op": 2}) is None


def test_usable_cores_is_at_least_one():
    assert device.usable_cores() >= 1


@tf_only
def test_threads_are_set_before_the_first_op_and_kept_quietly_after(tmp_path):
    # A fresh interpreter: TensorFlow fixes its thread pools at its first op, so this test
    # cannot share the test process, whose TensorFlow is already running.
    script = textwrap.dedent(
        """
        import json, warnings
        import keras
        from rnn_mnist.device import make_deterministic
        from rnn_mnist.lab.cpu_threads import apply_cpu_threads
        make_deterministic(0)  # seeding and op determinism come first in training; they start no pool
        before = apply_cpu_threads({"intra_op": 1, "inter_op": 2})
        keras.ops.ones(3) + 1  # the first op: the pools exist now
        again = apply_cpu_threads({"intra_op": 1, "inter_op": 2})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            other = apply_cpu_threads({"intra_op": 2, "inter_op": 2})
        print(json.dumps({"before": before, "again": again, "other": other,
                          "warnings": [str(w.message) for w in caught]}))
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["before"] == {"intra_op": 1, "inter_op": 2}
    assert result["again"] == {"intra_op": 1, "inter_op": 2}  # the same counts again: nothing to change
    assert result["other"] == {"intra_op": 1, "inter_op": 2}  # too late to change: the counts stay
    assert result["warnings"] == []  # the counts in effect are recorded in metrics.json, not printed
