"""A damaged stored run is never served; an unreadable resume checkpoint restarts the run.

Most tests copy one tiny stored run (trained once per module) and damage the
copy the way a crash, a full disk or a stray edit would. "Training" is then
replaced by copying the intact run back in, which is what retraining would
produce; the tests marked *real* train for real.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time

import keras
import numpy as np
import pytest
from test_runs import Interrupt  # the same simulated interruption as the resume tests

from rnn_mnist import runs as runs_module
from rnn_mnist.cli import main
from rnn_mnist.config import default_config
from rnn_mnist.paths import exclusive_lock
from rnn_mnist.runs import (
    DamagedRunError,
    TrainingRun,
    check_run,
    ensure_trained,
    find_run,
    metrics_digest,
    run_dir_for,
)
from rnn_mnist.training import align_history_with_backup

TINY = dict(epochs=2, units=16, train_size=300, validation_size=100, test_size=100)
CONFIG = default_config(**TINY)
CLI_TINY = ["--epochs", "2", "--units", "16", "--train-size", "300", "--validation-size", "100", "--test-size", "100"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> TrainingRun:
    """One intact tiny run, trained once for the module (never damaged: tests damage copies)."""
    return ensure_trained(CONFIG, tmp_path_factory.mktemp("pristine"), verbose=0)


@pytest.fixture
def stored(pristine, tmp_path):
    """A copy of the pristine run in a fresh run directory; returns (runs_dir, run_dir)."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(pristine.run_dir, runs_dir / pristine.run_dir.name)
    return runs_dir, runs_dir / pristine.run_dir.name


@pytest.fixture
def fake_training(pristine, monkeypatch):
    """Replace training by copying the pristine run in; records each call's run directory."""
    calls = []

    def train_into(config, run_dir, **options):
        calls.append(run_dir)
        shutil.copytree(pristine.run_dir, run_dir, dirs_exist_ok=True)
        return json.loads((run_dir / "metrics.json").read_text())

    monkeypatch.setattr(runs_module, "train_into", train_into)
    return calls


def truncate(path, size):
    with open(path, "r+b") as handle:
        handle.truncate(size)


def scramble(path):
    """Random bytes of the same length (a checksum catches it, a size check would not)."""
    path.write_bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


def rewrite_metrics(path, sign=True, **changes):
    """Change values of ``metrics.json``; with ``sign`` its own digest is updated, as training would write it."""
    metrics = json.loads(path.read_text())
    metrics.update(changes)
    if sign:
        metrics["metrics_sha256"] = metrics_digest(metrics)
    path.write_text(json.dumps(metrics))


def drop_checksums(path):
    metrics = json.loads(path.read_text())
    del metrics["artefacts"]
    path.write_text(json.dumps(metrics))


DAMAGES = {
    "model.keras truncated": ("model.keras", lambda p: truncate(p, 1000), "model.keras has 1000 bytes"),
    "model.keras missing": ("model.keras", lambda p: p.unlink(), "model.keras is missing"),
    "best.keras truncated": ("best.keras", lambda p: truncate(p, 500), "best.keras has 500 bytes"),
    "history.csv random bytes": ("history.csv", scramble, "history.csv does not match its stored SHA-256"),
    "history.csv empty": ("history.csv", lambda p: p.write_text(""), "history.csv has 0 bytes"),
    "predictions.npz truncated": ("predictions.npz", lambda p: truncate(p, 2000), "predictions.npz has 2000 bytes"),
    "config.json edited": ("config.json", lambda p: p.write_text(p.read_text().replace("16", "17")),
                           "config.json does not match"),
    "metrics.json truncated": ("metrics.json", lambda p: truncate(p, 50), "metrics.json is not readable JSON"),
    "metrics.json {}": ("metrics.json", lambda p: p.write_text("{}"), "metrics.json holds no metrics"),
    "metrics.json without checksums": ("metrics.json", drop_checksums, "records no checksums"),
}


