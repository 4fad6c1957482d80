"""Training runs: stored once, reused, deterministic, resumable, safe under concurrency."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from rnn_mnist import runs as runs_module
from rnn_mnist.config import default_config, seed_recipe
from rnn_mnist.runs import TrainingRun, ensure_trained, find_run, run_dir_for

TINY = dict(epochs=2, units=16, train_size=300, validation_size=100, test_size=100)


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt("simulated interruption")


def test_a_run_stores_every_artefact(tmp_path):
    config = default_config(**TINY)
    run = ensure_trained(config, tmp_path, verbose=0)
    assert run.run_dir == tmp_path / config.run_id()
    assert {p.name for p in run.run_dir.iterdir()} >= {
        "config.json", "history.csv", "model.keras", "best.keras", "predictions.npz", "metrics.json"
    }
    assert not (run.run_dir / "backup").exists()
    assert len(run.history["loss"]) == 2 and len(run.history["epoch_seconds"]) == 2
    assert run.probabilities.shape == (100, 10)
    np.testing.assert_allclose(run.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert run.metrics["parameters"] == build_params(16)
    assert run.metrics["sizes"] == {"train": 300, "validation": 100, "test": 100}
    assert run.metrics["device"]["kind"] == "cpu" and run.metrics["device"]["cudnn"] is False
    # the thread counts asked for (one per op on a 2-core CPU, else the backend's own) are the ones used
    from rnn_mnist.lab.cpu_threads import cpu_threads_for

    assert run.metrics["execution"]["cpu_threads_in_effect"] == cpu_threads_for("cpu")
    accuracy = float(np.mean(run.y_pred == run.y_true))
    assert abs(accuracy - run.test_accuracy) < 1e-6
    assert TrainingRun.load(run.run_dir).config == config
    model = run.load_model()
    # the stored model is the seed's architecture: the random shifts were for training only
    assert [layer.name for layer in model.layers] == ["rows", "lstm", "digit"]
    np.testing.assert_allclose(
        model.predict(np.zeros((1, 28, 28), np.float32), verbose=0).sum(), 1.0, rtol=1e-5
    )


def build_params(units):
    return 4 * (units * (28 + units) + units) + 10 * units + 10


def test_second_request_reuses_the_stored_run(tmp_path, monkeypatch):
    config = default_config(**TINY)
    first = ensure_trained(config, tmp_path, verbose=0)

    def must_not_train(*args, **kwargs):
        raise AssertionError("ensure_trained retrained a stored run")

    monkeypatch.setattr(runs_module, "train_into", must_not_train)
    second = ensure_trained(config, tmp_path, verbose=0)
    assert second.run_dir == first.run_dir
    assert second.metrics == first.metrics


def test_same_seed_gives_the_same_history_on_cpu(tmp_path):
    config = default_config(**TINY)
    a = ensure_trained(config, tmp_path / "a", verbose=0)
    b = ensure_trained(config, tmp_path / "b", verbose=0)
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert a.history[column] == b.history[column]
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    c = ensure_trained(config.replace(seed=1), tmp_path / "c", verbose=0)
    assert c.history["loss"] != a.history["loss"]


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    config = default_config(**{**TINY, "epochs": 3})
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=1)])
    assert find_run(config, tmp_path) is None, "an interrupted run must not count as complete"
    assert (run_dir_for(config, tmp_path) / "backup").is_dir()

    counter = EpochCounter()
    run = ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[counter])
    assert counter.epochs == [2], "only the epoch that had not finished is trained again"
    assert run.history["epoch"] == [0.0, 1.0, 2.0]
    assert len(run.history["epoch_seconds"]) == 3


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, keras
        from rnn_mnist.config import default_config
        from rnn_mnist.runs import ensure_trained
        class Count(keras.callbacks.Callback):
            n = 0
            def on_epoch_begin(self, epoch, logs=None):
                Count.n += 1
        run = ensure_trained(default_config(**{TINY!r}), {str(tmp_path)!r}, verbose=0,
                             extra_callbacks=[Count()])
        print(json.dumps({{"epochs_trained": Count.n, "accuracy": run.test_accuracy}}))
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert sorted(r["epochs_trained"] for r in results) == [0, 2]
    assert results[0]["accuracy"] == results[1]["accuracy"]
    run = find_run(default_config(**TINY), tmp_path)
    assert run is not None and run.history["epoch"] == [0.0, 1.0]


@pytest.mark.slow
def test_a_short_real_training_beats_90_percent(tmp_path):
    run = ensure_trained(seed_recipe(epochs=4, train_size=5000), tmp_path, verbose=0)
    assert run.test_accuracy > 0.90
    assert run.metrics["sizes"]["test"] == 10000


def test_a_resumed_run_keeps_the_best_model_of_the_epochs_before_the_resume(tmp_path):
    config = default_config(**{**TINY, "epochs": 3})
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=1)])
    run_dir = run_dir_for(config, tmp_path)
    # Pretend the epochs before the interruption reached a validation loss no later epoch can beat.
    history = (run_dir / "history.csv").read_text().splitlines()
    column = history[0].split(",").index("val_loss")
    rows = [row.split(",") for row in history[1:]]
    for row in rows:
        row[column] = "1e-09"
    (run_dir / "history.csv").write_text("\n".join([history[0], *(",".join(r) for r in rows)]) + "\n")
    best = run_dir / "best.keras"
    best_before = (best.read_bytes(), best.stat().st_ino, best.stat().st_mtime_ns)

    run = ensure_trained(config, tmp_path, verbose=0)
    assert run.history["epoch"] == [0.0, 1.0, 2.0] and run.history["val_loss"][2] > 1e-09
    assert (best.read_bytes(), best.stat().st_ino, best.stat().st_mtime_ns) == best_before, (
        "epoch 2 was worse than the logged best: best.keras must stay as it was")


def test_logged_best_reads_the_log_only_when_a_best_model_was_saved(tmp_path):
    from rnn_mnist.training import logged_best

    assert logged_best(tmp_path) == float("inf")
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,0.5\n1,0.8,0.3\n2,0.7,nan\n")
    assert logged_best(tmp_path) == float("inf"), "no best.keras: the next epoch's model must be saved"
    (tmp_path / "best.keras").write_bytes(b"stand-in")
    assert logged_best(tmp_path) == 0.3
    assert logged_best(tmp_path, monitor="loss") == 0.7
