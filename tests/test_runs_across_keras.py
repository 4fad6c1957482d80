"""A run stored by a newer Keras, read by an older one: kept as it is, and the config trained again beside it.

``scripts/test-min-versions.sh`` (``make test-min``) stores a tiny run with the project's ``.venv``
(the newest Keras, ``requirements.txt``) in ``$RNN_MNIST_NEWER_KERAS_RUNS``, then runs these tests in
``.venv-min`` (the oldest Keras, ``requirements-min.txt``). Elsewhere they are skipped: they need
both Keras releases, and ``tests/test_run_integrity.py`` covers the same rules with a recorded version
faked on one stack.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from rnn_mnist import runs
from rnn_mnist.cli import main

NEWER_RUNS = os.environ.get("RNN_MNIST_NEWER_KERAS_RUNS")
pytestmark = pytest.mark.skipif(
    not NEWER_RUNS, reason="needs a run stored by a newer Keras; scripts/test-min-versions.sh stores one")


@pytest.fixture
def newer_run(tmp_path):
    """A copy of the store the newer Keras wrote (so every test starts from it); returns (runs_dir, run_dir)."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(NEWER_RUNS, runs_dir, ignore=shutil.ignore_patterns("*.lock"))
    (run_dir,) = runs.stored_runs(runs_dir)
    return runs_dir, run_dir


def digests(run_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir())}


def test_the_run_was_stored_by_a_newer_keras_and_this_one_cannot_load_it(newer_run):
    _, run_dir = newer_run
    stored, here = runs.recorded_keras(run_dir), runs.installed_keras()
    assert runs.release(stored) > runs.release(here), f"stored by Keras {stored}, read by Keras {here}"
    assert runs.check_run(run_dir).ok, "the run is intact"
    with pytest.raises(runs.UnreadableRunError) as raised:
        runs.TrainingRun.load(run_dir).load_model()
    message = str(raised.value)
    assert message.startswith(f"{run_dir / 'model.keras'} was stored by Keras {stored} and this Keras {here} "
                              "cannot load it (") and "\n" not in message
    assert message.endswith("call ensure_trained(config), which trains the config again for this Keras "
                            "beside the stored run")


def test_an_older_keras_trains_the_config_again_beside_the_newer_run_and_keeps_it(newer_run, capsys):
    runs_dir, run_dir = newer_run
    stored, here = runs.recorded_keras(run_dir), runs.installed_keras()
    config = runs.TrainingRun.load(run_dir).config
    before = digests(run_dir)
    capsys.readouterr()

    run = runs.ensure_trained(config, runs_dir, verbose=0)

    slot = run_dir.with_name(f"{run_dir.name}.keras-{'.'.join(map(str, runs.release(here)))}")
    assert run.run_dir == slot and run.trained_now is True
    assert run.metrics["versions"]["keras"] == here and runs.check_run(slot, config).ok
    assert run.load_model().count_params() == run.metrics["parameters"]
    assert run.load_model(best=True).count_params() == run.metrics["parameters"]
    assert run.probabilities.shape == (config.effective_test_size, 10)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("rnn-mnist:")] == [
        f"rnn-mnist: warning: run {run_dir.name} is kept as it is and not read here: it was stored by Keras "
        f"{stored}, newer than this Keras {here}; the config is trained again for this Keras in {slot.name}"
    ]
    assert digests(run_dir) == before, "the newer Keras's run is neither served nor changed"

    again = runs.ensure_trained(config, runs_dir, verbose=0)
    assert again.run_dir == slot and again.trained_now is False
    assert "rnn-mnist:" not in capsys.readouterr().err

    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{run_dir.name}: ok (stored by Keras {stored}, newer than this Keras {here}, which reads {slot.name})",
        f"{slot.name}: ok (trained again for Keras {'.'.join(map(str, runs.release(here)))}, beside {run_dir.name})",
        f"2 ok under {runs_dir}",
    ]
    assert sorted(p.name for p in runs_dir.iterdir() if not p.name.endswith(".lock")) == [run_dir.name, slot.name]