def test_a_finished_run_records_size_and_sha256_of_every_artefact(pristine):
    artefacts = pristine.metrics["artefacts"]
    assert set(artefacts) == {"config.json", "history.csv", "model.keras", "best.keras", "predictions.npz"}
    import hashlib

    for name, record in artefacts.items():
        data = (pristine.run_dir / name).read_bytes()
        assert record == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert check_run(pristine.run_dir).ok and check_run(pristine.run_dir, CONFIG).ok


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_run_is_named_moved_aside_and_retrained(damage, stored, fake_training, capsys):
    runs_dir, run_dir = stored
    name, harm, reason = DAMAGES[damage]
    harm(run_dir / name)
    assert find_run(CONFIG, runs_dir) is None, "a damaged run is not found as a stored run"
    assert run_dir.is_dir(), "find_run moves nothing"

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    assert fake_training == [run_dir] and run.trained_now is True
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and run_dir.name in warning[0] and reason in warning[0]
    aside = [p for p in runs_dir.iterdir() if p.name.startswith(run_dir.name + ".damaged-")]
    assert len(aside) == 1 and re.fullmatch(rf"{run_dir.name}\.damaged-\d{{8}}T\d{{6}}Z", aside[0].name)
    assert aside[0].name in warning[0]
    assert (aside[0] / name).exists() or name == "model.keras", "the damaged run is kept as it was"
    assert check_run(run_dir, CONFIG).ok and find_run(CONFIG, runs_dir) is not None


def test_an_intact_run_is_reused_without_a_warning(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    run = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert fake_training == [] and run.trained_now is False
    assert capsys.readouterr().err == ""
    assert [p.name for p in runs_dir.iterdir() if p.is_dir()] == [run_dir.name]


def test_a_run_without_metrics_json_is_unfinished_and_trained_in_place(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    (run_dir / "metrics.json").unlink()
    assert check_run(run_dir).status == "unfinished"
    ensure_trained(CONFIG, runs_dir, verbose=0)
    assert fake_training == [run_dir]
    assert not [p for p in runs_dir.iterdir() if ".damaged-" in p.name], "an interrupted run is resumed, not moved"


def test_loading_a_damaged_run_names_it_and_the_reason(stored):
    _, run_dir = stored
    truncate(run_dir / "predictions.npz", 10)
    with pytest.raises(DamagedRunError, match=re.escape(f"{run_dir} cannot be used: predictions.npz has 10 bytes")):
        TrainingRun.load(run_dir)


def test_retrain_moves_the_stored_run_aside_and_trains_again(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir), "--retrain", "--json"]) == 0
    out, err = capsys.readouterr()
    assert fake_training == [run_dir]
    assert out.splitlines()[0].startswith(f"Trained {run_dir.name}")
    assert json.loads(out.splitlines()[-1])["reused_stored_run"] is False
    aside = [p.name for p in runs_dir.iterdir() if p.name.startswith(run_dir.name + ".replaced-")]
    assert len(aside) == 1 and aside[0] in err


def test_runs_verify_reports_each_run_and_moves_only_when_asked(stored, pristine, tmp_path, capsys):
    runs_dir, run_dir = stored
    broken = runs_dir / "mnist-lstm16-000000000000"
    shutil.copytree(pristine.run_dir, broken)
    truncate(broken / "model.keras", 100)
    unfinished = runs_dir / "mnist-lstm16-111111111111"
    unfinished.mkdir()
    (unfinished / "history.csv").write_text("epoch,loss\n0,1.0\n")

    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "mnist-lstm16-000000000000: damaged (model.keras has 100 bytes, "
        f"{pristine.metrics['artefacts']['model.keras']['bytes']} were stored)",
        "mnist-lstm16-111111111111: unfinished (no metrics.json: training did not finish)",
        f"{run_dir.name}: ok",
        f"1 ok, 1 unfinished, 1 damaged under {runs_dir}",
    ]
    assert broken.is_dir(), "verify moves nothing unless asked"

    assert main(["runs", "verify", "--run-dir", str(runs_dir), "--move-aside"]) == 1
    assert "moved to mnist-lstm16-000000000000.damaged-" in capsys.readouterr().out
    assert not broken.exists() and len(list(runs_dir.glob("mnist-lstm16-000000000000.damaged-*"))) == 1

    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"1 ok, 1 unfinished under {runs_dir}"


def test_runs_verify_leaves_a_run_in_training_alone(stored, capsys):
    runs_dir, run_dir = stored
    (run_dir / "metrics.json").write_text("{}")
    with exclusive_lock(run_dir.with_name(run_dir.name + ".lock")):
        assert main(["runs", "verify", "--run-dir", str(runs_dir), "--move-aside"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{run_dir.name}: training (another process holds its lock)"
    assert run_dir.is_dir()


def test_a_process_that_waited_for_the_lock_says_it_reused_the_run(pristine, tmp_path, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("the waiting process trained a run another process had finished")

    monkeypatch.setattr(runs_module, "train_into", must_not_train)
    runs_dir = tmp_path / "runs"
    run_dir = run_dir_for(CONFIG, runs_dir)
    result = {}
    with exclusive_lock(run_dir.with_name(run_dir.name + ".lock")):  # "another process" is training it
        waiter = threading.Thread(target=lambda: result.update(run=ensure_trained(CONFIG, runs_dir, verbose=0)))
        waiter.start()
        time.sleep(1.0)  # the waiter found no run and now waits for the lock
        assert waiter.is_alive() and "run" not in result
        shutil.copytree(pristine.run_dir, run_dir)  # the other process finishes
    waiter.join(timeout=60)
    assert result["run"].trained_now is False


def test_train_json_is_strict_json_even_with_a_nan_metric(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    rewrite_metrics(run_dir / "metrics.json", test_loss=float("nan"))  # a diverged run, stored as it ended
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Reused the stored run {run_dir.name} (book recipe)"

    def no_constants(token):
        raise ValueError(f"not JSON: {token}")

    result = json.loads(out[-1], parse_constant=no_constants)
    assert result["test_loss"] is None and result["reused_stored_run"] is True and fake_training == []


# -- a run stored by another Keras -------------------------------------------------
HERE = runs_module.release(runs_module.installed_keras())  # (major, minor) of the Keras running these tests
UNKNOWN_ARGUMENT = "axes_of_a_future_keras"


def record_keras(run_dir, version, sign=True):
    """Make ``metrics.json`` say that Keras ``version`` stored the run, re-signed as training would write it
    (with ``sign=False`` its own digest no longer matches: an edit)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rewrite_metrics(run_dir / "metrics.json", sign=sign, versions={**metrics["versions"], "keras": version})


def add_an_initializer_argument_this_keras_lacks(run_dir):
    """Rewrite model.keras the way a file of Keras 3.15 looks to Keras 3.10 (whose GlorotUniform has no
    ``input_axes``): an initializer's config names an argument this Keras does not know. The checksums
    are updated, so the run stays intact."""
    import zipfile

    from rnn_mnist.paths import file_sha256

    path = run_dir / "model.keras"
    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}

    def add(node):
        if isinstance(node, dict):
            if node.get("class_name") == "GlorotUniform":
                node["config"][UNKNOWN_ARGUMENT] = [0]
            for value in node.values():
                add(value)
        elif isinstance(node, list):
            for value in node:
                add(value)

    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members.items():
            if info.filename == "config.json":
                config = json.loads(data)
                add(config)
                data = json.dumps(config).encode()
            archive.writestr(info, data)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["artefacts"]["model.keras"] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    rewrite_metrics(run_dir / "metrics.json", artefacts=metrics["artefacts"])


def snapshot(run_dir):
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def slot_of(run_dir):
    return run_dir.with_name(f"{run_dir.name}.keras-{HERE[0]}.{HERE[1]}")


def test_a_run_stored_by_a_newer_keras_is_kept_and_the_config_trained_again_beside_it(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0]}.{HERE[1] + 1}.0")
    before = snapshot(run_dir)
    assert check_run(run_dir, CONFIG).ok, "the run is intact: only this Keras cannot read it"
    assert find_run(CONFIG, runs_dir) is None, "a run this Keras cannot read is not found as a stored run"

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    slot = slot_of(run_dir)
    assert fake_training == [slot] and run.run_dir == slot and run.trained_now is True
    assert snapshot(run_dir) == before, "the run of the newer Keras is left exactly as it was"
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [
        f"rnn-mnist: warning: run {run_dir.name} is kept as it is and not read here: it was stored by Keras "
        f"{HERE[0]}.{HERE[1] + 1}.0, newer than this Keras {runs_module.installed_keras()}; "
        f"the config is trained again for this Keras in {slot.name}"
    ]
    assert sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) == [run_dir.name, slot.name]
    assert run.load_model().count_params() == run.metrics["parameters"]

    again = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert again.run_dir == slot and again.trained_now is False and fake_training == [slot]
    assert find_run(CONFIG, runs_dir).run_dir == slot and capsys.readouterr().err == ""


def test_a_run_whose_model_this_keras_cannot_load_is_kept_and_trained_again_beside_it(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, "3.0.0")  # older than this Keras: it is loaded to see
    add_an_initializer_argument_this_keras_lacks(run_dir)
    assert check_run(run_dir, CONFIG).ok
    cause = f"TypeError: GlorotUniform.__init__() got an unexpected keyword argument '{UNKNOWN_ARGUMENT}'"
    with pytest.raises(runs_module.UnreadableRunError) as raised:
        TrainingRun(run_dir, CONFIG).load_model()
    assert str(raised.value) == (
        f"{run_dir / 'model.keras'} was stored by Keras 3.0.0 and this Keras {runs_module.installed_keras()} "
        f"cannot load it ({cause}); call ensure_trained(config), which trains the config again for this Keras "
        "beside the stored run")
    before = snapshot(run_dir)

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    assert fake_training == [slot_of(run_dir)] and run.run_dir == slot_of(run_dir)
    assert snapshot(run_dir) == before
    assert capsys.readouterr().err.strip().splitlines() == [  # one line, no deserialization traceback
        f"rnn-mnist: warning: run {run_dir.name} is kept as it is and not read here: it was stored by Keras 3.0.0 "
        f"and this Keras {runs_module.installed_keras()} cannot load it (model.keras: {cause}); "
        f"the config is trained again for this Keras in {run.run_dir.name}"
    ]


def test_an_edited_keras_version_is_damage_not_another_keras(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0]}.{HERE[1] + 1}.0", sign=False)  # metrics.json no longer matches its digest
    assert check_run(run_dir, CONFIG).reason.endswith("does not match its own SHA-256 (edited after training)")

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    assert run.run_dir == run_dir and fake_training == [run_dir], "trained again in place, not in a slot"
    assert not slot_of(run_dir).exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rnn-mnist: warning: run {run_dir.name} is damaged")


def test_a_slot_holding_a_link_is_damaged_and_the_newer_run_is_kept(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0]}.{HERE[1] + 1}.0")
    before = snapshot(run_dir)
    slot = ensure_trained(CONFIG, runs_dir, verbose=0).run_dir
    (slot / "predictions.npz").unlink()
    (slot / "predictions.npz").symlink_to(run_dir / "predictions.npz")
    assert check_run(slot, CONFIG).reason == "predictions.npz is a symbolic link; the run store holds no links"
    capsys.readouterr()

    assert ensure_trained(CONFIG, runs_dir, verbose=0).run_dir == slot
    assert fake_training == [slot, slot] and snapshot(run_dir) == before
    assert f"run {slot.name} is damaged (predictions.npz is a symbolic link" in capsys.readouterr().err
    assert not (slot / "predictions.npz").is_symlink()


def test_loading_a_missing_model_names_it_and_blames_no_keras_version(stored):
    _, run_dir = stored
    (run_dir / "best.keras").unlink()
    with pytest.raises(DamagedRunError) as raised:
        TrainingRun(run_dir, CONFIG).load_model(best=True)
    assert str(raised.value) == f"{run_dir / 'best.keras'} is missing; call ensure_trained(config) to train the run again"


def test_a_run_of_an_older_keras_that_loads_here_is_served(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, "3.0.0")
    run = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert run.run_dir == run_dir and fake_training == [] and capsys.readouterr().err == ""


def test_a_run_of_another_patch_release_is_served_without_loading_it(stored, fake_training, monkeypatch):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0]}.{HERE[1]}.99")

    def must_not_load(run_dir):
        raise AssertionError("the same major.minor reads its own files: nothing needs loading")

    monkeypatch.setattr(runs_module, "model_load_error", must_not_load)
    assert ensure_trained(CONFIG, runs_dir, verbose=0).run_dir == run_dir and fake_training == []


def test_retrain_and_damage_apply_to_the_slot_and_never_to_the_run_of_the_newer_keras(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0] + 1}.0.0")
    before = snapshot(run_dir)
    slot = ensure_trained(CONFIG, runs_dir, verbose=0).run_dir
    truncate(slot / "predictions.npz", 10)
    capsys.readouterr()

    assert ensure_trained(CONFIG, runs_dir, verbose=0).run_dir == slot
    damaged = capsys.readouterr().err.strip().splitlines()
    assert len(damaged) == 2 and damaged[0].startswith(f"rnn-mnist: warning: run {slot.name} is damaged")
    assert ensure_trained(CONFIG, runs_dir, verbose=0, retrain=True).run_dir == slot
    assert fake_training == [slot, slot, slot] and snapshot(run_dir) == before
    aside = sorted(p.name.split(".")[-1].split("-")[0] for p in runs_dir.glob(f"{slot.name}.*-*") if p.is_dir())
    assert aside == ["damaged", "replaced"]


def test_runs_verify_lists_the_slot_and_the_run_it_stands_in_for(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    newer = f"{HERE[0]}.{HERE[1] + 1}.0"
    record_keras(run_dir, newer)
    slot = ensure_trained(CONFIG, runs_dir, verbose=0).run_dir
    capsys.readouterr()
    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{run_dir.name}: ok (stored by Keras {newer}, newer than this Keras {runs_module.installed_keras()}, "
        f"which reads {slot.name})",
        f"{slot.name}: ok (trained again for Keras {HERE[0]}.{HERE[1]}, beside {run_dir.name})",
        f"2 ok under {runs_dir}",
    ]
    assert TrainingRun.load(slot).config == CONFIG


# -- the resume checkpoint ------------------------------------------------------




class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_real_a_truncated_resume_checkpoint_restarts_the_run_as_a_fresh_one(pristine, tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(CONFIG, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=0)])
    backup = run_dir_for(CONFIG, tmp_path) / "backup"
    assert not (backup / "latest.weights.h5.bkp").exists(), "one epoch: no previous checkpoint to fall back on"
    truncate(backup / "latest.weights.h5", 4096)
    capsys.readouterr()

    counter = EpochCounter()
    run = ensure_trained(CONFIG, tmp_path, verbose=0, extra_callbacks=[counter])

    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "resume checkpoint cannot be read" in warning[0] and "afresh" in warning[0]
    assert counter.epochs == [0, 1]
    assert run.history["loss"] == pristine.history["loss"], "the restart trains exactly what a fresh run does"
    assert check_run(run.run_dir, CONFIG).ok and not backup.exists()


def test_real_an_empty_training_metadata_resumes_from_the_previous_checkpoint(tmp_path, capsys):
    config = CONFIG.replace(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=1)])
    backup = run_dir_for(config, tmp_path) / "backup"
    (backup / "training_metadata.json").write_text("")
    capsys.readouterr()

    counter = EpochCounter()
    run = ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[counter])

    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "resuming from the one before" in warning[0]
    assert counter.epochs == [1, 2], "epoch 1's checkpoint was lost, epoch 0's is used"
    assert run.history["epoch"] == [0.0, 1.0, 2.0]
    # epochs 0 and 1 each began a fit call (and traced the step); only epoch 2 is an ordinary epoch
    assert run.history["first_epoch_of_fit"] == [1.0, 1.0, 0.0]
    assert run.metrics["first_epochs_of_fit"] == [0, 1]
    assert run.metrics["seconds_per_epoch"] == pytest.approx(run.history["epoch_seconds"][2])
    assert run.metrics["train_seconds"] == pytest.approx(sum(run.history["epoch_seconds"]))


def test_an_unreadable_backup_without_a_previous_one_is_discarded(tmp_path, capsys):
    run_dir = tmp_path / "mnist-lstm16-abc"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "training_metadata.json").write_text("")
    (run_dir / "backup" / "latest.weights.h5").write_bytes(b"\0" * 64)
    (run_dir / "history.csv").write_text("epoch,loss\n0,1.0\n")
    align_history_with_backup(run_dir)
    assert not (run_dir / "backup").exists() and not (run_dir / "history.csv").exists()
    assert capsys.readouterr().err.strip().splitlines() == [
        "rnn-mnist: warning: run mnist-lstm16-abc: its resume checkpoint cannot be read "
        "(training_metadata.json); starting the run afresh"
    ]


def test_a_fresh_run_marks_its_first_epoch_and_times_the_others(pristine):
    assert pristine.history["first_epoch_of_fit"] == [1.0, 0.0]
    assert pristine.metrics["first_epochs_of_fit"] == [0]
    assert pristine.metrics["seconds_per_epoch"] == pytest.approx(pristine.history["epoch_seconds"][1])
    assert math.isfinite(pristine.metrics["train_seconds"])


# -- issue 24: the run store under hostile conditions -------------------------------------------

EDITED_METRICS = {  # what a stray edit or a forged file puts in metrics.json, and the reason named
    "test_accuracy edited, digest kept": (dict(test_accuracy=0.9999), False, "does not match its own SHA-256"),
    "test_accuracy NaN": (dict(test_accuracy=float("nan")), True, "wrong type or range for test_accuracy"),
    "test_accuracy 1e308": (dict(test_accuracy=1e308), True, "wrong type or range for test_accuracy"),
    "seconds_per_epoch 1e308 as text": (dict(seconds_per_epoch="1e308"), True, "for seconds_per_epoch"),
    "device {}": (dict(device={}), True, "wrong type or range for device"),
    "epochs of 400 digits": (dict(epochs=int("9" * 400)), True, "wrong type or range for epochs"),
    "no digest": (dict(metrics_sha256=None), False, "records no checksum of itself"),
}


@pytest.mark.parametrize("edit", list(EDITED_METRICS), ids=list(EDITED_METRICS))
def test_an_edited_or_ill_typed_metrics_json_is_never_served(edit, stored, capsys):
    runs_dir, run_dir = stored
    changes, sign, reason = EDITED_METRICS[edit]
    rewrite_metrics(run_dir / "metrics.json", sign=sign, **changes)

    check = check_run(run_dir, CONFIG)
    assert check.status == "damaged" and reason in check.reason
    assert find_run(CONFIG, runs_dir) is None, "the results page and the chapters find no run"
    with pytest.raises(DamagedRunError, match=re.escape(reason)):
        TrainingRun(run_dir, CONFIG).metrics  # noqa: B018 -- reading it is the check
    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{run_dir.name}: damaged (") and reason in out[0] and len(out) == 2


def test_an_edited_metrics_json_is_moved_aside_and_retrained(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    rewrite_metrics(run_dir / "metrics.json", sign=False, test_accuracy=0.9999)
    run = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert fake_training == [run_dir] and run.test_accuracy < 0.9999
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "metrics.json does not match its own SHA-256" in warning[0]


def test_metrics_digest_is_over_the_content_and_ignores_itself(pristine):
    metrics = dict(pristine.metrics)
    assert metrics["metrics_sha256"] == metrics_digest(metrics) == metrics_digest({**metrics, "metrics_sha256": "x"})
    assert metrics_digest({**metrics, "test_accuracy": 0.9999}) != metrics["metrics_sha256"]


def test_a_deeply_nested_metrics_json_is_damaged_not_a_recursion_error(stored):
    runs_dir, run_dir = stored
    (run_dir / "metrics.json").write_text("[" * 200_000)
    check = check_run(run_dir)
    assert check.status == "damaged" and check.reason == "metrics.json nests too deep to be JSON metrics"


def test_a_huge_metrics_json_is_rejected_after_reading_at_most_4_mib(stored):
    import tracemalloc

    runs_dir, run_dir = stored
    truncate(run_dir / "metrics.json", 1 << 30)  # a sparse GiB
    tracemalloc.start()
    try:
        check = check_run(run_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert check.status == "damaged" and check.reason == "metrics.json is larger than 4,194,304 bytes"
    assert peak < 16 << 20, f"checking it allocated {peak:,} bytes"


def zip_bomb(path, members=4, member_bytes=20 << 20):
    """A small zip whose members unpack to ``members * member_bytes`` bytes of zeros."""
    import zipfile

    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index in range(members):
            with archive.open(f"model.weights{index}.h5", "w", force_zip64=True) as member:
                for _ in range(member_bytes // len(chunk)):
                    member.write(chunk)


def record_artefact(run_dir, name):
    """Record ``name``'s current size and SHA-256 in metrics.json, as if training had stored it."""
    import hashlib

    data = (run_dir / name).read_bytes()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["artefacts"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    rewrite_metrics(run_dir / "metrics.json")


def test_a_model_archive_that_unpacks_to_far_more_than_its_model_is_never_extracted(stored, tmp_path, monkeypatch):
    runs_dir, run_dir = stored
    zip_bomb(run_dir / "model.keras")
    assert (run_dir / "model.keras").stat().st_size < 1 << 20, "a small file ..."
    record_artefact(run_dir, "model.keras")  # ... whose checksum a forged metrics.json records
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))

    check = check_run(run_dir, CONFIG)
    assert check.status == "damaged" and check.reason.startswith("model.keras would unpack to 83,886,080 bytes")
    with pytest.raises(DamagedRunError, match="would unpack to 83,886,080 bytes, more than the"):
        TrainingRun(run_dir, CONFIG).load_model()
    assert list(scratch.iterdir()) == [], "nothing was extracted"


def test_a_stored_model_passes_the_archive_check_and_loads(pristine):
    from rnn_mnist.runs import check_model_archive

    for name in ("model.keras", "best.keras"):
        check_model_archive(pristine.run_dir / name, pristine.metrics["parameters"])
    assert pristine.load_model().count_params() == pristine.metrics["parameters"]


def test_real_a_truncated_latest_backup_resumes_from_the_one_before_and_logs_each_epoch_once(tmp_path, capsys):
    config = CONFIG.replace(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=1)])
    backup = run_dir_for(config, tmp_path) / "backup"
    assert (backup / "latest.weights.h5.bkp").exists()
    truncate(backup / "latest.weights.h5", 4096)  # its metadata still says 2 epochs are done
    capsys.readouterr()

    counter = EpochCounter()
    run = ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[counter])

    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [f"rnn-mnist: warning: run {run.run_dir.name}: its latest resume checkpoint cannot be read "
                       "(latest.weights.h5); resuming from the one before"]
    assert counter.epochs == [1, 2]
    assert run.history["epoch"] == [0.0, 1.0, 2.0]
    assert check_run(run.run_dir, config).ok


def test_a_log_that_repeats_an_epoch_is_not_stored(tmp_path):
    from rnn_mnist.training import check_history_epochs

    with pytest.raises(RuntimeError, match="run r: its per-epoch log holds epochs 0, 1, 1, 2, not 0 to 2"):
        check_history_epochs(tmp_path / "r", {"epoch": [0.0, 1.0, 1.0, 2.0]}, 3)
    check_history_epochs(tmp_path / "r", {"epoch": [0.0, 1.0, 2.0]}, 3)


class DiskFull(keras.callbacks.Callback):
    """The disk fills up after an epoch's checkpoint was written (what an h5py write then raises)."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            import errno
            import os

            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "history.csv")


def test_real_a_full_disk_is_one_line_naming_the_run_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    from rnn_mnist import training

    runs_dir = tmp_path / "runs"
    run_dir = run_dir_for(CONFIG, runs_dir)
    monkeypatch.setattr(runs_module, "train_into", lambda config, run_dir, **options: training.train_into(
        config, run_dir, **{**options, "extra_callbacks": [DiskFull(after_epoch=0)]}))

    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"rnn-mnist train: run {run_dir.name}: the disk holding {runs_dir} is full "
                          "(No space left on device); free some space and run the same command again")
    assert check_run(run_dir, CONFIG).status == "unfinished" and (run_dir / "backup").is_dir()

    monkeypatch.undo()
    counter = EpochCounter()
    run = ensure_trained(CONFIG, runs_dir, verbose=0, extra_callbacks=[counter])
    assert counter.epochs == [1], "the epoch finished before the disk filled up is kept"
    assert run.history["epoch"] == [0.0, 1.0] and check_run(run_dir, CONFIG).ok


def tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_runs_verify_writes_nothing_so_a_read_only_store_can_be_checked(stored, capsys):
    runs_dir, run_dir = stored
    before = tree(runs_dir)
    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{run_dir.name}: ok"
    assert tree(runs_dir) == before, "no lock file was created, nothing was touched"


def test_train_serves_a_stored_run_from_a_store_it_cannot_write(stored, fake_training, monkeypatch, capsys):
    from rnn_mnist import paths
    from rnn_mnist.paths import StorageError

    runs_dir, run_dir = stored

    def read_only(path, what):
        raise StorageError(f"{what} {path} is not writable: Read-only file system")

    monkeypatch.setattr(paths, "require_writable_directory", read_only)
    before = tree(runs_dir)
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Reused the stored run {run_dir.name} (book recipe)"
    assert fake_training == [] and tree(runs_dir) == before
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir), "--retrain"]) == 2
    assert "Read-only file system" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder; the test above covers it")
def test_a_read_only_store_is_verified_and_served(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    (runs_dir / f"{run_dir.name}.lock").write_text("")
    for path in [runs_dir, *runs_dir.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
        assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir)]) == 0
        assert "Reused the stored run" in capsys.readouterr().out
    finally:
        for path in [runs_dir, *runs_dir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_symbolic_link_in_a_run_is_refused_and_nothing_is_written_through_it(stored, tmp_path, fake_training, capsys):
    runs_dir, run_dir = stored
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_dir / "metrics.json").unlink()  # an unfinished run ...
    (run_dir / "backup").symlink_to(outside, target_is_directory=True)  # ... whose checkpoint folder is a link

    check = check_run(run_dir, CONFIG)
    assert check.status == "damaged" and check.reason == "backup is a symbolic link; the run store holds no links"
    from rnn_mnist.paths import StorageError
    from rnn_mnist.training import refuse_links

    with pytest.raises(StorageError, match=r"backup in .* is a symbolic link, and the run store holds no links"):
        refuse_links(run_dir)
    ensure_trained(CONFIG, runs_dir, verbose=0)
    assert list(outside.iterdir()) == [], "nothing was written outside the store"
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "backup is a symbolic link" in warning[0] and "moved to" in warning[0]
    assert check_run(run_dir, CONFIG).ok and fake_training == [run_dir]


def test_a_lock_file_that_is_a_link_is_refused_in_one_line(tmp_path, fake_training, capsys):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    target = tmp_path / "elsewhere.txt"
    lock = runs_dir / f"{CONFIG.run_id()}.lock"
    lock.symlink_to(target)
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir)]) == 2
    err = capsys.readouterr().err
    assert err == (f"rnn-mnist train: the lock file {lock} is a symbolic link; the run store holds no links, "
                   "remove it; pass --run-dir a writable directory, or set RNN_MNIST_RUNS or RNN_MNIST_HOME to one\n")
    assert not target.exists() and fake_training == []


def test_a_folder_in_place_of_a_lock_blocks_only_its_run(stored, pristine, capsys):
    runs_dir, run_dir = stored
    other = runs_dir / "mnist-lstm16-000000000000"
    shutil.copytree(pristine.run_dir, other)
    (runs_dir / f"{other.name}.lock").mkdir()

    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{other.name}: blocked (the lock file {runs_dir / other.name}.lock is not a plain file (a directory?); "
        "remove it)",
        f"{run_dir.name}: ok",
        f"1 ok, 1 blocked under {runs_dir}",
    ]


def test_a_process_waiting_for_a_run_says_who_holds_it(pristine, tmp_path, monkeypatch, capsys):
    import os
    import socket

    monkeypatch.setattr(runs_module, "train_into", lambda *a, **k: pytest.fail("must not train"))
    runs_dir = tmp_path / "runs"
    run_dir = run_dir_for(CONFIG, runs_dir)
    with exclusive_lock(run_dir.with_name(run_dir.name + ".lock")):  # "another process" is training it
        waiter = threading.Thread(target=lambda: ensure_trained(CONFIG, runs_dir, verbose=0))
        waiter.start()
        time.sleep(1.0)
        shutil.copytree(pristine.run_dir, run_dir)
    waiter.join(timeout=60)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(rf"rnn-mnist: warning: run {run_dir.name} is locked by process {os.getpid()} on "
                        rf"{re.escape(socket.gethostname())} since \S+; waiting for it to finish", lines[0])
